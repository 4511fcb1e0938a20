"""For every party of the default policy: exactly which fields of a realistic record it gets, in what form.

The expected rows are written out by hand from the §6.3 visibility matrix; pseudonyms are recomputed
with the public HMAC definition.
"""

import pytest

from policies import Party, PseudonymKeyError, load_policy, pseudonym
from policies.policy import Policy

from .realistic import LOAN_ECONOMICS, RECORD

KEY = bytes(range(32))
POOL = "pool-1"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def party(role: str, **kw: object) -> Party:
    return Party(id=f"{role}-1", role=role, pools=frozenset({POOL}), **kw)  # type: ignore[arg-type]


def econ() -> dict[str, object]:
    return {k: RECORD[k] for k in LOAN_ECONOMICS}


def pseud(field: str) -> str:
    return pseudonym(KEY, field, RECORD[field])


def view_one(policy: Policy, p: Party, purpose: str, events: tuple[str, ...] = ()) -> dict[str, object]:
    rows = policy.view(p, [RECORD], purpose, pool_id=POOL, events=events, pseudonym_key=KEY)
    assert len(rows) == 1
    return rows[0]


def test_platform_receives_its_raw_record(policy: Policy) -> None:
    assert view_one(policy, party("platform"), "servicing") == RECORD


def test_regulator_receives_raw_record_for_any_pool(policy: Policy) -> None:
    regulator = Party(id="nfra", role="regulator", pools=frozenset())
    rows = policy.view(regulator, [RECORD], "supervision", pool_id=POOL)
    assert rows == [RECORD]


def test_trustee_gets_economics_generalised_demographics_and_pseudonyms(policy: Policy) -> None:
    expected = {
        **econ(),
        "id_type": "RESIDENT_ID",
        "region_code_version": 2023,
        "exposure_id": "EXP-000001",
        "consent_basis": "CONTRACT_CLAUSE",
        "consent_version": "v3",
        "consent_time": "2024-01-02T10:00:00+08:00",
        "pool_id": POOL,
        "cutoff_date": "2024-06-30",
        "merchant_category": "DURABLE_GOODS",
        "region_code": "1101",
        "birth_date": ">=60",
        "internal_score": "[600,700)",
        "id_number": pseud("id_number"),
        "obligor_pseudo_id": pseud("obligor_pseudo_id"),
    }
    assert view_one(policy, party("trustee"), "waterfall") == expected


def test_trustee_gets_identities_after_perfection_event(policy: Policy) -> None:
    got = view_one(policy, party("trustee"), "waterfall", ("perfection_event",))
    for f in ("obligor_name", "id_number", "mobile", "repayment_account", "home_address", "platform_loan_id"):
        assert got[f] == RECORD[f]
    for f in ("gender", "income_monthly_fen", "occupation"):
        assert f not in got


def test_rating_agency_gets_pseudonymised_loan_level_tape(policy: Policy) -> None:
    expected = {
        **econ(),
        "id_type": "RESIDENT_ID",
        "gender": "M",
        "region_code_version": 2023,
        "pool_id": POOL,
        "cutoff_date": "2024-06-30",
        "merchant_category": "DURABLE_GOODS",
        "region_code": "1101",
        "birth_date": ">=60",
        "income_monthly_fen": "[1200000,2000000)",
        "occupation": "EMPLOYED",
        "internal_score": "[600,700)",
        "id_number": pseud("id_number"),
        "exposure_id": pseud("exposure_id"),
        "obligor_pseudo_id": pseud("obligor_pseudo_id"),
    }
    assert view_one(policy, party("rating_agency"), "rating") == expected


def test_investor_gets_only_pool_keys_at_record_level(policy: Policy) -> None:
    assert view_one(policy, party("investor"), "investment_monitoring") == {
        "pool_id": POOL,
        "cutoff_date": "2024-06-30",
    }


def test_auditor_gets_masked_and_generalised_fields(policy: Policy) -> None:
    expected = {
        **econ(),
        "id_type": "RESIDENT_ID",
        "region_code": "110105",
        "region_code_version": 2023,
        "consent_basis": "CONTRACT_CLAUSE",
        "consent_version": "v3",
        "consent_time": "2024-01-02T10:00:00+08:00",
        "platform_loan_id": "JD-2024-000001",
        "exposure_id": "EXP-000001",
        "pool_id": POOL,
        "cutoff_date": "2024-06-30",
        "obligor_name": "张**",
        "id_number": "110105********002X",
        "mobile": "138****5678",
        "repayment_account": "622202*********0123",
        "home_address": "北京市",
        "birth_date": ">=60",
        "income_monthly_fen": "[1200000,2000000)",
        "occupation": "EMPLOYED",
        "internal_score": "[600,700)",
        "merchant_category": "DURABLE_GOODS",
        "obligor_pseudo_id": pseud("obligor_pseudo_id"),
    }
    assert view_one(policy, party("auditor"), "audit") == expected


