"""Row rules: GB 11643-1999 check characters against published examples, mobile normalisation, masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER, PoolConfig
from gateway.ingest.rules import (
    check_prc_id,
    compile_rules,
    cross_field_errors,
    mask_value,
    normalise_mobile,
    prc_id_check_char,
    prc_id_check_char_by_weights,
)
from policies import DEFAULT_CATALOGUE

from .helpers import CUTOFF, cn_row


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_published_valid_id_numbers_pass(number: str) -> None:
    assert check_prc_id(number) is None


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("110105194912310021", "prc_id_checksum"),
        ("440524188001010015", "prc_id_checksum"),
        ("11010519491231002x", "prc_id_format"),  # lower-case x is normalised before this check
        ("1101051949123100", "prc_id_format"),
        ("110105194913310028", "prc_id_format"),  # month 13
    ],
)
def test_bad_id_numbers_fail_with_the_rule_named(number: str, rule: str) -> None:
    problem = check_prc_id(number)
    assert problem is not None
    assert problem[0] == rule


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_base13_check_char_equals_the_weight_table(first17: str) -> None:
    assert prc_id_check_char(first17) == prc_id_check_char_by_weights(first17)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_breaks_the_checksum(first17: str, pos: int, delta: int) -> None:
    good = first17 + prc_id_check_char(first17)
    d = (int(good[pos]) + delta) % 10
    bad = good[:pos] + str(d) + good[pos + 1 :]
    assert prc_id_check_char(bad[:17]) != bad[17]


@pytest.mark.parametrize("raw", ["+86 138-1234-5678", "008613812345678", "13812345678", "138 1234 5678"])
def test_mobile_numbers_are_normalised(raw: str) -> None:
    assert normalise_mobile(raw) == "13812345678"


def test_lower_case_x_is_normalised_to_upper_case() -> None:
    rules = compile_rules(CN_CONSUMER, DEFAULT_CATALOGUE)
    value, problem = rules.checks["id_number"]("11010519491231002x")
    assert problem is None
    assert value == "11010519491231002X"


def test_us_pool_refuses_identity_fields_and_checks_states() -> None:
    rules = compile_rules(US_CONSUMER, DEFAULT_CATALOGUE)
    assert "id_number" in rules.not_applicable
    assert rules.checks["region_code"]("NJ")[1] is None
    assert rules.checks["region_code"]("XX")[1] == ("region_code", "expected a two-letter US state code")


def test_cross_field_rules_name_field_and_rule() -> None:
    row = cn_row(1, days_past_due=40, overdue_principal_fen=0, overdue_interest_fen=0, loan_status="OVERDUE")
    assert ("days_past_due", "dpd_coherence") in {
        (f, r) for f, r, _ in cross_field_errors(row, CN_CONSUMER, CUTOFF)
    }
    young = cn_row(1, birth_date="2010-03-07")
    assert ("birth_date", "min_age") in {(f, r) for f, r, _ in cross_field_errors(young, CN_CONSUMER, CUTOFF)}
    assert cross_field_errors(cn_row(1), CN_CONSUMER, CUTOFF) == []


def test_rate_caps_come_from_the_pool_configuration() -> None:
    strict = CN_CONSUMER.with_overrides(apr_reject_bps=1500, apr_flag_bps=1000)
    errs = cross_field_errors(cn_row(1), strict, CUTOFF)
    assert [(f, r) for f, r, _ in errs] == [("apr_all_in_bps", "rate_cap")]


def test_masking_shows_last_four_of_identifiers_and_nothing_of_level3_values() -> None:
    assert mask_value("id_number", "11010519491231002X", DEFAULT_CATALOGUE) == "**************002X"
    assert mask_value("obligor_name", "张三", DEFAULT_CATALOGUE) == "<masked string, 2 characters>"
    assert mask_value("current_principal_fen", 12.5, DEFAULT_CATALOGUE) == "<masked float>"
    assert mask_value("password", "hunter2", DEFAULT_CATALOGUE) == "<withheld>"
    assert mask_value("no_such_field", "x", DEFAULT_CATALOGUE) == "<withheld>"
    assert mask_value("product_type", "CASH_LOAN", DEFAULT_CATALOGUE) == "CASH_LOAN"  # level 2


def test_pool_config_validates_and_round_trips() -> None:
    assert PoolConfig.from_dict(CN_CONSUMER.to_dict()) == CN_CONSUMER
    with pytest.raises(ValueError, match="dpd_edges"):
        CN_CONSUMER.with_overrides(dpd_edges=(30, 0))
    with pytest.raises(ValueError, match="apr_flag_bps"):
        CN_CONSUMER.with_overrides(apr_flag_bps=5000)
    assert [CN_CONSUMER.dpd_bucket(d) for d in (0, 1, 30, 31, 60, 61, 90, 91)] == [
        "M0",
        "M1",
        "M1",
        "M2",
        "M2",
        "M3",
        "M3",
        "M3+",
    ]
