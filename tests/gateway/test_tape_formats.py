"""Streaming tape readers: rows come out one at a time whatever the chunking; malformed bodies are named."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingest import tape_formats
from gateway.ingest.tape_formats import (
    HashingReader,
    TapeMalformed,
    TapeTooLarge,
    iter_csv,
    iter_json_array,
    iter_jsonl,
)

from .helpers import cn_row


class Trickle(io.RawIOBase):
    """A stream returning at most ``n`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, n: int) -> None:
        self._buf = io.BytesIO(data)
        self._n = n

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(min(self._n, size if size > 0 else self._n))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.lists(st.integers(1, 10**15), min_size=0, max_size=8))
def test_json_array_rows_survive_any_chunking(chunk: int, values: list[int]) -> None:
    rows = [cn_row(i, original_principal_fen=v) for i, v in enumerate(values, 1)]
    body = json.dumps(rows, ensure_ascii=False, indent=1).encode()
    reader = HashingReader(Trickle(body, chunk), 10**9)  # type: ignore[arg-type]
    out = [r for _, r, _ in iter_json_array(reader)]
    assert out == rows
    assert reader.hexdigest() == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("body", [b"", b"{}", b"[1,", b'[{"a": 1} {"b": 2}]', b"[{}]x", b'[{"a": tru}]'])
def test_malformed_json_arrays_are_named(body: bytes) -> None:
    with pytest.raises(TapeMalformed):
        list(iter_json_array(HashingReader(io.BytesIO(body), 10**6)))


def test_jsonl_reports_bad_lines_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tape_formats, "CHUNK", 7)
    body = b'{"a": 1}\n\nnot json\n{"b": 2}'
    out = list(iter_jsonl(HashingReader(io.BytesIO(body), 10**6)))
    # Rows are numbered by source line: the blank line 2 counts.
    assert out == [(1, {"a": 1}, None), (3, None, "the line is not valid JSON"), (4, {"b": 2}, None)]


def test_csv_cells_become_ints_only_when_plain_integers() -> None:
    header = "platform_loan_id,term_months,original_principal_fen,obligor_name\n"
    body = (header + "L1,12,12.50,张三\nL2,,7,\n").encode()
    rows = list(iter_csv(HashingReader(io.BytesIO(body), 10**6), ["term_months", "original_principal_fen"]))
    assert rows[0] == (
        2,  # the header is line 1
        {
            "platform_loan_id": "L1",
            "term_months": 12,
            "original_principal_fen": "12.50",
            "obligor_name": "张三",
        },
        None,
    )
    assert rows[1] == (3, {"platform_loan_id": "L2", "original_principal_fen": 7}, None)


def test_size_cap_is_enforced_while_streaming() -> None:
    reader = HashingReader(io.BytesIO(b"x" * 100), 50)
    with pytest.raises(TapeTooLarge):
        list(reader.chunks())


# --- source-line numbering and specific error texts ---------------------------------------------------------
def test_csv_records_are_numbered_by_the_line_they_start_on() -> None:
    body = b'platform_loan_id,home_address\nL1,"a\nb"\n\nL2,c\n'
    rows = list(iter_csv(HashingReader(io.BytesIO(body), 10**6), []))
    assert [(n, r["platform_loan_id"]) for n, r, _ in rows] == [(2, "L1"), (5, "L2")]


def test_a_csv_cell_past_the_reader_limit_names_its_line() -> None:
    import csv

    body = ("platform_loan_id,home_address\nL1,a\nL2," + "x" * (csv.field_size_limit() + 1) + "\n").encode()
    with pytest.raises(TapeMalformed, match="line 3 is longer than") as exc:
        list(iter_csv(HashingReader(io.BytesIO(body), 10**7), []))
    assert exc.value.row == 3


def test_a_jsonl_line_with_a_byte_order_mark_says_so() -> None:
    out = list(iter_jsonl(HashingReader(io.BytesIO(b'\xef\xbb\xbf{"a": 1}\n'), 10**6)))
    assert out[0][:2] == (1, None)
    assert "byte-order mark" in str(out[0][2])


def test_a_complete_jsonl_line_past_the_row_limit_is_refused_with_its_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A line that arrives whole inside one read (not as a pending tail) is checked too.
    monkeypatch.setattr(tape_formats, "CHUNK", 4 * tape_formats.MAX_RECORD_BYTES)
    body = b'{"a": 1}\n' + b'{"a": "' + b"x" * tape_formats.MAX_RECORD_BYTES + b'"}\n{"a": 2}\n'
    with pytest.raises(TapeMalformed, match="line 2 is longer than") as exc:
        list(iter_jsonl(HashingReader(io.BytesIO(body), 10**8)))
    assert exc.value.row == 2


def test_a_json_array_with_a_5000_digit_integer_yields_a_marker() -> None:
    from gateway.ingest.bounded_json import HugeInteger

    body = b'[{"a": 1}, {"a": ' + b"9" * 5000 + b"}]"
    rows = [r for _, r, _ in iter_json_array(HashingReader(io.BytesIO(body), 10**6))]
    assert rows[0] == {"a": 1}
    assert isinstance(rows[1]["a"], HugeInteger)


def test_a_json_array_row_nested_50000_deep_is_malformed_with_the_rule() -> None:
    body = b'[{"a": 1}, {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]"
    with pytest.raises(TapeMalformed, match="deeper than 64 levels") as exc:
        list(iter_json_array(HashingReader(io.BytesIO(body), 10**6)))
    assert exc.value.row == 2


def test_a_row_nested_past_the_stack_is_refused_in_a_process_that_imported_py_ecc() -> None:
    # py_ecc raises the recursion limit to 100,000; at that limit the C decoder overflows the stack on a
    # value ~90,000 deep and the process dies. The gateway imports py_ecc, so the depth is bounded first.
    script = (
        "import io, sys, py_ecc\n"
        "assert sys.getrecursionlimit() >= 100000\n"
        "from gateway.ingest.tape_formats import HashingReader, TapeMalformed, iter_json_array\n"
        "body = b'[{\"a\": 1}, {\"a\": ' + b'[' * 99000 + b']' * 99000 + b'}]'\n"
        "try:\n"
        "    list(iter_json_array(HashingReader(io.BytesIO(body), 10**7)))\n"
        "except TapeMalformed as exc:\n"
        "    print(exc.row, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 ")
    assert "deeper than 64 levels" in done.stdout


_BRACKETY = st.text(alphabet='[]{}"\\ab,:', max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.lists(st.tuples(_BRACKETY, _BRACKETY), max_size=5))
def test_brackets_quotes_and_escapes_inside_strings_survive_any_chunking(
    chunk: int, pairs: list[tuple[str, str]]
) -> None:
    # The nesting bound reads strings whole, even when a chunk ends inside one or inside an escape.
    rows = [{f"k{i}{key}": value, "n": i} for i, (key, value) in enumerate(pairs)]
    body = json.dumps(rows).encode()
    out = [r for _, r, _ in iter_json_array(HashingReader(Trickle(body, chunk), 10**9))]  # type: ignore[arg-type]
    assert out == rows


@pytest.mark.parametrize("depth", [1_100, 5_000])
def test_a_row_past_the_fast_parsers_own_bound_is_refused_with_the_rule(depth: int) -> None:
    # The row's first "}" is its end, so the fast path tries it first and refuses it (orjson stops at
    # 1,024 levels); the careful path then names the nesting rule.
    row = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    reader = HashingReader(io.BytesIO(b"[" + row + b"]"), 10**6)
    with pytest.raises(TapeMalformed, match="deeper than 64 levels") as exc:
        list(iter_json_array(reader))
    assert exc.value.row == 1


def test_a_json_array_with_a_byte_order_mark_says_so() -> None:
    with pytest.raises(TapeMalformed, match="byte-order mark"):
        list(iter_json_array(HashingReader(io.BytesIO(b"\xef\xbb\xbf[]"), 10**6)))
