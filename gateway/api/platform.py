"""Platform blueprint: create pools, submit loan tapes, list tapes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, BinaryIO, cast

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ..ingest.pipeline import ContentHashMismatch, TapeRejected, TapeSuperseded, ingest_tape
from ..ingest.pool_settings import PRESETS, check_dpd_edges
from ..ingest.tape_formats import FORMATS, TapeTooLarge, media_format
from ..keys.tape_signatures import verify_tape_signature
from ..storage.records import create_pool, get_pool, list_tapes
from .common import fail, get_db, keys_for, master_key, owned_pool, policy, require_role
from .schemas import PoolCreateSchema, PoolSchema, TapeListItemSchema, TapeResultSchema
from .views import register_view_routes

blp = Blueprint(
    "platform",
    __name__,
    url_prefix="/platform",
    description="Platforms (originator/servicer): pools, loan tapes, own data",
)

_CUTOFF_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_IDEMPOTENCY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


@blp.route("/pools")
class Pools(MethodView):
    @blp.arguments(PoolCreateSchema)
    @blp.response(201, PoolSchema)
    @blp.alt_response(409, description="a pool with this id exists")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a pool with its jurisdiction settings (a preset plus overrides)."""
        party = require_role("platform")
        settings = dict(body["settings"])
        cfg = PRESETS[settings.pop("preset")]
        try:
            if "dpd_edges" in settings:
                settings["dpd_edges"] = tuple(settings["dpd_edges"])
            if "dpd_labels" in settings:
                settings["dpd_labels"] = tuple(settings["dpd_labels"])
            cfg = cfg.with_overrides(**settings)
            check_dpd_edges(cfg.dpd_edges, min_width_days=policy().aggregates.dpd_min_bucket_days)
        except (ValueError, TypeError) as exc:
            fail(422, "invalid pool settings", errors={"json": {"settings": [str(exc)]}})
        pool = create_pool(get_db(), master_key(), body["pool_id"], party.id, cfg)
        return pool.to_dict()

    @blp.response(200, PoolSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The calling platform's pools."""
        party = require_role("platform")
        return [get_pool(get_db(), p).to_dict() for p in party.pools]


@blp.route("/pools/<pool_id>/tapes")
class Tapes(MethodView):
    @blp.response(200, TapeListItemSchema(many=True))
    def get(self, pool_id: str) -> list[dict[str, Any]]:
        """Every tape of the pool with its status (current / superseded) and its cut-off's status."""
        party = require_role("platform")
        owned_pool(party, pool_id)
        return list_tapes(get_db(), pool_id)


_TAPE_BODY_DOC = {
    "required": True,
    "description": "A loan tape: a JSON array of rows, JSONL (one row per line) or CSV with a header row. "
    "Rows follow tape schema v1 (TapeRowCN or TapeRowUS by the pool's jurisdiction). Integers lie within "
    "±(2^53 - 1). In error reports, `row` is the source line of a CSV record (the header is line 1) or of "
    "a JSONL row (blank lines count), and the 1-based position of a row in a JSON array.",
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/TapeRowCN"}}
        },
        "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/TapeRowCN"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}
_TAPE_HEADERS_DOC = [
    {
        "name": "X-Tape-SHA256",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "SHA-256 (hex) of the exact body bytes",
    },
    {
        "name": "X-Tape-Signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "base64 Ed25519 signature over b'poolproof/v1/tape\\\\x00' + pool_id + b'\\\\x00' + "
        "cutoff + b'\\\\x00' + SHA-256 digest, under the platform's registered key",
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "repeat a submission safely: the same key and content return the first result",
    },
]


