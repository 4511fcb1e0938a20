"""Operator (admin) blueprint: parties, API keys, pool access, decision-log check."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from policies import DecisionLogError

from ..decisions import verify_stored_log
from ..schemas import GrantSchema, PartyCreatedSchema, PartyCreateSchema, PartySchema
from ..storage import Conflict, NotFound, create_party, grant_pool, issue_api_key, list_parties
from .common import fail, get_db, get_log_db, require_admin

blp = Blueprint("admin", __name__, url_prefix="/admin", description="Gateway operator: parties and access")


class ApiKeySchema(Schema):
    """A new API key, shown once."""

    party_id = fields.String(required=True)
    api_key = fields.String(required=True)


class LogCheckSchema(Schema):
    """Result of verifying the stored decision log."""

    entries = fields.Integer(required=True)
    verified = fields.Boolean(required=True)


@blp.route("/parties")
class Parties(MethodView):
    @blp.arguments(PartyCreateSchema)
    @blp.response(201, PartyCreatedSchema)
    @blp.alt_response(409, description="a party with this id exists")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register a party; its API key is in the response, once, and stored only hashed."""
        require_admin()
        pk = None
        if body.get("public_key"):
            try:
                pk = bytes.fromhex(body["public_key"])
            except ValueError:
                fail(422, "invalid party", errors={"json": {"public_key": ["expected 64 hex digits"]}})
        db = get_db()
        try:
            party, key = create_party(
                db,
                body["party_id"],
                body["role"],
                display_name=body["display_name"],
                public_key=pk,
                obligor_keys=tuple(body["obligor_keys"]),
            )
            for pool_id in body["pools"]:
                grant_pool(db, pool_id, party.id)
        except Conflict as exc:
            fail(409, str(exc))
        except NotFound as exc:
            fail(404, str(exc))
        except ValueError as exc:
            fail(422, "invalid party", errors={"json": {"_schema": [str(exc)]}})
        from ..storage import get_party

        return {**get_party(db, party.id).to_dict(), "api_key": key}

    @blp.response(200, PartySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every party (no key material)."""
        require_admin()
        return [p.to_dict() for p in list_parties(get_db())]


@blp.route("/parties/<party_id>/pools")
class Grants(MethodView):
    @blp.arguments(GrantSchema)
    @blp.response(200, PartySchema)
    def post(self, body: dict[str, Any], party_id: str) -> dict[str, Any]:
        """Give a party access to a pool (investors hold pools; trustees, agencies, auditors serve them)."""
        require_admin()
        from ..storage import get_party

        db = get_db()
        try:
            grant_pool(db, body["pool_id"], party_id)
        except NotFound as exc:
            fail(404, str(exc))
        except ValueError as exc:
            fail(422, str(exc))
        return get_party(db, party_id).to_dict()


@blp.route("/parties/<party_id>/keys")
class Keys(MethodView):
    @blp.response(201, ApiKeySchema)
    def post(self, party_id: str) -> dict[str, Any]:
        """Issue a further API key for a party (shown once)."""
        require_admin()
        try:
            key = issue_api_key(get_db(), party_id)
        except NotFound as exc:
            fail(404, str(exc))
        return {"party_id": party_id, "api_key": key}


@blp.route("/decision-log/verify")
class DecisionLogCheck(MethodView):
    @blp.response(200, LogCheckSchema)
    @blp.alt_response(500, description="the stored chain does not verify")
    def get(self) -> dict[str, Any]:
        """Verify the stored decision-log chain from genesis."""
        require_admin()
        try:
            n = verify_stored_log(get_log_db())
        except DecisionLogError as exc:
            fail(500, f"decision log does not verify: {exc}")
        return {"entries": n, "verified": True}
