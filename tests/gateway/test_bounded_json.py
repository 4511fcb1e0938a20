"""Limits on JSON before it is read: integer size and nesting depth (gateway/ingest/bounded_json.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingest.bounded_json import (
    MAX_BODY_NESTING,
    MAX_SAFE_INTEGER,
    HugeInteger,
    JsonLimitError,
    loads_body,
    loads_tape_row,
    nesting_depth,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


def true_depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((true_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((true_depth(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_nesting_depth_is_the_depth_of_the_value(v: Any) -> None:
    assert nesting_depth(json.dumps(v), 1000) == true_depth(v)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_a_body_within_the_limits_reads_as_plain_json(v: Any) -> None:
    text = json.dumps(v)
    assert loads_body(text) == json.loads(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[" * 100 + '\\"]]'})
    assert nesting_depth(text, 10) == 1
    assert loads_body(text) == json.loads(text)


def test_a_body_one_level_too_deep_is_refused_and_the_last_level_is_not() -> None:
    assert loads_body("[" * MAX_BODY_NESTING + "]" * MAX_BODY_NESTING) is not None
    with pytest.raises(JsonLimitError, match="nesting_depth") as exc:
        loads_body("[" * (MAX_BODY_NESTING + 1) + "]" * (MAX_BODY_NESTING + 1))
    assert exc.value.rule == "nesting_depth"


def test_a_50000_deep_body_is_refused_before_the_decoder_recurses() -> None:
    with pytest.raises(JsonLimitError, match="deeper than 32 levels"):
        loads_body("[" * 50_000 + "]" * 50_000)


@pytest.mark.parametrize("n", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0])
def test_integers_up_to_2_53_minus_1_are_read(n: int) -> None:
    assert loads_body(json.dumps({"n": n})) == {"n": n}


@pytest.mark.parametrize("literal", [str(MAX_SAFE_INTEGER + 1), str(-MAX_SAFE_INTEGER - 1), "9" * 5000])
def test_integers_past_2_53_are_refused(literal: str) -> None:
    with pytest.raises(JsonLimitError) as exc:
        loads_body('{"n": ' + literal + "}")
    assert exc.value.rule == "integer_size"
    assert "2^53" in exc.value.message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    with pytest.raises(JsonLimitError, match="not_json"):
        loads_body('{"n": ' + constant + "}")


def test_a_tape_row_keeps_a_huge_integer_as_a_marker() -> None:
    row = loads_tape_row('{"term_months": ' + "9" * 5000 + ', "x": 12}')
    assert isinstance(row["term_months"], HugeInteger)
    assert row["term_months"].digits == 5000
    assert row["x"] == 12


def test_a_tape_row_nested_past_the_limit_is_refused() -> None:
    with pytest.raises(JsonLimitError, match="one flat object"):
        loads_tape_row('{"a": ' + "[" * 65 + "]" * 65 + "}")
    assert loads_tape_row('{"a": ' + "[" * 63 + "]" * 63 + "}")["a"] == json.loads("[" * 63 + "]" * 63)
