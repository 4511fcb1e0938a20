"""Deal routes: the deal file, the period's payment report, and the alerts trustees and regulators poll.

* ``PUT /admin/pools/<pool>/deal`` (operator): register the pool's deal file (TOML, validated; a
  broken rule is 422 naming the key and the rule).
* ``GET /<audience>/pools/<pool>/deal`` (every audience, pool in scope): the deal file and its hash.
* ``POST /trustee/pools/<pool>/payment-reports/<cutoff>``: build, verify, sign and publish the
  period's payment report from the sealed snapshots; raises the alerts its trigger statuses call for.
* ``GET /<audience>/pools/<pool>/payment-reports/<cutoff>``: the report. A party the policy lets see
  every input figure exactly gets the whole report (``poolproof-audit verify-distribution`` checks
  it); an aggregate-only party gets the trigger-status view: the chain and each trigger's proof, the
  levels being the deal's registered thresholds. The decision is logged.
* ``GET /<audience>/pools/<pool>/eligibility/<cutoff>``: the period's purchase-eligibility statement
  (built when the period's report is published). The trustee and the regulator get it whole, with
  the purchased and the failing loans; every other party the investor view (holds or does not hold,
  the failed criteria and the proofs; no loan id, no per-loan value). The decision is logged.
* ``GET /trustee|regulator/pools/<pool>/alerts``: the pool's alerts (``?since=`` a UTC time).
* ``POST /trustee|regulator/alert-webhooks``: register a webhook; its HMAC key is answered once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from policies import DecisionLog, Transform
from policies.decision import Decision
from proofs.cumulative import CUMULATIVE_FIGURES
from proofs.deal import deal_hash
from proofs.waterfall import INPUT_FIGURES

from ..alerts import deal_records, raising, store
from ..alerts import eligibility as eligibility_records
from ..ingest.bounded_json import JsonLimitError, loads_body
from ..policy_views import DEFAULT_PURPOSE, policy_party
from ..snapshots.disclosure import is_aggregate_only, note_balances_decision
from ..storage import deals, decisions
from .audiences import ROLE_PLURALS, ROLE_PREFIXES
from .common import (
    AudienceResource,
    fail,
    gateway_signing_key,
    get_db,
    get_log_db,
    keys_for,
    mount,
    policy,
    require_admin,
    require_role,
    shared_docs,
)

#: The figures a whole report discloses exactly (the rest of it is derived from them and the deal).
EXACT_FIGURES = (*INPUT_FIGURES, *CUMULATIVE_FIGURES.values())


class DealFileSchema(Schema):
    deal_toml = fields.String(required=True, validate=validate.Length(min=1, max=1 << 20))


class DealSchema(Schema):
    pool_id = fields.String()
    deal_id = fields.String()
    version = fields.Integer()
    deal_hash = fields.String(metadata={"description": "SHA-256 of the canonical deal (hex)"})
    deal_toml = fields.String()


class WebhookCreateSchema(Schema):
    url = fields.Url(required=True, schemes={"https", "http"}, require_tld=False)


class WebhookSchema(Schema):
    webhook_id = fields.String()
    url = fields.String()
    secret = fields.String(metadata={"description": "HMAC-SHA256 key (hex); shown only in this answer"})


class AlertsQuerySchema(Schema):
    since = fields.String(load_default=None)


def _body(schema: Schema) -> dict[str, Any]:
    """The JSON body, read after the caller's role and scope were checked, within the body limits."""
    try:
        document = loads_body(request.get_data(cache=True).decode("utf-8") or "{}")
    except JsonLimitError as exc:
        fail(400, str(exc), errors={"json": {"_body": [str(exc)]}})
    except ValueError:
        fail(400, "the request body is not a JSON document")
    try:
        loaded: dict[str, Any] = schema.load(document if document is not None else {})
    except ValidationError as exc:
        fail(422, "invalid request body", errors={"json": exc.messages})
    return loaded


def _deal_answer(pool_id: str) -> dict[str, Any]:
    db = get_db()
    deal = deal_records.current_deal(db, pool_id)
    source = deals.deal_source(db, pool_id, deal.version)
    return {"pool_id": pool_id, "deal_id": deal.deal_id, "version": deal.version,
            "deal_hash": deal_hash(deal).hex(), "deal_toml": source}  # fmt: skip


