"""Operator changes to who may call the gateway: API keys and pool grants, and the log of every change.

* API keys are issued (optionally with an expiry time), listed and revoked by their public ``key_id``.
  A listing shows id, label, created, expires and revoked times, never the key or its hash. A revoked
  or expired key is refused by the very next request: :func:`gateway.storage.records.authenticate`
  reads the key row on every request, nothing is cached.
* Pool grants are added and withdrawn; a withdrawn grant ends access at the next request.
* A party is created together with its first key and its grants in one transaction
  (:func:`create_party_with_grants`): an unknown pool or any other refusal leaves nothing behind.

Every change is appended to the decision log (:func:`log_access_change`) with the operator who made it,
the event, the party, key and pool concerned, and never a key. The change is committed first and logged
after, in the separate decision-log file; a failure between the two leaves a change without its entry,
never an entry for a change that did not happen.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from policies import DecisionLog

from ..storage.db import now, transaction
from ..storage.decisions import persist
from ..storage.records import API_KEY_PREFIX, ROLES, Conflict, NotFound, PartyRecord, get_party, hash_api_key

#: ``purpose`` of the decision-log entries written here.
ACCESS_PURPOSE = "access_admin"
EVENTS = (
    "party.created",
    "api_key.issued",
    "api_key.revoked",
    "grant.added",
    "grant.withdrawn",
)


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


@dataclass(frozen=True)
class AccessChange:
    """One change to access, as it goes into the decision log."""

    event: str
    party_id: str
    key_id: str = ""
    pool_id: str = ""


_SELECT_KEYS = "SELECT key_id, party_id, label, created_at, expires_at, revoked_at FROM api_keys"


def utc_timestamp(when: datetime) -> str:
    """``when`` as stored: ISO 8601 in UTC, whole seconds. Raises ``ValueError`` for a naive datetime."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("an expiry time needs a UTC offset, e.g. 2025-01-31T00:00:00Z")
    try:
        return when.astimezone(UTC).replace(microsecond=0).isoformat()
    except OverflowError:
        raise ValueError("expiry time is out of range") from None


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(*row)


def issue_key(
    db: sqlite_utils.Database, party_id: str, *, label: str = "", expires_at: datetime | None = None
) -> tuple[ApiKeyRecord, str]:
    """A further API key for ``party_id``; returns ``(record, key)`` (the key is shown once, stored hashed).

    Raises :class:`NotFound` for an unknown party and ``ValueError`` for an expiry not in the future.
    """
    expires = None if expires_at is None else utc_timestamp(expires_at)
    created = now()
    if expires is not None and expires <= created:
        raise ValueError(f"expiry time {expires} is not in the future")
    key = _new_api_key()
    key_id = _new_key_id()
    with transaction(db) as conn:
        _require_party(conn, party_id)
        conn.execute(
            "INSERT INTO api_keys (key_hash, party_id, is_admin, label, created_at, key_id, expires_at) "
            "VALUES (?,?,0,?,?,?,?)",
            (hash_api_key(key), party_id, label, created, key_id, expires),
        )
    return get_key(db, party_id, key_id), key


def list_keys(db: sqlite_utils.Database, party_id: str) -> list[ApiKeyRecord]:
    """Every key of ``party_id``, oldest first, revoked and expired included. Raises :class:`NotFound`."""
    get_party(db, party_id)
    rows = db.conn.execute(
        _SELECT_KEYS + " WHERE party_id = ? ORDER BY created_at, rowid", (party_id,)
    ).fetchall()
    return [_key(r) for r in rows]


def get_key(db: sqlite_utils.Database, party_id: str, key_id: str) -> ApiKeyRecord:
    """The key ``key_id`` of ``party_id``; raises :class:`NotFound` (also for another party's key)."""
    row = db.conn.execute(_SELECT_KEYS + " WHERE key_id = ? AND party_id = ?", (key_id, party_id)).fetchone()
    if row is None:
        raise NotFound(f"party {party_id!r} has no API key {key_id!r}")
    return _key(row)


