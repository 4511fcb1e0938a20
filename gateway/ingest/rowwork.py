"""Per-row work of an ingest, in batches: validate, derive, split by level, seal.

A :class:`BatchProcessor` turns parsed rows into ready-to-insert loan tuples. It holds no database handle
and is picklable through its :class:`BatchSpec`, so large JSONL tapes are processed by a pool of worker
processes (one per core) while the ingesting process only checks duplicates across batches, issues
exposure ids and writes to SQLite. Small tapes, JSON arrays and CSV run the same code in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import orjson

from policies.catalogue import DEFAULT_CATALOGUE, TAPE_SCHEMA_V1, TAPE_SCHEMA_V2, TAPE_SCHEMA_V2_FIELDS

from ..keys.keyring import PoolKeys
from ..storage.db import LOAN_ROWID_SHIFT
from ..workers import INGEST_WORKERS
from .pool_settings import PoolConfig
from .rules import compile_rules, loan_id_key, mask_value
from .tape_formats import parse_json_line
from .validation import ROW_FIELD, RowValidator, TapeProblem

EXPOSURE_ID_BYTES = 12  # an exposure id is 24 hex digits of os.urandom (as secrets.token_hex(12) gave)


@dataclass(frozen=True)
class BatchSpec:
    """Everything a worker needs for one tape (the pool data key included: workers are our processes)."""

    pool_id: str
    cutoff: str
    tape_id: int
    config: dict[str, Any]
    data_key: bytes
    max_reported: int


@dataclass
class PoolStats:
    """Integer aggregates of a tape (money in minor units, rates in bps); mergeable across batches."""

    bucket_labels: tuple[str, ...]
    loans: int = 0
    original_principal: int = 0
    current_principal: int = 0
    current_x_nominal_bps: int = 0
    current_x_apr_bps: int = 0
    current_with_apr: int = 0
    by_bucket: dict[str, list[int]] = field(default_factory=dict)  # label -> [loans, current principal]
    by_status: dict[str, int] = field(default_factory=dict)
    obligors: set[int] = field(default_factory=set)  # first 64 bits of each obligor pseudonym
    flow_rows: int = 0  # rows that carry the period flows of tape schema v2

    def add(self, row: dict[str, Any]) -> None:
        """Account one stored row (after derivation)."""
        g = row.get
        cur = g("current_principal_fen", 0)
        self.loans += 1
        self.original_principal += g("original_principal_fen", 0)
        self.current_principal += cur
        self.current_x_nominal_bps += cur * g("nominal_rate_bps", 0)
        apr = g("apr_all_in_bps")
        if apr is not None:
            self.current_x_apr_bps += cur * apr
            self.current_with_apr += cur
        b = self.by_bucket.get(row["dpd_bucket"])
        if b is None:
            b = self.by_bucket[row["dpd_bucket"]] = [0, 0]
        b[0] += 1
        b[1] += cur
        st = g("loan_status", "UNKNOWN")
        by_status = self.by_status
        by_status[st] = by_status.get(st, 0) + 1
        self.obligors.add(int(row["obligor_pseudo_id"][:16], 16))
        if "period_scheduled_principal_fen" in row:  # a v2 row has all seven flows or none (rules)
            self.flow_rows += 1

    def merge(self, other: PoolStats) -> None:
        """Add another batch's aggregates."""
        self.loans += other.loans
        self.original_principal += other.original_principal
        self.current_principal += other.current_principal
        self.current_x_nominal_bps += other.current_x_nominal_bps
        self.current_x_apr_bps += other.current_x_apr_bps
        self.current_with_apr += other.current_with_apr
        for label, (n, bal) in other.by_bucket.items():
            b = self.by_bucket.setdefault(label, [0, 0])
            b[0] += n
            b[1] += bal
        for st, n in other.by_status.items():
            self.by_status[st] = self.by_status.get(st, 0) + n
        self.obligors |= other.obligors
        self.flow_rows += other.flow_rows

    @property
    def tape_schema(self) -> str:
        """The tape's schema: v2 if every row carries the period flows, else v1 (none does)."""
        return TAPE_SCHEMA_V2 if self.loans and self.flow_rows == self.loans else TAPE_SCHEMA_V1

    def to_dict(self) -> dict[str, Any]:
        """JSON form: sums, counts and weighted-average numerators (no division, no floats)."""
        return {
            "loans": self.loans,
            "distinct_obligors": len(self.obligors),
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
            "tape_schema": self.tape_schema,
        }


