"""Tape ingestion: stream, validate, derive, encrypt and store a loan tape atomically, once.

One pass over the body: each row is parsed, validated (:class:`gateway.validation.TapeValidator`),
given its gateway-derived fields, split into level 1-2 and level 3+ parts, the latter sealed with
AES-GCM, and inserted in batches inside a single ``BEGIN IMMEDIATE`` transaction. If any row is invalid,
the body is malformed or too large, or the content hash differs from the one the platform signed,
the transaction is rolled back: nothing of the tape is ever visible. A process killed mid-way leaves an
uncommitted WAL transaction that SQLite discards on the next open.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
import sqlite_utils

from policies.catalogue import DEFAULT_CATALOGUE, Catalogue

from .db import now, transaction
from .keyring import PoolKeys
from .pools import TAPE_FIELDS
from .rules import compile_rules
from .storage import Conflict, PoolRecord, TapeRecord, find_tape, loan_rowid, snapshot_status
from .tape_formats import HashingReader, TapeMalformed, iter_tape
from .validation import DEFAULT_MAX_REPORTED, ROW_FIELD, TapeError, TapeReport, TapeValidator

BATCH_ROWS = 2000


class TapeRejected(Exception):
    """A tape failed validation; ``report`` lists row, field, rule and masked value. Nothing was stored."""

    def __init__(self, report: TapeReport, *, malformed: bool = False) -> None:
        super().__init__(f"tape rejected: {report.error_count} errors in {report.invalid_rows} rows")
        self.report = report
        self.malformed = malformed


class ContentHashMismatch(Exception):
    """The body's SHA-256 differs from the declared (signed) content hash. Nothing was stored."""

    def __init__(self, declared: str, actual: str) -> None:
        super().__init__("the body's SHA-256 differs from the declared X-Tape-SHA256")
        self.declared = declared
        self.actual = actual


@dataclass
class IngestOutcome:
    """The stored tape's result (``replayed``: an identical earlier submission answered instead)."""

    result: dict[str, Any]
    replayed: bool


@dataclass
class PoolStats:
    """Integer aggregates of a tape, accumulated while it is stored (money in minor units, rates in bps)."""

    bucket_labels: tuple[str, ...]
    loans: int = 0
    original_principal: int = 0
    current_principal: int = 0
    current_x_nominal_bps: int = 0
    current_x_apr_bps: int = 0
    apr_loans: int = 0
    current_with_apr: int = 0
    by_bucket: dict[str, list[int]] = field(default_factory=dict)  # label -> [loans, current principal]
    by_status: dict[str, int] = field(default_factory=dict)
    obligor_hashes: set[int] = field(default_factory=set)

    def add(self, row: dict[str, Any]) -> None:
        """Account one stored row (after derivation)."""
        cur = row.get("current_principal_fen", 0)
        self.loans += 1
        self.original_principal += row.get("original_principal_fen", 0)
        self.current_principal += cur
        self.current_x_nominal_bps += cur * row.get("nominal_rate_bps", 0)
        apr = row.get("apr_all_in_bps")
        if apr is not None:
            self.apr_loans += 1
            self.current_x_apr_bps += cur * apr
            self.current_with_apr += cur
        b = self.by_bucket.setdefault(row["dpd_bucket"], [0, 0])
        b[0] += 1
        b[1] += cur
        st = row.get("loan_status", "UNKNOWN")
        self.by_status[st] = self.by_status.get(st, 0) + 1
        self.obligor_hashes.add(hash(row["obligor_pseudo_id"]))

    def to_dict(self) -> dict[str, Any]:
        """JSON form: sums, counts and weighted-average numerators (no division, no floats)."""
        return {
            "loans": self.loans,
            "distinct_obligors": len(self.obligor_hashes),
            "original_principal_fen": self.original_principal,
            "current_principal_fen": self.current_principal,
            "sum_current_x_nominal_rate_bps": self.current_x_nominal_bps,
            "sum_current_x_apr_bps": self.current_x_apr_bps,
            "current_principal_with_apr_fen": self.current_with_apr,
            "dpd_buckets": {
                label: {
                    "loans": self.by_bucket.get(label, [0, 0])[0],
                    "current_principal_fen": self.by_bucket.get(label, [0, 0])[1],
                }
                for label in self.bucket_labels
            },
            "loan_status": dict(sorted(self.by_status.items())),
        }


def _obligor_subject(row: dict[str, Any]) -> str:
    idn = row.get("id_number")
    if idn is not None:
        return f"id:{row.get('id_type', '')}:{idn}"
    # No identity in this jurisdiction (US import): each loan stands for its own obligor.
    return f"loan:{row['platform_loan_id']}"


