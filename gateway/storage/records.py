"""Records of the gateway database: parties, API keys, pools, tapes, snapshots and stored loans.

Loan storage (one row per loan, see ``gateway/storage/db.py``): ``plain`` is a JSON object of the level 1-2
fields, ``sealed`` is one AES-GCM blob of the JSON object of the level 3+ fields under the pool data key
(associated data: pool id, cut-off date, exposure id). :func:`iter_loans` gives the decrypted records back
in tape order; it is what snapshot sealing reads.

"Sealing" means commit-and-prove (:mod:`gateway.snapshots.seal_jobs`); AES-GCM is "encrypt/decrypt"
(:meth:`gateway.keys.keyring.PoolKeys.encrypt`). The columns ``loans.sealed``, ``seal_jobs.sealed_seed``,
``seal_chunks.sealed_sums`` and ``sealed_snapshots.sealed_totals`` hold encrypted blobs and keep their
names: renaming them would need a data migration of every existing database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import sqlite_utils

from ..errors import GatewayError
from ..ingest.pool_settings import PoolConfig
from ..keys.keyring import PoolKeys, new_data_key, unwrap_data_key, wrap_data_key
from .db import LOAN_ROWID_SHIFT, Handle, connection, now, transaction
from .tapes import TapeRecord

ROLES = ("platform", "trustee", "rating_agency", "investor", "auditor", "regulator", "borrower")
API_KEY_PREFIX = "ppk_"


class StorageError(GatewayError):
    """Base of storage-level refusals (the HTTP layer maps each subclass to a status)."""

    http_status: ClassVar[int] = 404


class NotFound(StorageError):
    """A named record does not exist."""

    http_status: ClassVar[int] = 404


class Conflict(StorageError):
    """The request conflicts with stored state (existing id, sealed cut-off, reused idempotency key)."""

    http_status: ClassVar[int] = 409


# --- Parties and API keys ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartyRecord:
    """A stored party. ``pools`` are the pools it owns (platform) or was granted access to."""

    id: str
    role: str
    display_name: str
    public_key: bytes | None
    obligor_keys: tuple[str, ...]
    pools: tuple[str, ...]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """API form (public key as hex)."""
        return {
            "party_id": self.id,
            "role": self.role,
            "display_name": self.display_name,
            "public_key": self.public_key.hex() if self.public_key else None,
            "pools": list(self.pools),
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: a party, or the gateway operator (admin key)."""

    party: PartyRecord | None
    is_admin: bool


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key (keys carry 256 bits of entropy, so no slow hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def create_admin_key(db: sqlite_utils.Database, label: str = "admin") -> str:
    """Issue an operator (admin) API key; returns it once."""
    key = _new_api_key()
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_hash, party_id, is_admin, label, created_at) VALUES (?,NULL,1,?,?)",
            (hash_api_key(key), label, now()),
        )
    return key


def issue_api_key(db: sqlite_utils.Database, party_id: str, label: str = "") -> str:
    """A further API key for an existing party (raises :class:`NotFound`)."""
    get_party(db, party_id)
    key = _new_api_key()
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_hash, party_id, is_admin, label, created_at) VALUES (?,?,0,?,?)",
            (hash_api_key(key), party_id, label, now()),
        )
    return key


def valid_key_holder(db: Handle, key_hash: str) -> tuple[str | None, bool] | None:
    """``(party id, is admin)`` of the API key whose SHA-256 is ``key_hash``, or ``None`` for an
    unknown, revoked or expired key (an operator key has no party id)."""
    conn = connection(db)
    row = conn.execute(
        "SELECT key_hash, party_id, is_admin FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > ?)",
        (key_hash, now()),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[0], key_hash):
        return None
    return (None if row[1] is None else str(row[1])), bool(row[2])


def authenticate(db: sqlite_utils.Database, api_key: str) -> Principal | None:
    """The principal holding ``api_key``, or ``None`` for an unknown, revoked or expired key."""
    holder = valid_key_holder(db, hash_api_key(api_key))
    if holder is None:
        return None
    party_id, is_admin = holder
    party = get_party(db, party_id) if party_id is not None else None
    return Principal(party=party, is_admin=is_admin)


