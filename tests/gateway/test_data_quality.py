"""A tape's data-quality indicators, each recomputed by plain pandas code from the same rows."""

from __future__ import annotations

import copy
import itertools
from datetime import date
from typing import Any

import pandas as pd
import pytest

from gateway.data_quality import AMORTISING_METHODS, prior_loans, tape_quality
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.synth import generate_months
from policies.catalogue import TAPE_SCHEMA_V1_FIELDS

START = date(2024, 6, 30)
TERMINAL = {"CHARGED_OFF", "PREPAID_IN_FULL", "MATURED_PAID", "REPURCHASED"}
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def months() -> list[tuple[str, Rows]]:
    """Three consecutive monthly tapes of one synthetic pool of 400 loans."""
    return [
        (c.isoformat(), list(rows)) for c, rows in generate_months(400, seed=23, start_cutoff=START, months=3)
    ]


def _quality(rows: Rows, cutoff: str, prev: tuple[str, Rows] | None = None) -> Any:
    return tape_quality(
        rows,
        CN_CONSUMER,
        cutoff,
        TAPE_SCHEMA_V1_FIELDS,
        previous=None if prev is None else prior_loans(prev[1]),
        previous_cutoff=None if prev is None else prev[0],
    )


# --- the pandas reference ----------------------------------------------------------------------------------
def reference_completeness(rows: Rows) -> dict[str, float]:
    df = pd.DataFrame(rows)
    for name in TAPE_SCHEMA_V1_FIELDS:
        if name not in df:
            df[name] = None
    filled = df.notna() & (df.astype(str) != "")
    return {name: float(filled[name].mean()) for name in df.columns}


def reference_consistency(prev: tuple[str, Rows], cur: tuple[str, Rows]) -> dict[str, set[str]]:
    days = (date.fromisoformat(cur[0]) - date.fromisoformat(prev[0])).days
    p = pd.DataFrame(prev[1])[["platform_loan_id", "loan_status", "current_principal_fen", "days_past_due"]]
    c = pd.DataFrame(cur[1])[
        ["platform_loan_id", "loan_status", "current_principal_fen", "days_past_due", "repayment_method"]
    ]
    p["key"], c["key"] = p.platform_loan_id.str.upper(), c.platform_loan_id.str.upper()
    both = c.merge(p, on="key", suffixes=("", "_prev"))
    growth = both[
        both.repayment_method.isin(AMORTISING_METHODS)
        & (both.current_principal_fen > both.current_principal_fen_prev)
    ]
    jumps = both[
        (both.loan_status_prev.isin(TERMINAL) & (both.loan_status != both.loan_status_prev))
        | (both.days_past_due - both.days_past_due_prev > days)
    ]
    gone = p[~p.key.isin(c.key) & ~p.loan_status.isin(TERMINAL)]
    return {
        "balance_growth": set(growth.platform_loan_id),
        "status_jump": set(jumps.platform_loan_id),
        "vanished": set(gone.platform_loan_id),
    }


def _broken(prev_rows: Rows, rows: Rows) -> Rows:
    """The next month with one loan of each kind of inconsistency (and its honest rows untouched)."""
    out = copy.deepcopy(rows)
    by_id = {r["platform_loan_id"]: r for r in prev_rows}
    amortising = [
        r
        for r in out
        if r["repayment_method"] in AMORTISING_METHODS
        and r["loan_status"] == "NORMAL"
        and r["current_principal_fen"] + 5000 <= r["original_principal_fen"]
        and by_id[r["platform_loan_id"]]["current_principal_fen"] < r["original_principal_fen"] - 5000
    ]
    grown = amortising[0]
    grown["current_principal_fen"] = by_id[grown["platform_loan_id"]]["current_principal_fen"] + 5000
    aged = amortising[1]  # 0 days past due last month, 95 now: faster than the calendar
    assert by_id[aged["platform_loan_id"]]["days_past_due"] == 0
    aged.update(
        days_past_due=95, loan_status="OVERDUE", overdue_principal_fen=1, five_tier_class="SUBSTANDARD"
    )
    ended = [r for r in out if by_id[r["platform_loan_id"]]["loan_status"] in TERMINAL]
    if ended:
        # back from a terminal status: a matured loan reported as performing again
        ended[0].update(loan_status="NORMAL")
    vanished = amortising[2]["platform_loan_id"]
    return [r for r in out if r["platform_loan_id"] != vanished]


# --- completeness and validity -----------------------------------------------------------------------------
def test_completeness_by_field_is_the_share_of_rows_with_a_value(months: list[tuple[str, Rows]]) -> None:
    cutoff, rows = months[0]
    rows = copy.deepcopy(rows)
    for r in rows[:37]:
        r["mobile"] = ""
    for r in rows[:90]:
        del r["home_address"]
    got = _quality(rows, cutoff).completeness
    want = reference_completeness(rows)
    assert set(got) == set(want)
    assert got == pytest.approx(want)
    assert got["mobile"] == pytest.approx(1 - 37 / len(rows))
    assert got["home_address"] == pytest.approx(1 - 90 / len(rows))


