"""The HTTP API's request and response schemas (marshmallow), one section per resource.

The tape contract itself (the row schema a submitted tape is checked against) is not here: it is
:mod:`gateway.schemas`, shared with the fast validator and the importers.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from proofs.claim_bundle import MAX_NONCE, MIN_NONCE

from ..ingest.pool_settings import PRESETS
from ..schemas import MAX_LOAN_INDEX


# --- errors, pools, tapes, views, parties -------------------------------------------------------------------
class ErrorSchema(Schema):
    """The error body of every 4xx/5xx: ``{code, status, message?, errors?}`` (flask-smorest shape)."""

    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String()
    errors = fields.Dict(
        metadata={
            "description": "location -> field -> messages; for tapes: "
            "{tape: [{row, field, rule, message, value}], summary}"
        }
    )


class PoolSettingsSchema(Schema):
    """Pool jurisdiction settings on creation: a preset plus optional overrides."""

    class Meta:
        unknown = RAISE

    preset = fields.String(required=True, validate=validate.OneOf(sorted(PRESETS)))
    apr_reject_bps = fields.Integer(strict=True, validate=validate.Range(min=0))
    apr_flag_bps = fields.Integer(strict=True, validate=validate.Range(min=0))
    dpd_edges = fields.List(fields.Integer(strict=True, validate=validate.Range(min=0)))
    dpd_labels = fields.List(fields.String())
    default_days = fields.Integer(strict=True, validate=validate.Range(min=1))
    max_original_principal = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1))


class PoolCreateSchema(Schema):
    """``POST /platform/pools`` body."""

    class Meta:
        unknown = RAISE

    pool_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"))
    settings = fields.Nested(PoolSettingsSchema, required=True)


class PoolSchema(Schema):
    """A pool as returned by the API."""

    pool_id = fields.String(required=True)
    platform_id = fields.String(required=True)
    config = fields.Dict(required=True)
    created_at = fields.String(required=True)


class TapeResultSchema(Schema):
    """Result of an accepted tape submission (returned again, unchanged, on an idempotent replay)."""

    tape_id = fields.Integer(required=True)
    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    content_sha256 = fields.String(required=True)
    rows = fields.Integer(required=True)
    flagged_rows = fields.Integer(required=True, metadata={"description": "rows above apr_flag_bps"})
    format = fields.String(required=True)
    signature_verified = fields.Boolean(required=True)
    supersedes_tape_id = fields.Integer(allow_none=True)
    submitted_at = fields.String(required=True)


class TapeListItemSchema(Schema):
    """One tape of a pool."""

    tape_id = fields.Integer(required=True)
    cutoff_date = fields.String(required=True)
    content_sha256 = fields.String(required=True)
    rows = fields.Integer(required=True)
    status = fields.String(required=True)
    snapshot_status = fields.String(required=True)
    submitted_at = fields.String(required=True)


class LoanPageQuerySchema(Schema):
    """Keyset pagination: ``after`` is the last ``index`` of the previous page (0 = from the start).

    A loan's index is below 2^32 (the low half of its row id), so a larger cursor is refused (422) rather
    than handed to SQLite, whose integers end at 2^63 - 1.
    """

    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_LOAN_INDEX),
        metadata={"description": f"0 to {MAX_LOAN_INDEX}"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    purpose = fields.String(load_default=None, allow_none=True)


class LoanPageSchema(Schema):
    """A page of loans as the calling party may see them."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    tape_id = fields.Integer(required=True)
    purpose = fields.String(required=True)
    loans = fields.List(fields.Dict(), required=True, metadata={"description": "each with its 'index'"})
    next_after = fields.Integer(
        allow_none=True, metadata={"description": "pass as ?after= for the next page"}
    )


class StatsQuerySchema(Schema):
    """Query of the pool-statistics view."""

    purpose = fields.String(load_default=None, allow_none=True)


