"""Sealed snapshots at rest, and what the gateway builds from them: bundles, claims, inclusion, metrics.

Storage (tables of migration 3, ``gateway/storage/db.py``; their statements are in
:mod:`gateway.storage.snapshots`):

* ``seal_chunks`` holds each sealed chunk of a job as it arrives: the leaves (exposure id and lane
  commitments, public), the leaf hashes, the range proofs, and the chunk's secret lane totals
  (values and blinding sums) sealed with AES-GCM under the pool data key.
* ``sealed_snapshots`` holds one row per completed snapshot: the signed header and the secret
  per-lane totals (sealed). A row exists only once a job finished; readers query nothing else, so a
  half-sealed snapshot is never visible.
* The per-snapshot blinding seed (a level-4 secret) is sealed in its job row; inclusion bundles
  regenerate one loan's blindings from it (:func:`proofs.snapshot.loan_blindings`).

Secrets are sealed with the pool's AES-256-GCM key (NIST SP 800-38D) with associated data naming
what the blob is and whose (job, chunk, snapshot), so no sealed blob can be moved to another place.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Any

import sqlite_utils

from proofs import merkle
from proofs.canonical import canonical_json
from proofs.cell_claims import cell_opening, cells_named, parse_cell_metric, prove_cell
from proofs.claim_bundle import metric_commitments, metric_opening, prove_claim_bundle
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.errors import VerificationError
from proofs.group import ORDER, get_group, random_scalar
from proofs.inclusion import make_inclusion_bundle
from proofs.lanes import LaneSet, dpd_bucket, get_lane_set
from proofs.pedersen import Opening
from proofs.sealing import ChunkSummary, strata_partial
from proofs.snapshot import (
    ChunkResult,
    Header,
    LoanInput,
    SealParams,
    loan_blindings,
    write_snapshot_bundle,
)
from proofs.strata import Table, cells_bytes

from ..keys.keyring import NONCE_BYTES, PoolKeys
from ..loan_facts import loan_facts
from ..storage import snapshots as snapshot_rows
from ..storage.db import database_path
from ..storage.records import NotFound, get_pool, get_tape, iter_loans
from ..storage.snapshots import SnapshotRecord as SnapshotRecord
from ..storage.snapshots import get_snapshot as get_snapshot
from ..storage.snapshots import list_snapshots as list_snapshots

_AAD_SEED = b"poolproof/v1/snapshot-seed\x00"
_AAD_CHUNK_SUMS = b"poolproof/v1/seal-chunk-sums\x00"
_AAD_TOTALS = b"poolproof/v1/snapshot-lane-totals\x00"


# --- encrypted secrets -----------------------------------------------------------------------------------
def encrypt_secret(keys: PoolKeys, aad: bytes, plaintext: bytes) -> bytes:
    """AES-GCM under the pool data key: ``nonce || ciphertext+tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + keys.aead.encrypt(nonce, plaintext, aad)


def decrypt_secret(keys: PoolKeys, aad: bytes, blob: bytes) -> bytes:
    """Inverse of :func:`encrypt_secret`; raises ``cryptography.exceptions.InvalidTag`` if moved or
    altered."""
    return keys.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


def seed_aad(job_id: str, snapshot_id: str) -> bytes:
    """Associated data of a job's sealed blinding seed."""
    return _AAD_SEED + f"{job_id}\x00{snapshot_id}".encode()


def _sums_blob(values: Sequence[int], blindings: Sequence[int]) -> bytes:
    return canonical_json({"values": list(values), "blindings": [format(r, "x") for r in blindings]})