admin_blp = Blueprint(
    "deal_admin", __name__, url_prefix="/admin/pools", description="Gateway operator: deal files"
)


@admin_blp.route("/<pool_id>/deal")
class AdminDeal(MethodView):
    @admin_blp.doc(requestBody={"content": {"application/json": {"schema": DealFileSchema}}})
    @admin_blp.response(201, DealSchema)
    @admin_blp.alt_response(404, description="no such pool")
    @admin_blp.alt_response(422, description="the deal file breaks a rule (the key and the rule are named)")
    def put(self, pool_id: str) -> dict[str, Any]:
        """Register the pool's deal file (a higher version replaces it until a report is published)."""
        require_admin()
        from ..storage.records import NotFound, get_pool

        try:
            get_pool(get_db(), pool_id)
        except NotFound:
            fail(404, f"no pool {pool_id!r}")
        body = _body(DealFileSchema())
        deal_records.register_deal(get_db(), pool_id, body["deal_toml"])
        return _deal_answer(pool_id)


class Deal(AudienceResource):
    @shared_docs.response(200, DealSchema)
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="the pool has no registered deal")
    def get(self, pool_id: str) -> dict[str, Any]:
        """The pool's deal file and its hash (the deal's terms are public to every party of the pool)."""
        self.caller(pool_id)
        return _deal_answer(pool_id)


def report_for_party(party: Any, pool_id: str, report: dict[str, Any]) -> dict[str, Any]:
    """What ``party`` gets of a payment report, decided and logged at the disclosure-control point.

    The whole report's inputs and cumulative figures are exact pool figures outside any snapshot's
    release table: a party the policy gives aggregates only (investors), or refuses any of those
    figures exactly, gets the trigger-status view, never those figures. The view carries the notes'
    outstanding principal at the start of the period when the policy gives the party
    ``notes/balance`` exactly (:func:`~gateway.snapshots.disclosure.note_balances_decision`), so the
    excess-spread trigger is proven for it too. Every decision is logged.
    """
    p = policy_party(party)
    decided = [policy().may_request_claim(p, "exact", m, pool_id=pool_id) for m in EXACT_FIGURES]
    aggregate_only = is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id)
    whole = all(d.allowed for d in decided) and not aggregate_only
    notes = None if whole else note_balances_decision(policy(), p, pool_id)
    entry = Decision(
        decision_id=uuid.uuid4().hex,
        party_id=p.id,
        role=p.role,
        field="payment_report:triggers",
        purpose="claim",
        transform=Transform.RAW,
        params={},
        rule_ids=("aggregates.registered_threshold",),
        reason="trigger levels are the deal's registered thresholds",
        policy_version=policy().version,
        pool_id=pool_id,
    )
    log = DecisionLog()
    resource = f"pool:{pool_id}/cutoff:{report['cutoff_date']}/payment-report"
    log.append([*decided, *([] if notes is None else [notes]), entry], resource=resource,
               record_count=1 if whole else 0)  # fmt: skip
    decisions.persist(get_log_db(), log)
    if whole:
        return report
    return deal_records.trigger_view(report, note_balances=notes is not None and notes.allowed)


class PaymentReport(AudienceResource):
    @shared_docs.response(200, description="poolproof/payment-report/v1, or its trigger-status view")
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="no report published for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """The period's payment report, through the disclosure-control point."""
        party = self.caller(pool_id)
        return report_for_party(party, pool_id, deal_records.stored_report(get_db(), pool_id, cutoff))