@dataclass
class BatchResult:
    """What one batch produced: rows to insert (if it was asked to store) and its errors.

    ``loans`` and ``exposures`` are aligned and ready for ``executemany``: ``loans`` rows are
    ``(rowid, exposure id, obligor pseudonym, plain JSON, sealed)``, ``exposures`` rows are
    ``(pool id, loan key, exposure id, cut-off)``. The exposure id is a fresh random candidate; the
    ingesting process replaces it with the pool's existing id for a loan it already knows.
    """

    loans: list[tuple[int, str, str, str, bytes]]
    exposures: list[tuple[str, bytes, str, str]]
    loan_ids: list[tuple[int, bytes]]  # (row number, loan key) of every row with a valid platform_loan_id
    errors: list[TapeProblem]
    error_count: int
    bad_rows: list[int]
    rows_read: int
    stats: PoolStats
    flagged: int
    # The first valid row (its number) with the period flows, and the first without: a tape is of
    # one schema, v1 or v2, and the ingest refuses one that mixes them.
    first_flow_row: int | None = None
    first_plain_row: int | None = None


def loan_layout(catalogue: Any = DEFAULT_CATALOGUE) -> dict[str, list[str]]:
    """Which stored fields go where, in order: ``plain`` (level 1-2) and ``sealed`` (level 3+).

    Loans are stored positionally (JSON arrays, ``null`` for absent) to halve the bytes written; the
    layout is saved with each tape, so a tape stays readable whatever later catalogues say.
    """
    names = [n for n in TAPE_SCHEMA_V2_FIELDS if not catalogue[n].forbidden] + ["dpd_bucket"]
    return {
        "plain": [n for n in names if catalogue[n].level <= 2],
        "sealed": [n for n in names if catalogue[n].level >= 3],
    }


def obligor_subject(row: dict[str, Any]) -> str:
    """The identity an obligor pseudonym is computed from.

    The normalised ID number with its type; without identity (US import) each loan stands for its own
    obligor.
    """
    idn = row.get("id_number")
    if idn is not None:
        return f"id:{row.get('id_type', '')}:{idn}"
    return f"loan:{row['platform_loan_id']}"