def _sums_from_blob(data: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    doc = json.loads(data)
    values = tuple(int(v) for v in doc["values"])
    blindings = tuple(int(r, 16) % ORDER for r in doc["blindings"])
    return values, blindings


# --- chunks ---------------------------------------------------------------------------------------------
def encode_leaves(result: ChunkResult) -> bytes:
    """Binary leaves of a chunk: per leaf ``len(eid) || eid || [cells] || C_1 .. C_L`` (48-byte points).

    Pool statement v2 leaves carry their stratification cells (:func:`proofs.strata.cells_bytes`).
    """
    out = bytearray()
    for i, (eid, commitments) in enumerate(zip(result.exposure_ids, result.commitments, strict=True)):
        raw = eid.encode("ascii")
        cells = cells_bytes(result.cells[i]) if result.cells else b""
        out += bytes([len(raw)]) + raw + cells + b"".join(commitments)
    return bytes(out)


def decode_labelled_leaves(
    blob: bytes, n_lanes: int, labelled: bool
) -> list[tuple[str, bytes, tuple[str, ...] | None]]:
    """Inverse of :func:`encode_leaves`: ``[(exposure_id, commitments bytes, cells or None), ...]``."""
    out: list[tuple[str, bytes, tuple[str, ...] | None]] = []
    pos, width = 0, 48 * n_lanes
    while pos < len(blob):
        n = blob[pos]
        eid = blob[pos + 1 : pos + 1 + n].decode("ascii")
        pos += 1 + n
        cells: tuple[str, ...] | None = None
        if labelled:
            found = []
            for _ in range(blob[pos]):
                pos += 1
                found.append(blob[pos + 1 : pos + 1 + blob[pos]].decode("ascii"))
                pos += blob[pos]
            pos += 1
            cells = tuple(found)
        out.append((eid, blob[pos : pos + width], cells))
        pos += width
    return out


def decode_leaves(blob: bytes, n_lanes: int, labelled: bool = False) -> list[tuple[str, bytes]]:
    """Inverse of :func:`encode_leaves` without the cells: ``[(exposure_id, commitments bytes), ...]``."""
    return [(eid, c) for eid, c, _ in decode_labelled_leaves(blob, n_lanes, labelled)]


def encode_proofs(result: ChunkResult) -> bytes:
    """The chunk's range proofs, each prefixed by its 4-byte big-endian length, in order."""
    return b"".join(len(p.proof).to_bytes(4, "big") + p.proof for p in result.proofs)


def decode_proofs(blob: bytes) -> list[bytes]:
    """Inverse of :func:`encode_proofs`."""
    out, pos = [], 0
    while pos < len(blob):
        n = int.from_bytes(blob[pos : pos + 4], "big")
        out.append(blob[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def _chunk_sums_aad(job_id: str, chunk_index: int) -> bytes:
    return _AAD_CHUNK_SUMS + f"{job_id}\x00{chunk_index}".encode()


def store_chunk(conn: sqlite3.Connection, keys: PoolKeys, job_id: str, result: ChunkResult) -> ChunkSummary:
    """Insert one sealed chunk of ``job_id`` (caller holds the transaction); returns its summary."""
    summary = ChunkSummary.of(result)
    sums = encrypt_secret(
        keys,
        _chunk_sums_aad(job_id, result.chunk_index),
        _sums_blob(result.lane_value_sums, result.lane_blinding_sums),
    )
    snapshot_rows.insert_chunk(
        conn,
        snapshot_rows.StoredChunk(
            job_id=job_id,
            chunk_index=result.chunk_index,
            leaf_count=summary.leaf_count,
            root=summary.root,
            leaves=encode_leaves(result),
            leaf_hashes=b"".join(result.leaf_hashes),
            proofs=encode_proofs(result),
            sealed_sums=sums,
        ),
    )
    return summary


def stored_summaries(
    db: sqlite_utils.Database, keys: PoolKeys, job_id: str, params: SealParams | None = None
) -> dict[int, ChunkSummary]:
    """Summaries of the chunks a job already stored (what a resumed run skips).

    With ``params`` of a pool statement v2 job, each summary carries its chunk's share of the
    stratification table, summed again from the stored leaves.
    """
    out: dict[int, ChunkSummary] = {}
    dims = () if params is None else params.strata_dimensions
    n_inputs = 0 if params is None else len(get_lane_set(params.lane_set).inputs)
    for index, count, root, sealed in snapshot_rows.chunk_sums(db, job_id):
        values, blindings = _sums_from_blob(decrypt_secret(keys, _chunk_sums_aad(job_id, index), sealed))
        partial: tuple[tuple[int, str, int, bytes], ...] = ()
        if dims:
            blob = snapshot_rows.chunk_leaves(db, job_id, index) or b""
            leaves = decode_labelled_leaves(blob, n_inputs, True)
            partial = strata_partial(
                [c or () for _, _, c in leaves],
                [[c[48 * j : 48 * (j + 1)] for j in range(n_inputs)] for _, c, _ in leaves],
            )
        out[index] = ChunkSummary(index, count, root, values, blindings, partial)
    return out


def chunk_documents(
    db: sqlite_utils.Database, job_id: str, n_lanes: int, labelled: bool = False
) -> Iterator[dict[str, Any]]:
    """The bundle form of each stored chunk (as :func:`proofs.snapshot.chunk_document`), in order.

    Reads one chunk row at a time, so a large snapshot streams in constant memory.
    """
    index = -1
    while (chunk := snapshot_rows.next_chunk(db, job_id, index)) is not None:
        index, leaves, proofs = chunk
        yield {
            "index": index,
            "leaves": [
                [eid, c.hex()] if cells is None else [eid, c.hex(), list(cells)]
                for eid, c, cells in decode_labelled_leaves(leaves, n_lanes, labelled)
            ],
            "proofs": [p.hex() for p in decode_proofs(proofs)],
        }


# --- loans -> sealing input -----------------------------------------------------------------------------
def loan_input(record: Mapping[str, Any], edges: Sequence[int]) -> LoanInput:
    """What sealing commits to of one stored loan: exposure id, outstanding principal, DPD bucket.

    Raises ``KeyError`` for a record without ``current_principal_fen`` / ``days_past_due``.
    """
    return LoanInput(
        str(record["exposure_id"]),
        int(record["current_principal_fen"]),
        dpd_bucket(int(record["days_past_due"]), edges),
    )


# --- sealed snapshots -----------------------------------------------------------------------------------
def totals_aad(snapshot_id: str) -> bytes:
    """Associated data of a snapshot's sealed lane totals."""
    return _AAD_TOTALS + snapshot_id.encode()


def encrypt_totals(
    keys: PoolKeys, snapshot_id: str, values: Sequence[int], blindings: Sequence[int]
) -> bytes:
    """Encrypt a snapshot's per-lane totals (value sums and blinding sums) under the pool data key."""
    return encrypt_secret(keys, totals_aad(snapshot_id), _sums_blob(values, blindings))


def lane_totals(keys: PoolKeys, snap: SnapshotRecord) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The secret per-lane value sums and blinding sums of a snapshot (decrypted)."""
    return _sums_from_blob(decrypt_secret(keys, totals_aad(snap.snapshot_id), snap.sealed_totals))


def snapshot_seed(db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord) -> bytes:
    """The snapshot's blinding seed (level-4 secret; never log or return it)."""
    blob = snapshot_rows.job_sealed_seed(db, snap.job_id)
    if blob is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound(f"no seal job for snapshot {snap.snapshot_id}")
    return decrypt_secret(keys, seed_aad(snap.job_id, snap.snapshot_id), blob)


def snapshot_tape_id(db: sqlite_utils.Database, snap: SnapshotRecord) -> int:
    """The tape a snapshot sealed."""
    return snapshot_rows.job_tape_id(db, snap.job_id)


# --- the snapshot bundle, streamed ----------------------------------------------------------------------
_END = "\n]}\n"


def _bundle_frame(header: dict[str, Any], strata: dict[str, Any] | None = None) -> tuple[str, str]:
    """Prefix (through the opening of the chunk list) and suffix of :func:`write_snapshot_bundle`'s layout."""
    buf = io.StringIO()
    write_snapshot_bundle(buf, header, (), strata)
    text = buf.getvalue()
    if not text.endswith(_END):  # pragma: no cover - would mean proofs changed the layout
        raise RuntimeError("unexpected snapshot bundle layout")
    return text[: -len(_END)], _END


def stream_snapshot_bundle(db: sqlite_utils.Database, snap: SnapshotRecord) -> Iterator[str]:
    """The snapshot bundle chunk by chunk, byte-identical to :func:`proofs.snapshot.write_snapshot_bundle`."""
    prefix, suffix = _bundle_frame(snap.header, snap.strata)
    yield prefix
    first = True
    for chunk in chunk_documents(db, snap.job_id, len(snap.lanes.inputs), has_cells(snap)):
        yield ("" if first else ",\n") + canonical_json(chunk).decode()
        first = False
    yield suffix


# --- claims ---------------------------------------------------------------------------------------------
# Registered deal thresholds in the policy use deal names; this maps a ratio of lane-set metrics to
# the name its trigger levels are registered under (basis points).
RATIO_GUARD_NAMES: dict[tuple[str, str], str] = {
    ("balance_dpd_90plus", "pool_balance"): "dpd90_ratio_bps",
    ("delinquent_90plus_or_defaulted_balance", "outstanding_balance"): "dpd90_ratio_bps",  # pool-v2
}


def _ratio_threshold(num: str, den: str, p: int, q: int) -> tuple[str, int]:
    """The aggregate guard's (metric, threshold) for the ratio bound ``num/den`` vs ``p/q``."""
    from math import gcd

    g = gcd(p, q) or 1
    p, q = p // g, q // g
    if 10_000 % q == 0:
        name = RATIO_GUARD_NAMES.get((num, den), f"{num}/{den}_ratio_bps")
        return name, p * (10_000 // q)
    return f"{num}/{den}_ratio_per_{q}", p


def guard_thresholds(statement: ClaimStatement) -> list[tuple[str, int]]:
    """The thresholds a range claim reveals one bit about each (what the aggregate guard counts)."""
    if isinstance(statement, RatioClaim):
        return [_ratio_threshold(statement.metric_num, statement.metric_den, statement.p, statement.q)]
    if isinstance(statement, RatioBetweenClaim):
        a, b = statement.metric_num, statement.metric_den
        return [
            _ratio_threshold(a, b, statement.lo_p, statement.lo_q),
            _ratio_threshold(a, b, statement.hi_p, statement.hi_q),
        ]
    if isinstance(statement, BoundClaim):
        return [(statement.metric, t) for t in (statement.lo, statement.hi) if t is not None]
    return []


def claim_kind(statement: ClaimStatement) -> str:
    """The policy's claim kind: ``exact`` for a disclosure, ``threshold`` for every range claim."""
    return "exact" if isinstance(statement, Disclosure) else "threshold"


def check_claim_fits(header: Header, snap: SnapshotRecord, statement: ClaimStatement) -> None:
    """The public checks of a statement before anything is proven: known metrics, value bits, and
    for a cell metric a cell of the snapshot's stratification table.

    Raises:
        VerificationError: ``claim.metric``, ``claim.cells``, ``claim.value_bits``.
    """
    named = cells_named(statement.metrics)
    if not named:
        metric_commitments(header, statement)
        return
    if snap.strata is None or header.strata is None:
        raise VerificationError("claim.cells", "the snapshot has no stratification table")
    table = Table.from_dict(get_group(), snap.strata, len(header.lanes.inputs))
    for dimension, cell in named:
        try:
            table.row(dimension, cell)
        except KeyError as exc:
            raise VerificationError("claim.cells", str(exc.args[0])) from None
    bits = getattr(statement, "value_bits", None)
    for m in statement.metrics:
        parsed = parse_cell_metric(m)
        inner, count = (m, None) if parsed is None else (parsed[2], table.row(parsed[0], parsed[1])[1].count)
        try:
            bound = header.metric_bound_bits(inner, count)
        except KeyError as exc:
            raise VerificationError("claim.metric", str(exc.args[0])) from None
        if bits is not None and bound > bits:
            raise VerificationError(
                "claim.value_bits", f"{m} can be as large as 2^{bound}; the statement assumes < 2^{bits}"
            )


def prove_claim(
    header: Header,
    keys: PoolKeys,
    snap: SnapshotRecord,
    statement: ClaimStatement,
    nonce: bytes,
    db: sqlite_utils.Database | None = None,
) -> dict[str, Any]:
    """A self-contained claim bundle for ``statement`` on a sealed snapshot (``db`` is needed for a
    statement about stratification cells, whose openings are summed from the sealed loans).

    Raises:
        ProvingError: the claim does not hold (nothing is produced).
        VerificationError: the statement does not fit the snapshot (unknown metric, value_bits too small).
    """
    values, blindings = lane_totals(keys, snap)
    group = get_group()
    openings: dict[str, Opening] = {}
    evidence: list[dict[str, Any]] = []
    named = cells_named(statement.metrics)
    table = None
    if named:
        if snap.strata is None or header.strata is None:
            raise VerificationError("claim.cells", "the snapshot has no stratification table")
        if db is None:
            raise ValueError("a claim about stratification cells needs the database")
        table = Table.from_dict(group, snap.strata, len(header.lanes.inputs))
    for dimension, cell in named:
        if table is None or db is None:  # pragma: no cover - checked above
            break
        table.row(dimension, cell)  # KeyError naming the valid cells
        totals, input_blindings = cell_openings(db, keys, snap, dimension, cell)
        rhos = [random_scalar() for _ in header.lanes.lanes]
        evidence.append(
            prove_cell(group, header, table, dimension, cell, totals, input_blindings, rhos, random_scalar)
        )
        for m in statement.metrics:
            parsed = parse_cell_metric(m)
            if parsed is not None and parsed[:2] == (dimension, cell):
                openings[m] = cell_opening(header, parsed[2], totals, rhos)
    for m in statement.metrics:
        if parse_cell_metric(m) is None:
            openings[m] = metric_opening(header.lanes, m, values, blindings)
    return prove_claim_bundle(
        group, header, statement, openings, nonce, cosignatures=snap.cosignatures, cells=evidence
    )


def cell_openings(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, dimension: str, cell: str
) -> tuple[list[int], list[int]]:
    """A stratification cell's secret openings: per-lane totals and per-input blinding sums.

    The cell's members are the leaves sealed in it (their stored cells); their values are the
    loans' statement facts and their blindings are regenerated from the snapshot seed.

    Raises:
        KeyError: the snapshot has no such dimension.
    """
    lanes = snap.lanes
    dims = list(snap.header["strata"]["dimensions"])
    d = dims.index(dimension)
    members: set[str] = set()
    for _, blob in snapshot_rows.iter_chunk_leaves(db, snap.job_id):
        for eid, _, cells in decode_labelled_leaves(blob, len(lanes.inputs), True):
            if cells is not None and cells[d] == cell:
                members.add(eid)
    return subset_openings(db, keys, snap, members)


def leaf_exposure_ids(db: sqlite_utils.Database, snap: SnapshotRecord) -> list[str]:
    """The exposure ids of a sealed snapshot's leaves, in leaf order."""
    n = len(snap.lanes.inputs)
    return [
        eid
        for _, blob in snapshot_rows.iter_chunk_leaves(db, snap.job_id)
        for eid, _, _ in decode_labelled_leaves(blob, n, has_cells(snap))
    ]


def subset_openings(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, members: Set[str]
) -> tuple[list[int], list[int]]:
    """The secret openings of some of a snapshot's loans: per-lane totals (their statement facts)
    and per-input blinding sums (regenerated from the snapshot seed)."""
    lanes = snap.lanes
    seed = snapshot_seed(db, keys, snap)
    settings = get_pool(db, snap.pool_id).config
    totals = [0] * len(lanes.lanes)
    blindings = [0] * len(lanes.inputs)
    tape = snapshot_rows_tape(db, snap)
    for stored in iter_loans(db, keys, tape):
        facts = loan_facts(stored.record, settings)
        if facts.exposure_id not in members:
            continue
        for j, v in enumerate(lanes.facts_values(facts)):
            totals[j] += v
        for j, r in enumerate(loan_blindings(seed, facts.exposure_id, lanes)):
            blindings[j] = (blindings[j] + r) % ORDER
    return totals, blindings


def snapshot_rows_tape(db: sqlite_utils.Database, snap: SnapshotRecord) -> Any:
    """The stored tape a snapshot sealed."""
    return get_tape(db, snapshot_tape_id(db, snap))


# --- borrower look-through ------------------------------------------------------------------------------
_TREES: OrderedDict[tuple[str, str], merkle.MerkleTree] = OrderedDict()
_TREES_LOCK = threading.Lock()
_TREE_CACHE = 4


def snapshot_tree(db: sqlite_utils.Database, snap: SnapshotRecord) -> merkle.MerkleTree:
    """The snapshot's RFC 9162 Merkle tree over its stored leaf hashes (built once, then cached)."""
    key = (database_path(db), snap.snapshot_id)
    with _TREES_LOCK:
        tree = _TREES.get(key)
        if tree is not None:
            _TREES.move_to_end(key)
            return tree
    hashes: list[bytes] = []
    for blob in snapshot_rows.iter_leaf_hashes(db, snap.job_id):
        hashes.extend(blob[i : i + 32] for i in range(0, len(blob), 32))
    tree = merkle.MerkleTree(hashes)
    if tree.root != bytes.fromhex(snap.header["merkle_root"]):  # pragma: no cover - storage corruption
        raise RuntimeError(f"snapshot {snap.snapshot_id}: stored leaves do not give the header's root")
    with _TREES_LOCK:
        _TREES[key] = tree
        while len(_TREES) > _TREE_CACHE:
            _TREES.popitem(last=False)
    return tree


def leaf_index_of(db: sqlite_utils.Database, snap: SnapshotRecord, exposure_id: str, hint: int) -> int:
    """The leaf index of ``exposure_id`` (``hint`` is its position in the tape; checked, else searched).

    Raises :class:`NotFound` if the exposure is not a leaf of the snapshot.
    """
    chunk_size = 1 << int(snap.header["proof_params"]["chunk_log2"])
    n_lanes = len(snap.lanes.inputs)

    def leaves_of(chunk: int) -> list[tuple[str, bytes]]:
        blob = snapshot_rows.chunk_leaves(db, snap.job_id, chunk)
        return [] if blob is None else decode_leaves(blob, n_lanes, has_cells(snap))

    if 0 <= hint < int(snap.header["leaf_count"]):
        leaves = leaves_of(hint // chunk_size)
        pos = hint % chunk_size
        if pos < len(leaves) and leaves[pos][0] == exposure_id:
            return hint
    for chunk_index, blob in snapshot_rows.iter_chunk_leaves(db, snap.job_id):
        for pos, (eid, _) in enumerate(decode_leaves(blob, n_lanes, has_cells(snap))):
            if eid == exposure_id:
                return chunk_index * chunk_size + pos
    raise NotFound(f"exposure is not a leaf of snapshot {snap.snapshot_id}")


def inclusion_bundle(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    snap: SnapshotRecord,
    record: Mapping[str, Any],
    tape_index: int,
) -> dict[str, Any]:
    """The inclusion bundle of one stored loan: its lane openings and Merkle path under the signed header.

    ``tape_index`` is the loan's 1-based position in the tape. Raises :class:`NotFound`.
    """
    lanes = snap.lanes
    if lanes.circuit is not None:
        facts = loan_facts(record, get_pool(db, snap.pool_id).config)
        exposure_id, values = facts.exposure_id, lanes.facts_values(facts)
    else:
        loan = loan_input(record, snap.header["dpd_bucket_edges"])
        exposure_id, values = loan.exposure_id, lanes.lane_values(loan.principal, loan.bucket)
    index = leaf_index_of(db, snap, exposure_id, tape_index - 1)
    blindings = loan_blindings(snapshot_seed(db, keys, snap), exposure_id, lanes)
    path = snapshot_tree(db, snap).inclusion_proof(index)
    return make_inclusion_bundle(
        snap.header,
        index,
        exposure_id,
        values,
        blindings,
        path,
        cosignatures=snap.cosignatures,
        cells=leaf_cells_of(db, snap, index),
    )


def has_cells(snap: SnapshotRecord) -> bool:
    """Whether the snapshot's leaves carry stratification cells (its header names dimensions)."""
    return bool(snap.header.get("strata"))


def leaf_cells_of(db: sqlite_utils.Database, snap: SnapshotRecord, index: int) -> dict[str, str] | None:
    """The stratification cells leaf ``index`` was sealed with (``None`` for a snapshot without strata).

    Read from the stored leaf, not recomputed: the pool's band settings may have changed since.
    """
    dims = snap.header.get("strata", {}).get("dimensions")
    if not dims:
        return None
    chunk_size = 1 << int(snap.header["proof_params"]["chunk_log2"])
    blob = snapshot_rows.chunk_leaves(db, snap.job_id, index // chunk_size) or b""
    _, _, cells = decode_labelled_leaves(blob, len(snap.lanes.inputs), True)[index % chunk_size]
    return dict(zip(dims, cells or (), strict=True))


# --- the plaintext metrics report ----------------------------------------------------------------------
def metrics_report(lanes: LaneSet, values: Sequence[int]) -> dict[str, Any]:
    """Every metric of the lane set from plaintext lane totals, and common ratios in basis points.

    Ratios are floored integer basis points (``10000 * num // den``; ``None`` when the denominator is 0).
    """
    totals = dict(zip(lanes.lanes, values, strict=True))
    metrics = {name: lanes.metric_value(name, totals) for name in sorted(lanes.metrics)}
    ratios: dict[str, int | None] = {}
    for name, value in metrics.items():
        if name.startswith("balance_") and name != "pool_balance":
            den = metrics["pool_balance"]
            ratios[f"{name}/pool_balance_bps"] = None if den == 0 else 10_000 * value // den
        elif name.startswith("count_"):
            den = metrics["loan_count"]
            ratios[f"{name}/loan_count_bps"] = None if den == 0 else 10_000 * value // den
    return {"metrics": metrics, "ratios_bps": ratios}
