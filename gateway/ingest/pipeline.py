"""Tape ingestion: stream, validate, derive, encrypt and store a loan tape atomically, once.

One pass over the body: each row is parsed, validated (:class:`gateway.ingest.validation.RowValidator`),
given its gateway-derived fields, split into level 1-2 and level 3+ parts, the latter sealed with
AES-GCM (:mod:`gateway.ingest.rowwork`, on a pool of worker processes for large JSONL tapes), and inserted in
batches inside a single ``BEGIN IMMEDIATE`` transaction; duplicates across the whole tape and exposure
ids are settled in this process, in tape order. If any row is invalid, the body is malformed or too
large, or the content hash differs from the one the platform signed, the transaction is rolled back:
nothing of the tape is ever visible. A process killed mid-way leaves an uncommitted WAL transaction
that SQLite discards on the next open.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

import sqlite_utils

from policies.catalogue import TAPE_SCHEMA_V2_FIELDS

from ..errors import GatewayError
from ..keys.keyring import PoolKeys
from ..storage.db import discardable_transaction, now
from ..storage.records import Conflict, PoolRecord, find_tape, snapshot_status
from ..storage.tapes import (
    TapeRecord,
    bulk_write_settings,
    checkpoint_in_background,
    defer_checkpoints,
    insert_tape,
    make_tape_current,
    next_tape_id,
    pool_has_exposures,
    store_loans,
)
from ..workers import default_workers
from .rowwork import (
    BatchProcessor,
    BatchResult,
    BatchSpec,
    PoolStats,
    loan_layout,
    parse_lines,
    process_lines,
    reset_worker_pool,
    worker_pool,
)
from .tape_formats import (
    MAX_RECORD_BYTES,
    HashingReader,
    TapeMalformed,
    first_long_line,
    iter_tape,
    line_too_long,
)
from .validation import DEFAULT_MAX_REPORTED, ROW_FIELD, TapeProblem, TapeReport

BATCH_ROWS = 4000
INGEST_CACHE_KIB = 256 * 1024  # SQLite page cache during an ingest (an upper bound, in KiB)
BACKGROUND_CHECKPOINT_ROWS = 50_000  # from this many rows, the WAL checkpoint runs after the answer

log = logging.getLogger(__name__)


class TapeRejected(GatewayError):
    """A tape failed validation; ``report`` lists row, field, rule and masked value. Nothing was stored."""

    http_status: ClassVar[int] = 422

    def __init__(self, report: TapeReport, *, malformed: bool = False) -> None:
        super().__init__(f"tape rejected: {report.error_count} errors in {report.invalid_rows} rows")
        self.report = report
        self.malformed = malformed


class ContentHashMismatch(GatewayError):
    """The body's SHA-256 differs from the declared (signed) content hash. Nothing was stored."""

    http_status: ClassVar[int] = 400

    def __init__(self, declared: str, actual: str) -> None:
        super().__init__("the body's SHA-256 differs from the declared X-Tape-SHA256")
        self.declared = declared
        self.actual = actual


class TapeSuperseded(GatewayError):
    """The submitted tape is stored already but has been superseded: replaying it changes nothing.

    ``tape_id`` is the earlier, superseded tape with this content; ``current_tape_id`` the tape that is
    current at the cut-off now. Nothing was stored.
    """

    http_status: ClassVar[int] = 409

    def __init__(self, tape_id: int, cutoff: str, current_tape_id: int | None) -> None:
        super().__init__(
            f"this tape was stored as tape {tape_id} and has since been superseded"
            + (f" by tape {current_tape_id}" if current_tape_id is not None else "")
            + f" at cut-off {cutoff}; it is not current and was not stored again"
        )
        self.tape_id = tape_id
        self.cutoff = cutoff
        self.current_tape_id = current_tape_id


@dataclass
class IngestOutcome:
    """The stored tape's result (``replayed``: an identical earlier submission answered instead)."""

    result: dict[str, Any]
    replayed: bool


