"""Snapshot routes: sealing jobs (platform), headers and bundles, claims, borrower inclusion, metrics.

One blueprint per audience, mounted beside the audience's view blueprint (same URL prefix):

* platform: ``POST /platform/pools/<pool>/cutoffs/<cutoff>/seal`` (202 + job), ``GET .../jobs/<id>``;
* everyone in scope: ``GET .../pools/<pool>/snapshots`` and ``.../snapshots/<cutoff>/header``;
* platform, trustee, auditor, regulator: the whole snapshot bundle, streamed (``.../bundle``);
* platform, trustee, regulator: the plaintext metrics report (``.../metrics``), per the policy's
  exact-value claim rules;
* every role but borrowers: ``POST .../snapshots/<cutoff>/claims`` (policy + aggregate guard decide);
* borrowers: ``GET .../snapshots/<cutoff>/inclusion?platform_loan_id=...`` for their own loans;
* trustee, auditor, regulator: ``GET .../snapshots/<cutoff>/leaves/<i>/inclusion`` (sampling);
* ``GET /public/gateway-key`` (no authentication).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import RAISE, Schema, fields, validate

from policies import DecisionLog, Party, derive_pseudonym_key
from policies.aggregates import REFUSED
from policies.policy import Decision
from proofs.claim_bundle import MAX_NONCE, MIN_NONCE, metric_commitments
from proofs.claims import statement_from_dict
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.signing import key_id
from proofs.snapshot import verify_header

from ..ingest.rules import same_loan_id
from ..keys.gateway_key import GatewayKeyError, gateway_key_path, load_gateway_key, public_key_info
from ..policy_views import DEFAULT_PURPOSE, policy_party
from ..snapshots.disclosure import ClaimRefused, claim_kind, metrics_release, spend_claim_budget
from ..snapshots.seal_jobs import (
    JobRunner,
    SealError,
    SealSettings,
    TestingHooks,
    get_job,
    run_seal_job,
    start_seal_job,
)
from ..snapshots.sealed import (
    SnapshotRecord,
    get_snapshot,
    inclusion_bundle,
    list_snapshots,
    prove_claim,
    snapshot_tape_id,
    stream_snapshot_bundle,
)
from ..storage import decisions
from ..storage.db import connect
from ..storage.records import Conflict, NotFound, PartyRecord, get_tape, iter_loans
from .common import fail, get_db, get_log_db, keys_for, master_key, owned_pool, policy, require_role
from .views import _scoped_pool

#: What a false claim gets: the same fixed answer whatever the hidden value is.
CANNOT_PROVE = "cannot prove this claim on this snapshot"
BUNDLE_ROLES = ("platform", "trustee", "auditor", "regulator")
SAMPLING_ROLES = ("trustee", "auditor", "regulator")
METRICS_ROLES = ("platform", "trustee", "regulator")
_PREFIX = {
    "platform": "/platform",
    "trustee": "/trustee",
    "rating_agency": "/rating-agency",
    "investor": "/investor",
    "auditor": "/auditor",
    "regulator": "/regulator",
    "borrower": "/borrower",
}
_CUTOFF_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- schemas --------------------------------------------------------------------------------------------
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


# --- app plumbing ---------------------------------------------------------------------------------------
def gateway_signing_key() -> Ed25519PrivateKey:
    """The gateway's signing key (loaded once per app); 503 if it is not configured."""
    ext = current_app.extensions
    key: Ed25519PrivateKey | None = ext.get("poolproof_gateway_key")
    if key is None:
        try:
            key = load_gateway_key(gateway_key_path(current_app.config))
        except GatewayKeyError as exc:
            fail(503, str(exc))
        ext["poolproof_gateway_key"] = key
    return key


def header_signer(snap: SnapshotRecord) -> Ed25519PublicKey:
    """The gateway key that signed a stored header: the current key, or an older one found through
    the verified key history (``gateway.keys.rotation``) for snapshots sealed before a rotation."""
    current = gateway_signing_key().public_key()
    signer = snap.header.get("signatures", [{}])[0].get("key_id")
    if signer == key_id(current):
        return current
    from ..keys.rotation import header_public_key

    try:
        return header_public_key(gateway_key_path(current_app.config), snap.header)
    except (VerificationError, EncodingError, OSError) as exc:
        fail(503, f"the key that signed this snapshot is not in the verified key history: {exc}")


def job_runner(app: Flask) -> JobRunner:
    """The app's background seal-job runner."""
    runner: JobRunner = app.extensions.setdefault("poolproof_seal_runner", JobRunner())
    return runner


def _testing_hooks(app: Flask) -> TestingHooks | None:
    if not app.config.get("TESTING"):
        return None
    hooks = TestingHooks()
    hooks.negative_lane_loans = frozenset(app.config.get("SEAL_TEST_NEGATIVE_LANE_LOANS", ()))
    return hooks


