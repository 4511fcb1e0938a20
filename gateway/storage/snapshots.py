"""Snapshot sealing at rest: seal jobs, the chunks they store, and the sealed snapshots readers see.

The tables are those of migration 3 (``gateway/storage/db.py``). What the blobs mean, and how the
secret ones are encrypted, is :mod:`gateway.snapshots.sealed`'s business: here they are bytes. The
functions that write take the connection of the caller's transaction and never commit on their own;
the caller decides what one transaction holds (a chunk with its progress; the snapshot row with the
cut-off and the job it completes).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlite_utils

from proofs.lanes import LaneSet, get_lane_set
from proofs.snapshot import SealParams

from .db import Handle, connection, now
from .records import NotFound
from .witnesses import cosignatures_of


# --- seal jobs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealJob:
    """A stored seal job (the seed stays sealed)."""

    id: str
    pool_id: str
    cutoff_date: str
    tape_id: int
    snapshot_id: str
    state: str
    params: SealParams
    leaf_total: int
    leaves_done: int
    run_started_at: float | None
    run_start_leaves: int
    error: str | None
    created_at: str
    finished_at: str | None

    def progress(self, clock: float | None = None) -> dict[str, Any]:
        """Public progress: state, percent, loans per second and ETA of the current run."""
        total = self.leaf_total
        percent = 100.0 if total == 0 or self.state == "sealed" else 100.0 * self.leaves_done / total
        rate = eta = None
        if self.state == "running" and self.run_started_at is not None:
            elapsed = max((clock or time.time()) - self.run_started_at, 1e-6)
            done_now = self.leaves_done - self.run_start_leaves
            if done_now > 0:
                rate = done_now / elapsed
                eta = (total - self.leaves_done) / rate
        return {
            "job_id": self.id,
            "pool_id": self.pool_id,
            "cutoff_date": self.cutoff_date,
            "snapshot_id": self.snapshot_id,
            "state": self.state,
            "leaf_total": total,
            "leaves_done": self.leaves_done,
            "percent": round(percent, 1),
            "loans_per_second": None if rate is None else round(rate, 2),
            "eta_seconds": None if eta is None else round(eta, 1),
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


_JOB_COLS = (
    "id, pool_id, cutoff_date, tape_id, snapshot_id, state, params, leaf_total, leaves_done, "
    "run_started_at, run_start_leaves, error, created_at, finished_at"
)


def _job(row: Any) -> SealJob:
    p = json.loads(row[6])
    params = SealParams(
        lane_set=p["lane_set"],
        chunk_log2=p["chunk_log2"],
        ipa_rounds=p["ipa_rounds"],
        strata_dimensions=tuple(p.get("strata_dimensions", ())),
    )
    return SealJob(row[0], row[1], row[2], int(row[3]), row[4], row[5], params, *row[7:])


def get_job(db: sqlite_utils.Database, job_id: str) -> SealJob:
    """A seal job by id; raises :class:`NotFound`."""
    row = db.conn.execute(f"SELECT {_JOB_COLS} FROM seal_jobs WHERE id = ?", (job_id,)).fetchone()  # noqa: S608
    if row is None:
        raise NotFound(f"no seal job {job_id!r}")
    return _job(row)


def running_jobs(db: sqlite_utils.Database) -> list[SealJob]:
    """Jobs left running (by a crash, or still in progress), oldest first."""
    rows = db.conn.execute(
        f"SELECT {_JOB_COLS} FROM seal_jobs WHERE state = 'running' ORDER BY created_at, id"  # noqa: S608
    ).fetchall()
    return [_job(r) for r in rows]


def job_ids_of_pool(db: Handle, pool_id: str) -> list[str]:
    """The ids of every seal job of a pool, newest first."""
    conn = connection(db)
    rows = conn.execute(
        "SELECT id FROM seal_jobs WHERE pool_id = ? ORDER BY created_at DESC, id DESC", (pool_id,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def find_running_job(db: Handle, pool_id: str, cutoff: str) -> SealJob | None:
    """The running job of a pool's cut-off, if any (``db`` may be the connection of a transaction)."""
    conn = connection(db)
    row = conn.execute(
        f"SELECT {_JOB_COLS} FROM seal_jobs WHERE pool_id = ? AND cutoff_date = ? AND state = 'running'",  # noqa: S608
        (pool_id, cutoff),
    ).fetchone()
    return None if row is None else _job(row)


@dataclass(frozen=True)
class NewSealJob:
    """What a seal job starts with; the job starts ``running`` with no leaf done."""

    id: str
    pool_id: str
    cutoff_date: str
    tape_id: int
    snapshot_id: str
    params: SealParams
    sealed_seed: bytes
    leaf_total: int


