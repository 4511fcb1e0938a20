"""Deal files and payment reports at rest: each pool's registered deal versions and published reports.

The tables are those of migration 8 (``gateway/storage/db.py``). What a deal file or a report means,
and the checks before either is stored, are :mod:`gateway.alerts.deal_records`' business: here a deal
file is its TOML source and a report its JSON document. The functions that write take the connection
of the caller's transaction and never commit on their own.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .db import Handle, connection


# --- deal files -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewDealFile:
    """One version of a pool's deal file, as registered."""

    pool_id: str
    version: int
    deal_id: str
    deal_hash: str
    source: str
    registered_at: str


def latest_deal_version(db: Handle, pool_id: str) -> int | None:
    """The highest registered deal version of the pool, or ``None`` if it has no deal."""
    conn = connection(db)
    row = conn.execute("SELECT MAX(version) FROM deal_files WHERE pool_id = ?", (pool_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def insert_deal_file(conn: sqlite3.Connection, deal: NewDealFile) -> None:
    """Insert a deal version (raises ``sqlite3.IntegrityError`` if the pool has that version already)."""
    conn.execute(
        "INSERT INTO deal_files (pool_id, version, deal_id, deal_hash, source, registered_at) "
        "VALUES (?,?,?,?,?,?)",
        (deal.pool_id, deal.version, deal.deal_id, deal.deal_hash, deal.source, deal.registered_at),
    )


def current_deal_source(db: Handle, pool_id: str) -> str | None:
    """The TOML source of the pool's deal of the highest version, or ``None`` if it has no deal."""
    conn = connection(db)
    row = conn.execute(
        "SELECT source FROM deal_files WHERE pool_id = ? ORDER BY version DESC LIMIT 1", (pool_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def deal_source(db: Handle, pool_id: str, version: int) -> str | None:
    """The TOML source of one version of the pool's deal, or ``None`` if there is no such version."""
    conn = connection(db)
    row = conn.execute(
        "SELECT source FROM deal_files WHERE pool_id = ? AND version = ?", (pool_id, version)
    ).fetchone()
    return None if row is None else str(row[0])


# --- payment reports ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewPaymentReport:
    """A signed payment report as published for a pool's cut-off."""

    pool_id: str
    cutoff_date: str
    period: int
    deal_hash: str
    report_hash: str
    body: dict[str, Any]
    published_at: str


def has_payment_reports(db: Handle, pool_id: str) -> bool:
    """Whether the pool has published any payment report."""
    conn = connection(db)
    row = conn.execute("SELECT COUNT(*) FROM payment_reports WHERE pool_id = ?", (pool_id,)).fetchone()
    return bool(row[0])


def report_of_cutoff(db: Handle, pool_id: str, cutoff: str) -> dict[str, Any] | None:
    """The published report of the pool's cut-off, or ``None``."""
    conn = connection(db)
    row = conn.execute(
        "SELECT body FROM payment_reports WHERE pool_id = ? AND cutoff_date = ?", (pool_id, cutoff)
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def report_of_period(db: Handle, pool_id: str, period: int) -> dict[str, Any] | None:
    """The published report of the pool's period ``period``, or ``None``."""
    conn = connection(db)
    row = conn.execute(
        "SELECT body FROM payment_reports WHERE pool_id = ? AND period = ?", (pool_id, period)
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def put_payment_report(conn: sqlite3.Connection, report: NewPaymentReport) -> None:
    """Store the report of its cut-off, replacing one stored before for the same cut-off."""
    conn.execute(
        "INSERT OR REPLACE INTO payment_reports (pool_id, cutoff_date, period, deal_hash, report_hash, "
        "body, published_at) VALUES (?,?,?,?,?,?,?)",
        (
            report.pool_id,
            report.cutoff_date,
            report.period,
            report.deal_hash,
            report.report_hash,
            json.dumps(report.body),
            report.published_at,
        ),
    )
