"""Request plumbing shared by the blueprints: database handle, master key, authentication, scope."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

import sqlite_utils
from flask import current_app, g, request
from flask_smorest import abort

from policies import Policy

from ..access.credentials import bearer_token
from ..keys.keyring import PoolKeys, load_master_key
from ..storage.db import connect
from ..storage.decisions import connect_log, log_path_for
from ..storage.records import PartyRecord, PoolRecord, Principal, authenticate, get_pool, pool_keys

BEARER = "Bearer "


def get_db() -> sqlite_utils.Database:
    """The request's database connection (opened on first use, closed at teardown)."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    db: sqlite_utils.Database = g.db
    return db


def get_log_db() -> sqlite_utils.Database:
    """The request's connection to the decision-log database."""
    if "log_db" not in g:
        path = current_app.config.get("DECISION_LOG_DATABASE") or log_path_for(current_app.config["DATABASE"])
        g.log_db = connect_log(path)
    db: sqlite_utils.Database = g.log_db
    return db


def close_db(_exc: BaseException | None = None) -> None:
    """Teardown: close the request's connections if any were opened."""
    for name in ("db", "log_db"):
        db = g.pop(name, None)
        if db is not None:
            db.conn.close()


def master_key() -> bytes:
    """The master key from configuration (``MASTER_KEY``) or its key file (``MASTER_KEY_FILE``)."""
    cfg = current_app.config
    return load_master_key(key=cfg.get("MASTER_KEY"), key_file=cfg.get("MASTER_KEY_FILE"))


def policy() -> Policy:
    """The loaded policy (one per app)."""
    p: Policy = current_app.extensions["poolproof_policy"]
    return p


def keys_for(pool_id: str) -> PoolKeys:
    """Working keys of a pool (cached for the request)."""
    cache: dict[str, PoolKeys] = g.setdefault("pool_keys", {})
    if pool_id not in cache:
        cache[pool_id] = pool_keys(get_db(), master_key(), pool_id)
    return cache[pool_id]


def fail(code: int, message: str, **extra: Any) -> NoReturn:
    """Abort with the standard error body ``{code, status, message, errors?}``."""
    abort(code, message=message, **extra)
    raise AssertionError("unreachable")  # abort always raises


def principal() -> Principal:
    """The authenticated caller; 401 for a missing, malformed or unknown API key."""
    if "principal" in g:
        p: Principal = g.principal
        return p
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        fail(401, "missing or malformed credentials: send 'Authorization: Bearer <api key>'")
    found = authenticate(get_db(), token)
    if found is None:
        fail(401, "unknown, revoked or expired API key")
    g.principal = found
    return found


def require_role(role: str) -> PartyRecord:
    """The calling party, which must have ``role`` (403 otherwise)."""
    p = principal()
    if p.party is None or p.party.role != role:
        fail(403, f"this endpoint is for parties with role {role!r}")
    return p.party


def require_admin() -> None:
    """403 unless the caller holds an operator (admin) key."""
    if not principal().is_admin:
        fail(403, "this endpoint needs an operator (admin) key")


def owned_pool(party: PartyRecord, pool_id: str) -> PoolRecord:
    """A pool the calling platform owns: 404 if unknown, 403 if another platform's."""
    from ..storage.records import NotFound

    try:
        pool = get_pool(get_db(), pool_id)
    except NotFound:
        fail(404, f"no pool {pool_id!r}")
    if not hmac.compare_digest(pool.platform_id, party.id):
        fail(403, f"pool {pool_id!r} belongs to another platform")
    return pool
