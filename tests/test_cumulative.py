"""Figures since closing, proven: each equals a plain-pandas sum over the raw monthly tapes.

The payment report of every period discloses the cumulative defaulted principal, write-offs,
recoveries and prepayments with a proof against the sum of the chain's commitments, and the
cumulative default rate over the initial pool balance plus purchases. Each is recomputed here from
the raw JSONL tapes with pandas (tests/reference) and must be equal; an inflated figure, or one
summed over the wrong months, must be rejected with the check named.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from proofs.claims import Disclosure, prove_claim
from proofs.cumulative import CUMULATIVE_FIGURES, opening_of
from proofs.errors import VerificationError
from proofs.group import get_group
from proofs.payment_report import _figure_context, sign_payment_report, verify_payment_report
from tests.test_deal_chain import (
    PERIODS,
    SealedChain,
    declared_purchases,
    make_deal,
    report_series,
    synthetic_chain,
    verified,
)


@pytest.fixture(scope="module")
def sealed() -> SealedChain:
    return synthetic_chain()


def pandas_cumulative(sealed: SealedChain, period: int) -> dict[str, int]:
    """Σ over periods 1..period of each flow, from the raw tapes."""
    frames = [sealed.frame(k) for k in range(1, period + 1)]
    flows = pd.concat(frames)[
        ["defaulted_principal", "written_off", "recoveries", "unscheduled_principal"]
    ].sum()
    return {
        "cumulative_defaulted_principal": int(flows["defaulted_principal"]),
        "cumulative_written_off": int(flows["written_off"]),
        "cumulative_recoveries": int(flows["recoveries"]),
        "cumulative_prepayments": int(flows["unscheduled_principal"]),
    }


def pandas_purchases(sealed: SealedChain, period: int) -> int:
    """Principal bought into the pool after closing: the start-of-period balance of added loans."""
    total = 0
    for k in range(1, period + 1):
        t = pd.read_json(sealed.tapes[k], lines=True, dtype={"pool_addition_date": str})
        added = t[(t["pool_addition_date"] > sealed.cutoffs[k - 1].isoformat())
                  & (t["pool_addition_date"] <= sealed.cutoffs[k].isoformat())]  # fmt: skip
        cols = ["current_principal_fen", "period_scheduled_principal_fen",
                "period_unscheduled_principal_fen", "period_written_off_fen"]  # fmt: skip
        total += int(added[cols].sum().sum())
    return total


@pytest.mark.parametrize("period", range(1, PERIODS + 1))
def test_every_cumulative_figure_equals_the_pandas_sum(sealed: SealedChain, period: int) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    previous = reports[period - 2] if period > 1 else None
    verified_report = verify_payment_report(
        reports[period - 1], deal, sealed.key.public_key(), previous=previous
    )
    assert verified_report.cumulative == pandas_cumulative(sealed, period)


def test_the_pool_has_defaults_write_offs_and_purchases_to_add_up(sealed: SealedChain) -> None:
    figures = pandas_cumulative(sealed, PERIODS)
    assert figures["cumulative_defaulted_principal"] > 0
    assert figures["cumulative_written_off"] > 0
    assert pandas_purchases(sealed, PERIODS) > 0


@pytest.mark.parametrize("period", range(1, PERIODS + 1))
def test_the_cumulative_default_rate_is_over_initial_balance_plus_purchases(
    sealed: SealedChain, period: int
) -> None:
    deal = make_deal(sealed)
    report = report_series(sealed, deal)[period - 1]
    num = pandas_cumulative(sealed, period)["cumulative_defaulted_principal"]
    den = int(sealed.frame(0)["balance"][sealed.frame(0)["state"] != "PREPAID"].sum()) + pandas_purchases(
        sealed, period
    )
    assert deal.initial_pool_balance_fen == sealed.figures(0)["outstanding_balance"]
    assert declared_purchases(sealed)[:period] == report["purchases_declared"]
    assert report["cumulative_default_rate"] == {
        "numerator": num,
        "denominator": den,
        "ppm": (num * 1_000_000 + den // 2) // den,
    }


def test_an_inflated_cumulative_figure_is_rejected(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    forged = copy.deepcopy(reports[1])
    forged["cumulative"]["cumulative_defaulted_principal"]["value"] += 1
    forged = sign_payment_report(sealed.key, {k: v for k, v in forged.items() if k != "signatures"})
    with pytest.raises(VerificationError, match=r"distribution\.cumulative\.cumulative_defaulted_principal"):
        verify_payment_report(forged, deal, sealed.key.public_key(), previous=reports[0])


def test_a_cumulative_figure_that_leaves_out_a_month_is_rejected(sealed: SealedChain) -> None:
    # A malicious prover sums the defaults of period 2 only (leaving out period 1's) and proves that
    # opening honestly: the verifier's own sum of the chain's commitments does not open to it.
    deal = make_deal(sealed)
    reports = report_series(sealed, deal)
    chain = verified(sealed, deal, 2)
    name = "cumulative_defaulted_principal"
    opening = opening_of([(2, CUMULATIVE_FIGURES[name], 1)], 0, sealed.openings)
    assert opening.value != pandas_cumulative(sealed, 2)[name]
    proof = prove_claim(
        get_group(), Disclosure(name), {name: opening}, context=_figure_context(deal, chain, name)
    )
    forged = copy.deepcopy(reports[1])
    forged["cumulative"][name] = {"value": opening.value, "proof": proof.to_dict()}
    forged = sign_payment_report(sealed.key, {k: v for k, v in forged.items() if k != "signatures"})
    with pytest.raises(VerificationError, match=r"distribution\.cumulative\.cumulative_defaulted_principal"):
        verify_payment_report(forged, deal, sealed.key.public_key(), previous=reports[0])

