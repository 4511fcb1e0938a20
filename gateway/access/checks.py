"""Authentication, audience and pool scope, checked before a request's body or query is read.

The views check the caller themselves (``require_role``, ``require_admin``, pool scope); flask-smorest,
however, validates a body or query string before the view runs, so without this hook an anonymous
caller would get a 422 describing what a valid body looks like. Here every request to an audience's
URL prefix is authenticated (401) and its role checked (403) first. Then, for every URL naming a pool
(``<pool_id>``), the pool must be in the caller's scope: one the platform owns, one the party was
granted, or any pool for the regulator. A pool that exists but is outside the scope is answered exactly
as a pool that does not exist (404, :data:`POOL_NOT_IN_SCOPE`), so the answer does not say which pools
exist. Only then is the large tape body limit granted (:func:`gateway.access.body_limits.allow_tape_body`).
Public paths (``/healthz``, ``/docs``, ``/openapi.json``, ``/public/...``) and unknown URLs (404) pass.
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from ..api.audiences import AUDIENCE_PREFIXES
from ..api.common import fail, get_db, principal, require_admin, require_role
from ..storage.records import NotFound, PartyRecord, get_pool
from .body_limits import allow_tape_body, is_tape_submission

#: The one answer for a pool that is unknown or outside the caller's scope.
POOL_NOT_IN_SCOPE = "no such pool in this party's scope"


def audience_of(path: str) -> str | None:
    """The role (or ``admin``) an API path belongs to; None for public paths."""
    first = path.lstrip("/").split("/", 1)[0]
    return AUDIENCE_PREFIXES.get(first)


def pool_in_scope(party: PartyRecord, pool_id: str) -> bool:
    """True when ``pool_id`` exists and ``party`` may address it (owner, grantee, or the regulator)."""
    try:
        pool = get_pool(get_db(), pool_id)
    except NotFound:
        return False
    if party.role == "platform":
        return hmac.compare_digest(pool.platform_id, party.id)
    return party.role == "regulator" or pool_id in party.pools


def install_access_checks(app: Flask) -> None:
    """Refuse unauthenticated (401), wrong-audience (403) and out-of-scope (404) requests first."""

    @app.before_request
    def _authenticate() -> None:
        if request.url_rule is None or request.method == "OPTIONS":
            return
        who = audience_of(request.path)
        if who is None:
            return
        principal()
        if who == "admin":
            require_admin()
            return
        party = require_role(who)
        pool_id = (request.view_args or {}).get("pool_id")
        if pool_id is not None and not pool_in_scope(party, str(pool_id)):
            fail(404, POOL_NOT_IN_SCOPE)
        if is_tape_submission():
            allow_tape_body(current_app)