@blp.route("/pools/<pool_id>/cutoffs/<cutoff>/tapes")
class TapeSubmission(MethodView):
    @blp.doc(requestBody=_TAPE_BODY_DOC, parameters=_TAPE_HEADERS_DOC)
    @blp.response(201, TapeResultSchema, description="tape stored")
    @blp.alt_response(200, schema=TapeResultSchema, description="repeated submission: the first result")
    @blp.alt_response(400, description="malformed body or headers")
    @blp.alt_response(401, description="unknown credentials")
    @blp.alt_response(403, description="another platform's pool, or a signature that does not verify")
    @blp.alt_response(
        409,
        description="cut-off sealed; Idempotency-Key reused for a different tape; or the tape was stored "
        "before and has since been superseded (errors.tape names the superseded and the current tape)",
    )
    @blp.alt_response(413, description="body larger than the configured maximum")
    @blp.alt_response(415, description="unsupported Content-Type")
    @blp.alt_response(422, description="invalid rows: errors.tape lists row, field, rule and masked value")
    @blp.alt_response(503, description="another tape is being stored; retry after the Retry-After seconds")
    def post(self, pool_id: str, cutoff: str) -> Any:
        """Submit a signed loan tape for a cut-off date. All rows are stored, or none."""
        party = require_role("platform")
        pool = owned_pool(party, pool_id)
        if not _CUTOFF_RE.match(cutoff) or not _valid_date(cutoff):
            fail(400, "cut-off must be an ISO 8601 date YYYY-MM-DD")
        fmt = media_format(request.content_type)
        if fmt is None:
            fail(415, "Content-Type must be one of " + ", ".join(sorted(FORMATS)))
        limit = int(current_app.config["MAX_TAPE_BYTES"])
        if request.content_length is not None and request.content_length > limit:
            fail(413, f"tape exceeds the maximum size of {limit} bytes")
        declared = request.headers.get("X-Tape-SHA256", "").strip().lower()
        if not _SHA_RE.match(declared):
            fail(400, "X-Tape-SHA256 must be the body's SHA-256 as 64 hex digits")
        try:
            signature = base64.b64decode(request.headers.get("X-Tape-Signature", ""), validate=True)
        except (binascii.Error, ValueError):
            fail(400, "X-Tape-Signature must be base64")
        if not signature:
            fail(400, "X-Tape-Signature is required: platform tapes are signed")
        if party.public_key is None:
            fail(403, "no signing key is registered for this platform")
        verify_tape_signature(party.public_key, signature, pool_id, cutoff, declared)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_RE.match(key):
            fail(400, "Idempotency-Key must be 1-128 printable ASCII characters")
        try:
            outcome = ingest_tape(
                get_db(),
                pool,
                keys_for(pool_id),
                cutoff,
                cast(BinaryIO, request.stream),
                fmt,
                submitted_by=party.id,
                max_bytes=limit,
                idempotency_key=key,
                declared_sha256=declared,
                signature=signature,
                signer_public_key=party.public_key,
                max_reported=int(current_app.config["MAX_REPORTED_ERRORS"]),
            )
        except TapeRejected as exc:
            r = exc.report
            if exc.malformed:
                fail(400, f"malformed {fmt} body; nothing stored", errors=r.to_errors())
            fail(
                422,
                f"tape rejected: {r.error_count} errors in {r.invalid_rows} of {r.rows_read} rows; "
                "nothing stored",
                errors=r.to_errors(),
            )
        except TapeTooLarge as exc:
            fail(413, f"{exc}; nothing stored")
        except ContentHashMismatch:
            fail(400, "the body's SHA-256 differs from X-Tape-SHA256 (the signed hash); nothing stored")
        except TapeSuperseded as exc:
            fail(
                409,
                str(exc),
                errors={
                    "tape": {
                        "status": "superseded",
                        "tape_id": exc.tape_id,
                        "cutoff_date": exc.cutoff,
                        "current_tape_id": exc.current_tape_id,
                    }
                },
            )
        if outcome.replayed:
            return outcome.result, 200, {"Idempotent-Replayed": "true"}
        return outcome.result, 201


def _valid_date(s: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


register_view_routes(blp, "platform")