def ingest_tape(
    db: sqlite_utils.Database,
    pool: PoolRecord,
    keys: PoolKeys,
    cutoff: str,
    body: BinaryIO,
    fmt: str,
    *,
    submitted_by: str,
    max_bytes: int,
    idempotency_key: str | None = None,
    declared_sha256: str | None = None,
    signature: bytes | None = None,
    signer_public_key: bytes | None = None,
    max_reported: int = DEFAULT_MAX_REPORTED,
    workers: int | None = None,
) -> IngestOutcome:
    """Store a tape for ``pool`` at ``cutoff`` from ``body`` in format ``fmt`` (json, jsonl, csv).

    ``submitted_by`` (the platform's party id) and ``max_bytes`` (the size cap) are required;
    ``idempotency_key``, ``declared_sha256`` (the signed content hash), ``signature`` and
    ``signer_public_key`` are stored with the tape; ``max_reported`` caps the errors listed in a
    rejection's report (all are counted); ``workers`` is the number of processes for large JSONL tapes
    (default one per core).

    Returns the first result again for a repeated submission (same idempotency key and content, or
    same cut-off and content), with ``replayed=True``. The signature, if any, must already have been
    verified by the caller against ``declared_sha256``; here the body's hash must equal it.

    Raises :class:`TapeSuperseded` when the repeated submission's tape is no longer current at its cut-off,
    :class:`Conflict` (idempotency key reused for another tape; sealed cut-off),
    :class:`TapeRejected` (invalid or malformed rows, empty tape), :class:`ContentHashMismatch`,
    :class:`gateway.ingest.tape_formats.TapeTooLarge`. In every error case nothing is stored.
    """
    early = _replay_or_conflict(db, pool.id, cutoff, idempotency_key, declared_sha256)
    if early is not None:
        return early
    workers = default_workers() if workers is None else workers
    reader = HashingReader(body, max_bytes)
    report = TapeReport(max_reported=max_reported)
    stats = PoolStats(pool.config.dpd_labels)
    counters = {"rows": 0, "flagged": 0}
    seen: dict[bytes, int] = {}
    schema_rows: dict[str, int] = {}  # "flows" / "plain" -> the first valid row of each kind

    with bulk_write_settings(db.conn, INGEST_CACHE_KIB), discardable_transaction(db) as tx:
        conn = tx.conn
        # Re-check under the write lock: a concurrent submission may have sealed or stored meanwhile.
        st = snapshot_status(db, pool.id, cutoff)
        if st is not None and st[0] == "sealed":
            raise Conflict(f"cut-off {cutoff} of pool {pool.id!r} is sealed; no further tape is accepted")
        tape_id = next_tape_id(conn)
        has_prior = pool_has_exposures(conn, pool.id)
        spec = BatchSpec(pool.id, cutoff, tape_id, pool.config.to_dict(), keys.data_key, max_reported)

        def absorb(res: BatchResult) -> None:
            """Merge one batch in tape order: errors, duplicates across batches, then store its loans."""
            bad = set(res.bad_rows)
            for e in res.errors:
                report.add(e)
            report.error_count += res.error_count - len(res.errors)
            report.rows_read += res.rows_read
            for row, lk in res.loan_ids:
                first = seen.setdefault(lk, row)
                if first != row:
                    msg = f"platform_loan_id already used on row {first}"
                    report.add(TapeProblem(row, "platform_loan_id", "duplicate", msg, None))
                    bad.add(row)
            _check_one_schema(res, schema_rows, report, bad)
            report.invalid_rows += len(bad)
            if not report.ok:
                return
            stats.merge(res.stats)
            counters["rows"] += len(res.loans)
            counters["flagged"] += res.flagged
            _store(conn, res, bool(has_prior))

        try:
            if fmt == "jsonl":
                _run_jsonl(reader, spec, workers, absorb, lambda: report.ok)
            else:
                proc = BatchProcessor(spec)
                int_fields = [n for n in TAPE_SCHEMA_V2_FIELDS if proc.catalogue[n].type == "int"]
                batch: list[tuple[int, Any, str | None]] = []
                index = 1  # the loan index of the batch's first row (rows are numbered by source line)
                for item in iter_tape(fmt, reader, int_fields):
                    batch.append(item)
                    if len(batch) >= BATCH_ROWS:
                        absorb(proc.process(batch, report.ok, index))
                        index += len(batch)
                        batch = []
                absorb(proc.process(batch, report.ok, index))
        except TapeMalformed as exc:
            report.add(TapeProblem(exc.row, ROW_FIELD, "malformed", exc.message, None))
            report.invalid_rows += 1
            raise TapeRejected(report, malformed=True) from None
        if not report.ok:
            report.errors.sort(key=lambda e: e.row)
            malformed = all(e.rule == "malformed" for e in report.errors)
            raise TapeRejected(report, malformed=malformed)
        rows = counters["rows"]
        if rows == 0:
            report.add(TapeProblem(0, ROW_FIELD, "empty", "the tape has no rows", None))
            raise TapeRejected(report)
        actual = reader.hexdigest()
        if declared_sha256 is not None and actual != declared_sha256:
            raise ContentHashMismatch(declared_sha256, actual)
        replay = _replay_after_read(db, pool.id, cutoff, idempotency_key, actual)
        if replay is not None:
            tx.discard()  # the loans written above are rolled back; the first result is answered again
            return replay
        if rows >= BACKGROUND_CHECKPOINT_ROWS:
            # COMMIT makes the tape durable (WAL, synchronous=FULL); copying its pages into the database
            # file (the checkpoint) need not hold up the answer: a background thread does it afterwards.
            defer_checkpoints(conn)
        submitted_at = now()
        previous = st[1] if st is not None else None
        result = {
            "tape_id": tape_id,
            "pool_id": pool.id,
            "cutoff_date": cutoff,
            "content_sha256": actual,
            "rows": rows,
            "flagged_rows": counters["flagged"],
            "format": fmt,
            "signature_verified": signature is not None,
            "supersedes_tape_id": previous,
            "submitted_at": submitted_at,
        }
        insert_tape(
            conn,
            TapeRecord(
                id=tape_id,
                pool_id=pool.id,
                cutoff_date=cutoff,
                status="current",
                content_sha256=actual,
                idempotency_key=idempotency_key,
                format=fmt,
                row_count=rows,
                byte_count=reader.bytes_read,
                flagged_rows=counters["flagged"],
                submitted_by=submitted_by,
                submitted_at=submitted_at,
                signature=signature,
                signer_public_key=signer_public_key,
                stats=stats.to_dict(),
                result=result,
                layout=loan_layout(),
            ),
        )
        make_tape_current(conn, pool.id, cutoff, tape_id, previous)
    if rows >= BACKGROUND_CHECKPOINT_ROWS:
        checkpoint_in_background(db)
    return IngestOutcome(result=result, replayed=False)


