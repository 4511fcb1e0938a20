"""How a tape is written: its loans and exposures, its row in ``tapes``, and the cut-off it makes current.

These are the statements of one ingest (:func:`gateway.ingest.pipeline.ingest_tape`), run on the
connection of its ``BEGIN IMMEDIATE`` transaction, plus the connection settings a large ingest
borrows and the WAL checkpoint it leaves to a background thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..config import GatewayConfig
from .db import connect, database_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TapeRecord:
    """A stored tape (an accepted submission): the ``tapes`` table's row."""

    id: int
    pool_id: str
    cutoff_date: str
    status: str
    content_sha256: str
    idempotency_key: str | None
    format: str
    row_count: int
    byte_count: int
    flagged_rows: int
    submitted_by: str
    submitted_at: str
    signature: bytes | None
    signer_public_key: bytes | None
    stats: dict[str, Any]
    result: dict[str, Any]
    layout: dict[str, list[str]]


def next_tape_id(conn: sqlite3.Connection) -> int:
    """The id the next tape gets (call under the write lock)."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM tapes").fetchone()[0])


def pool_has_exposures(conn: sqlite3.Connection, pool_id: str) -> bool:
    """Whether the pool has stored any loan before (so a known loan keeps its exposure id)."""
    row = conn.execute("SELECT 1 FROM exposures WHERE pool_id = ? LIMIT 1", (pool_id,)).fetchone()
    return row is not None


def store_loans(
    conn: sqlite3.Connection,
    loans: Sequence[tuple[Any, ...]],
    exposures: Sequence[tuple[Any, ...]],
    has_prior: bool,
) -> None:
    """Insert one batch of loans and their exposures; a loan the pool already knows keeps its exposure id."""
    if has_prior:
        lookup = "SELECT exposure_id FROM exposures WHERE pool_id = ? AND loan_key = ?"
        loans, new_exposures = list(loans), []
        for i, (pool_id, lk, _candidate, _cutoff) in enumerate(exposures):
            hit = conn.execute(lookup, (pool_id, lk)).fetchone()
            if hit is None:
                new_exposures.append(exposures[i])
            else:
                rowid, _, pseudo, plain, sealed = loans[i]
                loans[i] = (rowid, hit[0], pseudo, plain, sealed)
        exposures = new_exposures
    if exposures:
        conn.executemany(
            "INSERT INTO exposures (pool_id, loan_key, exposure_id, first_cutoff) VALUES (?,?,?,?)", exposures
        )
    if loans:
        conn.executemany(
            "INSERT INTO loans (id, exposure_id, obligor_pseudo_id, plain, sealed) VALUES (?,?,?,?,?)", loans
        )


def insert_tape(conn: sqlite3.Connection, tape: TapeRecord) -> None:
    """Insert an accepted tape's row (its ``status`` is ``current`` when it is the cut-off's tape)."""
    conn.execute(
        "INSERT INTO tapes (id, pool_id, cutoff_date, status, content_sha256, idempotency_key, format, "
        "row_count, byte_count, flagged_rows, submitted_by, submitted_at, signature, signer_public_key, "
        "stats, result, layout) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            tape.id,
            tape.pool_id,
            tape.cutoff_date,
            tape.status,
            tape.content_sha256,
            tape.idempotency_key,
            tape.format,
            tape.row_count,
            tape.byte_count,
            tape.flagged_rows,
            tape.submitted_by,
            tape.submitted_at,
            tape.signature,
            tape.signer_public_key,
            json.dumps(tape.stats),
            json.dumps(tape.result),
            json.dumps(tape.layout),
        ),
    )


def make_tape_current(
    conn: sqlite3.Connection, pool_id: str, cutoff: str, tape_id: int, previous: int | None
) -> None:
    """Make ``tape_id`` the cut-off's current tape; ``previous`` (the tape it replaces) is superseded."""
    if previous is not None:
        conn.execute("UPDATE tapes SET status = 'superseded' WHERE id = ?", (previous,))
        conn.execute(
            "UPDATE snapshots SET current_tape_id = ? WHERE pool_id = ? AND cutoff_date = ?",
            (tape_id, pool_id, cutoff),
        )
    else:
        conn.execute(
            "INSERT INTO snapshots (pool_id, cutoff_date, status, current_tape_id) VALUES (?,?,'open',?)",
            (pool_id, cutoff, tape_id),
        )


def defer_checkpoints(conn: sqlite3.Connection) -> None:
    """No automatic WAL checkpoint on this connection (until :func:`bulk_write_settings` restores it)."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")


@contextmanager
def bulk_write_settings(conn: sqlite3.Connection, cache_kib: int) -> Iterator[None]:
    """For one ingest: a page cache of ``cache_kib`` KiB for a large tape's index pages, restored after.

    A million-loan tape inserts about 1M random keys into the ``exposures`` primary key and the
    ``loans_obligor`` index (~100 MB of pages); with the default 64 MiB cache those pages are spilled to
    the WAL and read back again and again. An explicit ``POOLPROOF_SQLITE_CACHE_KIB`` (tests use a tiny
    one to force spills) is left alone. The cache is an upper bound, so a small tape costs nothing more.
    """
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    autocheckpoint = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    if GatewayConfig.from_environment().sqlite_cache_kib is None:
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")


def checkpoint_in_background(db: sqlite_utils.Database) -> threading.Thread | None:
    """Copy committed WAL pages into the database file on a daemon thread; returns it (``None``: in memory).

    A ``PASSIVE`` checkpoint (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html) never blocks readers
    or writers and changes nothing anyone can read: it only moves already-durable pages. Its connection
    is opened here, before the caller's closes, so that closing the request's connection does not run
    the same checkpoint in the foreground. A failed or interrupted checkpoint loses nothing (SQLite
    checkpoints again later); it is logged.
    """
    path = database_path(db)
    if not path:
        return None
    try:
        ckpt = connect(path)
    except sqlite3.Error as exc:  # the tape is committed: never turn that into a failed request
        log.warning("cannot open %s for a background WAL checkpoint: %s", path, exc)
        return None

    def run() -> None:
        try:
            ckpt.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("background WAL checkpoint of %s failed: %s", path, exc)
        finally:
            ckpt.conn.close()

    thread = threading.Thread(target=run, name="poolproof-wal-checkpoint", daemon=True)
    thread.start()
    return thread
