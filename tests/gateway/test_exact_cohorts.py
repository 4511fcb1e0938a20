"""The cohort of each exact figure: the loans the disclosure-control point counts it over.

A figure is released only if its cohort passes the minimum cohort and the differencing audit, so a
cohort that left out a loan that can contribute to the figure would let that loan's value out. Each
case below is checked against the lane set's own definition of the metric: every lane of the metric
is carried only by loans in the cohort's states.
"""

from __future__ import annotations

import pytest

from gateway.snapshots.disclosure import (
    COHORT_FAMILIES,
    FLOW_CARRIER_STATES,
    exact_figure_ids,
    figure_cohort,
)
from policies import load_policy
from policies.figures import LOANS, MONEY, RATIOS, figure_definition
from proofs.lanes import BUCKETS, get_lane_set, pool_v2
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, PERFORMING_STATES, STATES

V2 = pool_v2(36, [36] * 7)
DPD5 = get_lane_set("dpd5-v3")
POLICY = load_policy()


@pytest.mark.parametrize(
    ("figure", "states", "name", "group"),
    [
        ("count_M1", {"M1"}, "state=M1", "state"),
        ("balance_DEFAULTED", {"DEFAULTED"}, "state=DEFAULTED", "state"),
        ("pool_balance", set(PERFORMING_STATES), "states=M0+M1+M2+M3+M3+", None),
        ("outstanding_balance", set(OUTSTANDING_STATES), "states=M0+M1+M2+M3+M3++DEFAULTED", None),
        ("delinquent_31plus_balance", {"M2", "M3", "M3+"}, "states=M2+M3+M3+", None),
        ("loan_count", set(STATES), "all_loans", None),
        ("scheduled_principal", set(STATES), "all_loans", None),
        ("written_off", {"WRITTEN_OFF"}, "state=WRITTEN_OFF", "state"),
        ("defaulted_principal", {"DEFAULTED", "WRITTEN_OFF"}, "states=DEFAULTED+WRITTEN_OFF", None),
        ("beginning_balance", set(STATES), "all_loans", None),
    ],
)
def test_pool_v2_cohorts(figure: str, states: set[str], name: str, group: str | None) -> None:
    c = figure_cohort(V2, figure)
    assert c is not None
    assert (set(c.states), c.name, c.group, c.label) == (states, name, group, None)


@pytest.mark.parametrize("figure", sorted(V2.metrics))
def test_every_lane_of_a_v2_metric_is_carried_only_inside_its_cohort(figure: str) -> None:
    c = figure_cohort(V2, figure)
    assert c is not None
    for lane, _ in V2.metric(figure):
        kind, _, what = lane.partition("_")
        carriers = {what} if kind in ("balance", "count") else set(FLOW_CARRIER_STATES.get(what, STATES))
        assert carriers <= c.states, (figure, lane)


def test_the_flow_carrier_rules_name_real_flows_and_states() -> None:
    assert set(FLOW_CARRIER_STATES) <= set(FLOWS)
    assert {s for states in FLOW_CARRIER_STATES.values() for s in states} <= set(STATES)


def test_dpd5_cohorts_are_by_bucket() -> None:
    assert figure_cohort(DPD5, "balance_M3") is not None
    c = figure_cohort(DPD5, "balance_dpd_31plus")
    assert c is not None
    assert set(c.states) == set(BUCKETS[2:])
    pool = figure_cohort(DPD5, "pool_balance")
    assert pool is not None
    assert pool.name == "all_loans"


def test_a_stratification_cell_is_its_outstanding_loans_in_the_cell() -> None:
    assert "strata" in COHORT_FAMILIES
    c = figure_cohort(V2, "strata/region/44/outstanding_balance")
    assert c is not None
    assert (c.name, c.group, c.label, set(c.states)) == (
        "strata:region:44",
        "strata:region",
        ("region", "44"),
        set(OUTSTANDING_STATES),
    )
    assert c.holds("M1", {"region": "44"})
    assert not c.holds("M1", {"region": "45"})
    assert not c.holds("PREPAID", {"region": "44"})  # terminated loans have no balance to stratify
    assert figure_cohort(DPD5, "strata/region/44/outstanding_balance") is None  # cells are v2 facts only
    for bad in ("strata/region/44", "strata//44/active_loan_count", "strata/region/44/interest"):
        assert figure_cohort(V2, bad) is None


def test_an_unknown_figure_has_no_cohort_and_is_never_released() -> None:
    assert figure_cohort(V2, "largest_balance") is None
    assert figure_cohort(V2, "balance_dpd_90plus") is None  # a dpd5 id on a v2 snapshot


def test_the_exact_release_table_holds_the_servicer_report_of_the_lane_set() -> None:
    ids = exact_figure_ids(POLICY, V2)
    assert set(ids) == set(POLICY.metric_sets["servicer_report"])
    assert "count_REPURCHASED" not in ids


def test_the_release_priority_follows_the_policy_list() -> None:
    order = POLICY.metric_sets["servicer_report"]
    assert [POLICY.release_priority(m) for m in order] == list(range(len(order)))
    assert POLICY.release_priority("count_REPURCHASED") > POLICY.release_priority(order[-1])


@pytest.mark.parametrize("figure", sorted(V2.metrics))
def test_every_v2_metric_has_a_definition_whose_unit_matches_the_lanes(figure: str) -> None:
    d = figure_definition(figure)
    assert d is not None, figure
    assert d.unit == (LOANS if V2.metric_unit(figure) == "loans" else MONEY), figure
    assert d.name


def test_every_ratio_is_built_from_servicer_report_figures() -> None:
    report = set(POLICY.metric_sets["servicer_report"])
    for r in RATIOS:
        assert {r.numerator, r.denominator} <= report, r.id
