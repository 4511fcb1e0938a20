"""Operator (admin) blueprint: parties, API keys and their lifecycle, pool grants, decision-log check.

Every change made here (party created, key issued or revoked, grant added or withdrawn) is appended to
the decision log with the operator key's id (``gateway/access/admin.py``).
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from policies import DecisionLogError

from ..access.admin import (
    AccessChange,
    add_grant,
    create_party_with_grants,
    creation_changes,
    issue_key,
    list_grants,
    list_keys,
    log_access_change,
    operator_key_id,
    revoke_key,
    withdraw_grant,
)
from ..access.credentials import bearer_token
from ..storage.decisions import verify_stored_log
from ..storage.records import NotFound, get_party, list_parties
from .common import fail, get_db, get_log_db, policy, require_admin
from .schemas import (
    ApiKeyInfoSchema,
    ApiKeySchema,
    GrantRecordSchema,
    GrantSchema,
    KeyIssueSchema,
    LogCheckSchema,
    PartyCreateSchema,
    PartySchema,
    PartyWithKeySchema,
)

blp = Blueprint("admin", __name__, url_prefix="/admin", description="Gateway operator: parties and access")


def _log(changes: list[AccessChange]) -> None:
    token = bearer_token(request.headers.get("Authorization")) or ""
    actor = "operator:" + operator_key_id(get_db(), token)
    log_access_change(get_log_db(), actor, changes, policy().version)


def _party_or_404(party_id: str) -> None:
    get_party(get_db(), party_id)


@blp.route("/parties")
class Parties(MethodView):
    @blp.arguments(PartyCreateSchema)
    @blp.response(201, PartyWithKeySchema)
    @blp.alt_response(404, description="an unknown pool; nothing was created")
    @blp.alt_response(409, description="a party with this id exists")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register a party with its grants, all or nothing; its API key is in the response, once."""
        require_admin()
        pk = None
        if body.get("public_key"):
            try:
                pk = bytes.fromhex(body["public_key"])
            except ValueError:
                fail(422, "invalid party", errors={"json": {"public_key": ["expected 64 hex digits"]}})
        try:
            party, record, key = create_party_with_grants(
                get_db(),
                body["party_id"],
                body["role"],
                display_name=body["display_name"],
                public_key=pk,
                obligor_keys=body["obligor_keys"],
                pools=body["pools"],
            )
        except NotFound as exc:
            fail(404, f"{exc}; nothing was created")
        except ValueError as exc:
            fail(422, "invalid party", errors={"json": {"_schema": [str(exc)]}})
        _log(creation_changes(party, record))
        return {**party.to_dict(), "api_key": key, "key_id": record.key_id}

    @blp.response(200, PartySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every party (no key material)."""
        require_admin()
        return [p.to_dict() for p in list_parties(get_db())]


@blp.route("/parties/<party_id>/pools")
class Grants(MethodView):
    @blp.arguments(GrantSchema)
    @blp.response(200, PartySchema)
    @blp.alt_response(404, description="no such party or pool")
    def post(self, body: dict[str, Any], party_id: str) -> dict[str, Any]:
        """Give a party access to a pool (investors hold pools; trustees, agencies, auditors serve them)."""
        require_admin()
        db = get_db()
        try:
            added = add_grant(db, party_id, body["pool_id"])
        except ValueError as exc:
            fail(422, str(exc))
        if added:
            _log([AccessChange("grant.added", party_id, pool_id=body["pool_id"])])
        return get_party(db, party_id).to_dict()

    @blp.response(200, GrantRecordSchema(many=True))
    @blp.alt_response(404, description="no such party")
    def get(self, party_id: str) -> list[dict[str, str]]:
        """The pools granted to a party, with the time of each grant."""
        require_admin()
        return list_grants(get_db(), party_id)


@blp.route("/parties/<party_id>/pools/<pool_id>")
class Grant(MethodView):
    @blp.response(200, PartySchema)
    @blp.alt_response(404, description="no such party, or it holds no grant for the pool")
    def delete(self, party_id: str, pool_id: str) -> dict[str, Any]:
        """Withdraw a party's access to a pool; its next request for the pool is refused."""
        require_admin()
        db = get_db()
        withdraw_grant(db, party_id, pool_id)
        _log([AccessChange("grant.withdrawn", party_id, pool_id=pool_id)])
        return get_party(db, party_id).to_dict()


@blp.route("/parties/<party_id>/keys")
class Keys(MethodView):
    @blp.arguments(KeyIssueSchema, required=False)
    @blp.response(201, ApiKeySchema)
    @blp.alt_response(404, description="no such party")
    def post(self, body: dict[str, Any], party_id: str) -> dict[str, Any]:
        """Issue a further API key for a party (shown once), optionally expiring at a given time."""
        require_admin()
        try:
            record, key = issue_key(
                get_db(), party_id, label=body.get("label", ""), expires_at=body.get("expires_at")
            )
        except ValueError as exc:
            fail(422, "invalid key request", errors={"json": {"expires_at": [str(exc)]}})
        _log([AccessChange("api_key.issued", party_id, record.key_id)])
        return {**record.to_dict(), "api_key": key}

    @blp.response(200, ApiKeyInfoSchema(many=True))
    @blp.alt_response(404, description="no such party")
    def get(self, party_id: str) -> list[dict[str, Any]]:
        """A party's API keys: id, label, created, expires, revoked, state; never a key or its hash."""
        require_admin()
        return [k.to_dict() for k in list_keys(get_db(), party_id)]


@blp.route("/parties/<party_id>/keys/<key_id>")
class Key(MethodView):
    @blp.response(200, ApiKeyInfoSchema)
    @blp.alt_response(404, description="the party has no such key")
    def delete(self, party_id: str, key_id: str) -> dict[str, Any]:
        """Revoke an API key; the next request made with it is refused (401). Revoking twice is a no-op."""
        require_admin()
        record, changed = revoke_key(get_db(), party_id, key_id)
        if changed:
            _log([AccessChange("api_key.revoked", party_id, key_id)])
        return record.to_dict()


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
