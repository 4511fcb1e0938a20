"""Property: whatever the pool's history and whatever order an investor asks in, no sequence of released
tables pins one loan's balance or status, and no sequence of threshold claims buys more than the budget.

The control point is exercised in-process (``plan_release`` / ``record_release``, exactly what the
gateway calls); the check is an independent one: a loan's value is pinned by released sums iff its unit
vector lies in the row space of the released cells' 0/1 incidence matrix over loans, decided here by
plain Gaussian elimination over the rationals (``fractions.Fraction``), not by the ledger's code.
A loan's status is a sum too (a status count is the sum over the pool of a 0/1 indicator), so the same
test covers it.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import AggregateConfig, AggregateGuard, Party
from policies.aggregates import Cell, ReleaseLedger, plan_release, record_release


def rank(rows: list[list[int]]) -> int:
    m = [[Fraction(v) for v in r] for r in rows]
    r = 0
    width = len(m[0]) if m else 0
    for c in range(width):
        pivot = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if pivot is None:
            continue
        m[r], m[pivot] = m[pivot], m[r]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c] / m[r][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r], strict=True)]
        r += 1
    return r


def pinned_loans(released: list[frozenset[int]], n: int) -> list[int]:
    """Loans whose value the released sums determine (unit vector in the row space)."""
    rows = [[1 if i in cell else 0 for i in range(n)] for cell in released]
    if not rows:
        return []
    base = rank(rows)
    return [z for z in range(n) if rank([*rows, [1 if i == z else 0 for i in range(n)]]) == base]


@st.composite
def histories(draw: st.DrawFn) -> dict[str, object]:
    k = draw(st.sampled_from([2, 3, 5]))
    n = draw(st.integers(min_value=1, max_value=24))
    owner = [draw(st.integers(min_value=0, max_value=n - 1)) for _ in range(n)]
    snapshots = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        members = [i for i in range(n) if draw(st.booleans()) or draw(st.booleans())]
        bucket = {i: draw(st.integers(min_value=0, max_value=2)) for i in members}
        status = {i: draw(st.integers(min_value=0, max_value=2)) for i in members}
        snapshots.append((members, bucket, status))
    order = draw(st.lists(st.integers(min_value=0, max_value=len(snapshots) - 1), min_size=1, max_size=8))
    return {"k": k, "n": n, "owner": owner, "snapshots": snapshots, "order": order}


def table(members: list[int], bucket: dict[int, int], status: dict[int, int]) -> tuple[Cell, list[Cell]]:
    pool = Cell("pool", frozenset(members))
    cells = [
        Cell(f"dpd_bucket=M{b}", frozenset(i for i in members if bucket[i] == b), "dpd_bucket")
        for b in range(3)
    ]
    cells += [
        Cell(f"loan_status=S{s}", frozenset(i for i in members if status[i] == s), "loan_status")
        for s in range(3)
    ]
    return pool, cells


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_no_request_sequence_pins_a_loan(h: dict[str, object]) -> None:
    k, n, owner = h["k"], h["n"], h["owner"]
    assert isinstance(k, int)
    assert isinstance(n, int)
    assert isinstance(owner, list)
    ledger = ReleaseLedger()
    ledger.add_owners(dict(enumerate(owner)))
    released: list[frozenset[int]] = []
    decided: set[int] = set()
    snapshots = h["snapshots"]
    assert isinstance(snapshots, list)
    order = h["order"]
    assert isinstance(order, list)
    for t in order:
        if t in decided:  # a snapshot's table is decided once and then served unchanged
            continue
        decided.add(t)
        pool, cells = table(*snapshots[t])
        top, out = plan_release(ledger, pool, cells, k)
        if top.released:
            record_release(ledger, f"s{t}", pool, cells, out)
            released.append(pool.loans)
            released += [c.loans for c in cells if c.loans and out[c.name].released]
        else:
            assert not any(d.released for d in out.values())
        # Every released cell rests on at least k obligors (or is empty); so does its complement.
        for c in cells:
            if out[c.name].released and c.loans:
                assert len({owner[i] for i in c.loans}) >= k
                rest = pool.loans - c.loans
                assert not rest or len({owner[i] for i in rest}) >= k
    assert pinned_loans(released, n) == []


@settings(max_examples=100, deadline=None)
@given(
    budget=st.integers(min_value=0, max_value=4),
    questions=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]), st.integers(min_value=0, max_value=6), st.sampled_from(["<=", ">="])
        ),
        max_size=20,
    ),
)
def test_no_claim_sequence_buys_more_than_the_budget(
    budget: int, questions: list[tuple[str, int, str]]
) -> None:
    investor = Party(id="inv", role="investor", pools=frozenset({"p"}))
    guard = AggregateGuard(AggregateConfig(claim_budget={"investor": budget}))
    answered = set()
    for metric, threshold, direction in questions:
        d = guard.check_threshold_claim(
            investor, pool_id="p", snapshot_id="s", metric=metric, threshold=threshold, direction=direction
        )
        if d.allowed:
            answered.add((metric, threshold, direction))
    assert len(answered) <= budget