def test_auditor_sees_name_and_id_raw_only_in_a_recorded_sample_review(policy: Policy) -> None:
    got = view_one(policy, party("auditor"), "sample_review", ("sample_review_session",))
    assert (got["obligor_name"], got["id_number"]) == (RECORD["obligor_name"], RECORD["id_number"])
    assert got["mobile"] == "138****5678"
    without_session = view_one(policy, party("auditor"), "sample_review")
    assert "obligor_name" not in without_session
    assert "id_number" not in without_session


def test_borrower_gets_own_record_display_masked(policy: Policy) -> None:
    me = party("borrower", obligor_keys=frozenset({"OBL-7f3a"}))
    got = view_one(policy, me, "self_service")
    hidden = {
        "internal_score",
        "five_tier_class",
        "pool_addition_date",
        "exposure_id",
        "obligor_pseudo_id",
        "pool_id",
        "cutoff_date",
    }
    masked = {
        "id_number": "110105********002X",
        "mobile": "138****5678",
        "repayment_account": "622202*********0123",
    }
    expected = {k: v for k, v in RECORD.items() if k not in hidden} | masked
    assert got == expected


def test_borrower_step_up_reveals_own_identifiers(policy: Policy) -> None:
    me = party("borrower", obligor_keys=frozenset({"OBL-7f3a"}))
    got = view_one(policy, me, "self_service", ("step_up_authentication",))
    assert got["id_number"] == RECORD["id_number"]


def test_borrower_never_receives_another_obligors_rows(policy: Policy) -> None:
    other = party("borrower", obligor_keys=frozenset({"OBL-other"}))
    assert policy.view(other, [RECORD], "self_service", pool_id=POOL) == []


def test_rows_of_another_pool_are_dropped(policy: Policy) -> None:
    assert policy.view(party("platform"), [RECORD | {"pool_id": "pool-2"}], "servicing", pool_id=POOL) == []


@pytest.mark.parametrize(
    ("p", "purpose"),
    [
        (Party(id="x", role="hacker", pools=frozenset({POOL})), "servicing"),  # unknown role
        (Party(id="x", role="investor", pools=frozenset({POOL})), "servicing"),  # purpose not the role's
        (Party(id="x", role="investor", pools=frozenset({POOL})), "curiosity"),  # unknown purpose
        (Party(id="x", role="platform", pools=frozenset({"pool-9"})), "servicing"),  # pool out of scope
    ],
)
def test_unknown_party_purpose_or_scope_receives_nothing(policy: Policy, p: Party, purpose: str) -> None:
    assert policy.view(p, [RECORD], purpose, pool_id=POOL, pseudonym_key=KEY) == []
    for field in RECORD:
        assert not policy.decide(p, field, purpose, pool_id=POOL).allowed


def test_unknown_field_receives_nothing(policy: Policy) -> None:
    rec = RECORD | {"shoe_size": 42, "login_password": "hunter2"}
    got = view_one(policy, party("platform"), "servicing") | {}
    rows = policy.view(party("platform"), [rec], "servicing", pool_id=POOL)
    assert rows == [got]
    d = policy.decide(party("regulator"), "shoe_size", "supervision", pool_id=POOL)
    assert (d.allowed, d.rule_ids) == (False, ("default.unknown_field",))
    d = policy.decide(party("regulator"), "login_password", "supervision", pool_id=POOL)
    assert d.rule_ids == ("catalogue.forbidden",)


def test_pseudonymising_view_without_key_is_refused(policy: Policy) -> None:
    with pytest.raises(PseudonymKeyError):
        policy.view(party("rating_agency"), [RECORD], "rating", pool_id=POOL)


def test_two_recipients_cannot_join_pseudonyms(policy: Policy) -> None:
    a = policy.view(party("rating_agency"), [RECORD], "rating", pool_id=POOL, pseudonym_key=b"a" * 32)
    b = policy.view(party("rating_agency"), [RECORD], "rating", pool_id=POOL, pseudonym_key=b"b" * 32)
    assert a[0]["obligor_pseudo_id"] != b[0]["obligor_pseudo_id"]
    assert a[0]["product_type"] == b[0]["product_type"]


def test_plan_apply_one_keeps_caller_alignment(policy: Policy) -> None:
    me = party("borrower", obligor_keys=frozenset({"OBL-7f3a"}))
    plan = policy.compile_view(me, "self_service", pool_id=POOL)
    assert plan.apply_one(RECORD, me, POOL) == policy.view(me, [RECORD], "self_service", pool_id=POOL)[0]
    assert plan.apply_one(RECORD | {"obligor_pseudo_id": "OBL-other"}, me, POOL) is None