def insert_job(conn: sqlite3.Connection, job: NewSealJob) -> None:
    """Insert a new running job (raises ``sqlite3.IntegrityError`` if the cut-off already has one)."""
    params = {
        "lane_set": job.params.lane_set,
        "chunk_log2": job.params.chunk_log2,
        "ipa_rounds": job.params.ipa_rounds,
        "strata_dimensions": list(job.params.strata_dimensions),
    }
    conn.execute(
        "INSERT INTO seal_jobs (id, pool_id, cutoff_date, tape_id, snapshot_id, state, params, "
        "sealed_seed, leaf_total, created_at) VALUES (?,?,?,?,?, 'running', ?,?,?,?)",
        (
            job.id,
            job.pool_id,
            job.cutoff_date,
            job.tape_id,
            job.snapshot_id,
            json.dumps(params),
            job.sealed_seed,
            job.leaf_total,
            now(),
        ),
    )


def job_sealed_seed(db: sqlite_utils.Database, job_id: str) -> bytes | None:
    """The job's encrypted blinding seed, as stored; ``None`` for an unknown job."""
    row = db.conn.execute("SELECT sealed_seed FROM seal_jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else bytes(row[0])


def job_tape_id(db: sqlite_utils.Database, job_id: str) -> int:
    """The tape a job seals (raises :class:`NotFound` for an unknown job)."""
    row = db.conn.execute("SELECT tape_id FROM seal_jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"no seal job {job_id!r}")
    return int(row[0])


def begin_job_run(conn: sqlite3.Connection, job_id: str, leaves_done: int) -> None:
    """Record that a run of the job starts now with ``leaves_done`` leaves already stored."""
    conn.execute(
        "UPDATE seal_jobs SET run_started_at = ?, run_start_leaves = ?, leaves_done = ? WHERE id = ?",
        (time.time(), leaves_done, leaves_done, job_id),
    )


def add_leaves_done(conn: sqlite3.Connection, job_id: str, leaves: int) -> None:
    """Count ``leaves`` more leaves done (with the chunk that holds them, in the same transaction)."""
    conn.execute("UPDATE seal_jobs SET leaves_done = leaves_done + ? WHERE id = ?", (leaves, job_id))


def fail_job(conn: sqlite3.Connection, job_id: str, message: str) -> None:
    """Mark a running job ``failed`` with ``message`` (cut to 500 characters) and delete its chunks."""
    conn.execute("DELETE FROM seal_chunks WHERE job_id = ?", (job_id,))
    conn.execute(
        "UPDATE seal_jobs SET state = 'failed', error = ?, finished_at = ? "
        "WHERE id = ? AND state = 'running'",
        (message[:500], now(), job_id),
    )


def finish_job(conn: sqlite3.Connection, job_id: str) -> None:
    """Mark a job ``sealed`` (with the snapshot row it produced, in the same transaction)."""
    conn.execute("UPDATE seal_jobs SET state = 'sealed', finished_at = ? WHERE id = ?", (now(), job_id))


# --- chunks ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredChunk:
    """One sealed chunk as stored: public leaves, leaf hashes and proofs, and the encrypted lane sums."""

    job_id: str
    chunk_index: int
    leaf_count: int
    root: bytes
    leaves: bytes
    leaf_hashes: bytes
    proofs: bytes
    sealed_sums: bytes


def insert_chunk(conn: sqlite3.Connection, chunk: StoredChunk) -> None:
    """Insert one chunk of a job (raises ``sqlite3.IntegrityError`` if the job stored it already)."""
    conn.execute(
        "INSERT INTO seal_chunks (job_id, chunk_index, leaf_count, root, leaves, leaf_hashes, proofs, "
        "sealed_sums) VALUES (?,?,?,?,?,?,?,?)",
        (
            chunk.job_id,
            chunk.chunk_index,
            chunk.leaf_count,
            chunk.root,
            chunk.leaves,
            chunk.leaf_hashes,
            chunk.proofs,
            chunk.sealed_sums,
        ),
    )


def chunk_sums(db: sqlite_utils.Database, job_id: str) -> list[tuple[int, int, bytes, bytes]]:
    """``(chunk index, leaf count, root, encrypted sums)`` of every chunk the job stored, in order."""
    rows = db.conn.execute(
        "SELECT chunk_index, leaf_count, root, sealed_sums FROM seal_chunks WHERE job_id = ? "
        "ORDER BY chunk_index",
        (job_id,),
    ).fetchall()
    return [(int(i), int(n), bytes(root), bytes(sums)) for i, n, root, sums in rows]


def next_chunk(db: sqlite_utils.Database, job_id: str, after: int) -> tuple[int, bytes, bytes] | None:
    """``(chunk index, leaves, proofs)`` of the job's first chunk after index ``after``, or ``None``.

    One row at a time, so that a large snapshot streams in constant memory.
    """
    row = db.conn.execute(
        "SELECT chunk_index, leaves, proofs FROM seal_chunks WHERE job_id = ? AND chunk_index > ? "
        "ORDER BY chunk_index LIMIT 1",
        (job_id, after),
    ).fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]), bytes(row[2]))


def chunk_leaves(db: sqlite_utils.Database, job_id: str, chunk_index: int) -> bytes | None:
    """The encoded leaves of one chunk of the job, or ``None`` if it has no such chunk."""
    row = db.conn.execute(
        "SELECT leaves FROM seal_chunks WHERE job_id = ? AND chunk_index = ?", (job_id, chunk_index)
    ).fetchone()
    return None if row is None else bytes(row[0])


