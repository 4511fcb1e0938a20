"""Purchase-eligibility statements at rest: one signed ``poolproof/eligibility/v1`` bundle per pool and
cut-off (migration 10 of ``gateway/storage/db.py``).

What a statement proves, and who may see which part of it, is :mod:`gateway.alerts.eligibility`'s
business: here it is a JSON document. The function that writes takes the connection of the caller's
transaction and never commits on its own.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .db import Handle, connection


@dataclass(frozen=True)
class NewStatement:
    """A built and verified eligibility statement."""

    pool_id: str
    cutoff_date: str
    deal_hash: str
    holds: bool
    body: dict[str, Any]
    built_at: str


def put_statement(conn: sqlite3.Connection, st: NewStatement) -> None:
    """Store the statement of its cut-off, replacing one built before for the same cut-off."""
    conn.execute(
        "INSERT OR REPLACE INTO eligibility_statements (pool_id, cutoff_date, deal_hash, holds, body, "
        "built_at) VALUES (?,?,?,?,?,?)",
        (st.pool_id, st.cutoff_date, st.deal_hash, int(st.holds), json.dumps(st.body), st.built_at),
    )


def statement_of_cutoff(db: Handle, pool_id: str, cutoff: str) -> dict[str, Any] | None:
    """The stored statement of the pool's cut-off, or ``None``."""
    row = (
        connection(db)
        .execute(
            "SELECT body FROM eligibility_statements WHERE pool_id = ? AND cutoff_date = ?", (pool_id, cutoff)
        )
        .fetchone()
    )
    return None if row is None else dict(json.loads(row[0]))
