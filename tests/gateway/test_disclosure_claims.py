"""Which claims pin a value exactly, and which (metric, threshold, direction) questions a claim asks."""

from __future__ import annotations

import pytest

from gateway.snapshots.disclosure import claim_kind, claim_questions, is_exact_claim
from proofs.claims import BoundClaim, Disclosure, RatioBetweenClaim, RatioClaim


@pytest.mark.parametrize(
    ("statement", "exact"),
    [
        (Disclosure("pool_balance"), True),
        (BoundClaim("pool_balance", 500, 500), True),
        (BoundClaim("pool_balance", 500, 501), False),
        (BoundClaim("pool_balance", 500, None), False),
        (BoundClaim("pool_balance", None, 500), False),
        (RatioBetweenClaim("balance_M3", "pool_balance", 1, 50, 2, 100), True),  # 1/50 == 2/100
        (RatioBetweenClaim("balance_M3", "pool_balance", 1, 50, 3, 100), False),
        (RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100), False),
    ],
)
def test_an_equal_ended_bound_is_exact_like_a_disclosure(statement: object, exact: bool) -> None:
    assert is_exact_claim(statement) is exact  # type: ignore[arg-type]
    assert claim_kind(statement) == ("exact" if exact else "threshold")  # type: ignore[arg-type]


def test_each_end_of_a_bound_is_its_own_question_with_its_direction() -> None:
    assert claim_questions(BoundClaim("pool_balance", 10, 20)) == [
        ("pool_balance", 10, ">="),
        ("pool_balance", 20, "<="),
    ]
    assert claim_questions(BoundClaim("pool_balance", None, 20)) == [("pool_balance", 20, "<=")]
    assert claim_questions(BoundClaim("pool_balance", 10, None)) == [("pool_balance", 10, ">=")]


def test_ratio_questions_carry_the_claims_direction() -> None:
    le = claim_questions(RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100))
    ge = claim_questions(RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 3, 100))
    assert le == [("dpd90_ratio_bps", 300, "<=")]
    assert ge == [("dpd90_ratio_bps", 300, ">=")]
    between = claim_questions(RatioBetweenClaim("balance_M3", "pool_balance", 1, 100, 2, 100))
    assert [d for _, _, d in between] == [">=", "<="]
    assert claim_questions(Disclosure("pool_balance")) == []
