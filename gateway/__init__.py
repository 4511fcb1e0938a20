"""PoolProof gateway: the Flask service platforms submit loan tapes to and every party reads from.

``create_app(config)`` builds the app: flask-smorest API with one blueprint per audience, SQLite storage,
the policy from ``policies/``. Configuration keys (each also read from the environment as
``POOLPROOF_<KEY>`` when not given, through :class:`gateway.config.GatewayConfig`):

``DATABASE``            path of the SQLite file (default ``instance/poolproof.db``)
``MASTER_KEY_FILE``     file holding the base64 master key (or ``MASTER_KEY`` itself, base64)
``BODY_LIMIT_BYTES``    largest request body on every route but tape submission (default 1 MiB)
``MAX_TAPE_BYTES``      largest accepted tape body (default 4 GiB), granted only to the pool's platform
                        once authenticated (see ``gateway/access/body_limits.py``)
``MAX_REPORTED_ERRORS`` errors listed in a rejected tape's report (default 100; all are counted)
``POLICY_PATH``         policy TOML (default: the packaged default policy)
``DECISION_LOG_DATABASE`` SQLite file of the decision log (default ``<DATABASE stem>-decisions.db``)
``RATE_LIMIT_PER_SECOND`` / ``RATE_LIMIT_BURST`` per-key token bucket (default 50 / 200; 0 turns it off;
                        see ``gateway/access/ratelimit.py``)
``AUTH_FAILURES_PER_MINUTE`` / ``AUTH_FAILURE_BURST`` failed authentications allowed per client address
                        (default 10 / 20; 0 turns this limit off)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api

from .config import GatewayConfig

API_TITLE = "PoolProof gateway"
API_VERSION = "v1"


def default_config() -> dict[str, Any]:
    """Defaults, overridden by ``POOLPROOF_*`` environment variables.

    Raises :class:`gateway.config.ConfigError` for a variable that does not parse.
    """
    env = GatewayConfig.from_environment()
    return {
        "DATABASE": str(Path("instance") / "poolproof.db") if env.database is None else env.database,
        "MASTER_KEY": env.master_key,
        "MASTER_KEY_FILE": env.master_key_file,
        "BODY_LIMIT_BYTES": env.body_limit_bytes,
        "MAX_TAPE_BYTES": env.max_tape_bytes,
        "MAX_REPORTED_ERRORS": env.max_reported_errors,
        "POLICY_PATH": env.policy_path,
        "DECISION_LOG_DATABASE": env.decision_log_database,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the gateway app. ``config`` overrides :func:`default_config`; nothing touches the DB here."""
    from policies import load_policy

    from .api import register_routes
    from .api.common import close_db

    app = Flask(__name__)
    app.config.update(default_config())
    app.config.update(config or {})
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Loan-tape submission and policy-governed views for consumer-loan ABS pools."
            },
            "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
            "security": [{"apiKey": []}],
        },
    )
    app.extensions["poolproof_policy"] = load_policy(app.config["POLICY_PATH"])
    from .snapshots.seal_jobs import SealSettings

    SealSettings.from_config(app.config)  # a bad SEAL_* setting fails now, not at the first seal
    api = Api(app)
    from .schemas import TapeRowCN, TapeRowUS

    api.spec.components.schema("TapeRowCN", schema=TapeRowCN)
    api.spec.components.schema("TapeRowUS", schema=TapeRowUS)
    register_routes(api)
    app.teardown_appcontext(close_db)

    static = Path(__file__).with_name("static")
    from .access.body_limits import install_body_limits
    from .access.checks import install_access_checks
    from .access.ratelimit import install_rate_limit
    from .access.security_headers import install_security_headers
    from .api.error_handler import install_error_handlers

    install_body_limits(app)
    install_rate_limit(app)
    install_access_checks(app)
    install_security_headers(app, static / "docs.html")
    install_error_handlers(app)
    from .dashboard import install_dashboard

    install_dashboard(app)

    @app.get("/docs")
    def docs() -> Any:
        """Offline API documentation page (renders /openapi.json; loads nothing from outside)."""
        return send_from_directory(static, "docs.html")

    @app.errorhandler(sqlite3.OperationalError)
    def database_busy(exc: sqlite3.OperationalError) -> Any:
        """A write waited longer than the busy timeout (another large tape is being stored): 503."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise exc
        body = {
            "code": 503,
            "status": "Service Unavailable",
            "message": "the database is busy storing another tape; retry later",
        }
        return body, 503, {"Retry-After": "30"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
