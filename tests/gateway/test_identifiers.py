"""Loan ids and text: a look-alike of an id is the same loan or is refused, never a second loan."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.ingest.rules import compile_rules, loan_id_key, same_loan_id
from gateway.ingest.validation import TapeValidator
from policies import DEFAULT_CATALOGUE

from .helpers import CUTOFF, cn_row

RULES = compile_rules(CN_CONSUMER, DEFAULT_CATALOGUE)
# Latin letters and Cyrillic/Greek letters that look the same (Unicode confusables.txt, a few).
CONFUSABLES = {"A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "O": "\u041e", "P": "\u0420",
               "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
               "K": "\u039a", "T": "\u03a4"}  # fmt: skip
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u202e",
    "\u2066",
    "\u200e",
    "\x00",
    "\x1b",
]

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,40}", fullmatch=True)


@st.composite
def variants(draw: st.DrawFn, loan_id: str) -> str:
    """A string that a person reading a report could take for ``loan_id``."""
    kind = draw(st.sampled_from(["case", "space", "full_width", "invisible", "confusable"]))
    if kind == "case":
        return "".join(c.swapcase() if draw(st.booleans()) else c for c in loan_id)
    if kind == "space":
        return (
            draw(st.sampled_from(["", " ", "\t", "\u3000"]))
            + loan_id
            + draw(st.sampled_from([" ", "  ", "\n"]))
        )
    if kind == "full_width":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in loan_id)
    if kind == "invisible":
        at = draw(st.integers(0, len(loan_id)))
        return loan_id[:at] + draw(st.sampled_from(INVISIBLE)) + loan_id[at:]
    letters = [i for i, c in enumerate(loan_id) if c in CONFUSABLES]
    if not letters:
        return loan_id.swapcase()
    i = draw(st.sampled_from(letters))
    return loan_id[:i] + CONFUSABLES[loan_id[i]] + loan_id[i + 1 :]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), loan_id=ids)
def test_a_look_alike_of_a_loan_id_is_never_a_second_loan(data: st.DataObject, loan_id: str) -> None:
    variant = data.draw(variants(loan_id))
    v = TapeValidator(RULES, CUTOFF)
    assert v.check(1, cn_row(1, platform_loan_id=loan_id)) is not None
    second = v.check(2, cn_row(2, platform_loan_id=variant))
    assert second is None, (loan_id, variant, second)  # refused: as a duplicate or by a character rule
    rules = {e.rule for e in v.report.errors}
    assert rules <= {"duplicate", "invisible_characters", "bidi_control", "control_characters", "id_charset"}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), loan_id=ids)
def test_an_accepted_variant_is_the_same_loan_id(data: st.DataObject, loan_id: str) -> None:
    variant = data.draw(variants(loan_id))
    clean = TapeValidator(RULES, CUTOFF).check(1, cn_row(1, platform_loan_id=variant))
    if clean is not None:
        assert loan_id_key(clean["platform_loan_id"]) == loan_id_key(loan_id)
        assert same_loan_id(loan_id, variant)


@pytest.mark.parametrize("loan_id", ["L1", "LC-2018Q1-0001", "a.b_c:d/e#f-1", "9" * 64])
def test_plain_ascii_ids_are_kept_as_submitted(loan_id: str) -> None:
    clean = TapeValidator(RULES, CUTOFF).check(1, cn_row(1, platform_loan_id=loan_id))
    assert clean is not None
    assert clean["platform_loan_id"] == loan_id


@pytest.mark.parametrize(
    ("loan_id", "rule"),
    [("-L1", "id_format"), ("L 1", "id_format"), ("L1,2", "id_format"), ("", "length"), ("L" * 65, "length")],
)
def test_ids_outside_the_alphabet_are_refused(loan_id: str, rule: str) -> None:
    v = TapeValidator(RULES, CUTOFF)
    assert v.check(1, cn_row(1, platform_loan_id=loan_id)) is None
    assert [(e.field, e.rule) for e in v.report.errors] == [("platform_loan_id", rule)]