def ingest_tape(
    db: sqlite_utils.Database,
    pool: PoolRecord,
    keys: PoolKeys,
    cutoff: str,
    body: BinaryIO,
    fmt: str,
    **kwargs: Any,
) -> IngestOutcome:
    """Store a tape for ``pool`` at ``cutoff`` from ``body`` in format ``fmt`` (json, jsonl, csv).

    Keyword arguments: ``submitted_by`` and ``max_bytes`` (required), ``idempotency_key``,
    ``declared_sha256``, ``signature``, ``signer_public_key``, ``catalogue``, ``max_reported``.

    Returns the first result again for a repeated submission (same idempotency key and content, or
    same cut-off and content), with ``replayed=True``. The signature, if any, must already have been
    verified by the caller against ``declared_sha256``; here the body's hash must equal it.

    Raises :class:`Conflict` (idempotency key reused for another tape; sealed cut-off),
    :class:`TapeRejected` (invalid or malformed rows, empty tape), :class:`ContentHashMismatch`,
    :class:`gateway.tape_formats.TapeTooLarge`. In every error case nothing is stored.
    """
    try:
        return _ingest(db, pool, keys, cutoff, body, fmt, **kwargs)
    except _Replay as r:
        return r.outcome


def _ingest(
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
    catalogue: Catalogue = DEFAULT_CATALOGUE,
    max_reported: int = DEFAULT_MAX_REPORTED,
) -> IngestOutcome:
    early = _replay_or_conflict(db, pool.id, cutoff, idempotency_key, declared_sha256)
    if early is not None:
        return early
    rules = compile_rules(pool.config, catalogue)
    int_fields = [n for n in TAPE_FIELDS if catalogue[n].type == "int"]
    secret_fields = frozenset(n for n in catalogue if catalogue[n].level >= 3)
    validator = TapeValidator(rules, cutoff, max_reported=max_reported)
    reader = HashingReader(body, max_bytes)
    stats = PoolStats(pool.config.dpd_labels)
    flagged = 0
    cfg = pool.config
    dumps = orjson.dumps

    with transaction(db) as conn:
        # Re-check under the write lock: a concurrent submission may have sealed or stored meanwhile.
        st = snapshot_status(db, pool.id, cutoff)
        if st is not None and st[0] == "sealed":
            raise Conflict(f"cut-off {cutoff} of pool {pool.id!r} is sealed; no further tape is accepted")
        tape_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM tapes").fetchone()[0])
        has_prior = conn.execute("SELECT 1 FROM exposures WHERE pool_id = ? LIMIT 1", (pool.id,)).fetchone()
        lookup = "SELECT exposure_id FROM exposures WHERE pool_id = ? AND loan_key = ?"
        loans: list[tuple[Any, ...]] = []
        new_exposures: list[tuple[Any, ...]] = []
        rows = 0
        try:
            for row_number, raw, problem in iter_tape(fmt, reader, int_fields):
                if problem is not None:
                    validator.add_format_error(row_number, problem)
                    continue
                clean = validator.check(row_number, raw)
                if clean is None or not validator.report.ok:
                    continue
                rows += 1
                lk = keys.loan_key(clean["platform_loan_id"])
                exposure_id = None
                if has_prior:
                    hit = conn.execute(lookup, (pool.id, lk)).fetchone()
                    exposure_id = hit[0] if hit else None
                if exposure_id is None:
                    exposure_id = secrets.token_hex(12)
                    new_exposures.append((pool.id, lk, exposure_id, cutoff))
                pseudo = keys.obligor_pseudonym(_obligor_subject(clean))
                dpd = clean.get("days_past_due", 0)
                clean["dpd_bucket"] = cfg.dpd_bucket(dpd)
                clean["obligor_pseudo_id"] = pseudo
                if clean.get("apr_all_in_bps", clean.get("nominal_rate_bps", 0)) > cfg.apr_flag_bps:
                    flagged += 1
                stats.add(clean)
                plain = {"exposure_id": exposure_id, "obligor_pseudo_id": pseudo}
                secret = {}
                for k, v in clean.items():
                    if k in secret_fields:
                        secret[k] = v
                    else:
                        plain[k] = v
                sealed = keys.seal(dumps(secret), cutoff, exposure_id)
                loans.append(
                    (loan_rowid(tape_id, row_number), exposure_id, pseudo, dumps(plain).decode(), sealed)
                )
                if len(loans) >= BATCH_ROWS:
                    _flush(conn, loans, new_exposures)
        except TapeMalformed as exc:
            validator.add_format_error(exc.row, exc.message)
            raise TapeRejected(validator.report, malformed=True) from None
        report = validator.report
        if not report.ok:
            malformed = all(e.rule == "malformed" for e in report.errors)
            raise TapeRejected(report, malformed=malformed)
        if rows == 0:
            report.add(TapeError(0, ROW_FIELD, "empty", "the tape has no rows", None))
            raise TapeRejected(report)
        actual = reader.hexdigest()
        if declared_sha256 is not None and actual != declared_sha256:
            raise ContentHashMismatch(declared_sha256, actual)
        replay = _replay_after_read(db, pool.id, cutoff, idempotency_key, actual)
        if replay is not None:
            # Raising rolls the loans back; the replayed result is returned below.
            raise _Replay(replay)
        _flush(conn, loans, new_exposures)
        submitted_at = now()
        previous = st[1] if st is not None else None
        result = {
            "tape_id": tape_id,
            "pool_id": pool.id,
            "cutoff_date": cutoff,
            "content_sha256": actual,
            "rows": rows,
            "flagged_rows": flagged,
            "format": fmt,
            "signature_verified": signature is not None,
            "supersedes_tape_id": previous,
            "submitted_at": submitted_at,
        }
        conn.execute(
            "INSERT INTO tapes (id, pool_id, cutoff_date, status, content_sha256, idempotency_key, format, "
            "row_count, byte_count, flagged_rows, submitted_by, submitted_at, signature, signer_public_key, "
            "stats, result) VALUES (?,?,?,'current',?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                tape_id,
                pool.id,
                cutoff,
                actual,
                idempotency_key,
                fmt,
                rows,
                reader.bytes_read,
                flagged,
                submitted_by,
                submitted_at,
                signature,
                signer_public_key,
                json.dumps(stats.to_dict()),
                json.dumps(result),
            ),
        )
        if previous is not None:
            conn.execute("UPDATE tapes SET status = 'superseded' WHERE id = ?", (previous,))
            conn.execute(
                "UPDATE snapshots SET current_tape_id = ? WHERE pool_id = ? AND cutoff_date = ?",
                (tape_id, pool.id, cutoff),
            )
        else:
            conn.execute(
                "INSERT INTO snapshots (pool_id, cutoff_date, status, current_tape_id) VALUES (?,?,'open',?)",
                (pool.id, cutoff, tape_id),
            )
    return IngestOutcome(result=result, replayed=False)


