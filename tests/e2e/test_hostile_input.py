"""Hostile input through a real gateway on 127.0.0.1: every refusal is a 4xx naming row, field and rule.

Covers crafted numbers and nesting (a 5000-digit integer, integers past 2^53, a row nested 50,000 deep,
in JSON-array, JSONL and CSV tapes and in request bodies), unbounded cursors, look-alike loan ids,
bidirectional and control characters in names and addresses, spreadsheet formula cells, a byte-order
mark on a JSONL tape, oversized cells, the source-line numbering of errors, and the replay of a tape
that has been superseded. Each refused tape must leave the database unchanged.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
from typing import Any

import pytest
import requests

from gateway.keys.tape_signatures import sign_tape
from gateway.storage.db import connect
from gateway.storage.records import table_digest
from tests.gateway.helpers import cn_row

from .conftest import Gateway

CUTOFF = "2024-06-30"
LATER = "2024-07-31"
CONTENT_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}
_pool_numbers = itertools.count(1)


def new_pool(gw: Gateway) -> str:
    pool = f"HOSTILE{next(_pool_numbers)}"
    gw.create_pool(pool, "CN_CONSUMER")
    return pool


@pytest.fixture(scope="module")
def pool(gw: Gateway) -> str:
    return new_pool(gw)


def encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl":
        return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    names = list(rows[0])
    w.writerow(names)
    for r in rows:
        w.writerow(["" if r.get(k) is None else str(r[k]) for k in names])
    return out.getvalue().encode()


def post_tape(gw: Gateway, pool: str, body: bytes, fmt: str, cutoff: str = CUTOFF, **headers: str) -> Any:
    digest = hashlib.sha256(body).hexdigest()
    signature = base64.b64encode(sign_tape(gw.signing_key, pool, cutoff, digest)).decode()
    h = {"Content-Type": CONTENT_TYPES[fmt], "X-Tape-SHA256": digest, "X-Tape-Signature": signature}
    h.update(headers)
    return gw.clients["platform"].post(f"/pools/{pool}/cutoffs/{cutoff}/tapes", headers=h, data=body)


def digest(gw: Gateway) -> dict[str, str]:
    db = connect(gw.inst.db_path)
    try:
        return table_digest(db)
    finally:
        db.conn.close()


def refused(gw: Gateway, pool: str, body: bytes, fmt: str, status: int) -> dict[str, Any]:
    """Submit, expect ``status`` with the standard error body, and check that nothing was stored."""
    before = digest(gw)
    r = post_tape(gw, pool, body, fmt)
    assert r.status_code == status, r.text[:2000]
    out: dict[str, Any] = r.json()
    assert out["code"] == status
    assert digest(gw) == before, "a refused tape changed the database"
    return out


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = body["errors"]["tape"]
    assert len(errors) == 1, errors
    return errors[0]


# --- integer size -------------------------------------------------------------------------------------------
def _with_raw_integer(fmt: str, name: str, literal: str) -> bytes:
    """A one-row tape whose field ``name`` carries the integer ``literal`` exactly as written."""
    row = cn_row(1, **{name: 7})
    body = encode([row], fmt)
    if fmt == "csv":
        head, line = body.decode().split("\r\n")[:2]
        cells = line.split(",")
        cells[head.split(",").index(name)] = literal
        return (head + "\r\n" + ",".join(cells) + "\r\n").encode()
    needle = f'"{name}": 7'.encode()
    assert body.count(needle) == 1
    return body.replace(needle, f'"{name}": {literal}'.encode())


@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
def test_a_5000_digit_integer_is_a_422_naming_the_field(gw: Gateway, pool: str, fmt: str) -> None:
    body = refused(gw, pool, _with_raw_integer(fmt, "term_months", "9" * 5000), fmt, 422)
    err = only_error(body)
    row = 2 if fmt == "csv" else 1
    assert (err["row"], err["field"], err["rule"]) == (row, "term_months", "integer_size")
    assert "5000 digits" in err["message"] or "2^53" in err["message"]
    assert len(json.dumps(body)) < 2000  # the value is not echoed whole


@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
@pytest.mark.parametrize("literal", [str(2**53), str(2**64), str(-(2**63) - 1)])
def test_an_integer_beyond_2_53_gets_its_own_message(gw: Gateway, pool: str, fmt: str, literal: str) -> None:
    err = only_error(refused(gw, pool, _with_raw_integer(fmt, "original_principal_fen", literal), fmt, 422))
    assert (err["field"], err["rule"]) == ("original_principal_fen", "integer_size")
    assert "2^53" in err["message"]


# --- nesting depth ------------------------------------------------------------------------------------------
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_row_nested_50000_deep_is_refused_with_the_rule(gw: Gateway, pool: str, fmt: str) -> None:
    row = json.dumps(cn_row(1))[:-1] + ', "obligor_name": ' + DEEP + "}"
    body = ("[" + row + "]" if fmt == "json" else row + "\n").encode()
    err = only_error(refused(gw, pool, body, fmt, 400))
    assert err["row"] == 1
    assert "deeper than 64 levels" in err["message"]


def _json_routes(gw: Gateway) -> list[tuple[str, str, str]]:
    """(method, path, key) for every endpoint of the OpenAPI document that takes a JSON request body."""
    spec = requests.get(f"{gw.url}/openapi.json", timeout=30).json()
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) else {}
            if "application/json" in content and "/tapes" not in path:
                out.append((method.upper(), path, path.split("/")[1]))
    assert len(out) >= 3, out
    return out


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        (DEEP.encode(), "nesting_depth"),
        (b'{"pool_id": "X", "party_id": "x", "role": "investor", "n": ' + b"9" * 5000 + b"}", "integer_size"),
        (b'{"pool_id": "X", "n": 9007199254740993}', "integer_size"),
    ],
    ids=["deep", "5000_digits", "beyond_2_53"],
)
def test_every_json_request_body_is_bounded(gw: Gateway, pool: str, payload: bytes, rule: str) -> None:
    keys = {"platform": gw.clients["platform"].api_key, "admin": gw.inst.admin_key}
    for method, path, audience in _json_routes(gw):
        url = gw.url + path.replace("{pool_id}", pool).replace("{cutoff}", CUTOFF)
        url = url.replace("{party_id}", "nobody").replace("{", "").replace("}", "")
        key = keys.get(audience, keys["platform"])
        r = requests.request(
            method,
            url,
            data=payload,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:300])
        if r.status_code == 400:
            assert rule in r.text, (method, path, r.text[:300])


def test_pool_creation_names_the_body_rule(gw: Gateway) -> None:
    r = gw.clients["platform"].post(
        "/pools", data=DEEP.encode(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["errors"]["json"]["_body"] == [
        "nesting_depth: the body nests arrays/objects deeper than 32 levels"
    ]


# --- cursors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("after", ["9223372036854775808", "4294967296", "-1", "9" * 5000, "1e3"])
def test_an_out_of_range_cursor_is_a_422(gw: Gateway, pool: str, after: str) -> None:
    r = gw.clients["platform"].get(f"/pools/{pool}/cutoffs/{CUTOFF}/loans", params={"after": after})
    assert r.status_code == 422, r.text
    assert "after" in r.json()["errors"]["query"]


AUDIENCE_ROLES = {
    "trustee": "trustee",
    "rating-agency": "rating_agency",
    "investor": "investor",
    "auditor": "auditor",
    "regulator": "regulator",
    "borrower": "borrower",
}


def test_every_audiences_loans_listing_bounds_its_cursor(gw: Gateway, pool: str) -> None:
    spec = requests.get(f"{gw.url}/openapi.json", timeout=30).json()
    listings = [p for p in spec["paths"] if p.endswith("/cutoffs/{cutoff}/loans")]
    assert {p.split("/")[1] for p in listings} == {"platform", *AUDIENCE_ROLES}
    for prefix, role in AUDIENCE_ROLES.items():
        party = f"hostile-{role.replace('_', '-')}"
        client = gw.add(party, party, role, f"/{prefix}")
        gw.grant(party, pool)
        for after in ("9223372036854775808", "4294967296", "-1"):
            r = client.get(f"/pools/{pool}/cutoffs/{CUTOFF}/loans", params={"after": after})
            assert r.status_code == 422, (prefix, after, r.status_code, r.text[:300])
            assert "after" in r.json()["errors"]["query"], (prefix, r.text[:300])


def test_the_largest_cursor_is_an_empty_last_page(gw: Gateway) -> None:
    p = new_pool(gw)
    assert post_tape(gw, p, encode([cn_row(1)], "jsonl"), "jsonl").status_code == 201
    r = gw.clients["platform"].get(f"/pools/{p}/cutoffs/{CUTOFF}/loans", params={"after": str(2**32 - 1)})
    assert r.status_code == 200, r.text
    assert r.json()["loans"] == []


# --- identifiers --------------------------------------------------------------------------------------------
LOOK_ALIKES = {
    "zero_width_space": ("L0000001\u200b", "invisible_characters"),
    "leading_bom": ("\ufeffL0000001", "invisible_characters"),
    "cyrillic_letter": ("\u041b0000001", "id_charset"),  # Cyrillic capital El for Latin L
    "bidi_override": ("L000\u202e0001", "bidi_control"),
    "case": ("l0000001", "duplicate"),
    "trailing_space": ("L0000001 ", "duplicate"),
    "leading_space": (" L0000001", "duplicate"),
    "full_width": ("Ｌ" + "０" * 6 + "１", "duplicate"),  # NFKC folds it to L0000001
}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("variant", sorted(LOOK_ALIKES))
def test_a_look_alike_loan_id_is_not_a_second_loan(gw: Gateway, pool: str, variant: str, fmt: str) -> None:
    loan_id, rule = LOOK_ALIKES[variant]
    rows = [cn_row(1), cn_row(2, platform_loan_id=loan_id)]
    err = only_error(refused(gw, pool, encode(rows, fmt), fmt, 422))
    assert (err["field"], err["rule"]) == ("platform_loan_id", rule)
    assert err["row"] == (3 if fmt == "csv" else 2)
    if rule == "duplicate":
        assert err["message"] == f"platform_loan_id already used on row {2 if fmt == 'csv' else 1}"


def test_a_loan_id_in_another_case_next_month_is_the_same_exposure(gw: Gateway) -> None:
    p = new_pool(gw)
    assert post_tape(gw, p, encode([cn_row(1, platform_loan_id="ab-7")], "jsonl"), "jsonl").status_code == 201
    later = encode([cn_row(1, platform_loan_id=" AB-7", origination_date="2024-01-05")], "jsonl")
    assert post_tape(gw, p, later, "jsonl", cutoff=LATER).status_code == 201

    def loans(cutoff: str) -> list[dict[str, Any]]:
        r = gw.clients["platform"].get(f"/pools/{p}/cutoffs/{cutoff}/loans")
        assert r.status_code == 200, r.text
        return list(r.json()["loans"])

    first, second = loans(CUTOFF), loans(LATER)
    assert first[0]["exposure_id"] == second[0]["exposure_id"]
    assert second[0]["platform_loan_id"] == "AB-7"  # stored normalised: surrounding space removed


# --- names and addresses ------------------------------------------------------------------------------------
HOSTILE_TEXT = {
    "right_to_left_override": ("obligor_name", "张\u202e三", "bidi_control"),
    "isolate": ("home_address", "北京市\u2066朝阳区\u2069", "bidi_control"),
    "bell": ("obligor_name", "张\x07三", "control_characters"),
    "c1_next_line": ("home_address", "北京市\x85朝阳区", "control_characters"),
    "line_separator": ("home_address", "北京市\u2028朝阳区", "control_characters"),
    "zero_width_joiner": ("obligor_name", "张\u200d三", "invisible_characters"),
    "byte_order_mark": ("obligor_name", "\ufeff张三", "invisible_characters"),
    "nul": ("obligor_name", "张\x00三", "control_characters"),
}


@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
@pytest.mark.parametrize("case", sorted(HOSTILE_TEXT))
def test_names_and_addresses_refuse_bidi_and_control_characters(
    gw: Gateway, pool: str, case: str, fmt: str
) -> None:
    field, value, rule = HOSTILE_TEXT[case]
    err = only_error(refused(gw, pool, encode([cn_row(1, **{field: value})], fmt), fmt, 422))
    assert (err["field"], err["rule"]) == (field, rule)
    assert err["message"].startswith(("bidirectional", "control", "invisible"))
    assert "U+" in err["message"]


# --- spreadsheet formulas -----------------------------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://x.invalid")', "+86-10-1234", "-2+3", "@SUM(A1:A9)", "=1+1"]


@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
@pytest.mark.parametrize("cell", FORMULAS)
@pytest.mark.parametrize("field", ["obligor_name", "home_address", "consent_version"])
def test_a_cell_a_spreadsheet_would_run_is_refused(
    gw: Gateway, pool: str, fmt: str, cell: str, field: str
) -> None:
    err = only_error(refused(gw, pool, encode([cn_row(1, **{field: cell})], fmt), fmt, 422))
    assert (err["field"], err["rule"]) == (field, "formula_prefix")


@pytest.mark.parametrize("cell", ["\t=1+1", "\r=1+1"])
def test_a_formula_behind_a_tab_or_carriage_return_is_refused(gw: Gateway, pool: str, cell: str) -> None:
    err = only_error(refused(gw, pool, encode([cn_row(1, obligor_name=cell)], "jsonl"), "jsonl", 422))
    assert (err["field"], err["rule"]) == ("obligor_name", "control_characters")


def test_text_with_a_formula_sign_inside_is_stored(gw: Gateway) -> None:
    p = new_pool(gw)
    r = post_tape(gw, p, encode([cn_row(1, home_address="北京市朝阳区 1-2 号 (A=B)")], "csv"), "csv")
    assert r.status_code == 201, r.text


# --- error texts --------------------------------------------------------------------------------------------
def test_a_jsonl_tape_with_a_byte_order_mark_says_so(gw: Gateway, pool: str) -> None:
    body = b"\xef\xbb\xbf" + encode([cn_row(1), cn_row(2)], "jsonl")
    err = only_error(refused(gw, pool, body, "jsonl", 400))
    assert err["row"] == 1
    assert "byte-order mark" in err["message"]


def test_a_json_array_with_a_byte_order_mark_says_so(gw: Gateway, pool: str) -> None:
    err = only_error(refused(gw, pool, b"\xef\xbb\xbf" + encode([cn_row(1)], "json"), "json", 400))
    assert "byte-order mark" in err["message"]


def test_an_oversized_csv_cell_names_its_line_and_the_limit(gw: Gateway, pool: str) -> None:
    rows = [cn_row(1), cn_row(2), cn_row(3, home_address="x" * 200_000)]
    err = only_error(refused(gw, pool, encode(rows, "csv"), "csv", 400))
    assert err["row"] == 4
    limit = csv.field_size_limit()
    assert err["message"] == f"a cell of the record on line 4 is longer than {limit} characters"


def test_an_oversized_jsonl_line_names_its_line_and_the_limit(gw: Gateway, pool: str) -> None:
    rows = [cn_row(1), cn_row(2, home_address="x" * 1_100_000)]
    err = only_error(refused(gw, pool, encode(rows, "jsonl"), "jsonl", 400))
    assert err["row"] == 2
    assert err["message"] == "line 2 is longer than 1048576 bytes, a row's limit"


def test_an_oversized_json_string_is_a_length_error_on_its_field(gw: Gateway, pool: str) -> None:
    err = only_error(refused(gw, pool, encode([cn_row(1, obligor_name="x" * 100_000)], "json"), "json", 422))
    assert (err["field"], err["rule"]) == ("obligor_name", "length")


def test_a_missing_level_3_field_shows_no_value(gw: Gateway, pool: str) -> None:
    row = cn_row(1)
    del row["obligor_name"]
    body = refused(gw, pool, encode([row], "jsonl"), "jsonl", 422)
    err = only_error(body)
    assert (err["field"], err["rule"], err["value"]) == ("obligor_name", "required", None)
    assert "NoneType" not in json.dumps(body)


# --- row numbering: the source line -------------------------------------------------------------------------
def test_a_csv_error_names_the_line_of_the_file(gw: Gateway, pool: str) -> None:
    rows = [cn_row(i) for i in range(1, 13)] + [cn_row(13, term_months=0)]
    err = only_error(refused(gw, pool, encode(rows, "csv"), "csv", 422))
    assert (err["row"], err["field"], err["rule"]) == (14, "term_months", "range")  # header is line 1


def test_a_csv_record_after_a_multi_line_cell_keeps_its_line(gw: Gateway, pool: str) -> None:
    rows = [cn_row(1, home_address="北京市\n朝阳区"), cn_row(2, term_months=0)]
    body = refused(gw, pool, encode(rows, "csv"), "csv", 422)
    lines = {(e["row"], e["field"], e["rule"]) for e in body["errors"]["tape"]}
    assert lines == {(2, "home_address", "control_characters"), (4, "term_months", "range")}


def test_a_jsonl_error_names_the_line_counting_blank_lines(gw: Gateway, pool: str) -> None:
    body = encode([cn_row(1)], "jsonl") + b"\n   \n" + encode([cn_row(2, term_months=0)], "jsonl")
    err = only_error(refused(gw, pool, body, "jsonl", 422))
    assert (err["row"], err["field"]) == (4, "term_months")


def test_a_json_array_error_names_the_rows_position(gw: Gateway, pool: str) -> None:
    rows = [cn_row(1), cn_row(2), cn_row(3, term_months=0)]
    body = json.dumps(rows, indent=2).encode()  # many lines per row: "row" is the position in the array
    err = only_error(refused(gw, pool, body, "json", 422))
    assert (err["row"], err["field"]) == (3, "term_months")


def test_loan_indexes_stay_consecutive_whatever_the_line_numbers(gw: Gateway) -> None:
    p = new_pool(gw)
    body = encode([cn_row(1)], "jsonl") + b"\n\n" + encode([cn_row(2), cn_row(3)], "jsonl")
    assert post_tape(gw, p, body, "jsonl").status_code == 201
    r = gw.clients["platform"].get(f"/pools/{p}/cutoffs/{CUTOFF}/loans")
    assert [x["index"] for x in r.json()["loans"]] == [1, 2, 3]


# --- superseded tapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_key", [False, True])
def test_replaying_a_superseded_tape_says_it_is_superseded(gw: Gateway, with_key: bool) -> None:
    p = new_pool(gw)
    first_body = encode([cn_row(i) for i in range(1, 4)], "jsonl")
    second_body = encode([cn_row(i) for i in range(1, 3)], "jsonl")
    key = {"Idempotency-Key": f"{p}-first"} if with_key else {}
    first = post_tape(gw, p, first_body, "jsonl", **key).json()
    second = post_tape(gw, p, second_body, "jsonl").json()
    assert second["supersedes_tape_id"] == first["tape_id"]
    assert post_tape(gw, p, second_body, "jsonl").status_code == 200  # the current tape replays as before
    before = digest(gw)
    r = post_tape(gw, p, first_body, "jsonl", **key)
    assert r.status_code == 409, r.text
    assert "Idempotent-Replayed" not in r.headers
    body = r.json()
    assert body["errors"]["tape"] == {
        "status": "superseded",
        "tape_id": first["tape_id"],
        "cutoff_date": CUTOFF,
        "current_tape_id": second["tape_id"],
    }
    assert "superseded" in body["message"]
    assert digest(gw) == before
    listing = gw.clients["platform"].get(f"/pools/{p}/tapes").json()
    assert [t["status"] for t in listing] == ["superseded", "current"]


def test_a_borrower_finds_their_loan_by_any_form_of_its_id(gw: Gateway) -> None:
    p = new_pool(gw)
    rows = [cn_row(i, platform_loan_id=f"ab-{i}") for i in range(1, 4)]
    assert post_tape(gw, p, encode(rows, "jsonl"), "jsonl").status_code == 201
    loans = gw.clients["platform"].get(f"/pools/{p}/cutoffs/{CUTOFF}/loans").json()["loans"]
    party = f"hostile-borrower-{p.lower()}"
    borrower = gw.add(
        party, party, "borrower", "/borrower", pools=[p], obligor_keys=[loans[0]["obligor_pseudo_id"]]
    )
    gw.seal(p, CUTOFF)
    found = []
    for asked in ("ab-1", "AB-1", " Ab-1 ", "ａｂ-１"):
        r = borrower.get(f"/pools/{p}/snapshots/{CUTOFF}/inclusion", params={"platform_loan_id": asked})
        assert r.status_code == 200, (asked, r.text[:300])
        found.append(r.json()["record"]["platform_loan_id"])
    assert found == ["ab-1"] * 4
    other = borrower.get(f"/pools/{p}/snapshots/{CUTOFF}/inclusion", params={"platform_loan_id": "AB-2"})
    assert other.status_code == 404
