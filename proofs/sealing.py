"""Sealing a pool snapshot over any ``concurrent.futures.Executor`` (pure: no storage, no network).

:func:`seal_pool` cuts the loans into chunks of ``2^chunk_log2`` (DESIGN.md "Scale": chunk Merkle
roots fold into the RFC 9162 root), runs :func:`proofs.snapshot.seal_chunk` on the executor — a
process pool over all cores, a Dask ``Client.get_executor()``, or inline when none is given — with a
bounded number of chunks in flight so memory stays flat, and hands each finished chunk to ``sink`` in
chunk order (the gateway stores it; a test or the demo writes it to a bundle). It returns what the
header needs: leaf count, Merkle root, per-lane aggregate commitments, and the secret per-lane
totals the gateway keeps (encrypted) to prove claims.

Chunks are independent and deterministic given the seed, so a resumed job can skip chunks it
already stored (``skip_chunks``) and still produce the identical snapshot. The seed never leaves
this process: each :class:`~proofs.snapshot.ChunkTask` carries only its own loans' blindings and a
nonce key derived for that chunk, which is all a worker needs and all it can learn. With
``check_results`` (a cluster) nothing a worker returns is stored unchecked: everything but the proofs
is recomputed here, so a worker can make the snapshot fail its audit but not commit to other values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from itertools import islice

from proofs import merkle, strata, unpacking
from proofs.executors import in_flight, result_of
from proofs.group import ORDER, get_group
from proofs.lanes import get_lane_set
from proofs.pedersen import commit
from proofs.snapshot import (
    ChunkResult,
    ChunkTask,
    SealedLoan,
    SealParams,
    SnapshotContext,
    aggregate_blindings,
    check_chunk_result,
    prover_nonces,
    seal_chunk,
)
from proofs.strata import Table as StrataTable


@dataclass(frozen=True)
class ChunkSummary:
    """What the aggregator keeps of a stored chunk (enough to resume without recomputing it)."""

    chunk_index: int
    leaf_count: int
    root: bytes
    lane_value_sums: tuple[int, ...] = field(repr=False)
    lane_blinding_sums: tuple[int, ...] = field(repr=False)
    #: The chunk's share of the stratification table (:meth:`proofs.strata.Accumulator.partial`).
    strata: tuple[tuple[int, str, int, bytes], ...] = ()

    @classmethod
    def of(cls, result: ChunkResult, group_name: str | None = None) -> ChunkSummary:
        """Summarise a freshly sealed chunk."""
        return cls(
            result.chunk_index,
            len(result.leaf_hashes),
            merkle.root(result.leaf_hashes),
            result.lane_value_sums,
            result.lane_blinding_sums,
            strata_partial(result.cells, result.commitments, group_name),
        )


def strata_partial(
    cells: Sequence[Sequence[str]], commitments: Sequence[Sequence[bytes]], group_name: str | None = None
) -> tuple[tuple[int, str, int, bytes], ...]:
    """A chunk's share of the stratification table from its leaves' cells and input commitments."""
    if not cells:
        return ()
    group = get_group(group_name)
    acc = strata.Accumulator(group, [str(d) for d in range(len(cells[0]))], len(commitments[0]))
    acc.add_chunk(cells, [[group.decode_point(c, allow_identity=True) for c in row] for row in commitments])
    return tuple(acc.partial())


@dataclass(frozen=True)
class SealOutcome:
    """The public totals of a sealed pool plus the secret lane openings of its aggregates."""

    leaf_count: int
    merkle_root: bytes
    aggregates: tuple[bytes, ...]
    lane_value_sums: tuple[int, ...] = field(repr=False)
    #: The blindings of ``aggregates`` (what a claim prover needs with ``lane_value_sums``).
    lane_blinding_sums: tuple[int, ...] = field(repr=False)
    #: Packed lane sets only: the sums of the leaves' input commitments and the unpacking proof.
    packed_sums: tuple[bytes, ...] | None = None
    aggregate_proof: bytes | None = None
    #: Pool statement v2 only: the stratification table (its header field goes into the header).
    strata: StrataTable | None = None


def chunked(loans: Iterable[SealedLoan], chunk_log2: int) -> Iterator[tuple[SealedLoan, ...]]:
    """Consecutive chunks of ``2^chunk_log2`` loans (the last may be shorter)."""
    it = iter(loans)
    size = 1 << chunk_log2
    while chunk := tuple(islice(it, size)):
        yield chunk


def seal_pool(
    loans: Iterable[SealedLoan],
    *,
    context: SnapshotContext,
    params: SealParams,
    seed: bytes,
    sink: Callable[[ChunkResult], None],
    executor: Executor | None = None,
    max_in_flight: int | None = None,
    skip_chunks: dict[int, ChunkSummary] | None = None,
    progress: Callable[[int], None] | None = None,
    group_name: str | None = None,
    check_results: bool = False,
) -> SealOutcome:
    """Seal every loan; call ``sink`` for each new chunk in order; return the snapshot totals.

    ``skip_chunks`` maps chunk indices already stored by an interrupted run to their summaries;
    those chunks are not recomputed (sealing is deterministic given the seed, so the result is the
    same). ``max_in_flight``: chunks queued on the executor (default two per worker of it, at least
    four; results are handed to ``sink`` in order). ``progress(leaves_done)`` is called after each
    chunk. ``check_results``: the executor's workers are not trusted with integrity (a cluster), so
    each result is checked against its task here (:func:`~proofs.snapshot.check_chunk_result`: two
    commitments a loan) before ``sink``.

    Raises:
        ProvingError: a loan's lane value is out of range (the whole seal fails; nothing is signed).
        ValueError: malformed loan input, or an exposure id that appears twice.
        VerificationError: ``check_results`` and a worker returned a result that does not match.
    """
    skip = skip_chunks or {}
    queue_limit = in_flight(executor, max_in_flight)
    summaries: list[ChunkSummary] = []
    pending: deque[tuple[ChunkTask, Future[ChunkResult]] | ChunkSummary] = deque()
    done = 0

    def settle(item: tuple[ChunkTask, Future[ChunkResult]] | ChunkSummary) -> None:
        nonlocal done
        if isinstance(item, ChunkSummary):
            summary = item
        else:
            task, future = item
            result = result_of(executor, future)
            if check_results:
                check_chunk_result(task, result)
            sink(result)
            summary = ChunkSummary.of(result, group_name)
        summaries.append(summary)
        done += summary.leaf_count
        if progress:
            progress(done)

    seen_exposures: set[str] = set()
    for index, chunk in enumerate(chunked(loans, params.chunk_log2)):
        refuse_repeated_exposures(chunk, index << params.chunk_log2, seen_exposures)
        if index in skip:
            pending.append(skip[index])
        else:
            task = ChunkTask.prepare(context, params, index, chunk, seed, group_name)
            if executor is None:
                fut: Future[ChunkResult] = Future()
                fut.set_result(seal_chunk(task))
            else:
                fut = executor.submit(seal_chunk, task)
            pending.append((task, fut))
        while len(pending) > queue_limit or (pending and isinstance(pending[0], ChunkSummary)):
            settle(pending.popleft())
        while pending and not isinstance(pending[0], ChunkSummary) and pending[0][1].done():
            settle(pending.popleft())
    while pending:
        settle(pending.popleft())
    return _outcome(summaries, params, group_name, context, seed)


def refuse_repeated_exposures(chunk: Iterable[SealedLoan], first: int, seen: set[str]) -> None:
    """Add the chunk's exposure ids to ``seen``; one leaf per exposure.

    A repeated id would be a second leaf for one exposure (counted twice) sharing its derived
    blindings. Raises ``ValueError`` naming the loan's position and id.
    """
    for offset, loan in enumerate(chunk):
        if loan.exposure_id in seen:
            raise ValueError(
                f"loan {first + offset}: exposure id {loan.exposure_id} appears twice "
                "(each exposure is one leaf)"
            )
        seen.add(loan.exposure_id)


def _outcome(
    summaries: list[ChunkSummary],
    params: SealParams,
    group_name: str | None,
    context: SnapshotContext,
    seed: bytes,
) -> SealOutcome:
    group = get_group(group_name)
    lanes = get_lane_set(params.lane_set)
    n = len(lanes.lanes)
    leaf_count = sum(s.leaf_count for s in summaries)
    root = merkle.fold_chunk_roots([s.root for s in summaries], leaf_count, params.chunk_log2)
    values = tuple(sum(s.lane_value_sums[j] for s in summaries) for j in range(n))
    n_inputs = len(lanes.inputs)
    blindings = tuple(sum(s.lane_blinding_sums[j] for s in summaries) % ORDER for j in range(n_inputs))
    if lanes.packing is None:
        # The sum of Pedersen commitments is the commitment to the summed openings.
        aggregates = tuple(commit(group, v, r).to_bytes() for v, r in zip(values, blindings, strict=True))
        return SealOutcome(leaf_count, root, aggregates, values, blindings)
    # Packed: fresh per-lane aggregates and a proof that they unpack the sums of the leaves' inputs.
    rhos = aggregate_blindings(seed, lanes)
    transcript = context.unpacking_transcript()
    statement = {"proof": "unpacking", "group": "BLS12-381-G1", "lane_set": lanes.name, "leaves": leaf_count}
    nonces = prover_nonces(seed, transcript, [[root]], statement=statement)
    proof, agg_points, sums = unpacking.prove_unpacking(
        group, lanes, leaf_count, values, rhos, blindings, transcript, nonces
    )
    table = None
    if params.strata_dimensions:
        acc = strata.Accumulator(group, params.strata_dimensions, n_inputs)
        for s in summaries:
            acc.add_partial(s.strata)
        table = acc.table()
    return SealOutcome(
        leaf_count,
        root,
        tuple(p.to_bytes() for p in agg_points),
        values,
        tuple(rhos),
        tuple(p.to_bytes() for p in sums),
        proof,
        table,
    )