def _check_one_schema(res: BatchResult, first: dict[str, int], report: TapeReport, bad: set[int]) -> None:
    """Refuse a tape that mixes rows with and without the period flows (rule ``tape_schema``).

    A tape is schema v1 (no row carries the flows) or v2 (every row does); the first row that breaks
    the kind of the tape's first valid row is reported, once.
    """
    if res.first_flow_row is not None:
        first.setdefault("flows", res.first_flow_row)
    if res.first_plain_row is not None:
        first.setdefault("plain", res.first_plain_row)
    if "flows" in first and "plain" in first and "reported" not in first:
        first["reported"] = 1
        flows, plain = first["flows"], first["plain"]
        if flows < plain:
            row, msg = plain, f"no period flows on this row, but row {flows} carries them"
        else:
            row, msg = flows, f"period flows on this row, but row {plain} carries none"
        report.add(
            TapeProblem(
                row,
                ROW_FIELD,
                "tape_schema",
                f"{msg}: a tape is schema v1 (no row has the period flows) or v2 (every row has all seven)",
                None,
            )
        )
        bad.add(row)


def _store(conn: sqlite3.Connection, res: BatchResult, has_prior: bool) -> None:
    """Insert one batch of loans and their exposures (:func:`gateway.storage.tapes.store_loans`)."""
    store_loans(conn, res.loans, res.exposures, has_prior)


