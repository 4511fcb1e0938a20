"""Vintage curve routes: ``GET .../pools/<pool>/vintage`` (the cohorts) and ``.../vintage/<cohort>``.

Every audience but borrowers. A cohort's curve (docs/metrics.md "Vintage curves") is each point's
exact cumulative default and prepayment rate parts, with the ``poolproof/vintage-curve/v1`` bundle
that proves them (:mod:`proofs.vintage`), bound to the requester's nonce. The policy must let the
party open the cohort cell's figures exactly (else 403 naming the rule); for an aggregate-only party
every point leaves through the disclosure control (:mod:`gateway.snapshots.vintage`): a point over a
small cohort, or one that would difference a small cohort out of what was released before, is the
fixed suppression object.
"""

from __future__ import annotations

import re
from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from policies import DecisionLog
from proofs.cell_claims import cell_metric
from proofs.errors import EncodingError, VerificationError
from proofs.vintage import CARRIED, COHORT_PATTERN, DIMENSION, ENTERED, RATES

from ..policy_views import DEFAULT_PURPOSE, policy_party
from ..snapshots.disclosure import is_aggregate_only
from ..snapshots.vintage import chain_of, cohorts_of, vintage_curve
from ..storage import decisions
from ..storage.records import get_pool
from .audiences import ROLE_PLURALS, ROLE_PREFIXES
from .common import (
    AudienceResource,
    fail,
    get_db,
    get_log_db,
    header_signer,
    keys_for,
    mount,
    policy,
    shared_docs,
)

#: The cell figures a curve is built from: what the policy must let the party open exactly.
CURVE_FIGURES = (*RATES.values(), ENTERED, CARRIED)


class VintageQuerySchema(Schema):
    """The requester's nonce (hex), to which every proof of the curve is bound."""

    class Meta:
        unknown = RAISE

    nonce = fields.String(required=True, validate=validate.Regexp(r"^([0-9a-f]{2}){8,32}$"))


class CohortsSchema(Schema):
    """The pool's origination cohorts (``YYYY-Qn``) that some sealed snapshot stratifies."""

    pool_id = fields.String(required=True)
    cohorts = fields.List(fields.String(), required=True)


class VintageCurveSchema(Schema):
    """One cohort's vintage curve: per point the cut-off, months on book and, per rate, the exact
    numerator and denominator (or the fixed suppression object), and the curve bundle that proves the
    released points (``null`` when none is released)."""

    pool_id = fields.String(required=True)
    cohort = fields.String(required=True)
    currency = fields.String(required=True)
    minor_unit = fields.String(required=True)
    min_cohort = fields.Integer(required=True)
    points = fields.List(fields.Dict(), required=True)
    bundle = fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "poolproof/vintage-curve/v1 bundle (proofs/vintage.py)"},
    )


class Cohorts(AudienceResource):
    @shared_docs.response(200, CohortsSchema)
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    @shared_docs.alt_response(404, description="no sealed snapshot with a vintage stratification")
    def get(self, pool_id: str) -> dict[str, Any]:
        """The origination cohorts of the pool's sealed snapshots."""
        self.caller(pool_id)
        return {"pool_id": pool_id, "cohorts": cohorts_of(chain_of(get_db(), pool_id))}


class VintageCurve(AudienceResource):
    @shared_docs.arguments(VintageQuerySchema, location="query")
    @shared_docs.response(200, VintageCurveSchema)
    @shared_docs.alt_response(403, description="the policy's disclosure modes refuse the cohort's figures")
    @shared_docs.alt_response(
        404, description="no sealed snapshot with a vintage stratification, or no such cohort"
    )
    @shared_docs.alt_response(409, description="the pool's snapshots do not form one verifiable chain")
    @shared_docs.alt_response(422, description="a malformed cohort label")
    def get(self, query: dict[str, Any], pool_id: str, cohort: str) -> dict[str, Any]:
        """A cohort's proven vintage curve over every sealed snapshot of the pool, bound to the nonce."""
        party = self.caller(pool_id)
        p = policy_party(party)
        resource = f"pool:{pool_id}/vintage:{cohort[:16]}"
        if not re.fullmatch(COHORT_PATTERN, cohort):
            fail(422, f"cohort {cohort[:16]!r} is not an origination quarter ({COHORT_PATTERN})")
        decided = [
            policy().may_request_claim(p, "exact", cell_metric(DIMENSION, cohort, f), pool_id=pool_id)
            for f in CURVE_FIGURES
        ]
        refused = [d for d in decided if not d.allowed]
        log = DecisionLog()
        if refused:
            log.append(decided, resource=resource, record_count=0)
            decisions.persist(get_log_db(), log)
            fail(
                403,
                f"the policy refuses the exact cohort figures to role {party.role!r} "
                f"[{refused[0].rule_ids[0]}]: {refused[0].reason}",
            )
        db = get_db()
        snaps = chain_of(db, pool_id)
        cfg = get_pool(db, pool_id).config
        try:
            answer = vintage_curve(
                db,
                keys_for(pool_id),
                policy(),
                pool_id,
                cohort,
                bytes.fromhex(query["nonce"]),
                header_signer(snaps[-1]),
                aggregate_only=is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id),
                minor_unit=cfg.minor_unit,
                currency=cfg.currency,
            )
        except EncodingError as exc:
            fail(422, str(exc))
        except VerificationError as exc:  # e.g. a chain sealed across a gateway-key rotation
            fail(409, f"the pool's snapshots do not form one verifiable chain ({exc.check}): {exc}")
        log.append(decided, resource=resource, record_count=answer.released_points)
        decisions.persist(get_log_db(), log)
        return answer.body


def _audience_blueprint(role: str) -> Blueprint:
    blp = Blueprint(
        f"{role}_vintage",
        __name__,
        url_prefix=ROLE_PREFIXES[role],
        description=f"Vintage curves for {ROLE_PLURALS[role]}: each cohort's proven cumulative default "
        "and prepayment rates by months on book",
    )
    mount(blp, "/pools/<pool_id>/vintage", Cohorts, role)
    mount(blp, "/pools/<pool_id>/vintage/<cohort>", VintageCurve, role)
    return blp


#: One vintage blueprint per audience except borrowers.
AUDIENCE_BLUEPRINTS = [_audience_blueprint(role) for role in ROLE_PREFIXES if role != "borrower"]