def revoke_key(db: sqlite_utils.Database, party_id: str, key_id: str) -> tuple[ApiKeyRecord, bool]:
    """Revoke a key now; returns ``(record, changed)`` (``changed`` is False if it was already revoked).

    Raises :class:`NotFound` when ``party_id`` has no key ``key_id``.
    """
    with transaction(db) as conn:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND party_id = ? AND revoked_at IS NULL",
            (now(), key_id, party_id),
        )
        changed = cur.rowcount == 1
    return get_key(db, party_id, key_id), changed


def list_grants(db: sqlite_utils.Database, party_id: str) -> list[dict[str, str]]:
    """The pools granted to ``party_id`` with the grant time. Raises :class:`NotFound`."""
    get_party(db, party_id)
    rows = db.conn.execute(
        "SELECT pool_id, granted_at FROM pool_access WHERE party_id = ? ORDER BY pool_id", (party_id,)
    ).fetchall()
    return [{"pool_id": r[0], "granted_at": r[1]} for r in rows]


def add_grant(db: sqlite_utils.Database, party_id: str, pool_id: str) -> bool:
    """Grant ``pool_id`` to a non-platform party; returns False if it was granted already.

    Raises :class:`NotFound` (party or pool) and ``ValueError`` (platforms own pools, they are not granted).
    """
    with transaction(db) as conn:
        _check_grantable(conn, _require_party(conn, party_id), [pool_id])
        cur = conn.execute(
            "INSERT OR IGNORE INTO pool_access (pool_id, party_id, granted_at) VALUES (?,?,?)",
            (pool_id, party_id, now()),
        )
        return cur.rowcount == 1


def withdraw_grant(db: sqlite_utils.Database, party_id: str, pool_id: str) -> None:
    """Withdraw the party's grant of ``pool_id``. Raises :class:`NotFound` when there is no such grant."""
    with transaction(db) as conn:
        _require_party(conn, party_id)
        cur = conn.execute("DELETE FROM pool_access WHERE party_id = ? AND pool_id = ?", (party_id, pool_id))
        if cur.rowcount != 1:
            raise NotFound(f"party {party_id!r} holds no grant for pool {pool_id!r}")


