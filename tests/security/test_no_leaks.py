"""Secrets and level 3+ values never leave the gateway: not in error bodies, logs, or the stored bytes.

* API keys are stored only as SHA-256 digests and looked up by digest, then compared with
  ``hmac.compare_digest`` (constant time); the key text appears nowhere in the database files.
* Rejected tapes with real-looking identity numbers, mobiles, names, accounts and authentication data
  get error reports and log lines that name row, field and rule, never the values.
* Accepted level 3+ values are encrypted at rest: their plaintext is in no database file (main, WAL,
  decision log).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import pytest

from gateway.storage import records as storage
from gateway.storage.db import connect
from tests.gateway.helpers import cn_row, jsonl, prc_id

from .world import World, bearer

IDENTITY = {
    "obligor_name": "欧阳明哲",
    "id_number": prc_id("44030419850612371"),
    "mobile": "13987654321",
    "repayment_account": "6228480402564890018",
    "home_address": "深圳市南山区科技园南路99号",
}
AUTH_SECRET = "Tr0ub4dor&3-secret"


def database_bytes(world: World) -> bytes:
    root = world.inst.db_path.parent
    return b"".join(p.read_bytes() for p in sorted(root.iterdir()) if ".db" in p.name)


def identity_needles(values: dict[str, Any]) -> list[bytes]:
    return [str(v).encode() for v in values.values()]


def test_api_keys_are_stored_only_as_sha256_digests(world: World) -> None:
    db = connect(world.inst.db_path)
    try:
        stored = {r[0] for r in db.conn.execute("SELECT key_hash FROM api_keys")}
    finally:
        db.conn.close()
    for key in world.keys.values():
        assert hashlib.sha256(key.encode()).hexdigest() in stored
        assert key not in stored
    raw = database_bytes(world)
    for key in world.keys.values():
        assert key.encode() not in raw
        assert key[4:].encode() not in raw  # nor its random part without the prefix


def test_api_keys_are_compared_in_constant_time(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(storage.hmac, "compare_digest", spy)
    db = connect(world.inst.db_path)
    try:
        key = world.keys["investor"]
        assert storage.authenticate(db, key) is not None
        digest = hashlib.sha256(key.encode()).hexdigest()
        assert (digest, digest) in calls  # the digest, never the key, and compared with compare_digest
        assert all(key not in (a, b) for a, b in calls)
        assert storage.authenticate(db, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    finally:
        db.conn.close()


def test_an_unknown_key_is_not_echoed(world: World) -> None:
    guess = "ppk_" + "Zq9" * 14
    resp = world.client.get("/investor/pools", headers=bearer(guess))
    assert resp.status_code == 401
    assert guess not in resp.get_data(as_text=True)
    assert guess[4:20] not in resp.get_data(as_text=True)


def _bad_rows() -> list[dict[str, Any]]:
    """Rows carrying real-looking identity values, each with a different rule broken."""
    good = IDENTITY["id_number"]
    wrong_check = good[:-1] + ("1" if good[-1] != "1" else "2")
    return [
        cn_row(901, **{**IDENTITY, "id_number": wrong_check}),
        cn_row(902, **{**IDENTITY, "mobile": "2" + IDENTITY["mobile"][1:]}),  # not a mainland mobile
        cn_row(903, **IDENTITY, days_past_due=-4),
        cn_row(904, **IDENTITY, password=AUTH_SECRET),  # authentication data never enters
        cn_row(905, **IDENTITY, current_principal_fen="12.5"),
    ]


def test_rejected_tapes_never_echo_identity_values_or_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rows = _bad_rows()
    needles = [
        *identity_needles(IDENTITY),
        rows[0]["id_number"].encode(),
        rows[1]["mobile"].encode(),
        AUTH_SECRET.encode(),
    ]
    for fmt, body in (("application/x-ndjson", jsonl(rows)), ("application/json", _json_array(rows))):
        headers = {**bearer(world.keys["platform"]), **world.signed_tape_headers(body, cutoff="2024-07-31")}
        headers["Content-Type"] = fmt
        resp = world.client.post("/platform/pools/P1/cutoffs/2024-07-31/tapes", data=body, headers=headers)
        assert resp.status_code == 422, resp.get_json()
        errors = resp.get_json()["errors"]
        assert errors, "a rejected tape says why"
        text = resp.get_data()
        for needle in needles:
            assert needle not in text, needle.decode()
            assert needle.decode() not in caplog.text
        assert b"password" in text  # the field is named, its value is not


def _json_array(rows: list[dict[str, Any]]) -> bytes:
    import json

    return json.dumps(rows, ensure_ascii=False).encode()


def test_accepted_identity_values_are_encrypted_at_rest(world: World) -> None:
    values = {
        "obligor_name": "司马相如",
        "id_number": prc_id("32010619770315452"),
        "mobile": "15012348765",
        "repayment_account": "6217002710000684874",
        "home_address": "南京市鼓楼区中山北路200号",
    }
    client = world.client
    r = client.post(
        "/platform/pools",
        json={"pool_id": "LEAK", "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(world.keys["platform"]),
    )
    assert r.status_code == 201, r.get_json()
    body = jsonl([cn_row(1, **values, birth_date="1977-03-15", gender="F"), cn_row(2)])
    headers = {**bearer(world.keys["platform"]), **world.signed_tape_headers(body, pool="LEAK")}
    r = client.post("/platform/pools/LEAK/cutoffs/2024-06-30/tapes", data=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    # The regulator (raw on request) reads it back, so the value is really stored ...
    r = client.post(
        "/admin/parties/regulator1/pools", json={"pool_id": "LEAK"}, headers=bearer(world.keys["admin"])
    )
    page = client.get(
        "/regulator/pools/LEAK/cutoffs/2024-06-30/loans", headers=bearer(world.keys["regulator"])
    )
    assert page.status_code == 200, page.get_json()
    assert any(values["id_number"] in str(loan) for loan in page.get_json()["loans"])
    # ... but never in clear in any database file.
    raw = database_bytes(world)
    for needle in identity_needles(values):
        assert needle not in raw, needle.decode()
