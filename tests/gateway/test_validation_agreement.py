"""The fast-path validator and the declared marshmallow schema agree, on valid and invalid rows.

Both must accept the same rows with the same normalised values, and reject the same rows naming the
same (field, rule) pairs. Rows come from the synthetic platform (valid) and from random mutations of
valid rows (mostly invalid).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ingest.bounded_json import HugeInteger
from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER
from gateway.ingest.rules import compile_rules
from gateway.ingest.validation import RowValidator
from gateway.schemas import marshmallow_errors, tape_row_schema
from gateway.synth import generate_tape
from policies import DEFAULT_CATALOGUE
from policies.catalogue import TAPE_SCHEMA_V1_FIELDS

from .helpers import CUTOFF, cn_row, us_row

CN_RULES = compile_rules(CN_CONSUMER, DEFAULT_CATALOGUE)
US_RULES = compile_rules(US_CONSUMER, DEFAULT_CATALOGUE)


def _both(rules: Any, row: Any, cutoff: str = CUTOFF) -> tuple[Any, Any]:
    fast_clean, fast_errs = RowValidator(rules, cutoff).validate(row)
    mm_clean, mm_errs = marshmallow_errors(tape_row_schema(rules, cutoff), row)
    return (fast_clean, {(f, r) for f, r, _ in fast_errs}), (mm_clean, {(f, r) for f, r, _ in mm_errs})


def test_synthetic_rows_are_valid_for_both() -> None:
    for row in generate_tape(300, seed=3, cutoff=date(2024, 6, 30), pool_id="S"):
        (fc, fe), (mc, me) = _both(CN_RULES, row, "2024-06-30")
        assert fe == me == set()
        assert fc == mc


def test_us_rows_are_valid_for_both() -> None:
    (fc, fe), (mc, me) = _both(US_RULES, us_row(1))
    assert fe == me == set()
    assert fc == mc


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "2024-02-30",
            "2024-01-01",
            "12.50",
            "1e3",
            "13812345678",
            "NJ",
            "11010519491231002X",
            "110105",
            "M",
            "NORMAL",
            "2024-01-05T10:00:00",
        ]
    ),
    st.lists(st.integers(), max_size=2),
)
_NAMES = st.one_of(
    st.sampled_from(TAPE_SCHEMA_V1_FIELDS), st.sampled_from(["exposure_id", "pin", "cvv2", "colour", "dpd"])
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_NAMES, _VALUES), max_size=4),
    st.lists(st.sampled_from(TAPE_SCHEMA_V1_FIELDS), max_size=2),
    st.booleans(),
)
def test_mutated_rows_get_the_same_verdict(
    changes: list[tuple[str, Any]], drops: list[str], us: bool
) -> None:
    row = us_row(1) if us else cn_row(1)
    for name in drops:
        row.pop(name, None)
    for name, value in changes:
        row[name] = value
    (fc, fe), (mc, me) = _both(US_RULES if us else CN_RULES, row)
    assert fe == me
    if not fe:
        assert fc == mc


def test_non_object_rows_are_rejected_by_both() -> None:
    for row in ([1, 2], "row", 5, None):
        (_, fe), (_, me) = _both(CN_RULES, row)
        assert fe == me == {("_row", "type")}


# Values at the edge of the fast acceptance patterns (whole-string ASCII matches) and of what the full
# checks accept or normalise: both validators must give the same normalised value or the same error.
_EDGE_VALUES = {
    "mobile": [
        "13812345678",
        "12812345678",
        "1381234567",
        "+8613812345678",
        "0086 138-1234-5678",
        "13812345678\n",
        "１３８１２３４５６７８",
        "138１2345678",
    ],
    "repayment_account": [
        "622202020011",
        "62220202001",
        "62220202001122334455",
        "6222020200112233445\n",
        "６" * 12,
    ],
    "id_number": [
        "11010519900307101X",
        "11010519900307101x",
        "ABCDE",
        "abcde",
        "A" * 21,
        "１２３４５",
        "AB-12",
    ],
    "region_code": ["110105", "990105", "11010", "1101055", "110105\n", "１１0105", "NJ"],
    "platform_loan_id": [
        "L0000001",
        "l0000001",
        "L0000001 ",
        " L0000001",
        "L0000001\u200b",
        "\ufeffL0000001",
        "L000000\u0410",  # Cyrillic capital A
        "Ｌ０００１",
        "L-1/2:3#4.5_6",
        "-L1",
        "=L1",
        "L" * 64,
        "L" * 65,
        "L\u202e1",
        "L\x001",
    ],
    "obligor_name": [
        "张三",
        "Anna\u202eannA",
        "Anna\u2066x\u2069",
        "Anna\u200d",
        "An\x07na",
        "An\x85na",
        "An\u2028na",
        '=HYPERLINK("http://x","y")',
        "+86 138",
        "-1",
        "@SUM(A1)",
        "\tAnna",
        "\rAnna",
        "张\u3000三",
        "An\ue000na",
        "An\ud800na",  # an unpaired surrogate (Python's JSON decoder lets "\\ud800" through)
    ],
    "home_address": ["北京市朝阳区", "=1+1", "Room 1\u202e2", "Street\ufeff"],
}
_BIG_INTEGERS = [2**53 - 1, 2**53, 2**53 + 1, -(2**53), 2**63, 10**30, float(2**64), 1e300, "9" * 17]


@pytest.mark.parametrize("value", _BIG_INTEGERS, ids=repr)
@pytest.mark.parametrize("name", ["original_principal_fen", "term_months", "days_past_due"])
def test_integers_beyond_2_53_get_the_same_verdict(name: str, value: Any) -> None:
    row = cn_row(1)
    row[name] = value
    (_, fe), (_, me) = _both(CN_RULES, row)
    assert fe == me
    if abs(float(value)) > 2**53 - 1:
        assert (name, "integer_size") in fe


def test_a_huge_integer_marker_gets_the_same_verdict() -> None:
    row = cn_row(1)
    row["term_months"] = HugeInteger(5000)
    (_, fe), (_, me) = _both(CN_RULES, row)
    assert fe == me == {("term_months", "integer_size")}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["platform_loan_id", "obligor_name", "home_address", "consent_version"]),
    st.text(st.characters(codec="utf-8"), min_size=0, max_size=12),
)
def test_any_text_gets_the_same_verdict(name: str, value: str) -> None:
    row = cn_row(1)
    row[name] = value
    (fc, fe), (mc, me) = _both(CN_RULES, row)
    assert fe == me
    if not fe:
        assert fc == mc


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in _EDGE_VALUES.items() for v in vs])
@pytest.mark.parametrize("us", [False, True])
def test_edge_values_of_pattern_fields_get_the_same_verdict(name: str, value: str, us: bool) -> None:
    row = us_row(1) if us else cn_row(1)
    row[name] = value
    (fc, fe), (mc, me) = _both(US_RULES if us else CN_RULES, row)
    assert fe == me
    if not fe:
        assert fc == mc
