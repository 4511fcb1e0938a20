"""The decision log, persisted in its own SQLite file and hash-chained by :mod:`policies.decision_log`.

The log lives in a separate database file (``<database>-decisions.db`` by default) so that appending
a view's decisions never waits for the write lock a large tape ingest holds on the main database.

A request collects its entries in a fresh in-memory :class:`policies.DecisionLog`; :func:`persist`
re-chains them onto the stored head (``index`` and ``prev_hash`` continued, ``entry_hash`` recomputed
with :func:`policies.entry_hash`) under the write lock, so the stored table is one chain that
:func:`policies.verify_decision_log` checks from genesis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from policies import GENESIS_HASH, DecisionLog, entry_hash, verify_decision_log

from .db import connect, now, transaction

LOG_SCHEMA = """CREATE TABLE IF NOT EXISTS decision_log (
    seq INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    logged_at TEXT NOT NULL
)"""


def log_path_for(database: str | Path) -> Path:
    """Default decision-log file next to the main database: ``poolproof.db`` -> ``poolproof-decisions.db``."""
    p = Path(database)
    return p.with_name(p.stem + "-decisions" + (p.suffix or ".db"))


def connect_log(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the decision-log database."""
    db = connect(path)
    with transaction(db) as conn:
        conn.execute(LOG_SCHEMA)
    return db


def persist(db: sqlite_utils.Database, log: DecisionLog) -> list[dict[str, Any]]:
    """Append the entries of ``log`` to the stored chain atomically; returns them as stored."""
    return append_entries(db, log.entries)


def append_entries(db: sqlite_utils.Database, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Re-chain ``entries`` onto the stored head and insert them in one transaction."""
    batch = [dict(e) for e in entries]
    if not batch:
        return []
    stored: list[dict[str, Any]] = []
    with transaction(db) as conn:
        row = conn.execute("SELECT seq, entry_hash FROM decision_log ORDER BY seq DESC LIMIT 1").fetchone()
        index, prev = (row[0] + 1, row[1]) if row else (0, GENESIS_HASH)
        for e in batch:
            e["index"] = index
            e["prev_hash"] = prev
            e.pop("entry_hash", None)
            e["entry_hash"] = entry_hash(e)
            conn.execute(
                "INSERT INTO decision_log (seq, entry, entry_hash, logged_at) VALUES (?,?,?,?)",
                (index, json.dumps(e, sort_keys=True), e["entry_hash"], now()),
            )
            stored.append(e)
            index, prev = index + 1, e["entry_hash"]
    return stored


def load_entries(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every stored entry, oldest first."""
    return [json.loads(r[0]) for r in db.conn.execute("SELECT entry FROM decision_log ORDER BY seq")]


def verify_stored_log(db: sqlite_utils.Database) -> int:
    """Verify the whole stored chain (raises :class:`policies.DecisionLogError`); returns its length."""
    entries = load_entries(db)
    verify_decision_log(entries)
    return len(entries)