class StatsSchema(Schema):
    """Pool statistics at a cut-off, as far as the calling party may see them."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    tape_id = fields.Integer(required=True)
    purpose = fields.String(required=True)
    stats = fields.Dict(required=True)
    withheld = fields.List(fields.String(), required=True)


class PartyCreateSchema(Schema):
    """``POST /admin/parties`` body."""

    class Meta:
        unknown = RAISE

    party_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"))
    role = fields.String(required=True)
    display_name = fields.String(load_default="")
    public_key = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Ed25519 public key, 32 bytes hex (platforms)"},
    )
    pools = fields.List(fields.String(), load_default=list)
    obligor_keys = fields.List(fields.String(), load_default=list)


class PartySchema(Schema):
    """A party as returned by the API (never with key material)."""

    party_id = fields.String(required=True)
    role = fields.String(required=True)
    display_name = fields.String()
    public_key = fields.String(allow_none=True)
    pools = fields.List(fields.String())
    created_at = fields.String()


class PartyCreatedSchema(PartySchema):
    """A new party with its API key, shown this once."""

    api_key = fields.String(required=True, metadata={"description": "shown once; stored only as a hash"})


class GrantSchema(Schema):
    """``POST /admin/parties/<id>/pools`` body: give a party access to a pool."""

    class Meta:
        unknown = RAISE

    pool_id = fields.String(required=True)


class SealSchema(Schema):
    """Result of marking a cut-off sealed."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    status = fields.String(required=True)
    tape_id = fields.Integer(required=True)


# --- audience views: disclosed statistics and reports -------------------------------------------------------
class DisclosedStatsSchema(StatsSchema):
    """Pool statistics; for an aggregate-only party, those of the sealed snapshot under disclosure control."""

    snapshot_id = fields.String(
        metadata={"description": "the sealed snapshot the figures come from (aggregate-only parties)"}
    )
    currency = fields.String(metadata={"description": "ISO 4217 currency of every money figure"})
    minor_unit = fields.String(metadata={"description": "money figures are integers in this minor unit"})
    min_cohort = fields.Integer(
        metadata={"description": "distinct obligors a released figure rests on, at least"}
    )


class ReportSchema(Schema):
    """A registered report of a sealed snapshot: one cell per combination of its dimensions."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    report_id = fields.String(required=True)
    dimensions = fields.List(fields.String(), required=True)
    currency = fields.String(required=True, metadata={"description": "ISO 4217 currency of money figures"})
    minor_unit = fields.String(
        required=True, metadata={"description": "money figures are integer minor units"}
    )
    min_cohort = fields.Integer(
        metadata={"description": "distinct obligors a released figure rests on, at least (aggregate-only)"}
    )
    pool = fields.Dict(required=True, metadata={"description": "the whole pool's figures"})
    cells = fields.Dict(
        required=True,
        metadata={
            "description": 'cell name ("dim=value|dim=value") -> figures ({"value", "unit"[, "currency"]}), '
            'or {"suppressed": true, "reason": ...} for an aggregate-only party'
        },
    )


# --- operator: API keys, grants, the decision log -----------------------------------------------------------
class ApiKeyInfoSchema(Schema):
    """An API key as listed: never the key itself nor its hash."""

    key_id = fields.String(required=True)
    party_id = fields.String(required=True)
    label = fields.String(required=True)
    created_at = fields.String(required=True)
    expires_at = fields.String(required=True, allow_none=True)
    revoked_at = fields.String(required=True, allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(["active", "expired", "revoked"]))


class ApiKeySchema(ApiKeyInfoSchema):
    """A new API key, shown once."""

    api_key = fields.String(required=True, metadata={"description": "shown once; stored only as a hash"})


class KeyIssueSchema(Schema):
    """``POST /admin/parties/<id>/keys`` body (optional): a label and an expiry time."""

    class Meta:
        unknown = RAISE

    label = fields.String(load_default="", validate=validate.Length(max=100))
    expires_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "ISO 8601 with a UTC offset; the key is refused from then on"},
    )


class PartyWithKeySchema(PartyCreatedSchema):
    """A new party with its first API key (shown once) and that key's id."""

    key_id = fields.String(required=True)


class GrantRecordSchema(Schema):
    """One pool granted to a party."""

    pool_id = fields.String(required=True)
    granted_at = fields.String(required=True)


class LogCheckSchema(Schema):
    """Result of verifying the stored decision log."""

    entries = fields.Integer(required=True)
    verified = fields.Boolean(required=True)


# --- snapshots: seal jobs, headers, claims, inclusion, metrics, the gateway key -----------------------------
class SealJobSchema(Schema):
    """A seal job's progress."""

    job_id = fields.String(required=True)
    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "running, sealed or failed"})
    leaf_total = fields.Integer(required=True)
    leaves_done = fields.Integer(required=True)
    percent = fields.Float(required=True)
    loans_per_second = fields.Float(allow_none=True)
    eta_seconds = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)


class SnapshotSummarySchema(Schema):
    """A sealed snapshot in a pool's list."""

    snapshot_id = fields.String(required=True)
    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    sequence = fields.Integer(required=True)
    leaf_count = fields.Integer(required=True)
    merkle_root = fields.String(required=True)
    header_hash = fields.String(required=True)
    sealed_at = fields.String(required=True)


