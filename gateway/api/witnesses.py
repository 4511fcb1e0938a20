"""Witness routes: the operator registers witness keys; witnesses post cosignatures of snapshot headers.

* ``POST /admin/witnesses`` (operator): register a witness by name and Ed25519 public key;
  ``GET /admin/witnesses`` lists them.
* ``POST /<audience>/pools/<pool>/snapshots/<cutoff>/cosignatures`` (trustees, rating agencies,
  auditors and regulators with the pool in scope, authenticated by their API key): a
  ``poolproof/cosignature/v1`` document made by ``poolproof-audit verify-snapshot --cosign``. It is
  accepted only if its key is a registered witness and it verifies over exactly the stored header
  (:func:`proofs.witness.verify_cosignature`).
* ``GET /<audience>/pools/<pool>/snapshots/<cutoff>/cosignatures`` (every audience, pool in scope):
  the stored cosignatures and who cosigned.

Bodies are validated after the caller's role and scope are checked, so a caller outside its scope
learns nothing about what a valid body looks like.

Claim and inclusion bundles carry the stored cosignatures (``gateway.snapshots.sealed``), so an investor's
tool can require a witness without a second request.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError

from proofs.errors import EncodingError, VerificationError
from proofs.signing import parse_public_key
from proofs.snapshot import verify_header
from proofs.witness import verify_cosignature

from ..ingest.bounded_json import JsonLimitError, loads_body
from ..storage.witnesses import (
    cosignatures_of,
    get_witness,
    list_witnesses,
    register_witness,
    store_cosignature,
)
from .audiences import ROLE_PLURALS, ROLE_PREFIXES
from .common import AudienceResource, fail, get_db, header_signer, mount, require_admin, shared_docs
from .schemas import CosignatureSchema, SnapshotCosignaturesSchema, WitnessCreateSchema, WitnessSchema

#: Audiences whose parties may act as witnesses (post cosignatures).
WITNESS_ROLES = ("trustee", "rating_agency", "auditor", "regulator")

admin_blp = Blueprint(
    "witness_admin", __name__, url_prefix="/admin/witnesses", description="Gateway operator: witness keys"
)


def _body(schema: Schema) -> dict[str, Any]:
    """The JSON body, read after the caller's role and scope were checked, within the body limits."""
    try:
        document = loads_body(request.get_data(cache=True).decode("utf-8") or "{}")
    except JsonLimitError as exc:
        fail(400, str(exc), errors={"json": {"_body": [str(exc)]}})
    except ValueError:  # a syntax error or bytes that are not UTF-8
        fail(400, "the request body is not a JSON document")
    try:
        loaded: dict[str, Any] = schema.load(document if document is not None else {})
    except ValidationError as exc:
        fail(422, "invalid request body", errors={"json": exc.messages})
    return loaded


@admin_blp.route("")
class Witnesses(MethodView):
    @admin_blp.doc(requestBody={"content": {"application/json": {"schema": WitnessCreateSchema}}})
    @admin_blp.response(201, WitnessSchema)
    @admin_blp.alt_response(409, description="the key or the name is already registered")
    @admin_blp.alt_response(422, description="malformed body, or the public key does not parse")
    def post(self) -> dict[str, Any]:
        """Register a witness whose cosignatures the gateway will accept and relay."""
        require_admin()
        body = _body(WitnessCreateSchema())
        try:
            key = parse_public_key(body["public_key"])
        except (EncodingError, ValueError) as exc:
            fail(422, f"public_key: not an Ed25519 public key in PEM or hex ({exc})")
        return register_witness(get_db(), body["name"], key).summary()

    @admin_blp.response(200, WitnessSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every registered witness."""
        require_admin()
        return [w.summary() for w in list_witnesses(get_db())]


def _scoped_snapshot(party: Any, pool_id: str, cutoff: str) -> Any:
    from ..snapshots.sealed import get_snapshot

    return get_snapshot(get_db(), pool_id, cutoff)


def _listing(snap: Any) -> dict[str, Any]:
    db = get_db()
    docs = cosignatures_of(db, snap.snapshot_id)
    cosigned_by = []
    for doc in docs:
        witness = get_witness(db, doc["key_id"])
        name = witness.name if witness is not None else "(unregistered)"
        cosigned_by.append({"key_id": doc["key_id"], "name": name, "cosigned_at": doc["cosigned_at"]})
    return {
        "pool_id": snap.pool_id,
        "cutoff_date": snap.cutoff_date,
        "snapshot_id": snap.snapshot_id,
        "header_hash": snap.header_hash.hex(),
        "cosigned_by": cosigned_by,
        "cosignatures": list(docs),
    }


class Cosignatures(AudienceResource):
    @shared_docs.response(200, SnapshotCosignaturesSchema)
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """Who has cosigned this snapshot's header, with the cosignatures."""
        return _listing(_scoped_snapshot(self.caller(pool_id), pool_id, cutoff))


class PostedCosignatures(Cosignatures):
    @shared_docs.doc(requestBody={"content": {"application/json": {"schema": CosignatureSchema}}})
    @shared_docs.response(201, SnapshotCosignaturesSchema)
    @shared_docs.alt_response(
        403, description="pool outside the party's scope, or not a registered witness key"
    )
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    @shared_docs.alt_response(422, description="malformed, or does not verify over this snapshot's header")
    def post(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """Add a registered witness's cosignature of this header (checked before it is stored).

        The body is a ``poolproof/cosignature/v1`` document (``poolproof-audit verify-snapshot
        --cosign``)."""
        snap = _scoped_snapshot(self.caller(pool_id), pool_id, cutoff)
        body = _body(CosignatureSchema())
        witness = get_witness(get_db(), str(body["key_id"]))
        if witness is None:
            fail(
                403,
                f"key {body['key_id']} is not a registered witness (the operator registers them)",
            )
        header = verify_header(snap.header, header_signer(snap), lane_sets={snap.lanes.name})
        try:
            verify_cosignature(body, header, witness.public_key)
        except EncodingError as exc:
            fail(422, f"malformed cosignature: {exc}")
        except VerificationError as exc:
            fail(
                422,
                f"the cosignature does not verify over this snapshot's header ({exc.check}): {exc}",
            )
        store_cosignature(get_db(), snap.snapshot_id, body)
        return _listing(snap)


def _audience_blueprint(role: str, prefix: str) -> Blueprint:
    """The cosignature blueprint of one audience: witnesses read and post, the others read."""
    blp = Blueprint(
        f"{role}_witnesses",
        __name__,
        url_prefix=prefix,
        description=f"Witness cosignatures of snapshot headers for {ROLE_PLURALS[role]}"
        + (" (read and post)" if role in WITNESS_ROLES else " (read)"),
    )
    resource = PostedCosignatures if role in WITNESS_ROLES else Cosignatures
    mount(blp, "/pools/<pool_id>/snapshots/<cutoff>/cosignatures", resource, role)
    return blp


#: One cosignature blueprint per audience, in the order of the audience table.
AUDIENCE_BLUEPRINTS = [_audience_blueprint(role, prefix) for role, prefix in ROLE_PREFIXES.items()]