def iter_chunk_leaves(db: sqlite_utils.Database, job_id: str) -> Iterator[tuple[int, bytes]]:
    """``(chunk index, encoded leaves)`` of every chunk of the job, in order."""
    for index, blob in db.conn.execute(
        "SELECT chunk_index, leaves FROM seal_chunks WHERE job_id = ? ORDER BY chunk_index", (job_id,)
    ):
        yield int(index), bytes(blob)


def iter_leaf_hashes(db: sqlite_utils.Database, job_id: str) -> Iterator[bytes]:
    """The concatenated 32-byte leaf hashes of every chunk of the job, chunk by chunk, in order."""
    for (blob,) in db.conn.execute(
        "SELECT leaf_hashes FROM seal_chunks WHERE job_id = ? ORDER BY chunk_index", (job_id,)
    ):
        yield bytes(blob)


# --- sealed snapshots -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotRecord:
    """A sealed snapshot as stored (the header is signed; the secrets stay sealed until needed)."""

    snapshot_id: str
    pool_id: str
    cutoff_date: str
    sequence: int
    job_id: str
    header: dict[str, Any]
    header_hash: bytes
    sealed_totals: bytes
    sealed_at: str
    #: Witness cosignatures of the header received so far (``gateway.storage.witnesses``).
    cosignatures: tuple[dict[str, Any], ...] = ()
    #: The stratification table's bundle form (pool statement v2; public, like the leaves).
    strata: dict[str, Any] | None = None

    @property
    def lanes(self) -> LaneSet:
        """The snapshot's lane set."""
        return get_lane_set(self.header["proof_params"]["lane_set"])

    def summary(self) -> dict[str, Any]:
        """Public listing form (no secrets)."""
        return {
            "snapshot_id": self.snapshot_id,
            "pool_id": self.pool_id,
            "cutoff_date": self.cutoff_date,
            "sequence": self.sequence,
            "leaf_count": self.header["leaf_count"],
            "merkle_root": self.header["merkle_root"],
            "header_hash": self.header_hash.hex(),
            "sealed_at": self.sealed_at,
        }


_SNAP_COLS = (
    "snapshot_id, pool_id, cutoff_date, sequence, job_id, header, header_hash, sealed_totals, sealed_at, "
    "strata"
)


def _snapshot(row: Sequence[Any]) -> SnapshotRecord:
    return SnapshotRecord(
        row[0],
        row[1],
        row[2],
        int(row[3]),
        row[4],
        json.loads(row[5]),
        bytes(row[6]),
        bytes(row[7]),
        row[8],
        strata=None if row[9] is None else json.loads(row[9]),
    )


def list_snapshots(db: sqlite_utils.Database, pool_id: str) -> list[SnapshotRecord]:
    """Every sealed snapshot of a pool, oldest first."""
    rows = db.conn.execute(
        f"SELECT {_SNAP_COLS} FROM sealed_snapshots WHERE pool_id = ? ORDER BY sequence",  # noqa: S608
        (pool_id,),
    ).fetchall()
    return [_snapshot(r) for r in rows]


def get_snapshot(db: sqlite_utils.Database, pool_id: str, cutoff: str) -> SnapshotRecord:
    """The sealed snapshot of a pool's cut-off; raises :class:`NotFound` (also while a seal is running)."""
    row = db.conn.execute(
        f"SELECT {_SNAP_COLS} FROM sealed_snapshots WHERE pool_id = ? AND cutoff_date = ?",  # noqa: S608
        (pool_id, cutoff),
    ).fetchone()
    if row is None:
        raise NotFound(f"pool {pool_id!r} has no sealed snapshot for cut-off {cutoff}")
    snap = _snapshot(row)
    return replace(snap, cosignatures=cosignatures_of(db, snap.snapshot_id))


def last_snapshot(db: Handle, pool_id: str) -> SnapshotRecord | None:
    """The pool's latest sealed snapshot (``db`` may be a connection inside a transaction)."""
    conn = connection(db)
    row = conn.execute(
        f"SELECT {_SNAP_COLS} FROM sealed_snapshots WHERE pool_id = ? ORDER BY sequence DESC LIMIT 1",  # noqa: S608
        (pool_id,),
    ).fetchone()
    return None if row is None else _snapshot(row)


def insert_snapshot(conn: sqlite3.Connection, snap: SnapshotRecord) -> None:
    """Insert a sealed snapshot's row (its cosignatures are stored apart, as witnesses send them)."""
    conn.execute(
        "INSERT INTO sealed_snapshots (snapshot_id, pool_id, cutoff_date, sequence, job_id, header, "
        "header_hash, sealed_totals, sealed_at, strata) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            snap.snapshot_id,
            snap.pool_id,
            snap.cutoff_date,
            snap.sequence,
            snap.job_id,
            json.dumps(snap.header, sort_keys=True),
            snap.header_hash,
            snap.sealed_totals,
            snap.sealed_at,
            None if snap.strata is None else json.dumps(snap.strata, sort_keys=True),
        ),
    )
