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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlite_utils

from proofs import merkle
from proofs.canonical import canonical_json
from proofs.claim_bundle import metric_opening, prove_claim_bundle
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.group import ORDER, get_group
from proofs.inclusion import make_inclusion_bundle
from proofs.lanes import LaneSet, dpd_bucket
from proofs.sealing import ChunkSummary
from proofs.snapshot import ChunkResult, Header, LoanInput, loan_blindings, write_snapshot_bundle

from ..keys.keyring import NONCE_BYTES, PoolKeys
from ..loan_facts import loan_facts
from ..storage import snapshots as snapshot_rows
from ..storage.db import database_path
from ..storage.records import NotFound, get_pool
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
    """Binary leaves of a chunk: per leaf ``len(eid) || eid || C_1 .. C_L`` (48-byte points)."""
    out = bytearray()
    for eid, commitments in zip(result.exposure_ids, result.commitments, strict=True):
        raw = eid.encode("ascii")
        out += bytes([len(raw)]) + raw + b"".join(commitments)
    return bytes(out)


def decode_leaves(blob: bytes, n_lanes: int) -> list[tuple[str, bytes]]:
    """Inverse of :func:`encode_leaves`: ``[(exposure_id, commitments bytes), ...]``."""
    out: list[tuple[str, bytes]] = []
    pos, width = 0, 48 * n_lanes
    while pos < len(blob):
        n = blob[pos]
        eid = blob[pos + 1 : pos + 1 + n].decode("ascii")
        pos += 1 + n
        out.append((eid, blob[pos : pos + width]))
        pos += width
    return out


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


def stored_summaries(db: sqlite_utils.Database, keys: PoolKeys, job_id: str) -> dict[int, ChunkSummary]:
    """Summaries of the chunks a job already stored (what a resumed run skips)."""
    out: dict[int, ChunkSummary] = {}
    for index, count, root, sealed in snapshot_rows.chunk_sums(db, job_id):
        values, blindings = _sums_from_blob(decrypt_secret(keys, _chunk_sums_aad(job_id, index), sealed))
        out[index] = ChunkSummary(index, count, root, values, blindings)
    return out


def chunk_documents(db: sqlite_utils.Database, job_id: str, n_lanes: int) -> Iterator[dict[str, Any]]:
    """The bundle form of each stored chunk (as :func:`proofs.snapshot.chunk_document`), in order.

    Reads one chunk row at a time, so a large snapshot streams in constant memory.
    """
    index = -1
    while (chunk := snapshot_rows.next_chunk(db, job_id, index)) is not None:
        index, leaves, proofs = chunk
        yield {
            "index": index,
            "leaves": [[eid, c.hex()] for eid, c in decode_leaves(leaves, n_lanes)],
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


def _bundle_frame(header: dict[str, Any]) -> tuple[str, str]:
    """Prefix (through the opening of the chunk list) and suffix of :func:`write_snapshot_bundle`'s layout."""
    buf = io.StringIO()
    write_snapshot_bundle(buf, header, ())
    text = buf.getvalue()
    if not text.endswith(_END):  # pragma: no cover - would mean proofs changed the layout
        raise RuntimeError("unexpected snapshot bundle layout")
    return text[: -len(_END)], _END


def stream_snapshot_bundle(db: sqlite_utils.Database, snap: SnapshotRecord) -> Iterator[str]:
    """The snapshot bundle chunk by chunk, byte-identical to :func:`proofs.snapshot.write_snapshot_bundle`."""
    prefix, suffix = _bundle_frame(snap.header)
    yield prefix
    first = True
    for chunk in chunk_documents(db, snap.job_id, len(snap.lanes.inputs)):
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


def prove_claim(
    header: Header, keys: PoolKeys, snap: SnapshotRecord, statement: ClaimStatement, nonce: bytes
) -> dict[str, Any]:
    """A self-contained claim bundle for ``statement`` on a sealed snapshot.

    Raises:
        ProvingError: the claim does not hold (nothing is produced).
        VerificationError: the statement does not fit the snapshot (unknown metric, value_bits too small).
    """
    values, blindings = lane_totals(keys, snap)
    openings = {m: metric_opening(header.lanes, m, values, blindings) for m in statement.metrics}
    return prove_claim_bundle(get_group(), header, statement, openings, nonce, cosignatures=snap.cosignatures)


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
        return [] if blob is None else decode_leaves(blob, n_lanes)

    if 0 <= hint < int(snap.header["leaf_count"]):
        leaves = leaves_of(hint // chunk_size)
        pos = hint % chunk_size
        if pos < len(leaves) and leaves[pos][0] == exposure_id:
            return hint
    for chunk_index, blob in snapshot_rows.iter_chunk_leaves(db, snap.job_id):
        for pos, (eid, _) in enumerate(decode_leaves(blob, n_lanes)):
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
        snap.header, index, exposure_id, values, blindings, path, cosignatures=snap.cosignatures
    )


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
