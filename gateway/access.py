"""Authentication and audience check before a request's body or query is read.

The views check the caller themselves (``require_role``, ``require_admin``, pool scope); flask-smorest,
however, validates a body or query string before the view runs, so without this hook an anonymous
caller would get a 422 describing what a valid body looks like. Here every request to an audience's
URL prefix is authenticated (401) and its role checked (403) first; pool scope stays with the views.
Public paths (``/healthz``, ``/docs``, ``/openapi.json``, ``/public/...``) and unknown URLs (404) pass.
"""

from __future__ import annotations

from flask import Flask, request

from .api.common import principal, require_admin, require_role

#: URL prefix -> the role whose parties may call it (``admin``: operator keys only).
AUDIENCE_PREFIXES = {
    "platform": "platform",
    "trustee": "trustee",
    "rating-agency": "rating_agency",
    "investor": "investor",
    "auditor": "auditor",
    "regulator": "regulator",
    "borrower": "borrower",
    "admin": "admin",
}


def audience_of(path: str) -> str | None:
    """The role (or ``admin``) an API path belongs to; None for public paths."""
    first = path.lstrip("/").split("/", 1)[0]
    return AUDIENCE_PREFIXES.get(first)


def install_access_checks(app: Flask) -> None:
    """Refuse unauthenticated (401) and wrong-audience (403) requests before any view or validator."""

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
        else:
            require_role(who)
