"""Public key history: every gateway signing key, vouched for by the one before, and revocations
(``proofs.key_history``)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from ..keys.gateway_key import gateway_key_path
from ..keys.rotation import load_history

blp = Blueprint(
    "public_keys", __name__, url_prefix="/public", description="Unauthenticated: gateway key history"
)


@blp.route("/gateway-key-history")
class GatewayKeyHistory(MethodView):
    @blp.doc(security=[])
    @blp.response(
        200,
        description=(
            "poolproof/gateway-key-history/v2: a hash chain of key entries (vouched for by the previous "
            "key, signed by their own) and revocations, oldest first"
        ),
    )
    @blp.alt_response(503, description="the gateway signing key is not configured")
    def get(self) -> dict[str, Any]:
        """The gateway's signing-key history, for verifying snapshots signed before a key rotation.

        Check it with ``proofs.key_history.verify_key_history`` from a key or history head you pinned
        out of band (trust runs forward from it only)."""
        return load_history(gateway_key_path(current_app.config))
