"""Linked months at rest: per sealed snapshot, the signed link bundle to the one before it, or why not.

The table is migration 11's (``gateway/storage/db.py``). What a link proves and how it is built are
:mod:`proofs.link` and :mod:`gateway.snapshots.links`; here a link is its JSON document. The function
that writes takes the connection of the caller's transaction and never commits on its own.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from .db import Handle, connection

LinkStatus = Literal["linked", "refused"]


@dataclass(frozen=True)
class LinkRecord:
    """One stored link: ``bundle`` when ``status`` is ``linked``, ``reason`` (the failed check and what
    failed it) when ``refused``."""

    snapshot_id: str
    pool_id: str
    cutoff_date: str
    previous_snapshot_id: str
    status: LinkStatus
    bundle: dict[str, Any] | None
    reason: str | None
    created_at: str


_SELECT = (
    "SELECT snapshot_id, pool_id, cutoff_date, previous_snapshot_id, status, bundle, reason, created_at "
    "FROM snapshot_links "
)


def insert_link(conn: sqlite3.Connection, link: LinkRecord) -> None:
    """Store a snapshot's link (raises ``sqlite3.IntegrityError`` if it has one already)."""
    conn.execute(
        "INSERT INTO snapshot_links (snapshot_id, pool_id, cutoff_date, previous_snapshot_id, status, "
        "bundle, reason, created_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            link.snapshot_id,
            link.pool_id,
            link.cutoff_date,
            link.previous_snapshot_id,
            link.status,
            None if link.bundle is None else json.dumps(link.bundle, sort_keys=True),
            link.reason,
            link.created_at,
        ),
    )


def _record(row: tuple[Any, ...]) -> LinkRecord:
    return LinkRecord(
        snapshot_id=row[0],
        pool_id=row[1],
        cutoff_date=row[2],
        previous_snapshot_id=row[3],
        status=row[4],
        bundle=None if row[5] is None else dict(json.loads(row[5])),
        reason=row[6],
        created_at=row[7],
    )


def get_link(db: Handle, pool_id: str, cutoff_date: str) -> LinkRecord | None:
    """The link of the pool's snapshot at ``cutoff_date`` to the one before it, if one was built."""
    row = connection(db).execute(
        _SELECT + "WHERE pool_id = ? AND cutoff_date = ?", (pool_id, cutoff_date)
    ).fetchone()
    return None if row is None else _record(row)


def list_links(db: Handle, pool_id: str) -> list[LinkRecord]:
    """The pool's links, oldest cut-off first."""
    rows = connection(db).execute(
        _SELECT + "WHERE pool_id = ? ORDER BY cutoff_date", (pool_id,)
    ).fetchall()
    return [_record(r) for r in rows]