class ClaimRequestSchema(Schema):
    """``POST .../claims`` body: a claim statement and the requester's nonce."""

    class Meta:
        unknown = RAISE

    statement = fields.Dict(
        required=True,
        metadata={
            "description": 'claim statement as proofs.claims reads it, e.g. {"type": "ratio", '
            '"metric_num": "balance_dpd_90plus", "metric_den": "pool_balance", "op": "<=", '
            '"p": 3, "q": 100, "value_bits": 48}'
        },
    )
    nonce = fields.String(
        required=True,
        validate=validate.Regexp(rf"^[0-9a-f]{{{2 * MIN_NONCE},{2 * MAX_NONCE}}}$"),
        metadata={"description": f"{MIN_NONCE}-{MAX_NONCE} random bytes, lowercase hex"},
    )


class ExactFiguresRequestSchema(Schema):
    """``POST .../figures`` body: the figure ids to open exactly and the requester's nonce."""

    class Meta:
        unknown = RAISE

    figures = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "figure ids: pool statement v2 metric ids (docs/metrics.md), e.g. "
            '["pool_balance", "delinquent_31plus_balance", "unscheduled_principal"]'
        },
    )
    nonce = fields.String(
        required=True,
        validate=validate.Regexp(rf"^[0-9a-f]{{{2 * MIN_NONCE},{2 * MAX_NONCE}}}$"),
        metadata={"description": f"{MIN_NONCE}-{MAX_NONCE} random bytes, lowercase hex"},
    )


class ExactFiguresSchema(Schema):
    """Exact figures of a sealed snapshot: each with its definition's name, unit and value and the
    claim bundle proving it (``poolproof-audit verify-claim``), or the fixed suppression object."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    currency = fields.String(required=True)
    minor_unit = fields.String(required=True)
    min_cohort = fields.Integer(required=True)
    figures = fields.List(fields.Dict(), required=True)


class InclusionQuerySchema(Schema):
    """Which of the borrower's loans."""

    platform_loan_id = fields.String(required=True, validate=validate.Length(min=1, max=128))


class InclusionSchema(Schema):
    """The borrower's record (through the policy) and the inclusion bundle of its leaf."""

    record = fields.Dict(required=True)
    inclusion = fields.Dict(
        required=True, metadata={"description": "poolproof/inclusion bundle (v2 for packed lane sets)"}
    )


class MetricsSchema(Schema):
    """Plaintext metrics of a snapshot, from its sealed lane totals."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    metrics = fields.Dict(required=True)
    ratios_bps = fields.Dict(required=True)
    withheld = fields.List(fields.String(), required=True)


class GatewayKeySchema(Schema):
    """The gateway's public signing key."""

    algorithm = fields.String(required=True)
    key_id = fields.String(required=True)
    public_key_pem = fields.String(required=True)
    public_key_hex = fields.String(required=True)


# --- witnesses and cosignatures -----------------------------------------------------------------------------
class WitnessCreateSchema(Schema):
    """A witness to register."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$"))
    public_key = fields.String(
        required=True, validate=validate.Length(max=400), metadata={"description": "PEM or 64 hex characters"}
    )


class WitnessSchema(Schema):
    """A registered witness."""

    key_id = fields.String(required=True)
    name = fields.String(required=True)
    public_key_hex = fields.String(required=True)
    registered_at = fields.String(required=True)


class CosignatureSchema(Schema):
    """A ``poolproof/cosignature/v1`` document (checked by :mod:`proofs.witness`)."""

    class Meta:
        unknown = RAISE

    format = fields.String(required=True)
    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    sequence = fields.Integer(required=True, strict=True)
    header_hash = fields.String(required=True)
    key_id = fields.String(required=True)
    cosigned_at = fields.String(required=True)
    sig = fields.String(required=True)


class CosignedBySchema(Schema):
    """One witness that cosigned a snapshot."""

    key_id = fields.String(required=True)
    name = fields.String(required=True)
    cosigned_at = fields.String(required=True)


class SnapshotCosignaturesSchema(Schema):
    """Who has cosigned one snapshot, and the cosignatures themselves."""

    pool_id = fields.String(required=True)
    cutoff_date = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    header_hash = fields.String(required=True)
    cosigned_by = fields.List(fields.Nested(CosignedBySchema), required=True)
    cosignatures = fields.List(fields.Dict(), required=True)
