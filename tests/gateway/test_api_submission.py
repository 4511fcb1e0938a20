"""Tape submission through the API (Flask test client): acceptance, idempotency, and every refusal
leaving the database byte-for-byte unchanged."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from flask.testing import FlaskClient

from gateway.storage.records import mark_sealed

from .conftest import bearer, snapshot
from .helpers import CUTOFF, Instance, Platform, cn_row, jsonl

URL = f"/platform/pools/P1/cutoffs/{CUTOFF}/tapes"


def submit(
    client: FlaskClient,
    plat: Platform,
    body: bytes,
    *,
    ctype: str = "application/x-ndjson",
    url: str = URL,
    pool: str = "P1",
    cutoff: str = CUTOFF,
    **extra: str,
):  # type: ignore[no-untyped-def]
    return client.post(url, data=body, headers=plat.headers(pool, cutoff, body, ctype, **extra))


def tape(n: int = 20, start: int = 1) -> bytes:
    return jsonl(cn_row(i) for i in range(start, start + n))


def test_valid_tape_is_stored_with_its_signature(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    body = tape(25)
    r = submit(client, plat, body)
    assert r.status_code == 201, r.json
    assert r.json["rows"] == 25
    assert r.json["signature_verified"] is True
    db = inst.db()
    (n_loans,) = db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()
    sig, pk = db.conn.execute("SELECT signature, signer_public_key FROM tapes").fetchone()
    assert n_loans == 25
    assert base64.b64encode(sig).decode() == plat.headers("P1", CUTOFF, body)["X-Tape-Signature"]
    assert len(pk) == 32


def test_level3_values_are_not_stored_in_clear(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    row = cn_row(1, obligor_name="欧阳娜娜", mobile="13912345678")
    assert submit(client, plat, jsonl([row])).status_code == 201
    raw = b"".join(p.read_bytes() for p in inst.db_path.parent.glob("poolproof.db*"))
    assert len(raw) > 10_000
    for secret in ("欧阳娜娜".encode(), b"13912345678", row["id_number"].encode(), b"L0000001"):
        assert secret not in raw


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_json_array_and_csv_tapes_are_accepted(
    client: FlaskClient, plat: Platform, cn_pool: str, fmt: str
) -> None:
    rows = [cn_row(i) for i in range(1, 11)]
    if fmt == "json":
        body, ctype = json.dumps(rows, ensure_ascii=False).encode(), "application/json"
    else:
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
        body, ctype = out.getvalue().encode(), "text/csv"
    r = submit(client, plat, body, ctype=ctype)
    assert r.status_code == 201, r.json
    assert r.json["rows"] == 10
    assert r.json["format"] == fmt


def test_same_tape_again_returns_the_first_result(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    body = tape()
    first = submit(client, plat, body, **{"Idempotency-Key": "k1"})
    before = snapshot(inst)
    again = submit(client, plat, body, **{"Idempotency-Key": "k1"})
    no_key = submit(client, plat, body)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert no_key.status_code == 200
    assert no_key.json == first.json
    assert snapshot(inst) == before


def test_idempotency_key_reused_for_another_tape_is_409(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    assert submit(client, plat, tape(), **{"Idempotency-Key": "k1"}).status_code == 201
    before = snapshot(inst)
    r = submit(client, plat, tape(5), **{"Idempotency-Key": "k1"})
    assert r.status_code == 409
    assert "Idempotency-Key" in r.json["message"]
    assert snapshot(inst) == before


def test_corrected_tape_supersedes_an_open_cutoff(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    first = submit(client, plat, tape(10)).json
    second = submit(client, plat, tape(12))
    assert second.status_code == 201
    assert second.json["supersedes_tape_id"] == first["tape_id"]
    listing = client.get("/platform/pools/P1/tapes", headers=bearer(plat.api_key)).json
    assert [t["status"] for t in listing] == ["superseded", "current"]


def test_exposure_ids_are_stable_across_cutoffs(client: FlaskClient, plat: Platform, cn_pool: str) -> None:
    assert submit(client, plat, tape(3)).status_code == 201
    later = "2024-07-31"
    body = tape(3)
    assert (
        submit(client, plat, body, url=f"/platform/pools/P1/cutoffs/{later}/tapes", cutoff=later).status_code
        == 201
    )

    def ids(cutoff: str) -> list[str]:
        r = client.get(f"/platform/pools/P1/cutoffs/{cutoff}/loans", headers=bearer(plat.api_key))
        return [x["exposure_id"] for x in r.json["loans"]]

    assert ids(CUTOFF) == ids(later)
    assert len(set(ids(CUTOFF))) == 3


def test_different_tape_for_sealed_cutoff_is_409(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    body = tape()
    assert submit(client, plat, body).status_code == 201
    db = inst.db()
    mark_sealed(db, "P1", CUTOFF)
    before = snapshot(inst)
    r = submit(client, plat, tape(7))
    assert r.status_code == 409
    assert "sealed" in r.json["message"]
    assert submit(client, plat, body).status_code == 200  # the sealed tape itself replays
    assert snapshot(inst) == before


# --- refusals: each a clear 4xx with the documented body, and nothing changes ------------------------------
def _bad_rows() -> dict[str, tuple[bytes, str, str]]:
    """name -> (body, expected field, expected rule)"""
    return {
        "float_money": (
            jsonl([cn_row(1), cn_row(2, original_principal_fen=1234.5)]),
            "original_principal_fen",
            "integer_minor_units",
        ),
        "decimal_string_money": (
            jsonl([cn_row(1, current_principal_fen="3500.00")]),
            "current_principal_fen",
            "integer_minor_units",
        ),
        "negative_amount": (jsonl([cn_row(1, overdue_interest_fen=-5)]), "overdue_interest_fen", "range"),
        "wrong_type": (jsonl([cn_row(1, term_months="twelve")]), "term_months", "type"),
        "bad_id_checksum": (
            jsonl([cn_row(1, id_number="110105199003071230")]),
            "id_number",
            "prc_id_checksum",
        ),
        "bad_mobile": (jsonl([cn_row(1, mobile="12345")]), "mobile", "mobile_format"),
        "unknown_field": (jsonl([cn_row(1, favourite_colour="blue")]), "favourite_colour", "unknown_field"),
        "authentication_data": (jsonl([cn_row(1, cardPIN="1234")]), "cardPIN", "forbidden_field"),
        "derived_field": (jsonl([cn_row(1, exposure_id="abc")]), "exposure_id", "derived_field"),
        "date_order": (jsonl([cn_row(1, first_due_date="2023-12-01")]), "first_due_date", "date_order"),
        "dpd_incoherent": (jsonl([cn_row(1, days_past_due=12)]), "days_past_due", "dpd_coherence"),
        "rate_cap": (jsonl([cn_row(1, apr_all_in_bps=4000)]), "apr_all_in_bps", "rate_cap"),
        "duplicate": (jsonl([cn_row(1), cn_row(1)]), "platform_loan_id", "duplicate"),
        "missing_required": (
            jsonl([{k: v for k, v in cn_row(1).items() if k != "loan_status"}]),
            "loan_status",
            "required",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_rows()))
def test_invalid_row_rejects_the_whole_tape(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str, case: str
) -> None:
    body, field, rule = _bad_rows()[case]
    before = snapshot(inst)
    r = submit(client, plat, tape(30, start=100) + body)
    assert r.status_code == 422, r.json
    assert r.json["code"] == 422
    assert r.json["status"] == "Unprocessable Entity"
    assert "nothing stored" in r.json["message"]
    errs = r.json["errors"]["tape"]
    assert (field, rule) in {(e["field"], e["rule"]) for e in errs}
    assert all(e["row"] > 30 for e in errs)
    assert snapshot(inst) == before


def test_error_report_masks_sensitive_values(client: FlaskClient, plat: Platform, cn_pool: str) -> None:
    r = submit(client, plat, jsonl([cn_row(1, id_number="110105199003071230", password="hunter2")]))
    r2 = submit(client, plat, jsonl([cn_row(1, id_number="110105199003071230")]))
    text = r.get_data(as_text=True) + r2.get_data(as_text=True)
    assert "hunter2" not in text
    assert "110105199003071230" not in text
    (err,) = r2.json["errors"]["tape"]
    assert err["value"] == "**************1230"


def test_error_report_is_capped_but_counts_everything(inst: Instance, plat: Platform) -> None:
    from gateway import create_app

    app = create_app(inst.config(MAX_REPORTED_ERRORS=5))
    c = app.test_client()
    c.post(
        "/platform/pools",
        json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(plat.api_key),
    )
    body = jsonl(cn_row(i, term_months=0) for i in range(1, 41))
    r = c.post(URL, data=body, headers=plat.headers("P1", CUTOFF, body))
    assert r.status_code == 422
    assert len(r.json["errors"]["tape"]) == 5
    assert r.json["errors"]["summary"] == {
        "error_count": 40,
        "errors_listed": 5,
        "invalid_rows": 40,
        "rows_read": 40,
    }


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b'{"platform_loan_id": "L1", ', "application/x-ndjson"),
        (b"[{" + b'"a":1}, oops]', "application/json"),
        (b'{"not": "an array"}', "application/json"),
        (b"platform_loan_id,term_months\nL1,12,extra\n", "text/csv"),
        (b"platform_loan_id,platform_loan_id\nL1,L2\n", "text/csv"),
        (b"\xff\xfe\x00garbage", "application/x-ndjson"),
    ],
    ids=["jsonl_truncated", "json_syntax", "json_not_array", "csv_extra_cell", "csv_dup_header", "not_utf8"],
)
def test_malformed_body_is_400(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str, body: bytes, ctype: str
) -> None:
    before = snapshot(inst)
    r = submit(client, plat, tape(3) + body if ctype == "application/x-ndjson" else body, ctype=ctype)
    assert r.status_code in (400, 422), r.json
    assert r.json["code"] == r.status_code
    assert r.json["errors"]["tape"]
    assert snapshot(inst) == before


def test_oversized_body_is_413(client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str) -> None:
    before = snapshot(inst)
    body = tape(2000)  # > MAX_TAPE_BYTES of the fixture (2 MB)
    r = submit(client, plat, body)
    assert r.status_code == 413
    assert r.json["code"] == 413
    assert snapshot(inst) == before


def test_unsupported_content_type_is_415(client: FlaskClient, plat: Platform, cn_pool: str) -> None:
    r = submit(client, plat, tape(2), ctype="application/xml")
    assert r.status_code == 415


def test_another_platforms_pool_answers_as_an_unknown_pool(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    other = inst.add_platform("plat2")
    before = snapshot(inst)
    body = tape(3)
    r = client.post(URL, data=body, headers=other.headers("P1", CUTOFF, body))
    unknown = client.post(URL.replace("P1", "P9"), data=body, headers=other.headers("P9", CUTOFF, body))
    assert r.status_code == unknown.status_code == 404
    assert r.json == unknown.json
    assert snapshot(inst) == before


def test_unknown_credentials_are_401(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    before = snapshot(inst)
    body = tape(3)
    h = plat.headers("P1", CUTOFF, body)
    h["Authorization"] = "Bearer ppk_not-a-key"
    assert client.post(URL, data=body, headers=h).status_code == 401
    del h["Authorization"]
    r = client.post(URL, data=body, headers=h)
    assert r.status_code == 401
    assert r.json["status"] == "Unauthorized"
    assert snapshot(inst) == before


def test_non_platform_party_cannot_submit(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    key = inst.add_party("inv", "investor")
    body = tape(2)
    h = plat.headers("P1", CUTOFF, body)
    h["Authorization"] = f"Bearer {key}"
    assert client.post(URL, data=body, headers=h).status_code == 403


def test_tampered_body_under_a_valid_signature_is_rejected(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    body = tape(5)
    h = plat.headers("P1", CUTOFF, body)
    tampered = body.replace(b"350000", b"150000", 1)
    before = snapshot(inst)
    r = client.post(URL, data=tampered, headers=h)
    assert r.status_code == 400
    assert "X-Tape-SHA256" in r.json["message"]
    assert snapshot(inst) == before


def test_tampered_signature_is_403(client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str) -> None:
    body = tape(5)
    h = plat.headers("P1", CUTOFF, body)
    sig = bytearray(base64.b64decode(h["X-Tape-Signature"]))
    sig[10] ^= 1
    h["X-Tape-Signature"] = base64.b64encode(bytes(sig)).decode()
    before = snapshot(inst)
    r = client.post(URL, data=body, headers=h)
    assert r.status_code == 403
    assert "signature" in r.json["message"]
    assert snapshot(inst) == before


def test_replayed_signature_for_another_cutoff_or_tape_is_403(
    client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str
) -> None:
    body = tape(5)
    h = plat.headers("P1", CUTOFF, body)
    assert client.post(URL, data=body, headers=h).status_code == 201
    before = snapshot(inst)
    other = "2024-07-31"
    r = client.post(f"/platform/pools/P1/cutoffs/{other}/tapes", data=body, headers=h)
    assert r.status_code == 403
    body2 = tape(6)
    h2 = dict(h, **{"X-Tape-SHA256": plat.headers("P1", CUTOFF, body2)["X-Tape-SHA256"]})
    assert client.post(URL, data=body2, headers=h2).status_code == 403
    assert snapshot(inst) == before


def test_missing_signature_is_400(client: FlaskClient, plat: Platform, cn_pool: str) -> None:
    body = tape(2)
    h = plat.headers("P1", CUTOFF, body)
    del h["X-Tape-Signature"]
    assert client.post(URL, data=body, headers=h).status_code == 400


def test_empty_tape_is_rejected(client: FlaskClient, inst: Instance, plat: Platform, cn_pool: str) -> None:
    before = snapshot(inst)
    r = submit(client, plat, b"")
    assert r.status_code == 422
    assert r.json["errors"]["tape"][0]["rule"] == "empty"
    assert snapshot(inst) == before


def test_pool_creation_validates_settings(client: FlaskClient, plat: Platform) -> None:
    h = bearer(plat.api_key)
    bad = client.post("/platform/pools", json={"pool_id": "P9", "settings": {"preset": "XX"}}, headers=h)
    assert bad.status_code == 422
    assert "settings" in bad.json["errors"]["json"]
    edges = client.post(
        "/platform/pools",
        json={"pool_id": "P9", "settings": {"preset": "CN_CONSUMER", "dpd_edges": [30, 0]}},
        headers=h,
    )
    assert edges.status_code == 422
    ok = client.post(
        "/platform/pools",
        json={"pool_id": "P9", "settings": {"preset": "US_CONSUMER", "apr_flag_bps": 3000}},
        headers=h,
    )
    assert ok.status_code == 201
    assert ok.json["config"]["apr_flag_bps"] == 3000
    dup = client.post(
        "/platform/pools", json={"pool_id": "P9", "settings": {"preset": "US_CONSUMER"}}, headers=h
    )
    assert dup.status_code == 409


def test_write_lock_timeout_is_503_with_retry_after(
    inst: Instance, plat: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import create_app
    from gateway.storage.db import transaction

    app = create_app(inst.config())
    c = app.test_client()
    c.post(
        "/platform/pools",
        json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(plat.api_key),
    )
    monkeypatch.setenv("POOLPROOF_SQLITE_BUSY_MS", "100")
    holder = inst.db()
    body = tape(3)
    with transaction(holder):  # another writer holds the lock
        r = c.post(URL, data=body, headers=plat.headers("P1", CUTOFF, body))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "30"
    assert r.json["code"] == 503
    assert submit(c, plat, body).status_code == 201  # and once the lock is free, it goes through
