"""The purchase price in the eligibility statement is the period's purchase evidence.

With the payment report's purchase evidence (:mod:`proofs.purchases`) the statement proves that the
period's principal collections cover the purchased loans' start-of-period principal (their balance
at the cut-off plus the principal they paid since), not only their balance at the cut-off; and that
the evidence is over exactly the statement's loans. Every figure is recomputed by plain pandas from
the raw Lending Club records; a malicious prover (evidence over other loans, a price lowered in the
flows) is rejected with ``eligibility.purchase_evidence`` or ``eligibility.purchase_price``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from proofs import eligibility
from proofs.deal import Deal
from proofs.eligibility import investor_view, prove_eligibility, verify_eligibility
from proofs.errors import ProvingError, VerificationError
from proofs.group import get_group, random_scalar
from proofs.pedersen import Opening
from proofs.purchases import new_loan_totals, price_opening, prove_purchases
from proofs.snapshot import loan_blindings
from tests.eligibility_util import (
    FLOW_CAPS,
    Period,
    linked_lane_set,
    make_deal,
    registered,
    seal_period,
    tape_rows,
)

GROUP = get_group()


def _collections_at_the_balances(tape: pd.DataFrame) -> pd.DataFrame:
    """The tape with its prepayments lowered (the last prepaid loans first) until the period's
    principal collections equal the purchases' balances at the cut-off exactly: below their
    start-of-period principal, which adds the principal they paid in the period."""
    t = tape.copy()
    t["paid_principal_fen"] = t["paid_principal_fen"].clip(upper=FLOW_CAPS[0])
    figures = pandas_figures(t)
    gap = figures["collections"] - figures["balance"]
    for i in reversed(t.index[t["state"] == "PREPAID"]):
        take = min(gap, int(t.at[i, "paid_principal_fen"]) - 1)
        t.at[i, "paid_principal_fen"] -= take
        gap -= take
    assert gap == 0
    return t


@pytest.fixture(scope="module")
def covered() -> Iterator[Period]:
    """Real loans whose prepayments cover the purchases' start-of-period principal."""
    with registered(linked_lane_set("pool-v4:elig-price-covered")) as lanes:
        yield seal_period(lanes, tape_rows())


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    """Collections that cover the purchases' balances at the cut-off, not their start-of-period principal."""
    with registered(linked_lane_set("pool-v4:elig-price")) as lanes:
        yield seal_period(lanes, _collections_at_the_balances(tape_rows()))


def pandas_figures(tape: pd.DataFrame) -> dict[str, int]:
    bought = tape[tape["purchased"]]
    paid = tape["paid_principal_fen"].clip(upper=FLOW_CAPS[0])
    return {
        "collections": int(paid.sum()),  # scheduled + unscheduled principal of every loan
        "balance": int(bought["balance_fen"].sum()),
        # start-of-period principal: the balance now plus the principal paid in the period
        "price": int(bought["balance_fen"].sum() + paid[tape["purchased"]].sum()),
    }


def evidence_of(p: Period, *, drop: int = 0, lower_flows: int = 0) -> tuple[dict[str, Any], Opening]:
    """The period's purchase evidence from the purchased loans' openings (a dishonest prover may
    leave ``drop`` loans out, or lower the loans' scheduled principal by ``lower_flows`` in all)."""
    lanes = p.lanes
    bought = [f for f, row in zip(p.facts, p.tape.itertuples(index=False), strict=True) if row.purchased]
    parts = []
    at = lanes.lanes.index("flow_scheduled_principal")
    for f in bought[drop:]:
        values = list(lanes.facts_values(f))
        take = min(lower_flows, values[at])
        values[at] -= take
        lower_flows -= take
        parts.append((values, loan_blindings(p.sealed.seed, f.exposure_id, lanes)))
    assert lower_flows == 0
    count, totals, blindings = new_loan_totals(lanes, parts)
    aggregate = [random_scalar() for _ in lanes.lanes]
    doc = prove_purchases(GROUP, p.header, count, totals, blindings, aggregate, random_scalar)
    return doc, price_opening(p.header, totals, aggregate)


