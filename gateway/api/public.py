"""Unauthenticated routes: the gateway's public signing key (``GET /public/gateway-key``)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ..keys.gateway_key import public_key_info
from .common import gateway_signing_key
from .schemas import GatewayKeySchema

blp = Blueprint("public", __name__, url_prefix="/public", description="Unauthenticated: gateway public key")


@blp.route("/gateway-key")
class GatewayKey(MethodView):
    @blp.doc(security=[])
    @blp.response(200, GatewayKeySchema)
    def get(self) -> dict[str, str]:
        """The gateway's Ed25519 public key (PEM, hex, key id). Verifiers should confirm it out of band."""
        return public_key_info(gateway_signing_key().public_key())