def test_a_field_of_the_schema_that_no_row_carries_is_zero_complete(months: list[tuple[str, Rows]]) -> None:
    cutoff, rows = months[0]
    rows = copy.deepcopy(rows)
    for r in rows:
        del r["merchant_category"]
    assert "merchant_category" in TAPE_SCHEMA_V1_FIELDS
    assert _quality(rows, cutoff).completeness["merchant_category"] == 0.0


def test_validity_counts_rows_that_break_a_cross_field_rule(months: list[tuple[str, Rows]]) -> None:
    cutoff, rows = months[0]
    rows = copy.deepcopy(rows)
    rows[3]["current_principal_fen"] = rows[3]["original_principal_fen"] + 1  # amount_order
    rows[8]["maturity_date"] = "2000-01-01"  # date_order
    q = _quality(rows, cutoff)
    df = pd.DataFrame(rows)
    broken = (df.current_principal_fen > df.original_principal_fen) | (df.maturity_date < df.first_due_date)
    assert q.invalid_rows == int(broken.sum()) == 2
    assert q.invalid_by_rule == {"amount_order": 1, "date_order": 1}
    assert q.validity == pytest.approx(1 - 2 / len(rows))


def test_flagged_rows_are_those_above_the_pools_apr_flag(months: list[tuple[str, Rows]]) -> None:
    cutoff, rows = months[1]
    df = pd.DataFrame(rows)
    assert _quality(rows, cutoff).flagged_rows == int((df.apr_all_in_bps > CN_CONSUMER.apr_flag_bps).sum())


# --- consistency with the previous month -------------------------------------------------------------------
def test_an_honest_month_has_no_inconsistency(months: list[tuple[str, Rows]]) -> None:
    for prev, cur in itertools.pairwise(months):
        q = _quality(cur[1], cur[0], prev)
        assert {name: f.count for name, f in q.consistency.items()} == {
            "balance_growth": 0,
            "status_jump": 0,
            "vanished": 0,
        }
        assert reference_consistency(prev, cur) == {
            "balance_growth": set(),
            "status_jump": set(),
            "vanished": set(),
        }


def test_each_inconsistency_is_found_as_pandas_finds_it(months: list[tuple[str, Rows]]) -> None:
    prev, (cutoff, rows) = months[0], months[1]
    cur = (cutoff, _broken(prev[1], rows))
    q = _quality(cur[1], cutoff, prev)
    want = reference_consistency(prev, cur)
    assert {name: set(f.examples) for name, f in q.consistency.items()} == want
    assert {name: f.count for name, f in q.consistency.items()} == {n: len(s) for n, s in want.items()}
    assert q.consistency["balance_growth"].count == 1
    assert q.consistency["vanished"].count == 1
    assert q.consistency["status_jump"].count >= 1


def test_a_loan_that_ended_may_leave_the_tape(months: list[tuple[str, Rows]]) -> None:
    prev, (cutoff, rows) = months[1], months[2]
    ended = {r["platform_loan_id"] for r in prev[1] if r["loan_status"] in TERMINAL}
    assert ended
    kept = [r for r in rows if r["platform_loan_id"] not in ended]
    assert _quality(kept, cutoff, prev).consistency["vanished"].count == 0


def test_loan_ids_match_across_months_whatever_their_case(months: list[tuple[str, Rows]]) -> None:
    prev, (cutoff, rows) = months[0], months[1]
    lower = copy.deepcopy(rows)
    for r in lower:
        r["platform_loan_id"] = r["platform_loan_id"].lower()
    assert _quality(lower, cutoff, prev).consistency["vanished"].count == 0


def test_without_a_previous_month_there_are_no_consistency_findings(months: list[tuple[str, Rows]]) -> None:
    cutoff, rows = months[1]
    q = _quality(rows, cutoff)
    assert q.consistency == {}
    assert q.previous_cutoff is None


def test_the_previous_cutoff_must_come_first(months: list[tuple[str, Rows]]) -> None:
    with pytest.raises(ValueError, match="must be before"):
        tape_quality(
            months[0][1],
            CN_CONSUMER,
            months[0][0],
            TAPE_SCHEMA_V1_FIELDS,
            previous=prior_loans(months[1][1]),
            previous_cutoff=months[1][0],
        )


def test_the_findings_list_at_most_ten_examples(months: list[tuple[str, Rows]]) -> None:
    prev, (cutoff, _) = months[0], months[1]
    q = _quality([], cutoff, prev)
    gone = {r["platform_loan_id"] for r in prev[1] if r["loan_status"] not in TERMINAL}
    assert q.consistency["vanished"].count == len(gone) > 10
    assert len(q.consistency["vanished"].examples) == 10
    assert set(q.consistency["vanished"].examples) <= gone