def _prove(p: Period, deal: Deal, evidence: tuple[dict[str, Any], Opening] | None) -> dict[str, Any]:
    extra = {} if evidence is None else {"purchase_evidence": evidence[0], "price": evidence[1]}
    return prove_eligibility(
        p.header, deal, p.purchased(GROUP), p.collections(), p.sealed.key, ipa_rounds=0, **extra
    )


def _verify(p: Period, doc: Any, deal: Deal) -> eligibility.Verified:
    return verify_eligibility(
        doc, p.sealed.key.public_key(), p.header, deal,
        previous_exposures=p.previous_exposures, snapshot_exposures=p.exposures,
    )  # fmt: skip


def test_collections_covering_the_start_of_period_principal_hold_with_the_evidence(covered: Period) -> None:
    figures = pandas_figures(covered.tape)
    assert figures["price"] > figures["balance"]  # the purchases did pay principal in the period
    assert figures["price"] <= figures["collections"]
    deal = make_deal()
    evidence = evidence_of(covered)
    assert evidence[1].value == figures["price"]
    doc = _prove(covered, deal, evidence)
    assert doc["holds"]
    for view in (doc, investor_view(doc)):
        result = verify_eligibility(view, covered.sealed.key.public_key(), covered.header, deal)
        assert result.holds
        assert "eligibility.purchase_evidence" in result.checked
    assert "eligibility.purchase_evidence" in _verify(covered, doc, deal).checked


def test_a_price_above_collections_only_at_the_start_of_the_period_does_not_hold(period: Period) -> None:
    figures = pandas_figures(period.tape)
    assert figures["balance"] <= figures["collections"] < figures["price"]
    deal = make_deal()
    # the cut-off balances alone are covered: the statement without evidence holds
    assert _prove(period, deal, None)["holds"]
    doc = _prove(period, deal, evidence_of(period))
    assert not doc["holds"]
    assert doc["failed"] == ["purchase_price"]
    bought = list(period.tape.loc[period.tape["purchased"], "exposure_id"])
    assert _verify(period, doc, deal).failing == {"purchase_price": tuple(bought)}


def test_the_prover_refuses_evidence_over_other_loans(covered: Period) -> None:
    with pytest.raises(ProvingError, match="purchase evidence counts"):
        _prove(covered, make_deal(), evidence_of(covered, drop=1))


def test_evidence_over_other_loans_is_rejected(covered: Period, monkeypatch: pytest.MonkeyPatch) -> None:
    # a prover that skips its own check: one purchase is left out of the evidence (a lower price)
    monkeypatch.setattr(eligibility, "_check_evidence_loans", lambda *a, **k: None)
    doc = _prove(covered, make_deal(), evidence_of(covered, drop=1))
    monkeypatch.undo()
    for view in (doc, investor_view(doc)):
        with pytest.raises(VerificationError) as err:
            verify_eligibility(view, covered.sealed.key.public_key(), covered.header, make_deal())
        assert err.value.check == "eligibility.purchase_evidence"


def test_a_price_lowered_in_the_flows_is_caught_with_the_trustee_part(
    period: Period, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lower the loans' principal paid until the price fits the collections: the count and balance
    sums (the investor's check) still match; the flow input's sum (the trustee part's) does not."""
    figures = pandas_figures(period.tape)
    excess = figures["price"] - figures["collections"]
    assert excess > 0
    monkeypatch.setattr(eligibility, "_check_evidence_loans", lambda *a, **k: None)
    deal = make_deal()
    doc = _prove(period, deal, evidence_of(period, lower_flows=excess))
    monkeypatch.undo()
    assert doc["holds"]
    investor = verify_eligibility(investor_view(doc), period.sealed.key.public_key(), period.header, deal)
    assert investor.holds  # what the investor's view cannot see
    with pytest.raises(VerificationError) as err:
        _verify(period, doc, deal)
    assert err.value.check == "eligibility.purchase_evidence"
