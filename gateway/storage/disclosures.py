"""Disclosure control at rest: each pool's release ledger, the release tables, and the claim budget.

A release table is decided once per (pool, snapshot, report) and then served as stored; the pool's
ledger (what was released so far) grows in the same transaction. The claim budget is one guard state
for the whole gateway. States and tables are JSON documents whose meaning belongs to
:mod:`policies.aggregates` and :mod:`gateway.snapshots.disclosure`; here they are stored and read back.
The writers take the connection of the caller's transaction and never commit on their own.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def _document(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    return doc


def stored_table(
    conn: sqlite3.Connection, pool_id: str, snapshot_id: str, report_id: str
) -> dict[str, Any] | None:
    """The release table decided for a snapshot's report, or ``None`` if none was decided yet."""
    row = conn.execute(
        "SELECT document FROM disclosure_tables WHERE pool_id = ? AND snapshot_id = ? AND report_id = ?",
        (pool_id, snapshot_id, report_id),
    ).fetchone()
    return None if row is None else _document(row[0])


def insert_table(
    conn: sqlite3.Connection, pool_id: str, snapshot_id: str, report_id: str, table: dict[str, Any]
) -> None:
    """Store a decided release table (raises ``sqlite3.IntegrityError`` if one is stored already)."""
    conn.execute(
        "INSERT INTO disclosure_tables (pool_id, snapshot_id, report_id, document) VALUES (?, ?, ?, ?)",
        (pool_id, snapshot_id, report_id, json.dumps(table, sort_keys=True)),
    )


def ledger_state(conn: sqlite3.Connection, pool_id: str) -> dict[str, Any] | None:
    """The pool's release ledger as stored, or ``None`` before its first release."""
    row = conn.execute("SELECT state FROM disclosure_ledger WHERE pool_id = ?", (pool_id,)).fetchone()
    return None if row is None else _document(row[0])


def save_ledger_state(conn: sqlite3.Connection, pool_id: str, state: dict[str, Any]) -> None:
    """Store the pool's release ledger, replacing the one stored before."""
    conn.execute(
        "INSERT INTO disclosure_ledger (pool_id, state) VALUES (?, ?) "
        "ON CONFLICT(pool_id) DO UPDATE SET state = excluded.state",
        (pool_id, json.dumps(state, sort_keys=True)),
    )


def claim_guard_state(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The claim budget's guard state as stored, or ``None`` before the first threshold claim."""
    row = conn.execute("SELECT state FROM claim_guard WHERE id = 1").fetchone()
    return None if row is None else _document(row[0])


def save_claim_guard_state(conn: sqlite3.Connection, state: dict[str, Any]) -> None:
    """Store the claim budget's guard state, replacing the one stored before."""
    conn.execute(
        "INSERT INTO claim_guard (id, state) VALUES (1, ?) "
        "ON CONFLICT(id) DO UPDATE SET state = excluded.state",
        (json.dumps(state, sort_keys=True),),
    )