class _Replay(Exception):
    def __init__(self, outcome: IngestOutcome) -> None:
        super().__init__("replay")
        self.outcome = outcome


def _flush(conn: Any, loans: list[tuple[Any, ...]], exposures: list[tuple[Any, ...]]) -> None:
    if exposures:
        conn.executemany(
            "INSERT INTO exposures (pool_id, loan_key, exposure_id, first_cutoff) VALUES (?,?,?,?)", exposures
        )
        exposures.clear()
    if loans:
        conn.executemany(
            "INSERT INTO loans (id, exposure_id, obligor_pseudo_id, plain, sealed) VALUES (?,?,?,?,?)", loans
        )
        loans.clear()


def _replay_or_conflict(
    db: sqlite_utils.Database, pool_id: str, cutoff: str, key: str | None, declared: str | None
) -> IngestOutcome | None:
    """Answer a repeated submission before reading the body, when the request says enough to know."""
    if key is not None:
        prior = find_tape(db, pool_id, idempotency_key=key)
        if prior is not None:
            return _same_or_conflict(prior, cutoff, declared)
    if declared is not None:
        prior = find_tape(db, pool_id, cutoff=cutoff, content_sha256=declared)
        if prior is not None:
            return IngestOutcome(prior.result, replayed=True)
    st = snapshot_status(db, pool_id, cutoff)
    if st is not None and st[0] == "sealed":
        raise Conflict(f"cut-off {cutoff} of pool {pool_id!r} is sealed; no further tape is accepted")
    return None


def _same_or_conflict(prior: TapeRecord, cutoff: str, sha: str | None) -> IngestOutcome | None:
    if prior.cutoff_date != cutoff or (sha is not None and prior.content_sha256 != sha):
        raise Conflict("Idempotency-Key already used for a different tape")
    if sha is None:
        return None  # decide once the body's hash is known
    return IngestOutcome(prior.result, replayed=True)


def _replay_after_read(
    db: sqlite_utils.Database, pool_id: str, cutoff: str, key: str | None, sha: str
) -> IngestOutcome | None:
    if key is not None:
        prior = find_tape(db, pool_id, idempotency_key=key)
        if prior is not None:
            out = _same_or_conflict(prior, cutoff, sha)
            assert out is not None
            return out
    prior = find_tape(db, pool_id, cutoff=cutoff, content_sha256=sha)
    if prior is not None:
        return IngestOutcome(prior.result, replayed=True)
    return None


def iter_rows_as_jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """Encode tape rows as JSONL bytes, one line per row (for submitting generated or imported tapes)."""
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for r in rows:
        yield enc(r).encode() + b"\n"