def launch_job(app: Flask, job_id: str) -> bool:
    """Run (or resume) a seal job on a background thread of this server; True if it was started."""
    with app.app_context():
        gkey = gateway_signing_key()
        mkey = master_key()
    settings = SealSettings.from_config(app.config)
    db_path = app.config["DATABASE"]
    version = app.extensions["poolproof_policy"].version
    hooks = _testing_hooks(app)

    def target() -> object:
        return run_seal_job(
            db_path,
            mkey,
            gkey,
            version,
            job_id,
            workers=settings.workers,
            scheduler=settings.scheduler,
            testing=hooks,
        )

    return job_runner(app).start(job_id, target)


def resume_running_jobs(app: Flask) -> list[str]:
    """Restart every job a previous server process left running (call once at server start)."""
    from ..snapshots.seal_jobs import running_jobs

    db = connect(app.config["DATABASE"])
    try:
        jobs = running_jobs(db)
    finally:
        db.conn.close()
    return [job.id for job in jobs if launch_job(app, job.id)]


def _snapshot_or_404(pool_id: str, cutoff: str) -> SnapshotRecord:
    try:
        return get_snapshot(get_db(), pool_id, cutoff)
    except NotFound as exc:
        fail(404, str(exc))


def _log(p: Party, decided: list[Decision], resource: str, count: int) -> None:
    log = DecisionLog()
    log.append(decided, resource=resource, record_count=count)
    decisions.persist(get_log_db(), log)


def _unprocessable(message: str) -> NoReturn:
    fail(422, message)


