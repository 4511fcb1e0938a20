"""Dashboard sessions at rest (migration 9): one row per session, keyed by the SHA-256 of its id.

:mod:`gateway.dashboard.sessions` decides what a session is and when it ends; here a session is its
row. The session id itself is never stored (a copy of the database opens no session), nor is the API
key (only its SHA-256, as ``api_keys`` holds it). Every function runs in its own short transaction on
the handle it is given, so two gateway processes on one database file see the same sessions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .db import Handle, connection


@dataclass(frozen=True)
class SessionRow:
    """A stored session: the hash of its id, the hash of its API key (``""`` before sign-in), its party,
    and its clock (UNIX seconds)."""

    id_hash: str
    key_hash: str
    party_id: str
    created: float
    last_seen: float


@contextmanager
def _immediate(db: Handle) -> Iterator[sqlite3.Connection]:
    conn = connection(db)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert_session(db: Handle, row: SessionRow) -> None:
    """Store a new session."""
    with _immediate(db) as conn:
        conn.execute(
            "INSERT INTO dashboard_sessions (id_hash, key_hash, party_id, created, last_seen) "
            "VALUES (?,?,?,?,?)",
            (row.id_hash, row.key_hash, row.party_id, row.created, row.last_seen),
        )


def touch_live_session(
    db: Handle, id_hash: str, now: float, idle_seconds: float, max_seconds: float
) -> SessionRow | None:
    """The live session ``id_hash`` with its ``last_seen`` moved to ``now``; an expired one is deleted
    and ``None`` returned (as for an unknown id). One write transaction: a concurrent sign-out in
    another process happens either before it (no session) or after it."""
    with _immediate(db) as conn:
        found = conn.execute(
            "SELECT key_hash, party_id, created, last_seen FROM dashboard_sessions WHERE id_hash = ?",
            (id_hash,),
        ).fetchone()
        if found is None:
            return None
        key_hash, party_id, created, last_seen = found
        if now - float(last_seen) > idle_seconds or now - float(created) > max_seconds:
            conn.execute("DELETE FROM dashboard_sessions WHERE id_hash = ?", (id_hash,))
            return None
        conn.execute("UPDATE dashboard_sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))
    return SessionRow(id_hash, str(key_hash), str(party_id), float(created), now)


def delete_session(db: Handle, id_hash: str) -> None:
    """Forget a session (sign-out, a revoked key); an unknown hash is ignored."""
    with _immediate(db) as conn:
        conn.execute("DELETE FROM dashboard_sessions WHERE id_hash = ?", (id_hash,))


def prune_sessions(db: Handle, now: float, idle_seconds: float, max_seconds: float, keep: int) -> int:
    """Delete every expired session, then the longest-idle ones beyond ``keep``; returns how many went."""
    with _immediate(db) as conn:
        gone = conn.execute(
            "DELETE FROM dashboard_sessions WHERE last_seen < ? OR created < ?",
            (now - idle_seconds, now - max_seconds),
        ).rowcount
        gone += conn.execute(
            "DELETE FROM dashboard_sessions WHERE id_hash IN (SELECT id_hash FROM dashboard_sessions "
            "ORDER BY last_seen DESC, id_hash LIMIT -1 OFFSET ?)",
            (keep,),
        ).rowcount
    return int(gone)


def session_count(db: Handle) -> int:
    """How many sessions are stored (live, or expired and not yet pruned)."""
    row = connection(db).execute("SELECT COUNT(*) FROM dashboard_sessions").fetchone()
    return int(row[0])


def session_id_hashes(db: Handle) -> list[str]:
    """Every stored id hash (what an operator, or a test, can see of the sessions)."""
    return [
        str(r[0]) for r in connection(db).execute("SELECT id_hash FROM dashboard_sessions ORDER BY created")
    ]
