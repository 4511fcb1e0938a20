"""gateway.loan_facts: a stored row to its statement v2 state, balance, flows and cells."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER
from gateway.loan_facts import (
    STRATIFICATION_DIMENSIONS,
    LoanFactsError,
    TapeSchemaError,
    loan_facts,
    loan_state,
    remaining_term_months,
    stratification_labels,
    vintage,
)
from policies import PERIOD_FLOW_FIELDS
from proofs.loan_facts import FLOWS

from .helpers import CUTOFF, cn_row

FLOWS_7 = dict(zip(PERIOD_FLOW_FIELDS, range(10, 80, 10), strict=True))


def _record(**overrides: Any) -> dict[str, Any]:
    return cn_row(1, exposure_id="e1", cutoff_date=CUTOFF, **{**FLOWS_7, **overrides})


def test_period_field_names_follow_the_statements_flow_order() -> None:
    assert tuple(f"period_{name}_fen" for name in FLOWS) == PERIOD_FLOW_FIELDS


@pytest.mark.parametrize(
    ("status", "dpd", "state"),
    [
        ("NORMAL", 0, "M0"),
        ("OVERDUE", 1, "M1"),
        ("OVERDUE", 30, "M1"),
        ("OVERDUE", 31, "M2"),
        ("OVERDUE", 61, "M3"),
        ("OVERDUE", 89, "M3"),
        ("OVERDUE", 90, "DEFAULTED"),  # the default line, not bucket M3 or M3+
        ("DEFAULTED", 120, "DEFAULTED"),
        ("DEFAULTED", 10, "DEFAULTED"),  # the servicer declared the default (a default_date)
        ("CHARGED_OFF", 0, "WRITTEN_OFF"),
        ("PREPAID_IN_FULL", 0, "PREPAID"),
        ("MATURED_PAID", 0, "MATURED"),
        ("REPURCHASED", 0, "REPURCHASED"),
    ],
)
def test_each_status_and_dpd_maps_to_one_state(status: str, dpd: int, state: str) -> None:
    assert loan_state({"loan_status": status, "days_past_due": dpd}, CN_CONSUMER) == state


def test_with_a_later_default_line_dpd_beyond_the_last_edge_is_m3_plus() -> None:
    cfg = CN_CONSUMER.with_overrides(default_days=180)
    assert loan_state({"loan_status": "OVERDUE", "days_past_due": 120}, cfg) == "M3+"
    assert loan_state({"loan_status": "OVERDUE", "days_past_due": 180}, cfg) == "DEFAULTED"


def test_a_paid_off_or_written_off_loan_is_never_current() -> None:
    for status in ("PREPAID_IN_FULL", "MATURED_PAID", "CHARGED_OFF"):
        facts = loan_facts(_record(loan_status=status, current_principal_fen=0), CN_CONSUMER)
        assert facts.state_name not in ("M0", "M1", "M2", "M3", "M3+")
        assert facts.balance == 0


def test_a_v2_row_gives_its_balance_and_its_seven_flows_in_order() -> None:
    facts = loan_facts(_record(), CN_CONSUMER)
    assert (facts.exposure_id, facts.state_name, facts.balance) == ("e1", "M0", 350_000)
    assert facts.flows == (10, 20, 30, 40, 50, 60, 70)
    assert facts.flow("recoveries") == 60


def test_a_v1_row_is_refused_saying_it_seals_only_under_the_v1_lane_sets() -> None:
    with pytest.raises(TapeSchemaError, match=r"poolproof/tape/v1.*dpd5-v1 \.\. dpd5-v3") as exc:
        loan_facts(cn_row(1, exposure_id="e1", cutoff_date=CUTOFF), CN_CONSUMER)
    assert exc.value.http_status == 422


def test_a_row_with_some_flows_names_the_missing_ones() -> None:
    row = _record()
    del row["period_fees_fen"]
    with pytest.raises(TapeSchemaError, match="period_fees_fen"):
        loan_facts(row, CN_CONSUMER)


def test_a_terminal_row_with_principal_left_is_refused_without_showing_the_amount() -> None:
    with pytest.raises(LoanFactsError, match="no outstanding principal") as exc:
        loan_facts(_record(loan_status="CHARGED_OFF"), CN_CONSUMER)
    assert "350000" not in str(exc.value)


def test_cn_labels_cover_every_dimension_with_the_province() -> None:
    labels = stratification_labels(_record(), CN_CONSUMER, 350_000)
    assert tuple(labels) == STRATIFICATION_DIMENSIONS
    assert labels == {
        "rate_band": "1200-1799",
        "original_term": "12",
        "remaining_term": "0-5",  # 2024-06-30 to 2024-12-05: five whole months
        "balance_band": "100000-499999",
        "region": "11",
        "vintage": "2024-Q1",
        "product_type": "INSTALLMENT_PURCHASE",
    }


def test_us_labels_use_the_state_and_the_usd_balance_bands() -> None:
    rec = {
        "region_code": "NJ",
        "nominal_rate_bps": 1407,
        "term_months": 60,
        "origination_date": "2018-03-01",
        "maturity_date": "2023-03-01",
        "cutoff_date": "2018-06-30",
        "product_type": "CASH_LOAN",
    }
    labels = stratification_labels(rec, US_CONSUMER, 2_701_586)
    assert (labels["region"], labels["balance_band"], labels["remaining_term"]) == (
        "NJ",
        "2000000-2999999",
        "36+",
    )


def test_a_dimension_whose_field_is_absent_is_the_unknown_cell() -> None:
    labels = stratification_labels({"cutoff_date": CUTOFF}, CN_CONSUMER, 0)
    assert labels["product_type"] == labels["region"] == labels["vintage"] == "UNKNOWN"
    assert labels["balance_band"] == "0-99999"


@pytest.mark.parametrize(
    ("maturity", "months"), [("2024-12-05", 5), ("2024-12-30", 6), ("2024-06-30", 0), ("2024-01-01", 0)]
)
def test_remaining_term_is_whole_months_to_maturity(maturity: str, months: int) -> None:
    assert remaining_term_months(maturity, CUTOFF) == months


@pytest.mark.parametrize(
    ("d", "q"), [("2018-01-01", "2018-Q1"), ("2018-03-31", "2018-Q1"), ("2018-12-05", "2018-Q4")]
)
def test_vintage_is_the_origination_quarter(d: str, q: str) -> None:
    assert vintage(d) == q