# --- blueprints -----------------------------------------------------------------------------------------
def _audience_blueprint(role: str) -> Blueprint:
    blp = Blueprint(
        f"{role}_snapshots",
        __name__,
        url_prefix=_PREFIX[role],
        description=f"Sealed snapshots for {role.replace('_', ' ')}s: headers"
        + (", bundles" if role in BUNDLE_ROLES else "")
        + (", metrics" if role in METRICS_ROLES else "")
        + (", inclusion proofs" if role == "borrower" else ", claims"),
    )

    def scoped(pool_id: str) -> PartyRecord:
        party = require_role(role)
        _scoped_pool(party, pool_id)
        return party

    @blp.route("/pools/<pool_id>/snapshots")
    class Snapshots(MethodView):
        @blp.response(200, SnapshotSummarySchema(many=True))
        @blp.alt_response(403, description="pool outside the party's scope")
        def get(self, pool_id: str) -> list[dict[str, Any]]:
            """The pool's sealed snapshots, oldest first (hash-chained by previous_header_hash)."""
            scoped(pool_id)
            return [s.summary() for s in list_snapshots(get_db(), pool_id)]

    @blp.route("/pools/<pool_id>/snapshots/<cutoff>/header")
    class SnapshotHeader(MethodView):
        @blp.response(200, description="the signed snapshot header (poolproof/snapshot-header/v1)")
        @blp.alt_response(404, description="no sealed snapshot for the cut-off")
        def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
            """The signed snapshot header: pool, cut-off, leaf count, Merkle root, lane aggregates."""
            scoped(pool_id)
            return _snapshot_or_404(pool_id, cutoff).header

    _ = (Snapshots, SnapshotHeader)

    if role in BUNDLE_ROLES:

        @blp.route("/pools/<pool_id>/snapshots/<cutoff>/bundle")
        class SnapshotBundle(MethodView):
            @blp.response(200, description="poolproof/snapshot/v1 bundle, one chunk per line (streamed)")
            @blp.alt_response(404, description="no sealed snapshot for the cut-off")
            def get(self, pool_id: str, cutoff: str) -> Response:
                """The whole snapshot (every leaf and range proof) for ``poolproof-audit verify-snapshot``."""
                scoped(pool_id)
                snap = _snapshot_or_404(pool_id, cutoff)
                db_path = current_app.config["DATABASE"]

                def generate() -> Any:
                    db = connect(db_path)
                    try:
                        yield from stream_snapshot_bundle(db, snap)
                    finally:
                        db.conn.close()

                headers = {"Content-Disposition": f'attachment; filename="snapshot-{pool_id}-{cutoff}.json"'}
                return Response(stream_with_context(generate()), mimetype="application/json", headers=headers)

        _ = SnapshotBundle

    if role in METRICS_ROLES:

        @blp.route("/pools/<pool_id>/snapshots/<cutoff>/metrics")
        class SnapshotMetrics(MethodView):
            @blp.response(200, MetricsSchema)
            @blp.alt_response(404, description="no sealed snapshot for the cut-off")
            def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
                """Plaintext pool metrics from the snapshot's lane totals (metrics the policy withholds are
                listed, not shown)."""
                party = scoped(pool_id)
                snap = _snapshot_or_404(pool_id, cutoff)
                p = policy_party(party)
                metrics, ratios, withheld, decided = metrics_release(policy(), p, keys_for(pool_id), snap)
                _log(p, decided, f"pool:{pool_id}/snapshot:{snap.snapshot_id}/metrics", 1)
                return {
                    "pool_id": pool_id,
                    "cutoff_date": cutoff,
                    "snapshot_id": snap.snapshot_id,
                    "metrics": metrics,
                    "ratios_bps": ratios,
                    "withheld": withheld,
                }

        _ = SnapshotMetrics

    if role != "borrower":

        @blp.route("/pools/<pool_id>/snapshots/<cutoff>/claims")
        class Claims(MethodView):
            @blp.arguments(ClaimRequestSchema)
            @blp.response(200, description="poolproof/claim/v1 bundle: header, statement, nonce, proof")
            @blp.alt_response(403, description="the policy or the aggregate guard refuses this claim")
            @blp.alt_response(404, description="no sealed snapshot for the cut-off")
            @blp.alt_response(422, description=f"malformed statement, or '{CANNOT_PROVE}' for a false claim")
            def post(self, body: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
                """Prove a claim about pool metrics on a sealed snapshot, bound to the requester's nonce.

                A false claim gets 422 with a fixed message; its threshold still counts against the
                requester's budget (the answer is one bit either way)."""
                party = scoped(pool_id)
                snap = _snapshot_or_404(pool_id, cutoff)
                try:
                    statement = statement_from_dict(body["statement"])
                except EncodingError as exc:
                    _unprocessable(f"invalid claim statement: {exc}")
                header = verify_header(snap.header, header_signer(snap), lane_sets={snap.lanes.name})
                try:
                    metric_commitments(header, statement)  # public checks: known metrics, value_bits
                except VerificationError as exc:
                    _unprocessable(f"claim does not fit this snapshot ({exc.check}): {exc}")
                p = policy_party(party)
                kind = claim_kind(statement)
                decided = [policy().may_request_claim(p, kind, m, pool_id=pool_id) for m in statement.metrics]
                resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/claims"
                refused = [d for d in decided if not d.allowed]
                if refused:
                    _log(p, decided, resource, 0)
                    fail(
                        403,
                        f"the policy refuses this claim to role {party.role!r}: {refused[0].reason}",
                    )
                try:
                    decided += spend_claim_budget(get_db(), policy(), p, snap, statement)
                except ClaimRefused as refused:
                    _log(p, [refused.decision], resource, 0)
                    fail(403, REFUSED)
                try:
                    answer = prove_claim(
                        header, keys_for(pool_id), snap, statement, bytes.fromhex(body["nonce"])
                    )
                except ProvingError:
                    _log(p, decided, resource, 0)
                    _unprocessable(CANNOT_PROVE)
                _log(p, decided, resource, 1)
                return answer

        _ = Claims

    if role in SAMPLING_ROLES:

        @blp.route("/pools/<pool_id>/snapshots/<cutoff>/leaves/<int:leaf_index>/inclusion")
        class SampledInclusion(MethodView):
            @blp.response(200, description="poolproof/inclusion bundle of one leaf")
            @blp.alt_response(403, description="the policy does not allow sampled inclusion checks")
            @blp.alt_response(404, description="no such leaf, or no sealed snapshot for the cut-off")
            def get(self, pool_id: str, cutoff: str, leaf_index: int) -> dict[str, Any]:
                """A sampled leaf's opening and inclusion proof (auditor sampling: compare the committed
                principal and DPD bucket with the loan file of the same exposure id)."""
                party = scoped(pool_id)
                snap = _snapshot_or_404(pool_id, cutoff)
                p = policy_party(party)
                decision = policy().may_request_claim(p, "inclusion", "sampled_leaf", pool_id=pool_id)
                resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/leaves/{leaf_index}"
                _log(p, [decision], resource, 1 if decision.allowed else 0)
                if not decision.allowed:
                    fail(403, decision.reason)
                if not 0 <= leaf_index < int(snap.header["leaf_count"]):
                    fail(404, f"snapshot has no leaf {leaf_index}")
                db = get_db()
                keys = keys_for(pool_id)
                tape = get_tape(db, snapshot_tape_id(db, snap))
                stored = next(iter_loans(db, keys, tape, after=leaf_index, limit=1), None)
                if stored is None:  # pragma: no cover - the tape has leaf_count loans
                    fail(404, f"snapshot has no leaf {leaf_index}")
                return inclusion_bundle(db, keys, snap, stored.record, stored.index)

        _ = SampledInclusion

    if role == "borrower":

        @blp.route("/pools/<pool_id>/snapshots/<cutoff>/inclusion")
        class Inclusion(MethodView):
            @blp.arguments(InclusionQuerySchema, location="query")
            @blp.response(200, InclusionSchema)
            @blp.alt_response(404, description="no such loan among the borrower's loans, or no snapshot")
            def get(self, query: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
                """The borrower's own loan as the policy shows it, with its leaf opening and inclusion
                proof under the signed header (``poolproof-audit verify-inclusion``)."""
                party = scoped(pool_id)
                snap = _snapshot_or_404(pool_id, cutoff)
                p = policy_party(party)
                decision = policy().may_request_claim(p, "inclusion", "own_loan", pool_id=pool_id)
                resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/inclusion"
                if not decision.allowed:
                    _log(p, [decision], resource, 0)
                    fail(403, decision.reason)
                db = get_db()
                keys = keys_for(pool_id)
                tape = get_tape(db, snapshot_tape_id(db, snap))
                found = None
                for stored in iter_loans(db, keys, tape, obligor_pseudo_ids=tuple(party.obligor_keys)):
                    if same_loan_id(stored.record.get("platform_loan_id", ""), query["platform_loan_id"]):
                        found = stored
                        break
                if found is None:
                    _log(p, [decision], resource, 0)
                    fail(404, "no loan with this platform_loan_id among your loans in this snapshot")
                log = DecisionLog()
                rows = policy().view(
                    p,
                    [found.record],
                    DEFAULT_PURPOSE["borrower"],
                    pool_id=pool_id,
                    log=log,
                    pseudonym_key=derive_pseudonym_key(keys.recipient_pseudonym_master, party.id, pool_id),
                    resource=resource,
                )
                log.append([decision], resource=resource, record_count=1)
                decisions.persist(get_log_db(), log)
                if not rows:
                    fail(404, "no loan with this platform_loan_id among your loans in this snapshot")
                return {
                    "record": rows[0],
                    "inclusion": inclusion_bundle(db, keys, snap, found.record, found.index),
                }

        _ = Inclusion

    return blp


platform_jobs = Blueprint(
    "platform_seal", __name__, url_prefix="/platform", description="Platforms: seal snapshots (jobs)"
)


@platform_jobs.route("/pools/<pool_id>/cutoffs/<cutoff>/seal")
class Seal(MethodView):
    @platform_jobs.response(202, SealJobSchema)
    @platform_jobs.alt_response(404, description="no tape for the cut-off")
    @platform_jobs.alt_response(409, description="already sealed, or not after the last sealed cut-off")
    def post(self, pool_id: str, cutoff: str) -> tuple[dict[str, Any], int]:
        """Seal the cut-off's current tape as a background job; poll ``.../jobs/<job_id>`` for progress.

        A running job for the same cut-off is returned instead of starting another."""
        party = require_role("platform")
        owned_pool(party, pool_id)
        if not _CUTOFF_RE.match(cutoff):
            fail(400, "cut-off must be an ISO 8601 date YYYY-MM-DD")
        gateway_signing_key()  # 503 now rather than at the end of a long job
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            job, _created = start_seal_job(
                get_db(), master_key(), pool_id, cutoff, SealSettings.from_config(app.config)
            )
        except NotFound as exc:
            fail(404, str(exc))
        except Conflict as exc:
            fail(409, str(exc))
        except SealError as exc:
            fail(422, str(exc))
        launch_job(app, job.id)
        return get_job(get_db(), job.id).progress(), 202


@platform_jobs.route("/pools/<pool_id>/jobs/<job_id>")
class Job(MethodView):
    @platform_jobs.response(200, SealJobSchema)
    @platform_jobs.alt_response(404, description="no such job for this pool")
    def get(self, pool_id: str, job_id: str) -> dict[str, Any]:
        """A seal job's state, percent done, loans per second and estimated seconds left."""
        party = require_role("platform")
        owned_pool(party, pool_id)
        try:
            job = get_job(get_db(), job_id)
        except NotFound as exc:
            fail(404, str(exc))
        if job.pool_id != pool_id:
            fail(404, f"no seal job {job_id!r}")
        return job.progress()


public = Blueprint(
    "public", __name__, url_prefix="/public", description="Unauthenticated: gateway public key"
)


@public.route("/gateway-key")
class GatewayKey(MethodView):
    @public.doc(security=[])
    @public.response(200, GatewayKeySchema)
    def get(self) -> dict[str, str]:
        """The gateway's Ed25519 public key (PEM, hex, key id). Verifiers should confirm it out of band."""
        return public_key_info(gateway_signing_key().public_key())


AUDIENCE_BLUEPRINTS = [_audience_blueprint(role) for role in _PREFIX]


def register(api: Api) -> None:
    """Mount the snapshot blueprints on the app's API."""
    api.register_blueprint(platform_jobs)
    for blp in AUDIENCE_BLUEPRINTS:
        api.register_blueprint(blp)
    api.register_blueprint(public)
    from . import witnesses

    witnesses.register(api, _PREFIX)
