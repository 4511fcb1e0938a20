"""The imported Lending Club tape (a subset, for CI time) sealed and claimed through the real HTTP API.

The subset keeps the first 48 loans and every delinquent loan among the next 2,000, so every
delinquency bucket the data has is present. The full 10,000-loan seal is a benchmark
(``bench/bench_seal.py``; numbers in docs/benchmarks.md).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.api.snapshots import CANNOT_PROVE
from gateway.importers.lendingclub import LENDINGCLUB_AS_OF, import_lendingclub, lendingclub_csv_path
from gateway.snapshots.demo import expect, request_claim
from proofs import bundle
from proofs.claim_bundle import ExpectedClaim
from proofs.claim_bundle import verify_claim_bundle as _verify_claim_bundle
from proofs.claims import BoundClaim, ClaimStatement, RatioClaim
from proofs.snapshot import verify_snapshot
from proofs.witness import WitnessPolicy

from .conftest import Gateway, audit
from .test_synthetic_pool import plain_metrics

POOL = "E2E-LC"
CUTOFF = LENDINGCLUB_AS_OF.isoformat()

pytestmark = pytest.mark.skipif(not lendingclub_csv_path().exists(), reason="shared Lending Club tape absent")


def verify_claim_bundle(doc: Any, key: Ed25519PublicKey, **kw: Any) -> ClaimStatement:
    """The claim's proof checks alone: no question pinned, no witness required (said explicitly)."""
    kw.setdefault("expected", ExpectedClaim())
    kw.setdefault("witnesses", WitnessPolicy.unwitnessed())
    return _verify_claim_bundle(doc, key, **kw)


def lc_subset() -> list[dict[str, Any]]:
    rows = list(import_lendingclub(pool_id=POOL))
    return rows[:48] + [r for r in rows[48:2048] if r["days_past_due"] > 0]


@pytest.fixture(scope="module")
def lc(gw: Gateway) -> dict[str, Any]:
    gw.create_pool(POOL, "US_CONSUMER")
    rows = lc_subset()
    gw.submit(POOL, CUTOFF, rows)
    gw.add("lc-investor", "lc-investor", "investor", "/investor", pools=[POOL])
    gw.add("lc-trustee", "lc-trustee", "trustee", "/trustee", pools=[POOL])
    # Sealed with the range-proof lane set dpd5-v1 (the synthetic pools use the default, dpd5-v3).
    gw.server.app.config["SEAL_LANE_SET"] = "dpd5-v1"
    try:
        gw.seal(POOL, CUTOFF)
    finally:
        gw.server.app.config.pop("SEAL_LANE_SET")
    return {"rows": rows}


def test_subset_has_delinquent_loans(lc: dict[str, Any]) -> None:
    truth = plain_metrics(lc["rows"])
    assert truth["count_dpd_1plus"] > 10
    assert truth["count_M3+"] > 0


def test_metrics_report_equals_plain_computation_over_the_raw_tape(gw: Gateway, lc: dict[str, Any]) -> None:
    report = expect(gw.clients["lc-trustee"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/metrics"), 200, "metrics")
    assert report["metrics"] == plain_metrics(lc["rows"])


def test_true_claims_verify_and_false_ones_cannot_be_produced(
    gw: Gateway, lc: dict[str, Any], tmp_path: Path
) -> None:
    truth = plain_metrics(lc["rows"])
    # The subset is delinquency-heavy by construction: 90+ balance is well above 3 % and below 50 %.
    assert 3 * truth["pool_balance"] < 100 * truth["balance_dpd_90plus"] < 50 * truth["pool_balance"]
    true_claim = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 1, 2)
    resp = request_claim(gw.clients["lc-investor"], POOL, CUTOFF, true_claim)
    assert resp.status_code == 200, resp.text
    assert verify_claim_bundle(resp.json(), gw.key, lane_sets={"dpd5-v1"}) == true_claim
    path = tmp_path / "claim.json"
    path.write_bytes(bundle.dump_bundle(resp.json()))
    code, out = audit(
        "verify-claim", path, "--key", gw.key_file, "--no-witness", "--accept-lane-set", "dpd5-v1"
    )
    assert code == 0, out
    false_claim = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100)  # registered trigger
    resp = request_claim(gw.clients["lc-investor"], POOL, CUTOFF, false_claim)
    assert resp.status_code == 422
    assert resp.json()["message"] == CANNOT_PROVE
    balance = BoundClaim("pool_balance", truth["pool_balance"], None)  # exactly at the value: true
    assert request_claim(gw.clients["lc-investor"], POOL, CUTOFF, balance).status_code == 200


def test_snapshot_bundle_verifies(gw: Gateway, lc: dict[str, Any]) -> None:
    text = gw.clients["lc-trustee"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/bundle").text
    header = verify_snapshot(io.StringIO(text), gw.key, lane_sets={"dpd5-v1"})  # named: older lane set
    assert header.leaf_count == len(lc["rows"])
    assert header.doc["currency"] == "USD"
    assert header.lanes.name == "dpd5-v1"