class PublishedPaymentReport(PaymentReport):
    @shared_docs.response(201, description="the published poolproof/payment-report/v1")
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="the pool has no registered deal")
    @shared_docs.alt_response(409, description="a snapshot since closing, or the previous report, is missing")
    def post(self, pool_id: str, cutoff: str) -> tuple[dict[str, Any], int]:
        """Build, verify, sign and publish the period's report; raise the alerts it calls for."""
        self.caller(pool_id)
        db = get_db()
        report, deal = deal_records.publish_payment_report(db, keys_for(pool_id), pool_id, cutoff,
                                                           gateway_signing_key())  # fmt: skip
        statement = eligibility_records.build_for_cutoff(db, keys_for(pool_id), pool_id, cutoff,
                                                         gateway_signing_key())  # fmt: skip
        raising.raise_alerts(
            db, get_log_db(), report, deal, policy_version=policy().version, eligibility=statement
        )
        return report, 201


def _log_eligibility(party: Any, pool_id: str, cutoff: str, full: bool) -> None:
    p = policy_party(party)
    entry = Decision(
        decision_id=uuid.uuid4().hex,
        party_id=p.id,
        role=p.role,
        field="eligibility:loans" if full else "eligibility:status",
        purpose="claim",
        transform=Transform.RAW if full else Transform.AGGREGATE_ONLY,
        params={},
        rule_ids=("eligibility.view",),
        reason="trustee and regulator see the purchased loans; other parties the proven status only",
        policy_version=policy().version,
        pool_id=pool_id,
    )
    log = DecisionLog()
    log.append([entry], resource=f"pool:{pool_id}/cutoff:{cutoff}/eligibility", record_count=0)
    decisions.persist(get_log_db(), log)


class Eligibility(AudienceResource):
    @shared_docs.response(200, description="poolproof/eligibility/v1: whole, or its investor view")
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="no statement for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """The period's purchase-eligibility statement, through the disclosure-control point."""
        party = self.caller(pool_id)
        doc = eligibility_records.stored_statement(get_db(), pool_id, cutoff)
        p = policy_party(party)
        aggregate_only = is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id)
        role = "investor" if aggregate_only else p.role
        view = eligibility_records.statement_view(doc, role, min_cohort=policy().aggregates.min_cohort)
        _log_eligibility(party, pool_id, cutoff, view["view"] == "full")
        return view


class Alerts(AudienceResource):
    @shared_docs.arguments(AlertsQuerySchema, location="query")
    @shared_docs.response(200, description="the pool's deal alerts, oldest first")
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    def get(self, query: dict[str, Any], pool_id: str) -> list[dict[str, Any]]:
        """Alerts raised for the pool: breached triggers and the switches they cause."""
        self.caller(pool_id)
        return store.list_alerts(get_db(), pool_id, since=query.get("since"))


class AlertWebhooks(AudienceResource):
    @shared_docs.doc(requestBody={"content": {"application/json": {"schema": WebhookCreateSchema}}})
    @shared_docs.response(201, WebhookSchema)
    @shared_docs.alt_response(422, description="not an http(s) URL")
    def post(self) -> tuple[dict[str, Any], int]:
        """Register a webhook that receives every new alert, HMAC-signed (X-PoolProof-Signature)."""
        party = require_role(self.role)
        body = _body(WebhookCreateSchema())
        hook = store.register_webhook(get_db(), party.id, party.role, body["url"])
        return {"webhook_id": hook.webhook_id, "url": hook.url, "secret": hook.secret}, 201


def _audience_blueprint(role: str, prefix: str) -> Blueprint:
    blp = Blueprint(f"{role}_deal", __name__, url_prefix=prefix,
                    description=f"The deal, payment reports and alerts for {ROLE_PLURALS[role]}")  # fmt: skip
    mount(blp, "/pools/<pool_id>/deal", Deal, role)
    report = PublishedPaymentReport if role == "trustee" else PaymentReport
    mount(blp, "/pools/<pool_id>/payment-reports/<cutoff>", report, role)
    mount(blp, "/pools/<pool_id>/eligibility/<cutoff>", Eligibility, role)
    if role in store.ALERT_ROLES:
        mount(blp, "/pools/<pool_id>/alerts", Alerts, role)
        mount(blp, "/alert-webhooks", AlertWebhooks, role)
    return blp


#: One deal blueprint per audience (borrowers have no deal routes), in the order of the audience table.
AUDIENCE_BLUEPRINTS = [_audience_blueprint(r, p) for r, p in ROLE_PREFIXES.items() if r != "borrower"]
