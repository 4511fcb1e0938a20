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

import secrets
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from policies import DecisionLog

from ..storage import parties
from ..storage.db import now, transaction
from ..storage.decisions import persist
from ..storage.parties import ApiKeyRecord as ApiKeyRecord
from ..storage.records import (
    API_KEY_PREFIX,
    ROLES,
    Conflict,
    NotFound,
    PartyRecord,
    get_party,
    hash_api_key,
    insert_pool,
    pool_owner,
)

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
class AccessChange:
    """One change to access, as it goes into the decision log."""

    event: str
    party_id: str
    key_id: str = ""
    pool_id: str = ""


def utc_timestamp(when: datetime) -> str:
    """``when`` as stored: ISO 8601 in UTC, whole seconds. Raises ``ValueError`` for a naive datetime."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("an expiry time needs a UTC offset, e.g. 2025-01-31T00:00:00Z")
    try:
        return when.astimezone(UTC).replace(microsecond=0).isoformat()
    except OverflowError:
        raise ValueError("expiry time is out of range") from None


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
        parties.insert_api_key(
            conn, parties.NewApiKey(hash_api_key(key), party_id, key_id, label, created, expires)
        )
    return get_key(db, party_id, key_id), key


def list_keys(db: sqlite_utils.Database, party_id: str) -> list[ApiKeyRecord]:
    """Every key of ``party_id``, oldest first, revoked and expired included. Raises :class:`NotFound`."""
    get_party(db, party_id)
    return parties.api_keys_of(db, party_id)


def get_key(db: sqlite_utils.Database, party_id: str, key_id: str) -> ApiKeyRecord:
    """The key ``key_id`` of ``party_id``; raises :class:`NotFound` (also for another party's key)."""
    record = parties.find_api_key(db, party_id, key_id)
    if record is None:
        raise NotFound(f"party {party_id!r} has no API key {key_id!r}")
    return record


def revoke_key(db: sqlite_utils.Database, party_id: str, key_id: str) -> tuple[ApiKeyRecord, bool]:
    """Revoke a key now; returns ``(record, changed)`` (``changed`` is False if it was already revoked).

    Raises :class:`NotFound` when ``party_id`` has no key ``key_id``.
    """
    with transaction(db) as conn:
        changed = parties.revoke_api_key(conn, party_id, key_id)
    return get_key(db, party_id, key_id), changed


def list_grants(db: sqlite_utils.Database, party_id: str) -> list[dict[str, str]]:
    """The pools granted to ``party_id`` with the grant time. Raises :class:`NotFound`."""
    get_party(db, party_id)
    return [{"pool_id": p, "granted_at": at} for p, at in parties.grants_of(db, party_id)]


def add_grant(db: sqlite_utils.Database, party_id: str, pool_id: str) -> bool:
    """Grant ``pool_id`` to a non-platform party; returns False if it was granted already.

    Raises :class:`NotFound` (party or pool) and ``ValueError`` (platforms own pools, they are not granted).
    """
    with transaction(db) as conn:
        _check_grantable(conn, _require_party(conn, party_id), [pool_id])
        return parties.insert_grant(conn, pool_id, party_id, now())


def withdraw_grant(db: sqlite_utils.Database, party_id: str, pool_id: str) -> None:
    """Withdraw the party's grant of ``pool_id``. Raises :class:`NotFound` when there is no such grant."""
    with transaction(db) as conn:
        _require_party(conn, party_id)
        if not parties.delete_grant(conn, party_id, pool_id):
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
            parties.insert_party(
                conn,
                party_id,
                role,
                display_name=display_name,
                public_key=public_key,
                obligor_keys=obligor_keys,
                created_at=created,
            )
            parties.insert_api_key(
                conn, parties.NewApiKey(hash_api_key(key), party_id, key_id, "initial", created)
            )
            for pool_id in wanted:
                parties.insert_grant(conn, pool_id, party_id, created)
            for pool_id, settings, wrapped_key in owned:
                insert_pool(conn, pool_id, party_id, settings, wrapped_key, created)
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
    return parties.operator_key_id_of(db, hash_api_key(api_key)) or "unknown"


def _new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _new_key_id() -> str:
    return "key_" + uuid.uuid4().hex[:16]


def _require_party(conn: sqlite3.Connection, party_id: str) -> str:
    role = parties.party_role(conn, party_id)
    if role is None:
        raise NotFound(f"no party {party_id!r}")
    return role


def _check_grantable(conn: sqlite3.Connection, role: str, pools: list[str]) -> None:
    if pools and role == "platform":
        raise ValueError("platforms see the pools they own; access is not granted to them")
    for pool_id in pools:
        if pool_owner(conn, pool_id) is None:
            raise NotFound(f"no pool {pool_id!r}")
