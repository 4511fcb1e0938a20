"""Decisions: deny by default, most restrictive wins whatever the names or file order, stated reasons."""

import pytest

from policies import DEFAULT_CATALOGUE, Party, Policy, PolicyError, Transform, load_policy
from policies.policy import ClaimRule, RoleSpec, Rule

POOL = "pool-1"
RA = Party(id="ra", role="rating_agency", pools=frozenset({POOL}))


def small_policy(rules: list[Rule]) -> Policy:
    return Policy(
        catalogue=DEFAULT_CATALOGUE,
        roles={"rating_agency": RoleSpec(name="rating_agency", purposes=frozenset({"rating"}))},
        rules=rules,
        claim_rules=[
            ClaimRule(
                id="a.allow",
                roles=frozenset({"rating_agency"}),
                kinds=frozenset({"*"}),
                metrics=frozenset({"*"}),
                allow=True,
            ),
            ClaimRule(
                id="z.deny",
                roles=frozenset({"rating_agency"}),
                kinds=frozenset({"exact"}),
                metrics=frozenset({"*"}),
                allow=False,
            ),
        ],
        generalizers={"mobile": {"kind": "enum_map", "mapping": {}, "default": "X"}},
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_most_restrictive_wins_regardless_of_name_and_order(reverse: bool) -> None:
    rules = [
        Rule(
            id="aaa.raw",
            roles=frozenset({"rating_agency"}),
            transform=Transform.RAW,
            fields=frozenset({"mobile"}),
        ),
        Rule(
            id="zzz.mask",
            roles=frozenset({"rating_agency"}),
            transform=Transform.MASK,
            tags=frozenset({"contact"}),
        ),
        Rule(
            id="mmm.gen",
            roles=frozenset({"rating_agency"}),
            transform=Transform.GENERALIZE,
            levels=frozenset({3}),
        ),
    ]
    pol = small_policy(rules[::-1] if reverse else rules)
    d = pol.decide(RA, "mobile", "rating", pool_id=POOL)
    assert d.transform is Transform.GENERALIZE
    assert d.rule_ids == ("mmm.gen", "zzz.mask", "aaa.raw")
    assert "generalize wins because the most restrictive applicable transform wins" in d.reason
    assert "stricter than raw, mask" in d.reason


def test_no_applicable_rule_denies_by_default() -> None:
    pol = small_policy([])
    d = pol.decide(RA, "mobile", "rating", pool_id=POOL)
    assert (d.transform, d.rule_ids) == (Transform.DENY, ("default.deny",))


def test_decision_carries_policy_version_and_fresh_id() -> None:
    pol = load_policy()
    a = pol.decide(RA, "id_number", "rating", pool_id=POOL)
    b = pol.decide(RA, "id_number", "rating", pool_id=POOL)
    assert a.policy_version == pol.version
    assert a.decision_id != b.decision_id
    assert a.params == {"algorithm": "HMAC-SHA-256", "key": "per recipient and deal"}


def test_undeclared_event_is_an_error() -> None:
    with pytest.raises(PolicyError, match="unknown event"):
        load_policy().decide(RA, "id_number", "rating", pool_id=POOL, events=["coup"])


def test_claim_deny_beats_allow_and_unknown_is_denied() -> None:
    pol = small_policy([])
    d = pol.may_request_claim(RA, "exact", "pool_balance", pool_id=POOL)
    assert (d.transform, d.rule_ids[0]) == (Transform.DENY, "z.deny")
    assert "a deny rule beats an allow rule" in d.reason
    assert pol.may_request_claim(RA, "threshold", "dpd90_ratio_bps", pool_id=POOL).allowed
    other_pool = pol.may_request_claim(RA, "threshold", "dpd90_ratio_bps", pool_id="pool-2")
    assert other_pool.rule_ids == ("scope.pool",)


def test_decide_all_covers_every_permitted_field() -> None:
    ds = load_policy().decide_all(RA, "rating", pool_id=POOL)
    assert set(ds) == {n for n, s in DEFAULT_CATALOGUE.items() if not s.forbidden}
    assert ds["obligor_name"].transform is Transform.DENY
