"""The gateway builds the period's eligibility statement when the trustee publishes the payment report:
an in-process gateway (Flask test client, inline sealing) seals two months of a synthetic pool under
the gateway's linkable lane set (pool-v4: counts alone in one input, balances alone in two), four loans
joining in month 1; the statement is built, verified offline, and its failed criteria are what plain
pandas computes from the month-1 tape by the written definitions."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import create_app
from gateway.access.admin import create_party
from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots import seal_jobs
from gateway.snapshots.demo import init_instance
from gateway.storage.db import connect
from gateway.storage.records import grant_pool
from gateway.synth import generate_tape, monthly_cutoff
from proofs import lanes as lanes_mod
from proofs.deal import parse_deal_text
from proofs.eligibility import verify_eligibility
from proofs.lanes import LaneSet
from proofs.snapshot import verify_header
from tests.eligibility_util import registered
from tests.gateway.helpers import jsonl
from tests.security.world import bearer

ROOT = Path(__file__).resolve().parent.parent
POOL = "ELIG-BUILD"
FIRST = date(2024, 6, 30)
N = 24
NEW = 4


def cutoff(k: int) -> str:
    return monthly_cutoff(FIRST, k).isoformat()


def rows(k: int) -> list[dict[str, Any]]:
    indices = range(0, N - NEW) if k == 0 else None
    return list(generate_tape(N, seed=21, cutoff=FIRST, pool_id=POOL, month=k, indices=indices))


def deal_toml() -> str:
    initial = sum(r["current_principal_fen"] for r in rows(0))
    text = (ROOT / "docs" / "examples" / "deal.toml").read_text()
    doc = tomllib.loads(text)
    for t, share in zip(doc["tranches"], (70, 15, 15), strict=True):
        text = text.replace(
            f"balance_fen = {t['balance_fen']}\n", f"balance_fen = {initial * share // 100}\n", 1
        )
    return (
        text.replace('pool_id = "SYNTH"', f'pool_id = "{POOL}"')
        .replace('closing_date = "2024-06-30"', f'closing_date = "{cutoff(0)}"')
        .replace("initial_pool_balance_fen = 150000000", f"initial_pool_balance_fen = {initial}")
    )


def expected_failures(tape: pd.DataFrame, deal: Any) -> list[str]:
    """docs/deal.md's criteria on the month-1 tape's new loans (plain pandas)."""
    c = deal.purchase_criteria
    t = pd.DataFrame(tape)
    new = t[~t["platform_loan_id"].isin([r["platform_loan_id"] for r in rows(0)])]
    cut = pd.Timestamp(cutoff(1))
    mat = pd.to_datetime(new["maturity_date"])
    remaining = ((mat.dt.year - cut.year) * 12 + mat.dt.month - cut.month - (mat.dt.day < cut.day)).clip(
        lower=0
    )
    checks = {
        "state": (new["days_past_due"] == 0) & new["loan_status"].isin(["NORMAL"]),
        "balance": new["current_principal_fen"] <= c.max_balance_fen,
        "nominal_rate_bps": new["nominal_rate_bps"].between(c.nominal_rate_bps.lo, c.nominal_rate_bps.hi),
        "apr_bps": new["apr_all_in_bps"].between(c.apr_bps.lo, c.apr_bps.hi),
        "original_term_months": new["term_months"].between(
            c.original_term_months.lo, c.original_term_months.hi
        ),
        "remaining_term_months": remaining.between(c.remaining_term_months.lo, c.remaining_term_months.hi),
        "region": ~new["region_code"].str[:2].isin(list(c.excluded_regions)),
    }
    out = [k for k, ok in checks.items() if not ok.all()]
    collections = int((t["period_scheduled_principal_fen"] + t["period_unscheduled_principal_fen"]).sum())
    # the price: the new loans' start-of-period principal (balance plus principal paid and written off)
    price = new["current_principal_fen"] + new["period_scheduled_principal_fen"]
    price += new["period_unscheduled_principal_fen"] + new["period_written_off_fen"]
    if int(price.sum()) > collections:
        out.append("purchase_price")
    # concentration after the purchases: each province's share of the whole pool's outstanding
    # principal (the obligor limit is not provable: loans are not grouped by obligor)
    owed = t["current_principal_fen"].groupby(t["region_code"].str[:2]).sum()
    for limit in deal.concentration_limits:
        if limit.dimension == "region" and (owed * 10_000 > limit.max_share_bps * owed.sum()).any():
            out.append("concentration")
    return out


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    made: dict[str, LaneSet] = {}
    own = seal_jobs.statement_lane_set

    def statement_lane_set(settings: Any) -> LaneSet:
        lanes = own(settings)  # the gateway's linkable pool-v4 lane set: counts alone, balances alone
        made[lanes.name] = lanes
        return lanes

    mp.setattr(seal_jobs, "statement_lane_set", statement_lane_set)
    inst = init_instance(tmp_path_factory.mktemp("elig-build"))
    app = create_app(inst.config(TESTING=True, SEAL_WORKERS=0, SEAL_CHUNK_LOG2=4, RATE_LIMIT_PER_SECOND=0))
    client = app.test_client()
    sk = Ed25519PrivateKey.generate()
    db = connect(inst.db_path)
    keys: dict[str, str] = {}
    try:
        _, keys["platform"] = create_party(db, "plat", "platform", public_key=public_key_bytes(sk))
    finally:
        db.conn.close()
    from tests.security.world import World

    w = World(inst, app, client, keys, sk, [])
    r = client.post("/platform/pools", json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}},
                    headers=bearer(keys["platform"]))  # fmt: skip
    assert r.status_code == 201, r.json
    db = connect(inst.db_path)
    try:
        _, keys["trustee"] = create_party(db, "trustee1", "trustee")
        grant_pool(db, POOL, "trustee1")
        _, keys["investor"] = create_party(db, "investor1", "investor")
        grant_pool(db, POOL, "investor1")
    finally:
        db.conn.close()
    # The deal is registered before sealing: every header from closing on names it.
    r = client.put(
        f"/admin/pools/{POOL}/deal", json={"deal_toml": deal_toml()}, headers=bearer(inst.admin_key)
    )
    assert r.status_code == 201, r.json
    for k in (0, 1):
        body = jsonl(rows(k))
        signed = {**bearer(keys["platform"]), **w.signed_tape_headers(body, POOL, cutoff(k))}
        r = client.post(f"/platform/pools/{POOL}/cutoffs/{cutoff(k)}/tapes", data=body, headers=signed)
        assert r.status_code == 201, r.json
        r = client.post(f"/platform/pools/{POOL}/cutoffs/{cutoff(k)}/seal", headers=bearer(keys["platform"]))
        assert r.status_code == 202, r.json
        job = r.json["job_id"]
        deadline = time.monotonic() + 600
        while True:
            r = client.get(f"/platform/pools/{POOL}/jobs/{job}", headers=bearer(keys["platform"]))
            if r.json["state"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.json["state"] == "sealed", r.json
    r = client.post(f"/trustee/pools/{POOL}/payment-reports/{cutoff(1)}", headers=bearer(keys["trustee"]))
    assert r.status_code == 201, r.json
    try:
        yield {"client": client, "keys": keys, "inst": inst, "lanes": made}
    finally:
        for name in made:
            lanes_mod.LANE_SETS.pop(name, None)  # type: ignore[attr-defined]
        mp.undo()


def test_the_statement_is_built_at_publication_and_verifies(gateway: dict[str, Any]) -> None:
    client, keys = gateway["client"], gateway["keys"]
    r = client.get(f"/trustee/pools/{POOL}/eligibility/{cutoff(1)}", headers=bearer(keys["trustee"]))
    assert r.status_code == 200, r.json
    doc = r.json["statement"]
    assert doc["purchased"] == NEW
    # the price is the published report's purchase evidence for the period
    report = client.get(f"/trustee/pools/{POOL}/payment-reports/{cutoff(1)}", headers=bearer(keys["trustee"]))
    assert doc["purchase_evidence"] == report.json["purchases_proven"][-1]["evidence"]
    deal = parse_deal_text(deal_toml())
    assert doc["failed"] == expected_failures(pd.DataFrame(rows(1)), deal)
    r = client.get(f"/trustee/pools/{POOL}/snapshots/{cutoff(1)}/header", headers=bearer(keys["trustee"]))
    assert r.status_code == 200, r.json
    header_doc = r.json.get("header", r.json)
    from gateway.keys.gateway_key import load_gateway_key

    key = load_gateway_key(gateway["inst"].gateway_key_file).public_key()
    (name,) = gateway["lanes"]
    with registered(gateway["lanes"][name]):
        header = verify_header(header_doc, key, lane_sets={name}, deal=deal)
        assert header.deal_binding is not None
        verified = verify_eligibility(doc, key, header, deal)
    assert verified.holds == (not doc["failed"])
    assert doc["unchecked"] == ["concentration:obligor"]
    if verified.holds:
        assert "eligibility.concentration" in verified.checked
    assert len(verified.exposure_ids) == NEW
    seen = client.get(f"/investor/pools/{POOL}/eligibility/{cutoff(1)}", headers=bearer(keys["investor"]))
    assert seen.status_code == 200
    assert seen.json["view"] == "suppressed"  # four purchases: fewer than the default minimum cohort
