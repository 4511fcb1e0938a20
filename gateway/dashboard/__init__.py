"""The dashboard: server-rendered pages for each party, signed in with the party's API key.

* :mod:`.sessions`: sessions kept in the database (the cookie holds a random id only), CSRF tokens.
* :mod:`.figures`: what a page shows, read through the same disclosure-control functions as the API.
* :mod:`.pages`: the blueprint: sign-in and sign-out, one page per audience, bundle downloads.

Pages live under ``/dashboard``; they are not part of the API document. Their Content-Security-Policy
(:data:`gateway.access.security_headers.DASHBOARD_CSP`) allows scripts, styles and images of this origin
only, so chart data travels in a ``<script type="application/json">`` block that the packaged
``static/dashboard.js`` reads and hands to the vendored Apache ECharts (``static/vendor/echarts/``).
"""

from __future__ import annotations

from flask import Flask

from .pages import SESSIONS_EXTENSION, blp
from .sessions import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_SECONDS, SessionStore


def install_dashboard(app: Flask) -> None:
    """Mount the dashboard on ``app`` with its session store.

    ``DASHBOARD_IDLE_SECONDS`` (default 900) and ``DASHBOARD_MAX_SECONDS`` (default 28800) in the app's
    configuration bound a session's idle time and whole life.
    """
    app.extensions[SESSIONS_EXTENSION] = SessionStore(
        float(app.config.get("DASHBOARD_IDLE_SECONDS") or DEFAULT_IDLE_SECONDS),
        float(app.config.get("DASHBOARD_MAX_SECONDS") or DEFAULT_MAX_SECONDS),
        database=app.config["DATABASE"],
    )
    app.register_blueprint(blp)
