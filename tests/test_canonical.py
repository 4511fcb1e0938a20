"""RFC 8785 canonical JSON (restricted subset) and domain-separated document hashing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.canonical import (
    MAX_NESTING,
    MAX_SAFE_INTEGER,
    canonical_json,
    document_hash,
    domain_separated,
    domain_tag,
    nesting_exceeds,
    parse_json,
)
from proofs.errors import EncodingError

# --- RFC 8785 examples that fit the subset -----------------------------------------------------


def test_rfc8785_sorting_example_orders_members_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: the property-sorting example and its required order.
    doc = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    values = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    out = canonical_json(doc).decode("utf-8")
    positions = [out.index(json.dumps(v)) for v in values]
    assert positions == sorted(positions)
    # An astral character (surrogate pair D83D DE00) sorts before U+FB33, unlike code-point order.
    assert out.index("\U0001f600") < out.index("\ufb33")


def test_rfc8785_main_example_without_its_float_array() -> None:
    # RFC 8785 §3.2.4 example input, minus "numbers" (floats are outside our subset).
    source = (
        '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", '
        '"literals": [null, true, false]}'
    )
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonical_json(parse_json(source)) == expected.encode("utf-8")


def test_rfc8785_float_example_is_rejected() -> None:
    with pytest.raises(EncodingError, match="float"):
        parse_json('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]}')


def test_control_characters_use_short_escapes_or_lowercase_u00xx() -> None:
    assert canonical_json("\b\t\n\f\r\x01\x1f\x7f") == b'"\\b\\t\\n\\f\\r\\u0001\\u001f\x7f"'


def test_non_ascii_is_emitted_as_utf8_not_escaped() -> None:
    assert canonical_json("贷款€\u2028") == '"贷款€\u2028"'.encode()


# --- the restrictions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, r"\$: floats"),
        (float("nan"), r"\$: floats"),
        ({"a": [1, 2.0]}, r"\$\.a\[1\]: floats"),
        (MAX_SAFE_INTEGER + 1, "integer outside"),
        (-MAX_SAFE_INTEGER - 1, "integer outside"),
        ({1: "x"}, "not a string"),
        ({"a": b"bytes"}, r"\$\.a: bytes is not a JSON value"),
        ({"s": {1, 2}}, "set is not a JSON value"),
        ("\ud800", "lone surrogate"),
    ],
)
def test_values_outside_the_subset_are_rejected_with_their_path(value: Any, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        canonical_json(value)


def test_integer_bounds_are_inclusive() -> None:
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"


def test_booleans_are_not_integers() -> None:
    assert canonical_json([True, False, 1, 0]) == b"[true,false,1,0]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"a":1,"a":2}', "duplicate object member name 'a'"),
        (b"[1.0]", "floats"),
        (b"[1e3]", "floats"),
        (b"[NaN]", "NaN is not allowed"),
        (b"[-Infinity]", "-Infinity is not allowed"),
        (b"[9007199254740992]", "outside"),
        (b"[123456789012345678901234567890]", "outside"),
        (b'["\xff"]', "not valid UTF-8"),
        (b'["\\udc00"]', "lone surrogate"),
        (b"[1,]", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[" * 100000 + b"]" * 100000, "nesting|malformed"),
    ],
)
def test_parse_rejects_non_canonicalisable_json(text: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        parse_json(text)


# --- properties ---------------------------------------------------------------------------------

SAFE_INTS = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | SAFE_INTS | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150)
@given(JSON_VALUES)
def test_parse_of_canonical_round_trips(value: Any) -> None:
    encoded = canonical_json(value)
    assert parse_json(encoded) == value
    assert canonical_json(parse_json(encoded)) == encoded


@settings(max_examples=60)
@given(st.dictionaries(st.text(), st.none() | SAFE_INTS | st.text(max_size=8), max_size=12), st.randoms())
def test_member_insertion_order_does_not_change_the_encoding(
    value: dict[str, Any], rnd: random.Random
) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(value)


BMP_BELOW_SURROGATES = st.text(st.characters(max_codepoint=0xD7FF))


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | SAFE_INTS | st.text(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(BMP_BELOW_SURROGATES, c, max_size=4),
        max_leaves=20,
    )
)
def test_matches_stdlib_sorted_compact_json_where_code_point_and_utf16_orders_agree(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    assert canonical_json(value) == expected


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_parse_never_raises_anything_but_encoding_error(data: bytes) -> None:
    with contextlib.suppress(EncodingError):
        parse_json(data)


# --- domain separation --------------------------------------------------------------------------


def test_document_hash_is_sha256_of_length_prefixed_tag_and_canonical_bytes() -> None:
    tag = b"poolproof/v1/snapshot-header"
    expected = hashlib.sha256(len(tag).to_bytes(8, "big") + tag + b'{"a":1,"b":[true]}').digest()
    assert document_hash("snapshot-header", {"b": [True], "a": 1}) == expected


def test_different_domains_give_different_hashes_for_the_same_document() -> None:
    assert document_hash("bundle/claim", {"x": 1}) != document_hash("bundle/inclusion", {"x": 1})


def test_length_prefix_keeps_tag_and_document_apart() -> None:
    # Without the length prefix, tag "a" + doc '"b"' and tag 'a"' + ... could collide; with it they differ.
    assert domain_separated("a", "b") != domain_separated("a-", "b")
    assert domain_separated("a", 1)[:8] == (len(b"poolproof/v1/a")).to_bytes(8, "big")


@pytest.mark.parametrize("domain", ["", "Upper", "has space", "-lead", "x" * 129, "ünï"])
def test_invalid_domains_are_rejected(domain: str) -> None:
    with pytest.raises(EncodingError, match="invalid domain"):
        domain_tag(domain)


def test_too_deeply_nested_python_value_is_an_encoding_error() -> None:
    value: Any = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(EncodingError, match="nesting is too deep"):
        canonical_json(value)


def test_nesting_limit_is_enforced_before_parsing_and_ignores_brackets_in_strings() -> None:
    ok = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert parse_json(ok) is not None
    with pytest.raises(EncodingError, match="nesting is too deep"):
        parse_json("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))
    brackets_in_text = '["' + "[" * 1000 + '"]'
    assert parse_json(brackets_in_text) == ["[" * 1000]


# --- the nesting limit, exactly at 256 / 257 levels ---------------------------------------------


def _nested(levels: int, inner: str = "", kinds: str = "[") -> str:
    """``levels`` containers around ``inner``, cycling through ``kinds`` (``{`` opens a member "k")."""
    opens, closes = [], []
    for i in range(levels):
        if kinds[i % len(kinds)] == "[":
            opens.append("[")
            closes.append("]")
        else:
            opens.append('{"k":')
            closes.append("}")
    if not inner and opens and opens[-1] != "[":
        inner = "1"  # an object member needs a value
    return "".join(opens) + inner + "".join(reversed(closes))


@pytest.mark.parametrize("kinds", ["[", "{", "[{", "{["])
@pytest.mark.parametrize("inner", ["", "1", '"x"'])
def test_parse_accepts_exactly_256_levels_of_structure(kinds: str, inner: str) -> None:
    parse_json(_nested(MAX_NESTING, inner, kinds))
    with pytest.raises(EncodingError, match=r"^JSON nesting is too deep \(more than 256 levels\)$"):
        parse_json(_nested(MAX_NESTING + 1, inner, kinds))


@pytest.mark.parametrize(
    "inside",
    [
        "[" * 300,  # no backslash in the text
        "{" * 300 + "]" * 10,
        '\\"' + "[" * 300,  # escaped quote: the string does not end there
        "\\\\" + "[" * 300,  # escaped backslash just before brackets
        "\\u005b" * 300,  # escaped bracket
    ],
)
def test_brackets_inside_strings_never_count_towards_the_limit(inside: str) -> None:
    doc = _nested(MAX_NESTING, f'"{inside}"')
    assert parse_json(doc) is not None
    with pytest.raises(EncodingError, match="nesting is too deep"):
        parse_json(_nested(MAX_NESTING + 1, f'"{inside}"'))


def test_a_string_before_the_structure_does_not_hide_its_depth() -> None:
    for prefix in ('"[[[[[",', '"\\"]]]]]]",', '"\\\\",'):
        text = "[" + prefix + _nested(MAX_NESTING, "1") + "]"
        with pytest.raises(EncodingError, match="nesting is too deep"):
            parse_json(text)
        assert parse_json("[" + prefix + _nested(MAX_NESTING - 1, "1") + "]") is not None


def _value(levels: int, inner: Any) -> Any:
    for i in range(levels):
        inner = [inner] if i % 2 else {"k": inner}
    return inner


@pytest.mark.parametrize("inner", [None, 7, "s", [], {}])
def test_encode_accepts_exactly_256_levels_and_refuses_257(inner: Any) -> None:
    deepest = _value(MAX_NESTING - (1 if isinstance(inner, list | dict) else 0), inner)
    assert parse_json(canonical_json(deepest)) == deepest
    too_deep = [deepest]
    with pytest.raises(EncodingError, match=r"nesting is too deep \(more than 256 levels\)$"):
        canonical_json(too_deep)


def _nesting_exceeds_reference(text: str, limit: int) -> bool:
    """The original token-by-token scan: string tokens skipped, depth counted per bracket."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        lexeme = m.group()
        if lexeme in "[{":
            depth += 1
            if depth > limit:
                return True
        elif lexeme in "]}":
            depth -= 1
    return False


@settings(max_examples=1500)
@given(st.text(alphabet='[]{}"\\ a\n', max_size=60), st.integers(0, 8))
def test_nesting_scan_agrees_with_the_token_by_token_scan(text: str, limit: int) -> None:
    assert nesting_exceeds(text, limit) == _nesting_exceeds_reference(text, limit)


@settings(max_examples=300)
@given(st.recursive(st.integers(0, 9) | st.text('[]{}"\\x', max_size=4), lambda c: st.lists(c, max_size=3)))
def test_nesting_scan_of_encoded_documents_agrees_with_the_token_by_token_scan(value: Any) -> None:
    text = canonical_json(value).decode()
    for limit in range(6):
        assert nesting_exceeds(text, limit) == _nesting_exceeds_reference(text, limit)