def get_party(db: sqlite_utils.Database, party_id: str) -> PartyRecord:
    """The party ``party_id`` with its pools; raises :class:`NotFound`."""
    row = db.conn.execute(
        "SELECT id, role, display_name, public_key, obligor_keys, created_at FROM parties WHERE id = ?",
        (party_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no party {party_id!r}")
    if row[1] == "platform":
        pools = [
            r[0]
            for r in db.conn.execute("SELECT id FROM pools WHERE platform_id = ? ORDER BY id", (party_id,))
        ]
    else:
        pools = [
            r[0]
            for r in db.conn.execute(
                "SELECT pool_id FROM pool_access WHERE party_id = ? ORDER BY pool_id", (party_id,)
            )
        ]
    return PartyRecord(
        id=row[0],
        role=row[1],
        display_name=row[2],
        public_key=row[3],
        obligor_keys=tuple(json.loads(row[4])),
        pools=tuple(pools),
        created_at=row[5],
    )


def list_parties(db: sqlite_utils.Database) -> list[PartyRecord]:
    """Every party, by id."""
    return [get_party(db, r[0]) for r in db.conn.execute("SELECT id FROM parties ORDER BY id")]


def grant_pool(db: sqlite_utils.Database, pool_id: str, party_id: str) -> None:
    """Give a non-platform party access to a pool (idempotent). Raises :class:`NotFound`, ``ValueError``."""
    get_pool(db, pool_id)
    party = get_party(db, party_id)
    if party.role == "platform":
        raise ValueError("platforms see the pools they own; access is not granted to them")
    with transaction(db) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO pool_access (pool_id, party_id, granted_at) VALUES (?,?,?)",
            (pool_id, party_id, now()),
        )


def add_obligor_key(db: sqlite_utils.Database, party_id: str, obligor_key: str) -> None:
    """Attach an obligor pseudonym to a borrower party (which loans are "theirs")."""
    party = get_party(db, party_id)
    keys = sorted(set(party.obligor_keys) | {obligor_key})
    with transaction(db) as conn:
        conn.execute("UPDATE parties SET obligor_keys = ? WHERE id = ?", (json.dumps(keys), party_id))


# --- Pools ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolRecord:
    """A stored pool: owner platform, settings, wrapped data key."""

    id: str
    platform_id: str
    config: PoolConfig
    wrapped_key: bytes
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """API form (no key material)."""
        return {
            "pool_id": self.id,
            "platform_id": self.platform_id,
            "config": self.config.to_dict(),
            "created_at": self.created_at,
        }


def create_pool(
    db: sqlite_utils.Database, master_key: bytes, pool_id: str, platform_id: str, cfg: PoolConfig
) -> PoolRecord:
    """Create a pool owned by a platform with a fresh wrapped data key.

    Raises :class:`Conflict` (pool exists), :class:`NotFound` (no such party),
    ``ValueError`` (owner is not a platform).
    """
    owner = get_party(db, platform_id)
    if owner.role != "platform":
        raise ValueError(f"pool owner {platform_id!r} is not a platform")
    wrapped = wrap_data_key(master_key, pool_id, new_data_key())
    try:
        with transaction(db) as conn:
            insert_pool(conn, pool_id, platform_id, json.dumps(cfg.to_dict()), wrapped, now())
    except sqlite3.IntegrityError:
        raise Conflict(f"pool {pool_id!r} already exists") from None
    return get_pool(db, pool_id)


def insert_pool(
    conn: sqlite3.Connection, pool_id: str, platform_id: str, config: str, wrapped_key: bytes, created_at: str
) -> None:
    """Insert a pool row (``config``: the settings JSON); raises ``sqlite3.IntegrityError`` if it exists."""
    conn.execute(
        "INSERT INTO pools (id, platform_id, config, wrapped_key, created_at) VALUES (?,?,?,?,?)",
        (pool_id, platform_id, config, wrapped_key, created_at),
    )


def pool_owner(db: Handle, pool_id: str) -> str | None:
    """The platform that owns ``pool_id``, or ``None`` if there is no such pool."""
    conn = connection(db)
    row = conn.execute("SELECT platform_id FROM pools WHERE id = ?", (pool_id,)).fetchone()
    return None if row is None else str(row[0])


def wrapped_pool_keys(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
    """``(pool id, wrapped data key)`` of every pool, by pool id."""
    rows = conn.execute("SELECT id, wrapped_key FROM pools ORDER BY id").fetchall()
    return [(str(pool_id), bytes(wrapped)) for pool_id, wrapped in rows]


def set_wrapped_key(conn: sqlite3.Connection, pool_id: str, wrapped_key: bytes) -> None:
    """Replace a pool's wrapped data key (after wrapping the same data key under a new master key)."""
    conn.execute("UPDATE pools SET wrapped_key = ? WHERE id = ?", (wrapped_key, pool_id))


def get_pool(db: sqlite_utils.Database, pool_id: str) -> PoolRecord:
    """The pool ``pool_id``; raises :class:`NotFound`."""
    row = db.conn.execute(
        "SELECT id, platform_id, config, wrapped_key, created_at FROM pools WHERE id = ?", (pool_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no pool {pool_id!r}")
    return PoolRecord(row[0], row[1], PoolConfig.from_dict(json.loads(row[2])), row[3], row[4])


def pool_ids(db: sqlite_utils.Database) -> list[str]:
    """The id of every pool, in order."""
    return [str(r[0]) for r in db.conn.execute("SELECT id FROM pools ORDER BY id")]


def pool_keys(db: sqlite_utils.Database, master_key: bytes, pool_id: str) -> PoolKeys:
    """Unwrap the pool's data key and derive its working keys (raises :class:`NotFound`, ``KeyringError``)."""
    pool = get_pool(db, pool_id)
    return PoolKeys.from_data_key(pool.id, unwrap_data_key(master_key, pool.id, pool.wrapped_key))


# --- Tapes and snapshots ----------------------------------------------------------------------------------
_TAPE_COLS = (
    "id, pool_id, cutoff_date, status, content_sha256, idempotency_key, format, row_count, byte_count, "
    "flagged_rows, submitted_by, submitted_at, signature, signer_public_key, stats, result, layout"
)


def _tape(row: tuple[Any, ...]) -> TapeRecord:
    values = dict(zip((f.name for f in dataclasses.fields(TapeRecord)), row, strict=True))
    for name in ("stats", "result", "layout"):
        values[name] = json.loads(values[name])
    return TapeRecord(**values)


def get_tape(db: sqlite_utils.Database, tape_id: int) -> TapeRecord:
    """Tape by id; raises :class:`NotFound`."""
    row = db.conn.execute(f"SELECT {_TAPE_COLS} FROM tapes WHERE id = ?", (tape_id,)).fetchone()  # noqa: S608
    if row is None:
        raise NotFound(f"no tape {tape_id}")
    return _tape(row)


def find_tape(
    db: sqlite_utils.Database,
    pool_id: str,
    *,
    idempotency_key: str | None = None,
    cutoff: str | None = None,
    content_sha256: str | None = None,
) -> TapeRecord | None:
    """A tape of the pool by idempotency key, or by cut-off and content hash; ``None`` if none matches."""
    args: tuple[str | None, ...]
    if idempotency_key is not None:
        q, args = "pool_id = ? AND idempotency_key = ?", (pool_id, idempotency_key)
    else:
        q, args = "pool_id = ? AND cutoff_date = ? AND content_sha256 = ?", (pool_id, cutoff, content_sha256)
    row = db.conn.execute(f"SELECT {_TAPE_COLS} FROM tapes WHERE {q} ORDER BY id LIMIT 1", args).fetchone()  # noqa: S608
    return None if row is None else _tape(row)


def list_tapes(db: sqlite_utils.Database, pool_id: str) -> list[dict[str, Any]]:
    """Every tape of a pool, oldest first, with its snapshot's status."""
    rows = db.conn.execute(
        "SELECT t.id, t.cutoff_date, t.content_sha256, t.row_count, t.status, s.status, t.submitted_at "
        "FROM tapes t JOIN snapshots s ON s.pool_id = t.pool_id AND s.cutoff_date = t.cutoff_date "
        "WHERE t.pool_id = ? ORDER BY t.id",
        (pool_id,),
    ).fetchall()
    keys = ("tape_id", "cutoff_date", "content_sha256", "rows", "status", "snapshot_status", "submitted_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def snapshot_status(db: Handle, pool_id: str, cutoff: str) -> tuple[str, int] | None:
    """``(status, current_tape_id)`` of a pool's cut-off, or ``None`` if no tape was accepted for it.

    ``db`` may be the connection of the caller's transaction.
    """
    conn = connection(db)
    row = conn.execute(
        "SELECT status, current_tape_id FROM snapshots WHERE pool_id = ? AND cutoff_date = ?",
        (pool_id, cutoff),
    ).fetchone()
    return None if row is None else (row[0], int(row[1]))


def current_tape(db: sqlite_utils.Database, pool_id: str, cutoff: str) -> TapeRecord:
    """The tape that currently stands for a pool's cut-off; raises :class:`NotFound`."""
    st = snapshot_status(db, pool_id, cutoff)
    if st is None:
        raise NotFound(f"pool {pool_id!r} has no tape for cut-off {cutoff}")
    return get_tape(db, st[1])


def mark_sealed(db: sqlite_utils.Database, pool_id: str, cutoff: str) -> int:
    """Mark a cut-off sealed (no further tape accepted for it); returns its tape id. Idempotent.

    The sealing engine calls this inside its own work once the snapshot is committed; raises
    :class:`NotFound` if no tape was accepted for the cut-off.
    """
    with transaction(db) as conn:
        status = snapshot_status(conn, pool_id, cutoff)
        if status is None:
            raise NotFound(f"pool {pool_id!r} has no tape for cut-off {cutoff}")
        if status[0] != "sealed":
            mark_cutoff_sealed(conn, pool_id, cutoff)
        return status[1]


def mark_cutoff_sealed(conn: sqlite3.Connection, pool_id: str, cutoff: str) -> None:
    """Set a cut-off's status to ``sealed`` as of now, in the caller's transaction."""
    conn.execute(
        "UPDATE snapshots SET status = 'sealed', sealed_at = ? WHERE pool_id = ? AND cutoff_date = ?",
        (now(), pool_id, cutoff),
    )


# --- Loans -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredLoan:
    """One loan of a tape: its 1-based index (tape order) and the full decrypted record."""

    index: int
    record: dict[str, Any]


def loan_rowid(tape_id: int, index: int) -> int:
    """Primary key of a tape's loan (``tape_id << 32 | index``)."""
    return (tape_id << LOAN_ROWID_SHIFT) | index


def iter_loans(
    db: sqlite_utils.Database,
    keys: PoolKeys | None,
    tape: TapeRecord,
    *,
    after: int = 0,
    limit: int | None = None,
    obligor_pseudo_ids: tuple[str, ...] | None = None,
    batch: int = 5000,
) -> Iterator[StoredLoan]:
    """The tape's loans in index order, starting after index ``after``; decrypted when ``keys`` is given.

    Each record holds the submitted fields plus ``exposure_id``, ``obligor_pseudo_id``, ``pool_id``,
    ``cutoff_date`` and ``dpd_bucket``. Without ``keys`` only level 1-2 fields are present. Raises
    ``cryptography.exceptions.InvalidTag`` if a sealed blob was altered or moved between loans.
    """
    tid = int(tape.id)
    lo, hi = loan_rowid(tid, after), loan_rowid(tid + 1, 0)
    base = {"pool_id": tape.pool_id, "cutoff_date": tape.cutoff_date}
    remaining = limit
    where = "id > ? AND id < ?"
    extra: tuple[Any, ...] = ()
    if obligor_pseudo_ids is not None:
        if not obligor_pseudo_ids:
            return
        where += f" AND obligor_pseudo_id IN ({','.join('?' * len(obligor_pseudo_ids))})"
        extra = tuple(obligor_pseudo_ids)
    mask = (1 << LOAN_ROWID_SHIFT) - 1
    plain_names, sealed_names = tape.layout["plain"], tape.layout["sealed"]
    while remaining is None or remaining > 0:
        n = batch if remaining is None else min(batch, remaining)
        rows = db.conn.execute(
            f"SELECT id, exposure_id, obligor_pseudo_id, plain, sealed FROM loans WHERE {where} "  # noqa: S608
            "ORDER BY id LIMIT ?",
            (lo, hi, *extra, n),
        ).fetchall()
        if not rows:
            return
        for rid, exposure_id, pseudo, plain, sealed in rows:
            rec = dict(base)
            rec["exposure_id"] = exposure_id
            rec["obligor_pseudo_id"] = pseudo
            for k, v in zip(plain_names, orjson.loads(plain), strict=True):
                if v is not None:
                    rec[k] = v
            if keys is not None:
                values = orjson.loads(keys.decrypt(sealed, tape.cutoff_date, rid))
                for k, v in zip(sealed_names, values, strict=True):
                    if v is not None:
                        rec[k] = v
            yield StoredLoan(rid & mask, rec)
        lo = rows[-1][0]
        if remaining is not None:
            remaining -= len(rows)


def table_digest(db: sqlite_utils.Database) -> dict[str, str]:
    """SHA-256 of every table's full contents (tests use it to prove a refused request changed nothing)."""
    out = {}
    for name in sorted(db.table_names()):
        h = hashlib.sha256()
        for row in db.conn.execute(f'SELECT * FROM "{name}" ORDER BY 1'):  # noqa: S608
            h.update(repr(row).encode())
        out[name] = h.hexdigest()
    return out


def snapshot_loans(
    db: sqlite_utils.Database, master_key: bytes, pool_id: str, cutoff: str
) -> tuple[TapeRecord, Iterator[StoredLoan]]:
    """The current tape of a pool's cut-off and all its loans, decrypted, in tape (index) order.

    This is what snapshot sealing reads. The iterator streams in batches (constant memory) and must be
    consumed while ``db`` stays open; run it inside a read transaction (``BEGIN``) if the sealing work
    must not see a concurrent supersession. Raises :class:`NotFound`,
    :class:`gateway.keys.keyring.KeyringError` (wrong master key), ``cryptography.exceptions.InvalidTag`` (a
    stored blob was altered).
    """
    tape = current_tape(db, pool_id, cutoff)
    keys = pool_keys(db, master_key, pool_id)
    return tape, iter_loans(db, keys, tape)
