"""Seal jobs: commit, range-prove and sign a pool's cut-off as a resumable background job.

A job is created (:func:`start_seal_job`) with a fresh snapshot id and a random 32-byte blinding seed,
sealed under the pool data key. :func:`run_seal_job` reads the cut-off's tape in order
(:func:`gateway.storage.records.iter_loans`), runs :func:`proofs.sealing.seal_pool` on an ``Executor``
(a process pool over all cores by default, ``POOLPROOF_MSM_THREADS=1`` in each worker) and stores every
chunk as it arrives, each in its own transaction. When every chunk is in, ONE transaction signs the header,
inserts the ``sealed_snapshots`` row and marks the cut-off sealed.

Crash safety: a process that dies mid-way leaves the job ``running`` with the chunks it stored; running
the job again (server start or ``poolproof seal --resume``) skips the stored chunks and produces the
identical snapshot, because sealing is deterministic given the seed and snapshot id. Nothing is visible
to readers before the final transaction. A job that fails (a loan the prover refuses, a tape superseded
while sealing) is marked ``failed`` and its chunks are deleted; the cut-off stays open.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policies.catalogue import TAPE_SCHEMA_V1, TAPE_SCHEMA_V2
from proofs import bundle
from proofs.deal import Deal, deal_hash, parse_deal_text
from proofs.errors import Error as ProofsError
from proofs.executors import SchedulerError, check_scheduler_address, open_executor
from proofs.lanes import POOL_V2, LaneSet, get_lane_set
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    LoanInput,
    SealedLoan,
    SealParams,
    SnapshotContext,
    build_header,
    header_hash,
    labelled,
)

from ..config import GatewayConfig
from ..errors import GatewayError
from ..ingest.pool_settings import PoolConfig
from ..loan_facts import STRATIFICATION_DIMENSIONS, loan_facts, statement_lane_set
from ..storage import deals as deal_rows
from ..storage import links as link_rows
from ..storage import snapshots as snapshot_rows
from ..storage.db import connect, transaction
from ..storage.records import (
    Conflict,
    NotFound,
    get_pool,
    get_tape,
    iter_loans,
    mark_cutoff_sealed,
    pool_keys,
    snapshot_status,
)
from ..storage.snapshots import SealJob as SealJob
from ..storage.snapshots import find_running_job as find_running_job
from ..storage.snapshots import get_job as get_job
from ..storage.snapshots import last_snapshot
from ..storage.snapshots import running_jobs as running_jobs
from ..workers import SEAL_WORKERS
from .links import build_link
from .sealed import (
    SnapshotRecord,
    decrypt_secret,
    encrypt_secret,
    encrypt_totals,
    loan_input,
    seed_aad,
    store_chunk,
    stored_summaries,
)

log = logging.getLogger(__name__)

#: Chunk sizes chosen by :func:`auto_chunk_log2` when the settings leave ``chunk_log2`` unset.
MIN_AUTO_CHUNK_LOG2 = 6
MAX_AUTO_CHUNK_LOG2 = 10
SEED_BYTES = 32
#: Pools with at most this many chunks are sealed in the calling thread (worker start-up costs more).
INLINE_MAX_CHUNKS = 2


class SealError(GatewayError):
    """A seal job cannot start or complete (the message is safe to show: no values, no secrets)."""

    http_status: ClassVar[int] = 422


class TestingHooks:
    """Test-only behaviour, honoured only when the app runs with ``TESTING`` (never in production).

    ``negative_lane_loans``: exposure ids whose principal is negated before sealing, to show that a
    platform cannot get a snapshot with a negative lane value.
    """

    negative_lane_loans: frozenset[str] = frozenset()


def auto_chunk_log2(loans: int) -> int:
    """The chunk size for a pool of ``loans``: at least 16 chunks (work for every core), at most 2^10
    leaves a chunk (larger chunks prove up to ~15% cheaper per loan; beyond 2^10 the gain is small
    and a resumed job would redo more), at least 2^6."""
    return max(MIN_AUTO_CHUNK_LOG2, min(MAX_AUTO_CHUNK_LOG2, (loans // 16).bit_length() - 1))


@dataclass(frozen=True)
class SealSettings:
    """Proof parameters and execution settings of new seal jobs (app config ``SEAL_*``)."""

    chunk_log2: int | None = None  # None: auto_chunk_log2(loans in the tape)
    ipa_rounds: int | None = SealParams().ipa_rounds  # None: full inner-product compression
    lane_set: str = SealParams().lane_set  # the proofs default (dpd5-v3: packed lanes, lane circuit)
    #: No lane set configured: a tape schema v2 tape is sealed under the pool statement v2 (the pool's
    #: own ``pool-v2`` lane set), a v1 tape under ``lane_set``.
    by_tape_schema: bool = False
    workers: int | None = None  # None: os.cpu_count(); 0: inline (no worker processes)
    scheduler: str | None = None  # a Dask scheduler address: chunks run on its workers instead

    @classmethod
    def from_config(cls, config: Any) -> SealSettings:
        """From ``SEAL_CHUNK_LOG2``, ``SEAL_IPA_ROUNDS``, ``SEAL_LANE_SET``, ``SEAL_WORKERS``,
        ``SEAL_SCHEDULER`` (or the ``POOLPROOF_SEAL_*`` environment variables, through
        :class:`gateway.config.GatewayConfig`; the scheduler also from ``POOLPROOF_SCHEDULER``, which
        the audit CLI reads too).

        ``SEAL_IPA_ROUNDS`` is an integer or ``full`` (full compression); unset means the default.
        Raises ``KeyError`` for an unknown lane set, ``ValueError`` for a non-integer setting
        (:class:`gateway.config.ConfigError` when it comes from the environment),
        :class:`~proofs.executors.InsecureSchedulerError` for a plaintext scheduler off this machine.
        """

        env = GatewayConfig.from_environment()

        def get(name: str, environment_value: Any) -> Any:
            v = config.get(name)
            return environment_value if v is None else v

        rounds = get("SEAL_IPA_ROUNDS", env.seal_ipa_rounds)
        workers, chunk = get("SEAL_WORKERS", env.seal_workers), get("SEAL_CHUNK_LOG2", env.seal_chunk_log2)
        scheduler = get("SEAL_SCHEDULER", env.seal_scheduler) or env.scheduler or None
        if scheduler:
            check_scheduler_address(scheduler, secrets=True)
        configured = get("SEAL_LANE_SET", env.seal_lane_set)
        lane_set = configured or cls.lane_set
        if lane_set != POOL_V2:  # the family: each pool's own parameters, from its settings
            get_lane_set(lane_set)
        return cls(
            chunk_log2=None if chunk in (None, "") else int(chunk),
            ipa_rounds=(
                cls.ipa_rounds if rounds in (None, "") else None if str(rounds) == "full" else int(rounds)
            ),
            lane_set=lane_set,
            by_tape_schema=not configured,
            workers=None if workers in (None, "") else int(workers),
            scheduler=scheduler,
        )

    def lanes_for(self, pool: PoolConfig) -> LaneSet:
        """The lane set a pool's seals use: the named one, or with the ``pool-v2`` family the pool's
        own (:func:`statement_lane_set`: widths and cap from its settings)."""
        return statement_lane_set(pool) if self.lane_set == POOL_V2 else get_lane_set(self.lane_set)

    def params(self, loans: int, lane_set: str | None = None) -> SealParams:
        """The public proof parameters recorded in the header of a pool of ``loans`` (under
        ``lane_set``, default the settings' own, which must then name one lane set)."""
        chunk_log2 = auto_chunk_log2(loans) if self.chunk_log2 is None else self.chunk_log2
        name = lane_set or self.lane_set
        return SealParams(
            lane_set=name,
            chunk_log2=chunk_log2,
            ipa_rounds=self.ipa_rounds,
            strata_dimensions=STRATIFICATION_DIMENSIONS if labelled(get_lane_set(name)) else (),
        )


def start_seal_job(
    db: sqlite_utils.Database,
    master_key: bytes,
    pool_id: str,
    cutoff: str,
    settings: SealSettings,
    *,
    seed: bytes | None = None,
) -> tuple[SealJob, bool]:
    """Create a seal job for a pool's cut-off; returns ``(job, created)``.

    A running job of the same cut-off is returned as is (``created`` False). ``seed`` is for tests
    (a reproducible run); the default is 32 bytes from the OS random source.

    Raises :class:`NotFound` (no pool, no tape for the cut-off), :class:`Conflict` (already sealed, or
    not after the pool's last sealed cut-off), :class:`SealError` (pool settings that the lane set cannot
    encode).
    """
    pool = get_pool(db, pool_id)
    keys = pool_keys(db, master_key, pool_id)
    lanes = settings.lanes_for(pool.config)
    edges = pool.config.dpd_edges

    def check_edges() -> None:
        if lanes.circuit is None and (len(edges) != len(lanes.balance_lanes) - 1 or edges[0] != 0):
            raise SealError(
                f"lane set {lanes.name} needs {len(lanes.balance_lanes) - 1} DPD edges starting at 0; "
                f"pool {pool_id} has {list(edges)}"
            )

    if not settings.by_tape_schema:
        check_edges()
    seed = seed if seed is not None else secrets.token_bytes(SEED_BYTES)
    if len(seed) != SEED_BYTES:
        raise ValueError("seed must be 32 bytes")
    job_id = "job-" + secrets.token_hex(8)
    snapshot_id = "snap-" + secrets.token_hex(10)
    with transaction(db) as conn:
        status = snapshot_status(conn, pool_id, cutoff)
        if status is None:
            raise NotFound(f"pool {pool_id!r} has no tape for cut-off {cutoff}")
        if status[0] == "sealed":
            raise Conflict(f"cut-off {cutoff} of pool {pool_id!r} is already sealed")
        running = find_running_job(conn, pool_id, cutoff)
        if running is not None:
            return running, False
        last = last_snapshot(conn, pool_id)
        if last is not None and last.cutoff_date >= cutoff:
            raise Conflict(f"cut-off {cutoff} is not after the pool's last sealed cut-off {last.cutoff_date}")
        tape = get_tape(db, status[1])
        if settings.by_tape_schema:
            if tape.stats.get("tape_schema") == TAPE_SCHEMA_V2:
                lanes = statement_lane_set(pool.config)
            check_edges()
        if lanes.circuit is not None and tape.stats.get("tape_schema") != TAPE_SCHEMA_V2:
            raise SealError(
                f"lane set {lanes.name} proves loan states and period flows: the tape of cut-off {cutoff} "
                f"is {tape.stats.get('tape_schema', TAPE_SCHEMA_V1)}, which carries no period flows "
                "(seal it under dpd5-v3)"
            )
        params = settings.params(tape.row_count, lanes.name)
        snapshot_rows.insert_job(
            conn,
            snapshot_rows.NewSealJob(
                id=job_id,
                pool_id=pool_id,
                cutoff_date=cutoff,
                tape_id=tape.id,
                snapshot_id=snapshot_id,
                params=params,
                sealed_seed=encrypt_secret(keys, seed_aad(job_id, snapshot_id), seed),
                leaf_total=tape.row_count,
            ),
        )
    return get_job(db, job_id), True


# --- executors ------------------------------------------------------------------------------------------
def seal_executor(workers: int) -> Executor:
    """The shared process pool for sealing (:data:`gateway.workers.SEAL_WORKERS`), of ``workers`` workers."""
    return SEAL_WORKERS.executor(workers)


def shutdown_executor() -> None:
    """Stop the shared sealing workers (tests, CLI exit)."""
    SEAL_WORKERS.shutdown()


# --- running a job --------------------------------------------------------------------------------------
def _sealed_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_seal_job(
    db_path: str | Path,
    master_key: bytes,
    gateway_key: Ed25519PrivateKey,
    policy_version: str,
    job_id: str,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    scheduler: str | None = None,
    after_chunk: Callable[[int], None] | None = None,
    testing: TestingHooks | None = None,
) -> SealJob:
    """Run (or resume) a seal job to completion; returns the finished job (``sealed`` or ``failed``).

    ``workers``: worker processes (None: all cores; 0: inline). ``scheduler``: run the chunks on this
    Dask scheduler's workers instead (:func:`proofs.executors.open_executor` with ``secrets=True``:
    ``tls://`` or loopback only, unless the plaintext override is set; every chunk a worker returns is
    checked against its loans before it is stored). ``after_chunk(index)`` is called after
    each chunk is stored (tests use it to simulate a crash by raising a ``BaseException``, which leaves
    the job running and resumable). Proof or data errors mark the job ``failed``; the snapshot is then
    never created and the cut-off stays open.
    """
    db = connect(db_path)
    try:
        job = get_job(db, job_id)
        if job.state != "running":
            return job
        try:
            with ExitStack() as stack:
                remote = executor is None and bool(scheduler)  # results are checked before they are stored
                if remote:
                    executor = stack.enter_context(open_executor(scheduler=scheduler, secrets=True))
                _run(
                    db,
                    master_key,
                    gateway_key,
                    policy_version,
                    job,
                    workers,
                    executor,
                    remote,
                    after_chunk,
                    testing,
                )
        except (ProofsError, SealError, ValueError, KeyError, NotFound, Conflict) as exc:
            _fail(db, job.id, f"{type(exc).__name__}: {exc}")
        except (sqlite3.OperationalError, BrokenProcessPool, CancelledError, OSError, SchedulerError):
            # Interrupted or unable to start, not wrong (database busy, a worker killed, the cluster
            # gone or unreachable or refused as insecure): the job stays running and resumes from
            # its stored chunks on the next run.
            raise
        except Exception as exc:
            _fail(db, job.id, f"internal error ({type(exc).__name__})")
            raise
        return get_job(db, job_id)
    finally:
        db.conn.close()


def _fail(db: sqlite_utils.Database, job_id: str, message: str) -> None:
    log.warning("seal job %s failed: %s", job_id, message)
    with transaction(db) as conn:
        snapshot_rows.fail_job(conn, job_id, message)


def _loan_inputs(
    db: sqlite_utils.Database, keys: Any, job: SealJob, pool: PoolConfig, testing: TestingHooks | None
) -> Iterator[SealedLoan]:
    tape = get_tape(db, job.tape_id)
    if get_lane_set(job.params.lane_set).circuit is not None:
        for stored in iter_loans(db, keys, tape):
            yield loan_facts(stored.record, pool)
        return
    edges = pool.dpd_edges
    negate = testing.negative_lane_loans if testing is not None else frozenset()
    for stored in iter_loans(db, keys, tape):
        loan = loan_input(stored.record, edges)
        if loan.exposure_id in negate:
            loan = LoanInput(loan.exposure_id, -loan.principal - 1, loan.bucket)
        yield loan


def _run(
    db: sqlite_utils.Database,
    master_key: bytes,
    gateway_key: Ed25519PrivateKey,
    policy_version: str,
    job: SealJob,
    workers: int | None,
    executor: Executor | None,
    check_results: bool,
    after_chunk: Callable[[int], None] | None,
    testing: TestingHooks | None,
) -> None:
    pool = get_pool(db, job.pool_id)
    keys = pool_keys(db, master_key, job.pool_id)
    seed = decrypt_secret(keys, seed_aad(job.id, job.snapshot_id), _sealed_seed(db, job.id))
    skip = stored_summaries(db, keys, job.id, job.params)
    done_before = sum(s.leaf_count for s in skip.values())
    with transaction(db) as conn:
        snapshot_rows.begin_job_run(conn, job.id, done_before)
    context = SnapshotContext(job.snapshot_id, job.pool_id, job.cutoff_date, job.params.lane_set)
    n_chunks = -(-job.leaf_total // (1 << job.params.chunk_log2))
    if executor is None:
        n = (os.cpu_count() or 1) if workers is None else workers
        if n > 0 and n_chunks - len(skip) > INLINE_MAX_CHUNKS:
            executor = seal_executor(n)

    def sink(result: ChunkResult) -> None:
        with transaction(db) as conn:
            summary = store_chunk(conn, keys, job.id, result)
            snapshot_rows.add_leaves_done(conn, job.id, summary.leaf_count)
        if after_chunk is not None:
            after_chunk(result.chunk_index)

    outcome = seal_pool(
        _loan_inputs(db, keys, job, pool.config, testing),
        context=context,
        params=job.params,
        seed=seed,
        sink=sink,
        executor=executor,
        skip_chunks=skip,
        check_results=check_results,
    )
    if outcome.leaf_count != job.leaf_total:
        raise SealError(f"sealed {outcome.leaf_count} loans, the tape has {job.leaf_total}")
    # The header and the link to the month before are made outside the write transaction (the link is
    # a proof over every kept loan); the transaction then checks nothing moved meanwhile.
    before = last_snapshot(db.conn, job.pool_id)
    header = build_header(
        context=context,
        params=job.params,
        sequence=1 if before is None else before.sequence + 1,
        previous_header_hash=None if before is None else header_hash(before.header),
        sealed_at=_sealed_at(),
        leaf_count=outcome.leaf_count,
        merkle_root=outcome.merkle_root,
        currency=pool.config.currency,
        dpd_bucket_edges=pool.config.dpd_edges,
        aggregates=outcome.aggregates,
        policy_version=policy_version,
        packed_sums=outcome.packed_sums,
        aggregate_proof=outcome.aggregate_proof,
        strata_field=None if outcome.strata is None else outcome.strata.header_field(),
        deal=(governing := _governing_deal(db.conn, job.pool_id, job.cutoff_date)),
    )
    signed = bundle.sign_document(gateway_key, "snapshot-header", header)
    link = None
    if before is not None and before.cutoff_date < job.cutoff_date:
        link = build_link(
            db,
            keys,
            gateway_key,
            pool.config,
            before,
            signed,
            job_id=job.id,
            tape_id=job.tape_id,
            seed=seed,
            ipa_rounds=job.params.ipa_rounds,
            executor=executor,
            check_results=check_results,
        )
    with transaction(db) as conn:
        status = snapshot_status(conn, job.pool_id, job.cutoff_date)
        if status is None or status[1] != job.tape_id:
            raise SealError("the cut-off's tape was superseded while sealing; seal again")
        if status[0] == "sealed":
            raise SealError("the cut-off was sealed by another job")
        previous = last_snapshot(conn, job.pool_id)
        if previous is not None and previous.cutoff_date >= job.cutoff_date:
            raise SealError(f"a later cut-off ({previous.cutoff_date}) was sealed meanwhile")
        if (previous is None) != (before is None) or (
            previous is not None and before is not None and previous.snapshot_id != before.snapshot_id
        ):
            raise SealError("another cut-off of the pool was sealed meanwhile; seal again")
        now_governing = _governing_deal(conn, job.pool_id, job.cutoff_date)
        if (None if now_governing is None else deal_hash(now_governing)) != (
            None if governing is None else deal_hash(governing)
        ):
            raise SealError("the pool's deal file changed while sealing; seal again")
        snapshot_rows.insert_snapshot(
            conn,
            SnapshotRecord(
                snapshot_id=job.snapshot_id,
                pool_id=job.pool_id,
                cutoff_date=job.cutoff_date,
                sequence=signed["sequence"],
                job_id=job.id,
                header=signed,
                header_hash=header_hash(signed),
                sealed_totals=encrypt_totals(
                    keys, job.snapshot_id, outcome.lane_value_sums, outcome.lane_blinding_sums
                ),
                sealed_at=signed["sealed_at"],
                strata=None if outcome.strata is None else outcome.strata.to_dict(),
            ),
        )
        if link is not None:
            link_rows.insert_link(conn, link)
        # The cut-off becomes sealed, and the job done, in the same transaction as the snapshot row.
        mark_cutoff_sealed(conn, job.pool_id, job.cutoff_date)
        snapshot_rows.finish_job(conn, job.id)


def _sealed_seed(db: sqlite_utils.Database, job_id: str) -> bytes:
    blob = snapshot_rows.job_sealed_seed(db, job_id)
    if blob is None:
        raise NotFound(f"no seal job {job_id!r}")
    return blob


# --- background runner ----------------------------------------------------------------------------------
class JobRunner:
    """Runs seal jobs on background threads of the server process (one thread per job)."""

    def __init__(self) -> None:
        self._active: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, target: Callable[[], object]) -> bool:
        """Start ``target`` for ``job_id`` unless that job already runs here; True if started."""
        with self._lock:
            thread = self._active.get(job_id)
            if thread is not None and thread.is_alive():
                return False

            def run() -> None:
                try:
                    target()
                except Exception:
                    log.exception("seal job %s stopped with an internal error", job_id)

            thread = threading.Thread(target=run, name=f"seal-{job_id}", daemon=True)
            self._active[job_id] = thread
            thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests)."""
        for thread in list(self._active.values()):
            thread.join(timeout)


def _governing_deal(conn: sqlite3.Connection, pool_id: str, cutoff_date: str) -> Deal | None:
    """The pool's registered deal if it governs the cut-off (at or after its closing date)."""
    source = deal_rows.current_deal_source(conn, pool_id)
    if source is None:
        return None
    deal = parse_deal_text(source)
    return deal if cutoff_date >= deal.closing_date else None
