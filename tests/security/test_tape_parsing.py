"""Hostile loan tapes through the real submission endpoint: every malformed tape is a 4xx, nothing stored.

Tapes are built from valid rows and then damaged at two levels: field values (wrong types, huge
strings, NUL bytes, control characters, unknown and forbidden fields, deleted fields) and bytes of the
encoded body (BOMs, UTF-16 and GB18030 encodings, CRLF, invalid UTF-8, NUL bytes, truncation, quoting
damage, random flips), in each of the three formats (JSON array, JSONL, CSV), plus raw random bodies.
Each answer must be a 2xx (the tape was in fact valid) or one of the documented 4xx with the standard
error body; a rejected tape must leave every table unchanged; a 422 names row, field and rule.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.storage.db import connect
from gateway.storage.records import table_digest
from tests.gateway.helpers import cn_row, jsonl

from .world import World, bearer

POOL = "TAPES"
CUTOFF = "2024-06-30"
CONTENT_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}
REJECTION_CODES = {400, 413, 415, 422}
SETTINGS = settings(
    max_examples=80, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def tape_pool(world: World) -> str:
    r = world.client.post(
        "/platform/pools",
        json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(world.keys["platform"]),
    )
    assert r.status_code == 201, r.get_json()
    return POOL


def digest(world: World) -> dict[str, str]:
    db = connect(world.inst.db_path)
    try:
        return table_digest(db)
    finally:
        db.conn.close()


def submit(world: World, body: bytes, fmt: str) -> Any:
    headers = {
        **bearer(world.keys["platform"]),
        **world.signed_tape_headers(body, pool=POOL, cutoff=CUTOFF),
        "Content-Type": CONTENT_TYPES[fmt],
    }
    return world.client.post(f"/platform/pools/{POOL}/cutoffs/{CUTOFF}/tapes", data=body, headers=headers)


def encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl":
        return jsonl(rows)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode()
    names = sorted({k for r in rows for k in r})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(names)
    for r in rows:
        w.writerow(["" if r.get(k) is None else str(r.get(k)) for k in names])
    return out.getvalue().encode()


def check_answer(world: World, before: dict[str, str], resp: Any) -> None:
    """The invariant every submission must keep, valid or not."""
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:500])
    body = resp.get_json()
    assert isinstance(body, dict), resp.get_data()[:200]
    if resp.status_code == 409:  # a valid tape stored before and superseded since: said so, not replayed
        assert body["errors"]["tape"]["status"] == "superseded", body
    if resp.status_code >= 400:
        assert resp.status_code in REJECTION_CODES | {409}, (resp.status_code, body)
        assert body["code"] == resp.status_code
        assert body["message"]
        assert digest(world) == before, "a rejected tape changed the database"
    if resp.status_code == 422:
        listed = body["errors"]["tape"]
        assert listed, body
        for err in listed:
            assert {"row", "field", "rule"} <= set(err), err
    if resp.status_code in (200, 201):
        assert body["rows"] >= 1, body  # a valid tape after all (e.g. CRLF line ends): stored whole


# --- field-level damage ---------------------------------------------------------------------------------
hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**53 - 1, 2**53, -(2**53), 10**4000]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\u202e\u200b",
            "x" * 200_000,
            "1e9",
            "0x10",
            "１２３",
            "2024-02-30",
            "12.50",
            "-0",
            " 42 ",
            "NaN",
            '"quoted, with comma"\r\n',
            '=HYPERLINK("http://x.invalid")',
            "@SUM(A1)",
            "L0000001\u200b",
            "\ufeffL0000001",
            "\u041b0000001",
            "l0000001 ",
            "\u2066x\u2069",
            "a\x85b",
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
FIELDS = sorted(cn_row(1))


@st.composite
def damaged_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = [cn_row(i) for i in range(1, draw(st.integers(min_value=1, max_value=4)) + 1)]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        row = rows[draw(st.integers(min_value=0, max_value=len(rows) - 1))]
        action = draw(st.sampled_from(["set", "delete", "unknown", "forbidden"]))
        name = draw(st.sampled_from(FIELDS))
        if action == "set":
            row[name] = draw(hostile_values)
        elif action == "delete":
            row.pop(name, None)
        elif action == "unknown":
            row[draw(st.text(min_size=1, max_size=12))] = draw(hostile_values)
        else:
            row[draw(st.sampled_from(["password", "cvv", "otp", "card_pin"]))] = "s3cret-123"
    return rows


def test_rows_with_damaged_fields_are_refused_whole_and_nothing_is_stored(
    world: World, tape_pool: str
) -> None:
    @SETTINGS
    @given(rows=damaged_rows(), fmt=st.sampled_from(sorted(CONTENT_TYPES)))
    def check(rows: list[dict[str, Any]], fmt: str) -> None:
        try:
            body = encode(rows, fmt)
        except (TypeError, ValueError):  # not representable in this format: nothing to send
            return
        before = digest(world)
        check_answer(world, before, submit(world, body, fmt))

    check()


# --- byte-level damage ----------------------------------------------------------------------------------
def _damage(body: bytes, how: str, at: int, blob: bytes) -> bytes:
    i = at % (len(body) + 1)
    if how == "bom8":
        return b"\xef\xbb\xbf" + body
    if how == "utf16":
        return body.decode("utf-8").encode("utf-16")
    if how == "gb18030":
        return body.decode("utf-8").encode("gb18030")
    if how == "crlf":
        return body.replace(b"\n", b"\r\n")
    if how == "invalid_utf8":
        return body[:i] + b"\xc3\x28\xff" + body[i:]
    if how == "nul":
        return body[:i] + b"\x00" + body[i:]
    if how == "truncate":
        return body[:i]
    if how == "quote":
        return body[:i] + b'"' + body[i:]
    if how == "splice":
        return body[:i] + blob + body[i:]
    out = bytearray(body)  # flip
    if out:
        out[i % len(out)] ^= (blob[:1] or b"\x01")[0] or 1
    return bytes(out)


def test_tapes_with_damaged_bytes_are_refused_and_nothing_is_stored(world: World, tape_pool: str) -> None:
    @SETTINGS
    @given(
        fmt=st.sampled_from(sorted(CONTENT_TYPES)),
        how=st.sampled_from(
            ["bom8", "utf16", "gb18030", "crlf", "invalid_utf8", "nul", "truncate", "quote", "splice", "flip"]
        ),
        at=st.integers(min_value=0),
        blob=st.binary(max_size=16),
        n=st.integers(min_value=1, max_value=3),
    )
    def check(fmt: str, how: str, at: int, blob: bytes, n: int) -> None:
        body = _damage(encode([cn_row(i) for i in range(1, n + 1)], fmt), how, at, blob)
        before = digest(world)
        check_answer(world, before, submit(world, body, fmt))

    check()


def test_random_bodies_are_refused_and_nothing_is_stored(world: World, tape_pool: str) -> None:
    @settings(SETTINGS, max_examples=60)
    @given(fmt=st.sampled_from(sorted(CONTENT_TYPES)), body=st.binary(max_size=300))
    def check(fmt: str, body: bytes) -> None:
        before = digest(world)
        check_answer(world, before, submit(world, body, fmt))

    check()


@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
def test_a_single_huge_field_is_refused_without_storing(world: World, tape_pool: str, fmt: str) -> None:
    rows = [cn_row(1, obligor_name="名" * 3_000_000)]
    before = digest(world)
    resp = submit(world, encode(rows, fmt), fmt)
    check_answer(world, before, resp)
    assert resp.status_code in (400, 422), resp.get_json()


def test_a_csv_exported_with_a_byte_order_mark_is_read_like_one_without(world: World, tape_pool: str) -> None:
    """Spreadsheet exports start CSV with a UTF-8 BOM; it is not part of the first column's name."""
    rows = [cn_row(i) for i in range(1, 4)]
    body = encode(rows, "csv")
    with_bom = submit(world, b"\xef\xbb\xbf" + body, "csv")
    assert with_bom.status_code in (200, 201), with_bom.get_json()
    assert with_bom.get_json()["rows"] == 3
