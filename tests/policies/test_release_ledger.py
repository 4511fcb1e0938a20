"""Release ledger: which cells of a snapshot's table reach aggregate-only parties, and the claim budget."""

from __future__ import annotations

from policies import AggregateConfig, AggregateGuard, Party
from policies.aggregates import (
    Cell,
    ReleaseLedger,
    isolated_cohorts,
    plan_release,
    record_release,
)

K = 10
INVESTOR = Party(id="inv-1", role="investor", pools=frozenset({"p"}))


def ledger_for(n: int) -> ReleaseLedger:
    led = ReleaseLedger()
    led.add_owners({i: 1000 + i for i in range(n)})
    return led


def loans(a: int, b: int) -> frozenset[int]:
    return frozenset(range(a, b))


def buckets(sizes: list[int]) -> tuple[Cell, list[Cell]]:
    cells, start = [], 0
    for i, n in enumerate(sizes):
        cells.append(Cell(f"dpd_bucket=M{i}", loans(start, start + n), "dpd_bucket"))
        start += n
    return Cell("pool", loans(0, start)), cells


def test_a_one_loan_cell_is_suppressed_and_so_is_a_partner_to_hide_it() -> None:
    led = ledger_for(40)
    pool, cells = buckets([25, 10, 4, 1])
    top, out = plan_release(led, pool, cells, K)
    assert top.released
    assert out["dpd_bucket=M3"].check == "min_cohort"
    assert out["dpd_bucket=M2"].check == "min_cohort"
    # M2 + M3 hold 5 obligors: pool minus M0 minus M1 would give their sum, so one more goes.
    assert not out["dpd_bucket=M1"].released
    assert out["dpd_bucket=M0"].released


def test_the_complement_of_a_cell_must_reach_k() -> None:
    led = ledger_for(30)
    pool = Cell("pool", loans(0, 30))
    cells = [Cell("loan_status=NORMAL", loans(0, 25), "loan_status"), Cell("x", loans(25, 30), "loan_status")]
    _, out = plan_release(led, pool, cells, K)
    assert out["loan_status=NORMAL"].check == "complement"


def test_a_pool_below_k_releases_nothing() -> None:
    led = ledger_for(9)
    pool, cells = buckets([9])
    top, out = plan_release(led, pool, cells, K)
    assert not top.released
    assert not any(d.released for d in out.values())


def test_a_pool_that_lost_one_loan_since_the_last_release_is_suppressed_whole() -> None:
    led = ledger_for(40)
    pool1, cells1 = buckets([20, 20])
    top, out = plan_release(led, pool1, cells1, K)
    assert top.released
    record_release(led, "s1", pool1, cells1, out)
    pool2 = Cell("pool", loans(0, 39))
    cells2 = [
        Cell("dpd_bucket=M0", loans(0, 20), "dpd_bucket"),
        Cell("dpd_bucket=M1", loans(20, 39), "dpd_bucket"),
    ]
    top2, out2 = plan_release(led, pool2, cells2, K)
    assert top2.check == "pool.differencing"
    assert not any(d.released for d in out2.values())


def test_a_cell_that_gained_one_loan_is_suppressed_even_when_the_pool_moved_a_lot() -> None:
    led = ledger_for(100)
    pool1 = Cell("pool", loans(0, 50))
    c1 = [Cell("a", loans(0, 20), "g"), Cell("b", loans(20, 50), "g")]
    _, out = plan_release(led, pool1, c1, K)
    record_release(led, "s1", pool1, c1, out)
    pool2 = Cell("pool", loans(0, 80))
    c2 = [Cell("a", loans(0, 21), "g"), Cell("b", loans(21, 80), "g")]
    top, out2 = plan_release(led, pool2, c2, K)
    assert top.released
    assert out2["a"].check == "differencing"
    assert not out2["b"].released  # b alone would give a back (pool minus b)


def test_three_way_combinations_are_caught() -> None:
    # A ∪ B, B ∪ C and A ∪ B ∪ C pairwise differ by ≥ 10, yet (A∪B) + (B∪C) - (A∪B∪C) = B (one loan).
    led = ledger_for(200)
    a, b, c = loans(0, 30), loans(30, 31), loans(31, 61)
    rows = [a | b, b | c]
    assert isolated_cohorts(rows, led, K) == []
    assert isolated_cohorts([*rows, a | b | c], led, K) == [b]


def test_obligors_not_loans_are_counted() -> None:
    led = ReleaseLedger()
    led.add_owners({i: 7 for i in range(50)})  # one obligor owns fifty loans
    assert led.obligors(loans(0, 50)) == 1
    top, _ = plan_release(led, Cell("pool", loans(0, 50)), [], K)
    assert top.check == "pool.min_cohort"


def test_ledger_round_trips_and_keeps_digests_only() -> None:
    led = ledger_for(30)
    pool, cells = buckets([15, 15])
    _, out = plan_release(led, pool, cells, K)
    record_release(led, "s1", pool, cells, out)
    doc = led.to_dict()
    again = ReleaseLedger.from_dict(doc)
    assert again.to_dict() == doc
    assert [r.loans for r in again.rows] == [r.loans for r in led.rows]


def test_lower_then_upper_bound_then_equality_are_three_questions() -> None:
    g = AggregateGuard(AggregateConfig(min_cohort=K, claim_budget={"investor": 2}))

    def ask(direction: str) -> bool:
        return g.check_threshold_claim(
            INVESTOR, pool_id="p", snapshot_id="s", metric="balance_M2", threshold=500, direction=direction
        ).allowed

    assert ask("<=")
    assert ask("<=")  # the same question again: free
    assert ask(">=")  # a new bit: with the first it says whether the value is exactly 500
    assert ask(">=")  # repeating the second question costs nothing either
    assert not g.check_threshold_claim(
        INVESTOR, pool_id="p", snapshot_id="s", metric="balance_M2", threshold=501, direction="<="
    ).allowed  # two questions asked: the budget of 2 is spent
    g2 = AggregateGuard(AggregateConfig(min_cohort=K, claim_budget={"investor": 1}))
    assert g2.check_threshold_claim(
        INVESTOR, pool_id="p", snapshot_id="s", metric="m", threshold=1, direction="<="
    ).allowed
    assert not g2.check_threshold_claim(
        INVESTOR, pool_id="p", snapshot_id="s", metric="m", threshold=1, direction=">="
    ).allowed


def test_registered_thresholds_are_free_both_ways_but_not_as_an_equality() -> None:
    g = AggregateGuard(
        AggregateConfig(min_cohort=K, claim_budget={"investor": 0}, registered_thresholds={"r": (300,)})
    )

    def ask(threshold: int, direction: str) -> bool:
        return g.check_threshold_claim(
            INVESTOR, pool_id="p", snapshot_id="s", metric="r", threshold=threshold, direction=direction
        ).allowed

    assert ask(300, "<=")
    assert ask(300, ">=")
    assert not ask(301, "<=")  # not registered, and no budget
