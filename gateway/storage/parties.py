"""The rows of access administration: parties created, their API keys, and their pool grants.

:mod:`gateway.access.admin` decides and logs each change; these are its statements. The writers take
the connection of the caller's transaction and never commit on their own, so a party, its first key
and its grants go in together or not at all. An API key is stored as its hash only; what may be shown
of it is an :class:`ApiKeyRecord`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .db import Handle, connection, now


@dataclass(frozen=True)
class ApiKeyRecord:
    """What may be shown of an API key: never the key itself nor its hash."""

    key_id: str
    party_id: str | None
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    def state(self, at: str | None = None) -> str:
        """``revoked``, ``expired`` or ``active`` at ``at`` (ISO 8601 UTC; default now)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (at or now()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """API form."""
        return {
            "key_id": self.key_id,
            "party_id": self.party_id,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "state": self.state(),
        }


_SELECT_KEYS = "SELECT key_id, party_id, label, created_at, expires_at, revoked_at FROM api_keys"


# --- parties --------------------------------------------------------------------------------------------
def party_role(db: Handle, party_id: str) -> str | None:
    """The role of ``party_id``, or ``None`` if there is no such party."""
    row = connection(db).execute("SELECT role FROM parties WHERE id = ?", (party_id,)).fetchone()
    return None if row is None else str(row[0])


def insert_party(
    conn: sqlite3.Connection,
    party_id: str,
    role: str,
    *,
    display_name: str,
    public_key: bytes | None,
    obligor_keys: Iterable[str],
    created_at: str,
) -> None:
    """Insert a party (raises ``sqlite3.IntegrityError`` if the id is taken)."""
    conn.execute(
        "INSERT INTO parties (id, role, display_name, public_key, obligor_keys, created_at) "
        "VALUES (?,?,?,?,?,?)",
        (party_id, role, display_name, public_key, json.dumps(list(obligor_keys)), created_at),
    )


# --- API keys -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewApiKey:
    """A party's API key as it is stored: by hash, with its public id."""

    key_hash: str
    party_id: str
    key_id: str
    label: str
    created_at: str
    expires_at: str | None = None


def insert_api_key(conn: sqlite3.Connection, key: NewApiKey) -> None:
    """Insert a party's (non-operator) API key."""
    conn.execute(
        "INSERT INTO api_keys (key_hash, party_id, is_admin, label, created_at, key_id, expires_at) "
        "VALUES (?,?,0,?,?,?,?)",
        (key.key_hash, key.party_id, key.label, key.created_at, key.key_id, key.expires_at),
    )


def api_keys_of(db: sqlite_utils.Database, party_id: str) -> list[ApiKeyRecord]:
    """Every key of ``party_id``, oldest first, revoked and expired included."""
    rows = db.conn.execute(
        _SELECT_KEYS + " WHERE party_id = ? ORDER BY created_at, rowid", (party_id,)
    ).fetchall()
    return [ApiKeyRecord(*r) for r in rows]


def find_api_key(db: sqlite_utils.Database, party_id: str, key_id: str) -> ApiKeyRecord | None:
    """The key ``key_id`` of ``party_id``, or ``None`` (also for another party's key)."""
    row = db.conn.execute(_SELECT_KEYS + " WHERE key_id = ? AND party_id = ?", (key_id, party_id)).fetchone()
    return None if row is None else ApiKeyRecord(*row)


def revoke_api_key(conn: sqlite3.Connection, party_id: str, key_id: str) -> bool:
    """Revoke the party's key now; ``False`` if it has no such key or the key was revoked already."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND party_id = ? AND revoked_at IS NULL",
        (now(), key_id, party_id),
    )
    return cur.rowcount == 1


def operator_key_id_of(db: sqlite_utils.Database, key_hash: str) -> str | None:
    """The public id of the operator key with hash ``key_hash``; ``None`` if there is no such key."""
    row = db.conn.execute(
        "SELECT key_id FROM api_keys WHERE key_hash = ? AND is_admin = 1", (key_hash,)
    ).fetchone()
    return str(row[0]) if row and row[0] else None


# --- pool grants ----------------------------------------------------------------------------------------
def grants_of(db: sqlite_utils.Database, party_id: str) -> list[tuple[str, str]]:
    """``(pool id, granted at)`` of every pool granted to ``party_id``, by pool id."""
    rows = db.conn.execute(
        "SELECT pool_id, granted_at FROM pool_access WHERE party_id = ? ORDER BY pool_id", (party_id,)
    ).fetchall()
    return [(str(pool_id), str(granted_at)) for pool_id, granted_at in rows]


def grantees_of(db: sqlite_utils.Database, pool_id: str) -> list[tuple[str, str]]:
    """``(party id, role)`` of every party granted ``pool_id``, by party id."""
    rows = db.conn.execute(
        "SELECT a.party_id, p.role FROM pool_access a JOIN parties p ON p.id = a.party_id "
        "WHERE a.pool_id = ? ORDER BY a.party_id",
        (pool_id,),
    ).fetchall()
    return [(str(party_id), str(role)) for party_id, role in rows]


def insert_grant(conn: sqlite3.Connection, pool_id: str, party_id: str, granted_at: str) -> bool:
    """Grant ``pool_id`` to ``party_id``; ``False`` if it was granted already (the old grant stays).

    Raises ``sqlite3.IntegrityError`` for an unknown pool or party.
    """
    cur = conn.execute(
        "INSERT OR IGNORE INTO pool_access (pool_id, party_id, granted_at) VALUES (?,?,?)",
        (pool_id, party_id, granted_at),
    )
    return cur.rowcount == 1


def delete_grant(conn: sqlite3.Connection, party_id: str, pool_id: str) -> bool:
    """Withdraw the party's grant of ``pool_id``; ``False`` if there was none."""
    cur = conn.execute("DELETE FROM pool_access WHERE party_id = ? AND pool_id = ?", (party_id, pool_id))
    return cur.rowcount == 1