class BatchProcessor:
    """Validates and prepares rows of one tape."""

    def __init__(self, spec: BatchSpec) -> None:
        self.spec = spec
        self.cfg = PoolConfig.from_dict(spec.config)
        self.catalogue = DEFAULT_CATALOGUE
        self.rows = RowValidator(compile_rules(self.cfg, self.catalogue), spec.cutoff)
        self.keys = PoolKeys.from_data_key(spec.pool_id, spec.data_key)
        self.layout = loan_layout(self.catalogue)
        self.plain_fields = tuple(self.layout["plain"])
        self.sealed_fields = tuple(self.layout["sealed"])

    def process(
        self, items: Iterable[tuple[int, Any, str | None]], store: bool, first_index: int
    ) -> BatchResult:
        """Validate ``(row number, parsed row, parse problem)`` items; prepare loans if ``store``.

        The row number (the source line, see :mod:`gateway.ingest.tape_formats`) is what errors report; the
        loans get the consecutive indexes ``first_index, first_index + 1, ...`` in item order.
        """
        spec, cfg, keys = self.spec, self.cfg, self.keys
        stats = PoolStats(cfg.dpd_labels)
        loans: list[tuple[int, str, str, str, bytes]] = []
        exposures: list[tuple[str, bytes, str, str]] = []
        pool_id, cutoff, tape_base = spec.pool_id, spec.cutoff, spec.tape_id << LOAN_ROWID_SHIFT
        # Exposure ids (96 random bits, hex) are cut from one os.urandom draw per batch, not one call a row.
        random_hex, used = "", 0
        ids: list[tuple[int, bytes]] = []
        errors: list[TapeProblem] = []
        bad: list[int] = []
        count = rows_read = flagged = 0
        first_flow_row: int | None = None
        first_plain_row: int | None = None
        cap = spec.max_reported
        plain_fields, sealed_fields = self.plain_fields, self.sealed_fields
        dumps = orjson.dumps
        index = first_index - 1
        for row_number, raw, problem in items:
            rows_read += 1
            index += 1
            if problem is not None:
                bad.append(row_number)
                count += 1
                if len(errors) < cap:
                    errors.append(TapeProblem(row_number, ROW_FIELD, "malformed", problem, None))
                continue
            clean, errs = self.rows.validate(raw)
            loan_id = clean.get("platform_loan_id")
            lk = keys.loan_key(loan_id_key(loan_id)) if loan_id is not None else None
            if lk is not None:
                ids.append((row_number, lk))
            if errs:
                bad.append(row_number)
                count += len(errs)
                for name, rule, message in errs:
                    if len(errors) >= cap:
                        break
                    value = raw.get(name) if isinstance(raw, dict) else None
                    shown = None if name == ROW_FIELD else mask_value(name, value, self.catalogue)
                    errors.append(TapeProblem(row_number, name, rule, message, shown))
                continue
            if "period_scheduled_principal_fen" in clean:
                first_flow_row = row_number if first_flow_row is None else first_flow_row
            else:
                first_plain_row = row_number if first_plain_row is None else first_plain_row
            if not store or bad or lk is None:
                continue
            pseudo = keys.obligor_pseudonym(obligor_subject(clean))
            clean["dpd_bucket"] = cfg.dpd_bucket(clean.get("days_past_due", 0))
            clean["obligor_pseudo_id"] = pseudo
            if clean.get("apr_all_in_bps", clean.get("nominal_rate_bps", 0)) > cfg.apr_flag_bps:
                flagged += 1
            stats.add(clean)
            g = clean.get
            rowid = tape_base | index
            sealed = keys.encrypt(dumps(list(map(g, sealed_fields))), cutoff, rowid)
            if used == len(random_hex):
                random_hex, used = os.urandom(EXPOSURE_ID_BYTES * 1024).hex(), 0
            exposure_id = random_hex[used : used + 2 * EXPOSURE_ID_BYTES]
            used += 2 * EXPOSURE_ID_BYTES
            loans.append((rowid, exposure_id, pseudo, dumps(list(map(g, plain_fields))).decode(), sealed))
            exposures.append((pool_id, lk, exposure_id, cutoff))
        return BatchResult(
            loans,
            exposures,
            ids,
            errors,
            count,
            bad,
            rows_read,
            stats,
            flagged,
            first_flow_row=first_flow_row,
            first_plain_row=first_plain_row,
        )


# --- worker processes ---------------------------------------------------------------------------------------
_processors: dict[tuple[str, str, int], BatchProcessor] = {}


def process_lines(
    spec: BatchSpec, first_line: int, first_index: int, lines: list[bytes], store: bool
) -> BatchResult:
    """Worker entry: parse JSONL lines (numbered from ``first_line``) and process them."""
    key = (spec.pool_id, spec.cutoff, spec.tape_id)
    proc = _processors.get(key)
    if proc is None:
        _processors.clear()
        proc = _processors[key] = BatchProcessor(spec)
    return proc.process(parse_lines(first_line, lines), store, first_index)


def parse_lines(first_line: int, lines: list[bytes]) -> Iterable[tuple[int, Any, str | None]]:
    """``(line number, parsed row, problem)`` for the non-blank JSONL lines; a bad line gets a problem."""
    loads = orjson.loads
    for i, line in enumerate(lines):
        try:
            yield first_line + i, loads(line), None
        except (orjson.JSONDecodeError, ValueError):
            if line.strip():  # a blank line is no row (checked only here: orjson refuses one anyway)
                yield (first_line + i, *parse_json_line(line))


def worker_pool(workers: int) -> Executor:
    """The shared pool of row workers (:data:`gateway.workers.INGEST_WORKERS`), started on first use."""
    return INGEST_WORKERS.executor(workers, resize=False)


def reset_worker_pool() -> None:
    """Drop a broken pool (a worker died); the next large ingest spawns a fresh one."""
    INGEST_WORKERS.reset()