def create_party_with_grants(
    db: sqlite_utils.Database,
    party_id: str,
    role: str,
    *,
    display_name: str = "",
    public_key: bytes | None = None,
    obligor_keys: Iterable[str] = (),
    pools: Iterable[str] = (),
    owned_pools: Iterable[tuple[str, str, bytes]] = (),
) -> tuple[PartyRecord, ApiKeyRecord, str]:
    """Create a party, its first API key, its pool grants and the pools it owns, in one transaction or none.

    ``owned_pools`` are ``(pool id, settings JSON, wrapped data key)`` of new pools a platform owns from
    the start. Returns ``(party, key record, key)``. Raises ``ValueError`` (unknown role, malformed public
    key, grants for a platform, owned pools for another role), :class:`NotFound` (an unknown pool; nothing
    is created) and :class:`Conflict` (the party id or an owned pool's id exists).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if public_key is not None and len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    wanted = list(dict.fromkeys(pools))
    owned = list(owned_pools)
    if owned and role != "platform":
        raise ValueError(f"only a platform owns pools; a {role} is granted access to existing ones")
    key = _new_api_key()
    key_id = _new_key_id()
    created = now()
    try:
        with transaction(db) as conn:
            _check_grantable(conn, role, wanted)
            conn.execute(
                "INSERT INTO parties (id, role, display_name, public_key, obligor_keys, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (party_id, role, display_name, public_key, json.dumps(list(obligor_keys)), created),
            )
            conn.execute(
                "INSERT INTO api_keys (key_hash, party_id, is_admin, label, created_at, key_id) "
                "VALUES (?,?,0,?,?,?)",
                (hash_api_key(key), party_id, "initial", created, key_id),
            )
            for pool_id in wanted:
                conn.execute(
                    "INSERT INTO pool_access (pool_id, party_id, granted_at) VALUES (?,?,?)",
                    (pool_id, party_id, created),
                )
            for pool_id, settings, wrapped_key in owned:
                conn.execute(
                    "INSERT INTO pools (id, platform_id, config, wrapped_key, created_at) VALUES (?,?,?,?,?)",
                    (pool_id, party_id, settings, wrapped_key, created),
                )
    except sqlite3.IntegrityError:  # also a concurrent writer taking an id after the caller's checks
        raise Conflict(
            f"party {party_id!r} or one of its pools already exists; nothing was written"
        ) from None
    return get_party(db, party_id), get_key(db, party_id, key_id), key


def create_party(
    db: sqlite_utils.Database,
    party_id: str,
    role: str,
    *,
    display_name: str = "",
    public_key: bytes | None = None,
    obligor_keys: tuple[str, ...] = (),
) -> tuple[PartyRecord, str]:
    """Create a party and its first API key; returns ``(party, api_key)``. The key is not stored in clear.

    :func:`create_party_with_grants` without grants; raises what it raises.
    """
    party, _, key = create_party_with_grants(
        db, party_id, role, display_name=display_name, public_key=public_key, obligor_keys=obligor_keys
    )
    return party, key


def creation_changes(party: PartyRecord, key: ApiKeyRecord) -> list[AccessChange]:
    """The log entries of a party's creation: the party, its first key, each grant."""
    changes = [AccessChange("party.created", party.id), AccessChange("api_key.issued", party.id, key.key_id)]
    if party.role != "platform":
        changes += [AccessChange("grant.added", party.id, pool_id=p) for p in party.pools]
    return changes


def log_access_change(
    log_db: sqlite_utils.Database, actor: str, changes: Iterable[AccessChange], policy_version: str
) -> None:
    """One decision-log entry per change made by ``actor`` (``operator:<key id>`` or ``operator:cli``)."""
    log = DecisionLog()
    for c in changes:
        if c.event not in EVENTS:
            raise ValueError(f"unknown access event {c.event!r}")
        resource = f"party:{c.party_id}" + (f"/api-key:{c.key_id}" if c.key_id else "")
        resource += f"/pool:{c.pool_id}" if c.pool_id else ""
        log.append_view(
            decision_id=uuid.uuid4().hex,
            party_id=actor,
            role="operator",
            purpose=ACCESS_PURPOSE,
            resource=resource,
            pool_id=c.pool_id,
            events=[c.event],
            fields={},
            record_count=0,
            policy_version=policy_version,
        )
    persist(log_db, log)


def operator_key_id(db: sqlite_utils.Database, api_key: str) -> str:
    """The public id of an operator key (for the log); ``unknown`` if it is not one."""
    row = db.conn.execute(
        "SELECT key_id FROM api_keys WHERE key_hash = ? AND is_admin = 1", (hash_api_key(api_key),)
    ).fetchone()
    return str(row[0]) if row and row[0] else "unknown"


def _new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _new_key_id() -> str:
    return "key_" + uuid.uuid4().hex[:16]


def _require_party(conn: sqlite3.Connection, party_id: str) -> str:
    row = conn.execute("SELECT role FROM parties WHERE id = ?", (party_id,)).fetchone()
    if row is None:
        raise NotFound(f"no party {party_id!r}")
    return str(row[0])


def _check_grantable(conn: sqlite3.Connection, role: str, pools: list[str]) -> None:
    if pools and role == "platform":
        raise ValueError("platforms see the pools they own; access is not granted to them")
    for pool_id in pools:
        if conn.execute("SELECT 1 FROM pools WHERE id = ?", (pool_id,)).fetchone() is None:
            raise NotFound(f"no pool {pool_id!r}")
