"""Aggregate guard: minimum cohort, registered reports, differencing, temporal differencing, claim budgets."""

from typing import Any

import pytest

from policies import (
    AggregateConfig,
    AggregateDecision,
    AggregateGuard,
    GuardState,
    Party,
    ReportDefinition,
    load_policy,
)

POOL = "pool-1"
INVESTOR = Party(id="inv-1", role="investor", pools=frozenset({POOL}))
REPORTS = {
    "by_province": ReportDefinition(
        id="by_province", roles=frozenset({"investor"}), dimensions=("province",)
    ),
    "by_dpd": ReportDefinition(id="by_dpd", roles=frozenset({"investor"}), dimensions=("dpd_bucket",)),
}


def guard(**kw: object) -> AggregateGuard:
    cfg = AggregateConfig(
        min_cohort=10,
        reports=REPORTS,
        claim_budget={"investor": 2},
        registered_thresholds={"dpd90_ratio_bps": (300, 500)},
        **kw,
    )  # type: ignore[arg-type]
    return AggregateGuard(cfg)


def obligors(a: int, b: int) -> list[str]:
    return [f"OBL-{i}" for i in range(a, b)]


def cohort_decision(
    g: AggregateGuard,
    cell: str,
    members: list[str],
    *,
    report: str = "by_province",
    snapshot: str = "2024-06",
    pool_count: int = 1000,
    party: Party = INVESTOR,
) -> AggregateDecision:
    """The guard's decision on releasing ``cell`` of ``report`` with cohort ``members``."""
    return g.check_cohort(
        party,
        pool_id=POOL,
        snapshot_id=snapshot,
        report_id=report,
        cell=cell,
        obligors=members,
        pool_obligor_count=pool_count,
    )


def cohort(g: AggregateGuard, cell: str, members: list[str], **options: Any) -> bool:
    """Whether the guard releases ``cell`` (options as for :func:`cohort_decision`)."""
    return cohort_decision(g, cell, members, **options).allowed


def test_cohort_below_k_distinct_obligors_is_refused() -> None:
    g = guard()
    assert not cohort(g, "province=11", obligors(0, 9))
    assert cohort(g, "province=31", obligors(100, 110))


def test_obligors_are_counted_distinct_not_loans() -> None:
    g = guard()
    many_loans_few_people = obligors(0, 5) * 4
    assert not cohort(g, "province=11", many_loans_few_people)


def test_empty_cell_and_whole_pool_are_allowed() -> None:
    g = guard()
    assert cohort(g, "province=65", [])
    assert cohort(g, "all", obligors(0, 3), report="pool", pool_count=3)


def test_complement_of_the_pool_must_also_reach_k() -> None:
    g = guard()
    assert not cohort(g, "province=11", obligors(0, 995), pool_count=1000)


def test_free_predicates_and_foreign_reports_are_refused() -> None:
    g = guard()
    assert not cohort(g, "income>50000 and age<25", obligors(0, 50), report="ad_hoc")
    trustee_only = AggregateGuard(
        AggregateConfig(
            reports={"t": ReportDefinition(id="t", roles=frozenset({"trustee"}), dimensions=("province",))}
        )
    )
    assert not cohort(trustee_only, "province=11", obligors(0, 50), report="t")


def test_overlapping_cohort_differing_by_fewer_than_k_is_refused() -> None:
    g = guard()
    assert cohort(g, "province=11", obligors(0, 50))
    # A different report whose cell differs from the released one by 3 obligors: a tracker.
    assert not cohort(g, "dpd=M0", obligors(0, 47), report="by_dpd")
    d = cohort_decision(g, "dpd=M0", obligors(0, 47), report="by_dpd")
    assert d.check == "differencing"
    assert d.public_reason == "suppressed by statistical disclosure control"
    assert cohort(g, "dpd=M1", obligors(0, 30), report="by_dpd")  # differs by 20 >= k


