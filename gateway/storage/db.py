"""SQLite storage through sqlite-utils: connections, pragmas, explicit transactions, migrations.

Every connection runs in autocommit mode at the driver level (``isolation_level=None``) so that the code
states its transactions explicitly (:func:`transaction`), uses WAL (readers never block the writer),
``synchronous=FULL`` (a committed tape survives power loss) and a ``busy_timeout`` so concurrent writers
wait instead of failing at once. The schema carries a version table; :func:`migrate` applies the
numbered migrations in order, each in its own transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

import sqlite_utils

from ..config import GatewayConfig

# Loans are keyed by rowid = tape_id << 32 | index, so a tape's loans are one contiguous rowid range:
# keyset pagination and a sealing scan are range scans on the primary key, with no extra index.
LOAN_ROWID_SHIFT = 32

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE parties (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            public_key BLOB,
            obligor_keys TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        );
        CREATE TABLE api_keys (
            key_hash TEXT PRIMARY KEY,
            party_id TEXT REFERENCES parties(id),
            is_admin INTEGER NOT NULL DEFAULT 0,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            CHECK (is_admin = 1 OR party_id IS NOT NULL)
        );
        CREATE TABLE pools (
            id TEXT PRIMARY KEY,
            platform_id TEXT NOT NULL REFERENCES parties(id),
            config TEXT NOT NULL,
            wrapped_key BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE pool_access (
            pool_id TEXT NOT NULL REFERENCES pools(id),
            party_id TEXT NOT NULL REFERENCES parties(id),
            granted_at TEXT NOT NULL,
            PRIMARY KEY (pool_id, party_id)
        ) WITHOUT ROWID;
        CREATE TABLE snapshots (
            pool_id TEXT NOT NULL REFERENCES pools(id),
            cutoff_date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'sealed')),
            current_tape_id INTEGER NOT NULL REFERENCES tapes(id),
            sealed_at TEXT,
            PRIMARY KEY (pool_id, cutoff_date)
        ) WITHOUT ROWID;
        CREATE TABLE tapes (
            id INTEGER PRIMARY KEY,
            pool_id TEXT NOT NULL REFERENCES pools(id),
            cutoff_date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('current', 'superseded')),
            content_sha256 TEXT NOT NULL,
            idempotency_key TEXT,
            format TEXT NOT NULL,
            row_count INTEGER NOT NULL,
            byte_count INTEGER NOT NULL,
            flagged_rows INTEGER NOT NULL,
            submitted_by TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            signature BLOB,
            signer_public_key BLOB,
            stats TEXT NOT NULL,
            result TEXT NOT NULL
        );
        CREATE UNIQUE INDEX tapes_idempotency ON tapes(pool_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE UNIQUE INDEX tapes_signature ON tapes(signature) WHERE signature IS NOT NULL;
        CREATE INDEX tapes_pool_cutoff ON tapes(pool_id, cutoff_date, content_sha256);
        CREATE TABLE loans (
            id INTEGER PRIMARY KEY,
            exposure_id TEXT NOT NULL,
            obligor_pseudo_id TEXT NOT NULL,
            plain TEXT NOT NULL,
            sealed BLOB NOT NULL
        );
        CREATE INDEX loans_obligor ON loans(obligor_pseudo_id);
        CREATE TABLE exposures (
            pool_id TEXT NOT NULL,
            loan_key BLOB NOT NULL,
            exposure_id TEXT NOT NULL,
            first_cutoff TEXT NOT NULL,
            PRIMARY KEY (pool_id, loan_key)
        ) WITHOUT ROWID;
        """,
    ),
    (
        2,
        """
        ALTER TABLE tapes ADD COLUMN layout TEXT NOT NULL DEFAULT '{}';
        """,
    ),
    (
        3,
        # Snapshot sealing (gateway/snapshots/seal_jobs.py, gateway/snapshots/sealed.py): jobs, their
        # stored chunks, and the sealed snapshots readers see (inserted only when a job completes, in one
        # transaction).
        """
        CREATE TABLE seal_jobs (
            id TEXT PRIMARY KEY,
            pool_id TEXT NOT NULL REFERENCES pools(id),
            cutoff_date TEXT NOT NULL,
            tape_id INTEGER NOT NULL REFERENCES tapes(id),
            snapshot_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('running', 'sealed', 'failed')),
            params TEXT NOT NULL,
            sealed_seed BLOB NOT NULL,
            leaf_total INTEGER NOT NULL,
            leaves_done INTEGER NOT NULL DEFAULT 0,
            run_started_at REAL,
            run_start_leaves INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE UNIQUE INDEX seal_jobs_one_running ON seal_jobs(pool_id, cutoff_date) WHERE state = 'running';
        CREATE TABLE seal_chunks (
            job_id TEXT NOT NULL REFERENCES seal_jobs(id),
            chunk_index INTEGER NOT NULL,
            leaf_count INTEGER NOT NULL,
            root BLOB NOT NULL,
            leaves BLOB NOT NULL,
            leaf_hashes BLOB NOT NULL,
            proofs BLOB NOT NULL,
            sealed_sums BLOB NOT NULL,
            PRIMARY KEY (job_id, chunk_index)
        ) WITHOUT ROWID;
        CREATE TABLE sealed_snapshots (
            snapshot_id TEXT PRIMARY KEY,
            pool_id TEXT NOT NULL REFERENCES pools(id),
            cutoff_date TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            job_id TEXT NOT NULL REFERENCES seal_jobs(id),
            header TEXT NOT NULL,
            header_hash BLOB NOT NULL,
            sealed_totals BLOB NOT NULL,
            sealed_at TEXT NOT NULL,
            UNIQUE (pool_id, cutoff_date),
            UNIQUE (pool_id, sequence)
        );
        CREATE TABLE claim_guard (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state TEXT NOT NULL
        );
        """,
    ),
    (
        4,
        # API-key lifecycle (gateway/access/admin.py): a public id per key (listed and revoked by it; the
        # hash stays private), an optional expiry. The trigger gives every key an id, whichever code
        # inserted it.
        """
        ALTER TABLE api_keys ADD COLUMN key_id TEXT;
        ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
        UPDATE api_keys SET key_id = 'key_' || lower(hex(randomblob(8))) WHERE key_id IS NULL;
        CREATE UNIQUE INDEX api_keys_key_id ON api_keys(key_id);
        CREATE INDEX api_keys_party ON api_keys(party_id);
        CREATE TRIGGER api_keys_assign_key_id AFTER INSERT ON api_keys WHEN NEW.key_id IS NULL
        BEGIN
            UPDATE api_keys SET key_id = 'key_' || lower(hex(randomblob(8))) WHERE rowid = NEW.rowid;
        END;
        """,
    ),
    (
        5,
        # Tables that earlier versions created on first use (disclosure control in
        # gateway/snapshots/disclosure.py, witnesses in gateway/storage/witnesses.py). ``IF NOT EXISTS``:
        # a database that already used them keeps its tables and rows as they are.
        """
        CREATE TABLE IF NOT EXISTS disclosure_ledger (pool_id TEXT PRIMARY KEY, state TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS disclosure_tables (pool_id TEXT NOT NULL, snapshot_id TEXT NOT NULL,
            report_id TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (pool_id, snapshot_id, report_id));
        CREATE TABLE IF NOT EXISTS witnesses (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            public_key BLOB NOT NULL,
            registered_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS witness_cosignatures (
            snapshot_id TEXT NOT NULL,
            key_id TEXT NOT NULL REFERENCES witnesses(key_id),
            cosignature TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (snapshot_id, key_id)
        );
        """,
    ),
    (
        6,
        # Tape schema versions: every stored tape names its schema in its stats. Tapes stored before
        # tape schema v2 existed are v1 (no period flows), so a v2 statement never seals them.
        """
        UPDATE tapes SET stats = json_set(stats, '$.tape_schema', 'poolproof/tape/v1')
        WHERE json_extract(stats, '$.tape_schema') IS NULL;
        """,
    ),
    (
        7,
        # The stratification table of a pool statement v2 snapshot (public: the cells' counts and
        # committed sums), streamed in its bundle between the header and the chunks.
        """
        ALTER TABLE sealed_snapshots ADD COLUMN strata TEXT;
        """,
    ),
    (
        8,
        # The deal on the gateway (gateway/storage/deals.py, gateway/storage/alerts.py): each pool's deal
        # file versions and published payment reports, the alerts raised to trustees and regulators, and
        # their webhooks. Earlier versions created these tables on first use; ``IF NOT EXISTS``: a
        # database that already used them keeps its tables and rows as they are.
        """
        CREATE TABLE IF NOT EXISTS deal_files (
            pool_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            deal_id TEXT NOT NULL,
            deal_hash TEXT NOT NULL,
            source TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            PRIMARY KEY (pool_id, version)
        );
        CREATE TABLE IF NOT EXISTS payment_reports (
            pool_id TEXT NOT NULL,
            cutoff_date TEXT NOT NULL,
            period INTEGER NOT NULL,
            deal_hash TEXT NOT NULL,
            report_hash TEXT NOT NULL,
            body TEXT NOT NULL,
            published_at TEXT NOT NULL,
            PRIMARY KEY (pool_id, cutoff_date)
        );
        CREATE TABLE IF NOT EXISTS deal_alerts (
            alert_id TEXT PRIMARY KEY,
            pool_id TEXT NOT NULL,
            deal_id TEXT NOT NULL,
            period INTEGER NOT NULL,
            cutoff_date TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            raised_at TEXT NOT NULL,
            UNIQUE (pool_id, deal_id, period, subject)
        );
        CREATE TABLE IF NOT EXISTS deal_webhooks (
            webhook_id TEXT PRIMARY KEY,
            party_id TEXT NOT NULL,
            role TEXT NOT NULL,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        9,
        # Dashboard sessions (gateway/storage/sessions.py), shared by every gateway process on the
        # database: the SHA-256 of the session id (never the id), the SHA-256 of the API key it was
        # opened with (as api_keys holds it; empty before sign-in), and its clock in UNIX seconds.
        """
        CREATE TABLE IF NOT EXISTS dashboard_sessions (
            id_hash TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL,
            party_id TEXT NOT NULL,
            created REAL NOT NULL,
            last_seen REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS dashboard_sessions_last_seen ON dashboard_sessions (last_seen);
        """,
    ),
    (
        10,
        # Eligibility of revolving purchases (gateway/storage/eligibility.py): per pool and cut-off,
        # the signed eligibility statement of the period's purchases.
        """
        CREATE TABLE IF NOT EXISTS eligibility_statements (
            pool_id TEXT NOT NULL,
            cutoff_date TEXT NOT NULL,
            deal_hash TEXT NOT NULL,
            holds INTEGER NOT NULL,
            body TEXT NOT NULL,
            built_at TEXT NOT NULL,
            PRIMARY KEY (pool_id, cutoff_date)
        );
        """,
    ),
    (
        11,
        # Linked months (gateway/storage/links.py): for each sealed pool-v4 snapshot after the pool's
        # first, the signed link bundle to the snapshot before it, or why none could be proven.
        """
        CREATE TABLE snapshot_links (
            snapshot_id TEXT PRIMARY KEY REFERENCES sealed_snapshots(snapshot_id),
            pool_id TEXT NOT NULL,
            cutoff_date TEXT NOT NULL,
            previous_snapshot_id TEXT NOT NULL REFERENCES sealed_snapshots(snapshot_id),
            status TEXT NOT NULL CHECK (status IN ('linked', 'refused')),
            bundle TEXT,
            reason TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (pool_id, cutoff_date)
        );
        """,
    ),
]

#: A connection, or the database whose connection to use (inside a transaction the two are the same).
Handle: TypeAlias = sqlite_utils.Database | sqlite3.Connection


def connection(handle: Handle) -> sqlite3.Connection:
    """The connection of ``handle`` (a database's own, or ``handle`` itself)."""
    return handle.conn if isinstance(handle, sqlite_utils.Database) else handle


def database_path(db: sqlite_utils.Database) -> str:
    """The file of the main database (``""`` for an in-memory one)."""
    return str(db.conn.execute("PRAGMA database_list").fetchone()[2] or "")


def integrity_check(path: str | Path) -> str:
    """``PRAGMA integrity_check`` of a database file opened read-only ("ok" when it is consistent).

    Raises ``sqlite3.Error`` when the file cannot be opened as a database.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


#: Mode of a database file this process creates; SQLite gives its -wal and -shm files the same mode.
DATABASE_FILE_MODE = 0o600


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an existing file is left as it is).

    Raises ``OSError`` when the file cannot be created (missing directory, no permission).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the database with the pragmas above; the caller closes ``db.conn``.

    A database file that does not exist yet is created with mode 0600 (owner only), whatever the umask
    allows: it holds parties, hashed keys and sealed loan data. Raises ``sqlite3.Error`` or ``OSError``.
    """
    if str(path) != ":memory:" and not str(path).startswith("file:"):
        create_private_file(path)
    env = GatewayConfig.from_environment()
    busy_ms = env.sqlite_busy_ms
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Page cache in KiB (default 64 MiB); tests shrink it to make a large transaction spill to the WAL.
    cache_kib = env.sqlite_cache_kib_or_default
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the block raises (the exception propagates)."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class DiscardableTransaction:
    """An open ``BEGIN IMMEDIATE`` transaction whose block may decide to keep nothing (:meth:`discard`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.discarded = False

    def discard(self) -> None:
        """Roll back, instead of committing, when the block ends (however it ends)."""
        self.discarded = True


@contextmanager
def discardable_transaction(db: sqlite_utils.Database) -> Iterator[DiscardableTransaction]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises or called ``discard()``."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    tx = DiscardableTransaction(conn)
    try:
        yield tx
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("ROLLBACK" if tx.discarded else "COMMIT")


def schema_version(db: sqlite_utils.Database) -> int:
    """The highest applied migration number (0 for an empty database)."""
    if "schema_version" not in db.table_names():
        return 0
    row = db.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations in order, each atomically with its version row; returns the new version."""
    with transaction(db) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    current = schema_version(db)
    for version, sql in MIGRATIONS:
        if version <= current:
            continue
        with transaction(db) as conn:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now()))
        current = version
    return current


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; a trigger body's inner ``;`` does not end its statement."""
    out: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip().rstrip(";").strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip().rstrip(";").strip())
    return out
