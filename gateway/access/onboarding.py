"""Onboarding on the operator's side: register a party with its pools in one transaction.

:func:`register_party` checks everything first (role, key, pool names, that granted pools exist and new
pools do not) and then writes the party, its first API key, the pools a platform owns and the pools
another party is granted in a single ``BEGIN IMMEDIATE`` transaction: a refusal leaves nothing behind,
so the same command can simply be run again once the cause is fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import ClassVar

import sqlite_utils

from ..errors import GatewayError
from ..ingest.pool_settings import PoolConfig
from ..keys.keyring import new_data_key, wrap_data_key
from ..storage.parties import party_role
from ..storage.records import ROLES, Conflict, NotFound, PartyRecord, pool_owner
from .admin import ApiKeyRecord, create_party_with_grants

# The same identifier rule as the HTTP API's party and pool ids (gateway/schemas.py).
IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class OnboardingError(GatewayError, ValueError):
    """A registration was refused before anything was written; the message says why and what to do."""

    http_status: ClassVar[int] = 422


def check_identifier(kind: str, value: str) -> str:
    """``value`` if it is a valid party or pool id; raises :class:`OnboardingError` naming the rule."""
    if not IDENTIFIER_RE.fullmatch(value):
        raise OnboardingError(
            f"{kind} {value!r}: expected 1-64 characters, letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def register_party(
    db: sqlite_utils.Database,
    party_id: str,
    role: str,
    *,
    display_name: str = "",
    public_key: bytes | None = None,
    obligor_keys: Sequence[str] = (),
    grant_pools: Sequence[str] = (),
    new_pools: Sequence[tuple[str, PoolConfig]] = (),
    master_key: bytes | None = None,
) -> tuple[PartyRecord, ApiKeyRecord, str]:
    """Register ``party_id`` atomically; returns ``(party, key record, api_key)``, the key shown once.

    ``grant_pools`` are existing pools a non-platform party may see; ``new_pools`` are pools a platform
    owns from the start (created with fresh data keys wrapped under ``master_key``).

    Raises :class:`OnboardingError` for a bad id, role, key or pool list, :class:`Conflict` if the party or
    a new pool exists, :class:`NotFound` for a granted pool that does not exist. Nothing is written then.
    """
    check_identifier("party id", party_id)
    if role not in ROLES:
        raise OnboardingError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if public_key is not None and len(public_key) != 32:
        raise OnboardingError("public key: an Ed25519 public key is 32 bytes (64 hex digits)")
    if role == "platform" and grant_pools:
        raise OnboardingError(
            "a platform owns the pools it creates and is not granted access to pools; "
            "name its new pools with --pool and their settings with --preset"
        )
    if role != "platform" and new_pools:
        raise OnboardingError(f"only a platform owns pools; a {role} is granted access to existing ones")
    if role == "borrower" and not obligor_keys:
        raise OnboardingError(
            "a borrower needs at least one --obligor-key (the obligor_pseudo_id of its loans)"
        )
    if role != "borrower" and obligor_keys:
        raise OnboardingError("--obligor-key is for borrowers only")
    if new_pools and master_key is None:
        raise OnboardingError("creating a pool needs the master key")
    if party_role(db, party_id) is not None:
        raise Conflict(f"party {party_id!r} already exists (see 'poolproof parties show {party_id}')")
    for pool_id in grant_pools:
        if pool_owner(db, pool_id) is None:
            raise NotFound(
                f"no pool {pool_id!r}: create it first ('poolproof pools create {pool_id} --platform ...'); "
                f"nothing was written, party {party_id!r} does not exist yet"
            )
    for pool_id, _cfg in new_pools:
        check_identifier("pool id", pool_id)
        owner = pool_owner(db, pool_id)
        if owner is not None:
            raise Conflict(f"pool {pool_id!r} already exists (owned by {owner!r}); nothing was written")
    owned = [
        (pool_id, json.dumps(cfg.to_dict()), wrap_data_key(master_key, pool_id, new_data_key()))
        for pool_id, cfg in new_pools
        if master_key is not None
    ]
    party, record, api_key = create_party_with_grants(
        db,
        party_id,
        role,
        display_name=display_name,
        public_key=public_key,
        obligor_keys=obligor_keys,
        pools=grant_pools,
        owned_pools=owned,
    )
    return party, record, api_key