def _line_batches(reader: HashingReader, rows_per_batch: int) -> Iterator[tuple[int, int, list[bytes]]]:
    """JSONL lines in batches: ``(first line number, first loan index, lines)``, both 1-based.

    Blank (whitespace-only) lines stay in the batch so that line numbers stay those of the source;
    they are skipped when parsed and are not loans (the index counts non-blank lines).
    """
    line, index, pending = 1, 1, b""
    batch: list[bytes] = []
    rows = 0
    for chunk in reader.chunks():
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        if len(pending) > MAX_RECORD_BYTES:
            raise line_too_long(line + len(batch) + len(parts))
        too_long = first_long_line(line + len(batch), parts)
        if too_long is not None:
            raise too_long
        batch.extend(parts)
        rows += sum(map(bool, map(bytes.strip, parts)))  # non-blank lines, counted in C-level steps
        if rows >= rows_per_batch:
            yield line, index, batch
            line += len(batch)
            index += rows
            batch, rows = [], 0
    if len(pending) > MAX_RECORD_BYTES:
        raise line_too_long(line + len(batch))
    if pending.strip():
        batch.append(pending)
        rows += 1
    if rows:
        yield line, index, batch


def _run_jsonl(
    reader: HashingReader,
    spec: BatchSpec,
    workers: int,
    absorb: Callable[[BatchResult], None],
    ok: Callable[[], bool],
) -> None:
    """Process a JSONL tape: in-process if it is one batch or ``workers <= 1``, else on the worker pool."""
    batches = _line_batches(reader, BATCH_ROWS)
    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None or workers <= 1:
        proc = BatchProcessor(spec)
        for start, index, lines in itertools.chain([first], [second] if second else [], batches):
            absorb(proc.process(parse_lines(start, lines), ok(), index))
        return
    pool = worker_pool(workers)
    window: collections.deque[Future[BatchResult]] = collections.deque()
    try:
        for start, index, lines in itertools.chain([first, second], batches):
            window.append(pool.submit(process_lines, spec, start, index, lines, ok()))
            if len(window) >= 2 * workers:
                absorb(window.popleft().result())
        while window:
            absorb(window.popleft().result())
    except BrokenProcessPool:
        reset_worker_pool()
        raise
    finally:
        for f in window:
            f.cancel()


def _replay_or_conflict(
    db: sqlite_utils.Database, pool_id: str, cutoff: str, key: str | None, declared: str | None
) -> IngestOutcome | None:
    """Answer a repeated submission before reading the body, when the request says enough to know."""
    if key is not None:
        prior = find_tape(db, pool_id, idempotency_key=key)
        if prior is not None:
            return _same_or_conflict(db, prior, cutoff, declared)
    if declared is not None:
        prior = find_tape(db, pool_id, cutoff=cutoff, content_sha256=declared)
        if prior is not None:
            return _replayed(db, prior)
    st = snapshot_status(db, pool_id, cutoff)
    if st is not None and st[0] == "sealed":
        raise Conflict(f"cut-off {cutoff} of pool {pool_id!r} is sealed; no further tape is accepted")
    return None


def _replayed(db: sqlite_utils.Database, prior: TapeRecord) -> IngestOutcome:
    """The first result of a repeated submission; :class:`TapeSuperseded` if that tape is not current."""
    if prior.status == "superseded":
        st = snapshot_status(db, prior.pool_id, prior.cutoff_date)
        raise TapeSuperseded(prior.id, prior.cutoff_date, st[1] if st is not None else None)
    return IngestOutcome(prior.result, replayed=True)


def _same_or_conflict(
    db: sqlite_utils.Database, prior: TapeRecord, cutoff: str, sha: str | None
) -> IngestOutcome | None:
    if prior.cutoff_date != cutoff or (sha is not None and prior.content_sha256 != sha):
        raise Conflict("Idempotency-Key already used for a different tape")
    if sha is None:
        return None  # decide once the body's hash is known
    return _replayed(db, prior)


def _replay_after_read(
    db: sqlite_utils.Database, pool_id: str, cutoff: str, key: str | None, sha: str
) -> IngestOutcome | None:
    if key is not None:
        prior = find_tape(db, pool_id, idempotency_key=key)
        if prior is not None:
            out = _same_or_conflict(db, prior, cutoff, sha)
            assert out is not None
            return out
    prior = find_tape(db, pool_id, cutoff=cutoff, content_sha256=sha)
    if prior is not None:
        return _replayed(db, prior)
    return None


def iter_rows_as_jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """Encode tape rows as JSONL bytes, one line per row (for submitting generated or imported tapes)."""
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for r in rows:
        yield enc(r).encode() + b"\n"
