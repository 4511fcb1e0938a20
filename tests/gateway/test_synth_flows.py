"""The synthetic platform's period flows (tape schema v2) agree with its balances month over month."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date
from typing import Any

import pytest

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.ingest.rules import compile_rules
from gateway.ingest.validation import RowValidator
from gateway.synth import generate_months
from policies import DEFAULT_CATALOGUE, PERIOD_FLOW_FIELDS

FIRST = date(2024, 6, 30)


@pytest.fixture(scope="module")
def months() -> list[tuple[date, list[dict[str, Any]]]]:
    return [(c, list(rows)) for c, rows in generate_months(1500, seed=11, start_cutoff=FIRST, months=9)]


def test_every_row_carries_the_seven_flows_and_passes_the_tape_rules(
    months: list[tuple[date, list[dict[str, Any]]]],
) -> None:
    for cutoff, rows in months:
        validator = RowValidator(compile_rules(CN_CONSUMER, DEFAULT_CATALOGUE), cutoff.isoformat())
        assert all(isinstance(r[f], int) and r[f] >= 0 for r in rows for f in PERIOD_FLOW_FIELDS)
        assert [e for r in rows for e in validator.validate(r)[1]] == []


def test_the_first_tape_has_no_flows(months: list[tuple[date, list[dict[str, Any]]]]) -> None:
    _, rows = months[0]
    assert all(r[f] == 0 for r in rows for f in PERIOD_FLOW_FIELDS)


def test_a_balance_falls_by_exactly_the_principal_that_left_it(
    months: list[tuple[date, list[dict[str, Any]]]],
) -> None:
    checked = 0
    for (_, before), (_, after) in itertools.pairwise(months):
        previous = {r["platform_loan_id"]: r["current_principal_fen"] for r in before}
        for r in after:
            if r["platform_loan_id"] not in previous:
                assert all(r[f] == 0 for f in PERIOD_FLOW_FIELDS)  # a revolving purchase's first tape
                continue
            left = r["period_scheduled_principal_fen"] + r["period_unscheduled_principal_fen"]
            left += r["period_written_off_fen"]
            assert previous[r["platform_loan_id"]] - r["current_principal_fen"] == left
            checked += 1
    assert checked > 10_000


def test_each_kind_of_flow_happens_and_on_the_statuses_it_belongs_to(
    months: list[tuple[date, list[dict[str, Any]]]],
) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for _, rows in months[1:]:
        for r in rows:
            for f in PERIOD_FLOW_FIELDS:
                if r[f] > 0:
                    seen[(f, r["loan_status"])] += 1
    assert {f for f, _ in seen} == set(PERIOD_FLOW_FIELDS)
    assert {s for f, s in seen if f == "period_unscheduled_principal_fen"} == {"PREPAID_IN_FULL"}
    assert {s for f, s in seen if f == "period_written_off_fen"} == {"CHARGED_OFF"}
    assert {s for f, s in seen if f == "period_defaulted_principal_fen"} <= {"DEFAULTED", "CHARGED_OFF"}
    assert {s for f, s in seen if f == "period_fees_fen"} <= {
        "NORMAL",
        "OVERDUE",
        "MATURED_PAID",
        "PREPAID_IN_FULL",
    }


def test_a_defaulted_loan_defaults_its_balance_in_the_month_it_reaches_the_line(
    months: list[tuple[date, list[dict[str, Any]]]],
) -> None:
    for (_, before), (_, after) in itertools.pairwise(months):
        was = {r["platform_loan_id"]: r["loan_status"] for r in before}
        for r in after:
            new_default = r["loan_status"] == "DEFAULTED" and was.get(r["platform_loan_id"]) == "OVERDUE"
            if new_default:
                assert r["period_defaulted_principal_fen"] == r["current_principal_fen"] > 0
            elif r["loan_status"] == "DEFAULTED":
                assert r["period_defaulted_principal_fen"] == 0
