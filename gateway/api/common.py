"""Request plumbing shared by the blueprints: database handle, keys, authentication, scope.

It also holds what lets one resource class serve several audiences: :class:`AudienceResource` (a
``MethodView`` that knows the role of the blueprint that mounted it), :func:`mount` and
:data:`shared_docs`, whose documentation decorators such resources use.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar, NoReturn

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from policies import Policy
from proofs.errors import EncodingError, VerificationError
from proofs.signing import key_id

from .. import jobs
from ..access.credentials import bearer_token
from ..keys.gateway_key import gateway_key_path
from ..keys.keyring import PoolKeys, load_master_key
from ..snapshots.sealed import SnapshotRecord
from ..storage.db import connect
from ..storage.decisions import connect_log, log_path_for
from ..storage.records import NotFound, PartyRecord, PoolRecord, Principal, authenticate, get_pool, pool_keys

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
    try:
        pool = get_pool(get_db(), pool_id)
    except NotFound:
        fail(404, f"no pool {pool_id!r}")
    if not hmac.compare_digest(pool.platform_id, party.id):
        fail(403, f"pool {pool_id!r} belongs to another platform")
    return pool


def scoped_pool(party: PartyRecord, pool_id: str) -> None:
    """404 for an unknown pool; 403 for a pool outside the party's scope (the regulator sees any)."""
    if party.role == "platform":
        owned_pool(party, pool_id)
        return
    try:
        get_pool(get_db(), pool_id)
    except NotFound:
        fail(404, f"no pool {pool_id!r}")
    if party.role != "regulator" and pool_id not in party.pools:
        fail(403, f"pool {pool_id!r} is outside this party's scope")


def gateway_signing_key() -> Ed25519PrivateKey:
    """The gateway's signing key (loaded once per app); 503 if it is not configured."""
    return jobs.gateway_signing_key(current_app._get_current_object())  # type: ignore[attr-defined]


def header_signer(snap: SnapshotRecord) -> Ed25519PublicKey:
    """The gateway key that signed a stored header: the current key, or an older one found through
    the verified key history (``gateway.keys.rotation``) for snapshots sealed before a rotation."""
    current = gateway_signing_key().public_key()
    signer = snap.header.get("signatures", [{}])[0].get("key_id")
    if signer == key_id(current):
        return current
    from ..keys.rotation import header_public_key

    try:
        return header_public_key(gateway_key_path(current_app.config), snap.header)
    except (VerificationError, EncodingError, OSError) as exc:
        fail(503, f"the key that signed this snapshot is not in the verified key history: {exc}")


#: The documentation decorators (``arguments``, ``response``, ``alt_response``, ``doc``) of resources
#: that several audience blueprints mount. flask-smorest records what they describe on the view method
#: itself, and the blueprint that mounts the view documents it from there, so a resource decorated once
#: here is documented under each audience that mounts it. This blueprint is never registered.
shared_docs = Blueprint("shared_docs", __name__)


class AudienceResource(MethodView):
    """A resource that several audience blueprints mount; :func:`mount` gives each its ``role``."""

    #: The role of the audience whose blueprint mounted this resource.
    role: ClassVar[str] = ""

    def caller(self, pool_id: str) -> PartyRecord:
        """The calling party, which must have this audience's role and the pool in its scope."""
        party = require_role(self.role)
        scoped_pool(party, pool_id)
        return party


def mount(blp: Blueprint, rule: str, resource: type[AudienceResource], role: str) -> None:
    """Mount ``resource`` on ``blp`` at ``rule`` for the audience ``role`` (endpoint: the class name)."""
    blp.add_url_rule(rule, view_func=type(resource.__name__, (resource,), {"role": role}))