def test_consecutive_snapshots_differing_by_fewer_than_k_are_refused() -> None:
    g = guard()
    assert cohort(g, "province=11", obligors(0, 50), snapshot="2024-05")
    # Next month two loans were added: report(t) - report(t-1) would describe those two obligors.
    d = cohort_decision(g, "province=11", obligors(0, 52))
    assert (d.allowed, d.check) == (False, "temporal_differencing")
    assert cohort(g, "province=11", obligors(0, 50), snapshot="2024-06")  # unchanged membership is fine
    assert cohort(g, "province=11", obligors(0, 70), snapshot="2024-07")


def test_refusals_and_answers_are_sticky() -> None:
    g = guard()
    assert not cohort(g, "province=11", obligors(0, 5))
    assert not cohort(g, "province=11", obligors(0, 5))
    assert cohort(g, "province=31", obligors(100, 120))
    assert cohort(g, "province=31", obligors(100, 120))


def test_refusal_reason_is_the_same_for_every_check() -> None:
    g = guard()
    cohort(g, "province=11", obligors(0, 50))
    a = cohort_decision(g, "p=12", obligors(200, 203))
    b = cohort_decision(g, "d=M0", obligors(0, 48), report="by_dpd")
    assert {a.check, b.check} == {"min_cohort", "differencing"}
    assert a.public_reason == b.public_reason


def test_threshold_claims_registered_free_others_budgeted() -> None:
    g = guard()

    def ask(t: int, snapshot: str = "2024-06") -> bool:
        return g.check_threshold_claim(
            INVESTOR, pool_id=POOL, snapshot_id=snapshot, metric="dpd90_ratio_bps", threshold=t
        ).allowed

    assert all(ask(t) for t in (300, 500, 300, 500, 300))  # registered trigger levels: free
    assert ask(250)
    assert ask(250)  # repeating a question leaks nothing new and costs nothing
    assert ask(275)
    assert not ask(262)  # budget 2 spent: binary search stops here
    assert ask(262, snapshot="2024-07")  # the budget is per snapshot


def test_binary_search_cannot_pin_a_hidden_value() -> None:
    g = guard()
    lo, hi, answered = 0, 10_000, 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if not g.check_threshold_claim(
            INVESTOR, pool_id=POOL, snapshot_id="s", metric="m", threshold=mid
        ).allowed:
            break
        answered += 1
        lo = mid  # whatever the answer, the attacker halves the interval
    assert answered == 2
    assert hi - lo > 1000


def test_exact_value_roles_bypass_the_guard() -> None:
    g = guard()
    regulator = Party(id="reg", role="regulator", pools=frozenset())
    assert cohort(g, "province=11", obligors(0, 2), party=regulator)


def test_state_round_trips_through_a_dict() -> None:
    g = guard()
    cohort(g, "province=11", obligors(0, 50), snapshot="2024-05")
    g.check_threshold_claim(INVESTOR, pool_id=POOL, snapshot_id="2024-05", metric="m", threshold=1)
    doc = g.state.to_dict()
    assert "OBL-1" not in repr(doc)
    g2 = AggregateGuard(g.config, GuardState.from_dict(doc))
    assert g2.state.to_dict() == doc
    d = cohort_decision(g2, "province=11", obligors(0, 52))
    assert d.check == "temporal_differencing"


def test_malformed_state_is_rejected() -> None:
    with pytest.raises(ValueError, match="format"):
        GuardState.from_dict({"format": "x"})
    with pytest.raises(ValueError, match="malformed"):
        GuardState.from_dict({"format": "poolproof/aggregate-guard-state/v1", "releases": [{"pool_id": "p"}]})


def test_default_policy_configures_the_guard() -> None:
    cfg = load_policy().aggregates
    assert cfg.min_cohort == 10
    assert 300 in cfg.registered_thresholds["dpd90_ratio_bps"]
    assert "investor" in cfg.reports["investor.dpd_by_vintage"].roles


def test_unknown_report_dimension_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown report dimension"):
        ReportDefinition(id="x", roles=frozenset({"investor"}), dimensions=("income",))
