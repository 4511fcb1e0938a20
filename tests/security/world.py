"""A small gateway world for the security tests: one party per role, a pool with a sealed snapshot.

Built once per test session in-process (Flask test client, inline sealing): two platforms (the owner of
pool ``P1`` and a stranger), one party of every other role with access to ``P1``, an investor without
access, a borrower who owns one loan of the pool, and the operator (admin) key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from gateway import create_app
from gateway.access.admin import create_party
from gateway.api.audiences import ROLE_PREFIXES
from gateway.keys.tape_signatures import public_key_bytes, sign_tape
from gateway.snapshots.demo import DemoInstance, init_instance
from gateway.storage.records import add_obligor_key, grant_pool
from tests.gateway.helpers import CUTOFF, cn_row, jsonl

POOL = "P1"
N_LOANS = 20
ROLES = ("platform", "trustee", "rating_agency", "investor", "auditor", "regulator", "borrower")
PREFIX = ROLE_PREFIXES
#: A claim every claim-capable role may ask for under the default policy (the registered 90+ trigger).
CLAIM = {
    "type": "ratio",
    "metric_num": "balance_dpd_90plus",
    "metric_den": "pool_balance",
    "op": "<=",
    "p": 3,
    "q": 100,
    "value_bits": 48,
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    """The instance, the app, and every principal's API key (``keys[name]``)."""

    inst: DemoInstance
    app: Flask
    client: FlaskClient
    keys: dict[str, str]
    platform_key: Ed25519PrivateKey
    rows: list[dict[str, Any]]
    job_id: str = ""
    borrower_loan: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def signed_tape_headers(self, body: bytes, pool: str = POOL, cutoff: str = CUTOFF) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        return {
            "Content-Type": "application/x-ndjson",
            "X-Tape-SHA256": digest,
            "X-Tape-Signature": base64.b64encode(sign_tape(self.platform_key, pool, cutoff, digest)).decode(),
        }


def build_world(root: Path, **config: Any) -> World:
    """Create the instance, the parties, ``P1`` with one tape of ``N_LOANS`` loans, and seal it."""
    inst = init_instance(root)
    cfg = {"TESTING": True, "SEAL_WORKERS": 0, "SEAL_CHUNK_LOG2": 4, "RATE_LIMIT_PER_SECOND": 0, **config}
    app = create_app(inst.config(**cfg))
    client = app.test_client()
    db = inst.db_path
    from gateway.storage.db import connect

    conn = connect(db)
    sk = Ed25519PrivateKey.generate()
    keys: dict[str, str] = {"admin": inst.admin_key}
    try:
        _, keys["platform"] = create_party(conn, "plat1", "platform", public_key=public_key_bytes(sk))
        _, keys["other_platform"] = create_party(
            conn, "plat2", "platform", public_key=public_key_bytes(Ed25519PrivateKey.generate())
        )
    finally:
        conn.conn.close()
    w = World(inst, app, client, keys, sk, [cn_row(i) for i in range(1, N_LOANS + 1)])
    r = client.post(
        "/platform/pools",
        json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}},
        headers=bearer(keys["platform"]),
    )
    assert r.status_code == 201, r.json
    body = jsonl(w.rows)
    r = client.post(
        f"/platform/pools/{POOL}/cutoffs/{CUTOFF}/tapes",
        data=body,
        headers={**bearer(keys["platform"]), **w.signed_tape_headers(body)},
    )
    assert r.status_code == 201, r.json
    conn = connect(db)
    try:
        pseudo = conn.conn.execute("SELECT obligor_pseudo_id FROM loans ORDER BY id LIMIT 1").fetchone()[0]
        for role in ROLES[1:]:
            _, keys[role] = create_party(conn, f"{role}1", role)
            grant_pool(conn, POOL, f"{role}1")
        add_obligor_key(conn, "borrower1", pseudo)
        _, keys["outsider_investor"] = create_party(conn, "investor2", "investor")
        _, keys["outsider_borrower"] = create_party(conn, "borrower2", "borrower")
        grant_pool(conn, POOL, "borrower2")
    finally:
        conn.conn.close()
    w.borrower_loan = w.rows[0]["platform_loan_id"]
    r = client.post(f"/platform/pools/{POOL}/cutoffs/{CUTOFF}/seal", headers=bearer(keys["platform"]))
    assert r.status_code == 202, r.json
    w.job_id = r.json["job_id"]
    deadline = time.monotonic() + 300
    while True:
        r = client.get(f"/platform/pools/{POOL}/jobs/{w.job_id}", headers=bearer(keys["platform"]))
        if r.json["state"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.json["state"] == "sealed", r.json
    return w


def nonce() -> str:
    return secrets.token_hex(32)
