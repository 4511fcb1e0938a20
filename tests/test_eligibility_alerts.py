"""The gateway's side of an eligibility statement without a running gateway: the alert a statement
that does not hold raises (failed criteria only, no loan), none for one that holds, and the views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.alerts.eligibility import statement_view
from gateway.alerts.raising import alerts_from_eligibility
from proofs.eligibility import investor_view, prove_eligibility
from proofs.group import get_group
from tests.eligibility_util import Period, linked_lane_set, make_deal, registered, seal_period, tape_rows


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    with registered(linked_lane_set()) as lanes:
        yield seal_period(lanes, tape_rows(n_previous=2, n_purchased=3))


def _report() -> dict[str, Any]:
    # The fields of a payment report an alert reads (its hash is over the whole document).
    return {"format": "poolproof/payment-report/v1", "period": 2, "pool_id": "POOL-1"}


def test_a_statement_that_does_not_hold_raises_one_alert_naming_the_criteria(period: Period) -> None:
    g = get_group()
    deal = make_deal(max_balance_fen=1_000)
    doc = prove_eligibility(period.header, deal, period.purchased(g), period.collections(), period.sealed.key)
    assert doc["failed"] == ["balance"]
    (alert,) = alerts_from_eligibility(doc, deal, _report(), raised_at="2026-11-01T00:00:00+00:00")
    assert alert["subject"] == "eligibility:does_not_hold"
    assert alert["failed"] == ["balance"]
    assert alert["period"] == 2
    for eid in period.tape["exposure_id"]:
        assert eid not in str(alert)
    ok = prove_eligibility(
        period.header, make_deal(), period.purchased(g), period.collections(), period.sealed.key
    )
    assert alerts_from_eligibility(ok, make_deal(), _report(), raised_at="2026-11-01T00:00:00+00:00") == []


@pytest.mark.parametrize(
    ("role", "view"),
    [("trustee", "full"), ("regulator", "full"), ("investor", "investor"), ("auditor", "investor"),
     ("rating_agency", "investor"), ("platform", "investor")],
)  # fmt: skip
def test_only_trustee_and_regulator_see_the_loans(period: Period, role: str, view: str) -> None:
    g = get_group()
    doc = prove_eligibility(
        period.header, make_deal(), period.purchased(g), period.collections(), period.sealed.key
    )
    got = statement_view(doc, role)
    assert got["view"] == view
    assert got["statement"] == (doc if view == "full" else investor_view(doc))
    assert ("loans" in got["statement"]) == (view == "full")


def test_a_period_buying_fewer_loans_than_the_minimum_cohort_is_withheld_from_investors(
    period: Period,
) -> None:
    g = get_group()
    doc = prove_eligibility(
        period.header, make_deal(), period.purchased(g), period.collections(), period.sealed.key
    )
    n = doc["purchased"]
    assert statement_view(doc, "investor", min_cohort=n + 1) == {
        "view": "suppressed", "suppressed": True, "min_cohort": n + 1,
    }  # fmt: skip
    assert statement_view(doc, "investor", min_cohort=n)["view"] == "investor"
    assert statement_view(doc, "trustee", min_cohort=n + 1)["view"] == "full"
