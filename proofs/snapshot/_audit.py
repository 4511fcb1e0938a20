"""The auditor's full check of a snapshot bundle (DESIGN.md "Snapshot statement" 1–4)."""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bulletproofs, executors, lanecircuit, merkle, poolcircuit, strata, unpacking
from proofs._ipa import batch_weight
from proofs.deal import Deal
from proofs.errors import EncodingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import Group, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, get_lane_set
from proofs.snapshot._bundle_io import decode_chunk, read_snapshot_parts
from proofs.snapshot._header import Header, verify_header
from proofs.snapshot._layout import circuit_rounds, expected_parts, part_entries
from proofs.snapshot._params import SealParams, SnapshotContext, circuit_packing

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(leaves_done, leaf_count)`` while a snapshot is verified."""


def _noop_progress(done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class _AuditSpec:
    """What a worker needs to check chunks of one snapshot (picklable; no secrets)."""

    context: SnapshotContext
    params: SealParams
    group_name: str
    #: Hand back every leaf's input commitments (for a caller that reads the leaves too).
    keep_leaves: bool = False


@dataclass(frozen=True)
class _ChunkCheck:
    """A checked chunk: its leaf hashes and per-lane commitment sums, for the sequential fold."""

    index: int
    leaf_hashes: tuple[bytes, ...]
    lane_sums: tuple[bytes, ...]
    exposure_ids: tuple[str, ...] = ()
    #: The chunk's share of the stratification table (:meth:`proofs.strata.Accumulator.partial`).
    strata: tuple[tuple[int, str, int, bytes], ...] = ()
    #: With :attr:`_AuditSpec.keep_leaves`: each leaf's input commitments, encoded (checked here).
    leaf_inputs: tuple[bytes, ...] = ()


def check_chunk_group(spec: _AuditSpec, chunks: list[tuple[int, int, dict[str, Any]]]) -> list[_ChunkCheck]:
    """Check a group of chunks completely except for the whole-tree folds (runs on any worker).

    Decodes every leaf (curve and subgroup checks), checks every loan counts exactly once, sums
    each lane's commitments, and batch-verifies every proof of the group in one multi-scalar
    multiplication. Raises like :func:`verify_snapshot`.
    """
    group = get_group(spec.group_name)
    lanes = get_lane_set(spec.params.lane_set)
    n_lanes = len(lanes.inputs)
    n_count = len(lanes.count_lanes)
    packing = circuit_packing(lanes)
    value_base, _ = pedersen_bases(group)
    pending: list[bulletproofs.RangeProofItem] = []
    pending_circuits: list[lanecircuit.LaneCircuitItem] = []
    pending_pool: list[poolcircuit.PoolCircuitItem] = []
    out: list[_ChunkCheck] = []
    dims = spec.params.strata_dimensions
    for index, size, chunk in chunks:
        cells: list[tuple[str, ...]] = []
        points, leaf_hashes, proofs = decode_chunk(group, n_lanes, chunk, index, size, dims, cells)
        cell_sums: tuple[tuple[int, str, int, bytes], ...] = ()
        if dims:
            acc = strata.Accumulator(group, dims, n_lanes)
            acc.add_chunk(cells, points)
            cell_sums = tuple(acc.partial())
        if packing is None:
            # Every loan counts exactly once: sum of its count commitments == G, all loans at once
            # with random weights (sound because every point is in the prime-order subgroup).
            # (Packed lane sets: the lane circuit proves it, the counts have no commitments.)
            w = [batch_weight() for _ in range(size)]
            count_points = [p for row in points for p in row[n_lanes - n_count :]]
            count_weights = [wi for wi in w for _ in range(n_count)]
            check = group.msm([*count_points, value_base], [*count_weights, -sum(w)])
            if not check.is_identity():
                raise VerificationError(
                    "snapshot.count_lanes", f"chunk {index}: a loan is not counted exactly once"
                )
        sums = tuple(group.msm([row[j] for row in points], [1] * size).to_bytes() for j in range(n_lanes))
        exposure_ids = tuple(leaf[0] for leaf in chunk["leaves"])
        inputs = tuple(bytes.fromhex(leaf[1]) for leaf in chunk["leaves"]) if spec.keep_leaves else ()
        out.append(_ChunkCheck(index, tuple(leaf_hashes), sums, exposure_ids, cell_sums, inputs))
        parts = expected_parts(lanes, size)
        if len(proofs) != len(parts):
            raise VerificationError(
                "rangeproof.shape", f"chunk {index}: expected {len(parts)} proofs, got {len(proofs)}"
            )
        for proof_bytes, (piece, part, offset, psize, m, n_bits) in zip(proofs, parts, strict=True):
            transcript = spec.context.transcript(index, piece, part)
            where = f"chunks[{index}].proofs[{part} piece {piece}]"
            try:
                if lanes.circuit is not None:
                    rounds = circuit_rounds(spec.params.ipa_rounds, psize, n_bits, lanes)
                    pool_proof = poolcircuit.decode_proof(group, proof_bytes, lanes.circuit, psize, rounds)
                    pending_pool.append(
                        poolcircuit.PoolCircuitItem(
                            lanes.circuit, points[offset : offset + psize], pool_proof, transcript
                        )
                    )
                elif lanes.proof == "lanecircuit":
                    rounds = circuit_rounds(spec.params.ipa_rounds, psize, n_bits)
                    circuit = lanecircuit.LaneCircuitProof.from_bytes(
                        group, proof_bytes, loans=psize, n_bits=n_bits, ipa_rounds=rounds
                    )
                    pending_circuits.append(
                        lanecircuit.LaneCircuitItem(
                            points[offset : offset + psize], n_bits, circuit, transcript, packing
                        )
                    )
                else:
                    proof = bulletproofs.RangeProof.from_bytes(
                        group, proof_bytes, m=m, n_bits=n_bits, ipa_rounds=spec.params.ipa_rounds
                    )
                    commitments = part_entries(points, lanes, offset, psize, part)
                    pending.append(bulletproofs.RangeProofItem(commitments, n_bits, proof, transcript))
            except EncodingError as exc:
                raise EncodingError(f"{where}: {exc}") from None
    _flush(group, pending, pending_circuits, pending_pool)
    return out


def _chunk_groups(
    chunks: Iterable[dict[str, Any]], leaf_count: int, chunk_size: int, group_leaves: int
) -> Iterator[list[tuple[int, int, dict[str, Any]]]]:
    n_chunks = -(-leaf_count // chunk_size)
    batch: list[tuple[int, int, dict[str, Any]]] = []
    leaves = 0
    index = -1
    for index, chunk in enumerate(chunks):
        if index >= n_chunks:
            raise VerificationError(
                "snapshot.leaf_count", f"more chunks than the header's {leaf_count} leaves"
            )
        size = min(chunk_size, leaf_count - index * chunk_size)
        batch.append((index, size, chunk))
        leaves += size
        if leaves >= group_leaves:
            yield batch
            batch, leaves = [], 0
    if batch:
        yield batch
    if index + 1 != n_chunks:
        raise VerificationError("snapshot.leaf_count", f"expected {n_chunks} chunks, got {index + 1}")


def verify_snapshot(
    source: IO[str],
    gateway_key: Ed25519PublicKey,
    *,
    cosigner_keys: Sequence[Ed25519PublicKey] = (),
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
    group_leaves: int = 4096,
    max_in_flight: int | None = None,
    deal: Deal | None = None,
    leaves: Callable[[str, bytes], None] | None = None,
) -> Header:
    """The auditor's full check of a snapshot bundle (DESIGN.md "Snapshot statement" 1–4).

    With ``deal``, a header naming a deal (``extensions.deal``) must name that one (``deal.binding``).

    Streams the bundle once. Groups of about ``group_leaves`` leaves are checked by
    :func:`check_chunk_group` — inline, or on ``executor`` (a process pool over all cores, or a
    Dask executor) with at most ``max_in_flight`` groups queued (default: two per worker of the
    executor, at least four) — and folded in order into the
    Merkle root and the lane aggregates. Returns the verified header; raises on the first failure.
    ``leaves(exposure_id, inputs)`` is called for every leaf in order with its input commitments'
    encodings, each decoded with curve and subgroup checks by the audit (so a caller that needs the
    leaves, as a link verifier does, need not read the bundle again); use them only once this
    returns.

    Raises:
        EncodingError: malformed bundle (names the chunk, leaf or field).
        VerificationError: ``header.signature``, ``snapshot.chunk_order``, ``snapshot.leaf_count``,
            ``snapshot.count_lanes`` (a loan not counted exactly once), ``snapshot.exposure_unique``
            (an exposure id in more than one leaf), ``rangeproof.*`` /
            ``lanecircuit.*`` (a proof failed), ``snapshot.merkle_root``, ``snapshot.aggregate``
            (names the lane, or the packed input), ``unpacking.*`` (packed lane sets: the
            per-lane aggregates are not the unpacking of the leaves' sums), ``strata.*`` (pool
            statement v2: ``strata.leaf_cells``, ``strata.root``, ``strata.dimension_total``,
            ``strata.cell_sum``; :mod:`proofs.strata`).
    """
    progress = progress or _noop_progress
    queue_limit = executors.in_flight(executor, max_in_flight)
    group = get_group()
    header_doc, table_doc, chunks = read_snapshot_parts(source)
    header = verify_header(
        header_doc, gateway_key, cosigner_keys=cosigner_keys, group=group, lane_sets=lane_sets, deal=deal
    )
    lanes = header.lanes
    table = _claimed_table(group, header, table_doc)
    recomputed = strata.Accumulator(group, header.params.strata_dimensions, len(lanes.inputs))
    spec = _AuditSpec(header.context, header.params, group.name, leaves is not None)
    chunk_size = 1 << header.params.chunk_log2
    accumulator = merkle.RootAccumulator()
    lane_sums = [group.identity() for _ in lanes.inputs]
    in_flight: deque[Future[list[_ChunkCheck]]] = deque()
    seen_exposures: set[str] = set()

    def fold(results: list[_ChunkCheck]) -> None:
        for result in results:
            for h in result.leaf_hashes:
                accumulator.add(h)
            for eid in result.exposure_ids:
                if eid in seen_exposures:
                    raise VerificationError(
                        "snapshot.exposure_unique",
                        f"chunks[{result.index}]: exposure id {eid} appears in more than one leaf",
                    )
                seen_exposures.add(eid)
            for j, raw in enumerate(result.lane_sums):
                lane_sums[j] = lane_sums[j] + group.decode_point(raw, allow_identity=True)
            recomputed.add_partial(result.strata)
            if leaves is not None:
                for eid, raw in zip(result.exposure_ids, result.leaf_inputs, strict=True):
                    leaves(eid, raw)
        progress(accumulator.size, header.leaf_count)

    for batch in _chunk_groups(chunks, header.leaf_count, chunk_size, group_leaves):
        if executor is None:
            fold(check_chunk_group(spec, batch))
            continue
        in_flight.append(executor.submit(check_chunk_group, spec, batch))
        while len(in_flight) >= queue_limit:
            fold(executors.result_of(executor, in_flight.popleft()))
    while in_flight:
        fold(executors.result_of(executor, in_flight.popleft()))
    if accumulator.size != header.leaf_count or not hmac.compare_digest(
        accumulator.root(), header.merkle_root
    ):
        raise VerificationError(
            "snapshot.merkle_root", "the Merkle root of the leaves differs from the header's"
        )
    if header.packed_sums is None:
        expected = [header.aggregates[lane] for lane in lanes.lanes]
    else:
        expected = list(header.packed_sums)
    for name, total, want in zip(lanes.inputs, lane_sums, expected, strict=True):
        if total != want:
            raise VerificationError(
                "snapshot.aggregate", f"aggregate {name} is not the sum of the leaves' commitments"
            )
    if header.packed_sums is not None and header.aggregate_proof is not None:
        unpacking.verify_unpacking(
            group,
            lanes,
            header.leaf_count,
            [header.aggregates[lane] for lane in lanes.lanes],
            header.packed_sums,
            header.aggregate_proof,
            header.context.unpacking_transcript(),
        )
    if table is not None and header.strata is not None and header.packed_sums is not None:
        strata.check_table(table, header.strata, header.leaf_count, header.packed_sums, recomputed.table())
    return header


def _claimed_table(group: Group, header: Header, doc: object) -> strata.Table | None:
    """The bundle's stratification table, checked against the header before any leaf is read."""
    if header.strata is None:
        if doc is not None:
            raise EncodingError("strata: the header has no stratification table, the bundle does")
        return None
    if doc is None:
        raise VerificationError(
            "strata.root", "the header commits to a stratification table the bundle lacks"
        )
    if header.packed_sums is None:
        raise EncodingError("strata: a stratification table needs a packed lane set")
    table = strata.Table.from_dict(group, doc, len(header.lanes.inputs))
    strata.check_table(table, header.strata, header.leaf_count, header.packed_sums, None)
    return table


def _flush(
    group: Group,
    items: list[bulletproofs.RangeProofItem],
    circuits: list[lanecircuit.LaneCircuitItem],
    pool: list[poolcircuit.PoolCircuitItem],
) -> None:
    if pool:
        try:
            poolcircuit.batch_verify_pool(group, pool)
        except VerificationError as exc:
            raise VerificationError("poolcircuit.batch", str(exc)) from exc
    if items:
        bulletproofs.batch_verify(group, items)
    if circuits:
        try:
            lanecircuit.batch_verify_lanes(group, circuits)
        except VerificationError as exc:
            raise VerificationError("lanecircuit.batch", str(exc)) from exc
