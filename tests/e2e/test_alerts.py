"""Deal alerts through the real HTTP API: a three-month synthetic pool, its deal, published payment
reports, alerts polled by the trustee and the regulator, and an HMAC-signed webhook that is retried.

Every alert, and every webhook delivery attempt, is in the decision log; the alert routes exist for
trustees and regulators only, within their pool scope; the published report verifies offline with
``poolproof-audit verify-distribution``.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.alerts.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify_signature
from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import init_instance, load_gateway_public, running_gateway
from gateway.storage.decisions import connect_log, load_entries, log_path_for
from gateway.synth import generate_tape, monthly_cutoff
from proofs.deal import parse_deal_text
from proofs.report.deal import verify_trigger_view
from proofs.signing import public_key_to_pem
from tests.e2e.conftest import Gateway, audit

POOL = "DEAL-E2E"
FIRST = date(2024, 6, 30)
N_LOANS, SEED, MONTHS = 32, 10, 3
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "deal.toml"


def cutoff(k: int) -> str:
    return monthly_cutoff(FIRST, k).isoformat()


def rows(k: int) -> list[dict[str, Any]]:
    return list(generate_tape(N_LOANS, seed=SEED, cutoff=FIRST, pool_id=POOL, month=k))


def deal_toml() -> str:
    """The example deal over this pool, with trigger levels low enough that period 1 breaches."""
    initial = sum(r["current_principal_fen"] for r in rows(0))
    text = EXAMPLE.read_text()
    doc = tomllib.loads(text)
    notes = [t["balance_fen"] for t in doc["tranches"]]
    for old, new in zip(notes, [initial * 70 // 100, initial * 15 // 100, initial * 15 // 100], strict=True):
        text = text.replace(f"balance_fen = {old}\n", f"balance_fen = {new}\n", 1)
    return (
        text.replace('pool_id = "SYNTH"', f'pool_id = "{POOL}"')
        .replace("initial_pool_balance_fen = 150000000", f"initial_pool_balance_fen = {initial}")
        .replace("level_bps = 600", "level_bps = 1")
        .replace("fixed_fen = 200000", "fixed_fen = 1000")
        .replace("initial_fen = 1500000", f"initial_fen = {initial // 100}")
        .replace("target_fen = 1500000", f"target_fen = {initial // 100}")
    )


class Receiver:
    """A webhook endpoint that answers 503 to the first delivery of each alert, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen = sum(1 for _, b, _ in receiver.received if b == body)
                status = 503 if seen == 0 else 200
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway of its own that seals under the pool statement v2 (a deal reads period flows)."""
    root = tmp_path_factory.mktemp("e2e-deal")
    inst = init_instance(root / "instance")
    key = load_gateway_public(inst.gateway_key_file)
    key_file = root / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(key))
    signing_key = Ed25519PrivateKey.generate()
    settings = {"TESTING": True, "SEAL_WORKERS": 0, "SEAL_CHUNK_LOG2": 4, "SEAL_LANE_SET": "pool-v2"}
    with running_gateway(inst, **settings) as server:
        g = Gateway(inst, server, key, key_file, signing_key)
        g.add(
            "platform",
            "deal-platform",
            "platform",
            "/platform",
            public_key=public_key_bytes(signing_key).hex(),
        )
        yield g


@pytest.fixture(scope="module")
def deal_pool(gw: Gateway) -> Gateway:
    gw.create_pool(POOL, "CN_CONSUMER")
    gw.add("deal-trustee", "deal-trustee", "trustee", "/trustee", pools=[POOL])
    gw.add("deal-regulator", "deal-regulator", "regulator", "/regulator", pools=[])
    gw.add("deal-investor", "deal-investor", "investor", "/investor", pools=[POOL])
    gw.add("deal-auditor", "deal-auditor", "auditor", "/auditor", pools=[POOL])
    gw.add("deal-outsider", "deal-outsider", "trustee", "/trustee", pools=[])
    for k in range(MONTHS):
        gw.submit(POOL, cutoff(k), rows(k))
        gw.seal(POOL, cutoff(k))
    return gw


def admin_put_deal(gw: Gateway, text: str) -> requests.Response:
    return requests.put(
        f"{gw.url}/admin/pools/{POOL}/deal",
        json={"deal_toml": text},
        headers={"Authorization": f"Bearer {gw.inst.admin_key}"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def published(deal_pool: Gateway, receiver: Receiver) -> dict[str, Any]:
    gw = deal_pool
    r = admin_put_deal(gw, deal_toml())
    assert r.status_code == 201, r.text
    for name in ("deal-trustee", "deal-regulator"):
        hook = gw.clients[name].post("/alert-webhooks", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
    secrets = {}
    trustee = gw.clients["deal-trustee"]
    early = trustee.post(f"/pools/{POOL}/payment-reports/{cutoff(2)}")
    reports = []
    for k in (1, 2):
        r = trustee.post(f"/pools/{POOL}/payment-reports/{cutoff(k)}")
        assert r.status_code == 201, r.text
        reports.append(r.json())
    return {"early": early, "reports": reports, "secrets": secrets, "deal_toml": deal_toml()}


def test_a_broken_deal_file_is_refused_naming_key_and_rule(deal_pool: Gateway) -> None:
    r = admin_put_deal(deal_pool, deal_toml().replace("level_bps = 400", "level_bps = 99999"))
    assert r.status_code == 422
    body = r.json()
    assert "triggers[1].level_bps" in body["message"]
    assert "range" in body["message"]


def test_a_deal_for_another_pool_is_refused(deal_pool: Gateway) -> None:
    r = admin_put_deal(deal_pool, deal_toml().replace(f'pool_id = "{POOL}"', 'pool_id = "ELSEWHERE"'))
    assert r.status_code == 422
    assert "pool_id" in r.json()["message"]


def test_a_report_before_the_previous_one_is_a_conflict(published: dict[str, Any]) -> None:
    assert published["early"].status_code == 409
    assert "period 1" in published["early"].json()["message"]


def test_the_published_reports_verify_offline(
    deal_pool: Gateway, published: dict[str, Any], tmp_path: Path
) -> None:
    deal_file = tmp_path / "deal.toml"
    deal_file.write_text(published["deal_toml"])
    first, second = (tmp_path / "p1.json", tmp_path / "p2.json")
    first.write_text(json.dumps(published["reports"][0]))
    second.write_text(json.dumps(published["reports"][1]))
    code, out = audit("verify-distribution", first, "--deal", deal_file, "--key", deal_pool.key_file)
    assert code == 0, out
    code, out = audit(
        "verify-distribution", second, "--deal", deal_file, "--previous", first, "--key", deal_pool.key_file
    )
    assert code == 0, out
    assert "cdr: BREACHED" in out["triggers"]


@pytest.mark.parametrize("name", ["deal-trustee", "deal-regulator"])
def test_trustee_and_regulator_poll_the_alerts(
    deal_pool: Gateway, published: dict[str, Any], name: str
) -> None:
    r = deal_pool.clients[name].get(f"/pools/{POOL}/alerts")
    assert r.status_code == 200, r.text
    subjects = {(a["period"], a["subject"]) for a in r.json()}
    assert (1, "trigger:cdr") in subjects
    assert (1, "switch:revolving_period_ended") in subjects
    assert (2, "trigger:cdr") in subjects
    later = deal_pool.clients[name].get(f"/pools/{POOL}/alerts", params={"since": "9999-01-01T00:00:00Z"})
    assert later.json() == []


@pytest.mark.parametrize("name", ["deal-investor", "deal-auditor"])
def test_other_audiences_have_no_alert_routes(
    deal_pool: Gateway, published: dict[str, Any], name: str
) -> None:
    assert deal_pool.clients[name].get(f"/pools/{POOL}/alerts").status_code == 404


def test_a_trustee_outside_the_pool_gets_no_alerts(deal_pool: Gateway, published: dict[str, Any]) -> None:
    # Out of scope reads as a pool that does not exist: the answer does not say which pools exist.
    outsider = deal_pool.clients["deal-outsider"]
    resp, unknown = outsider.get(f"/pools/{POOL}/alerts"), outsider.get("/pools/NO-SUCH-POOL/alerts")
    assert resp.status_code == unknown.status_code == 404
    assert resp.json() == unknown.json()


def test_alerts_need_an_api_key(deal_pool: Gateway, published: dict[str, Any]) -> None:
    assert requests.get(f"{deal_pool.url}/trustee/pools/{POOL}/alerts", timeout=30).status_code == 401


def test_an_investor_key_cannot_be_used_on_the_trustee_routes(
    deal_pool: Gateway, published: dict[str, Any]
) -> None:
    investor = deal_pool.clients["deal-investor"]
    headers = {"Authorization": investor._h()["Authorization"]}
    r = requests.get(f"{deal_pool.url}/trustee/pools/{POOL}/alerts", headers=headers, timeout=30)
    assert r.status_code == 403


def test_webhooks_are_signed_and_retried(
    deal_pool: Gateway, published: dict[str, Any], receiver: Receiver
) -> None:
    deliveries = receiver.received
    assert deliveries
    bodies = {b for _, b, _ in deliveries}
    for body in bodies:
        statuses = [s for _, b, s in deliveries if b == body]
        assert statuses[0] == 503
        assert 200 in statuses  # retried after the 503
    alerts = [json.loads(b) for b in bodies]
    assert {a["subject"] for a in alerts} >= {"trigger:cdr", "switch:revolving_period_ended"}
    for headers, _, _ in deliveries:
        assert headers[SIGNATURE_HEADER].startswith("sha256=")
        assert headers[TIMESTAMP_HEADER]


def test_a_webhook_signature_verifies_with_the_secret_and_not_otherwise(
    deal_pool: Gateway, receiver: Receiver
) -> None:
    hook = deal_pool.clients["deal-regulator"].post("/alert-webhooks", json={"url": receiver.url}).json()
    body, stamp = b'{"subject": "trigger:cdr"}', str(int(time.time()))
    sig = signature(hook["secret"], stamp, body)
    assert verify_signature(hook["secret"], stamp, body, sig, now=time.time())
    assert not verify_signature(hook["secret"], stamp, body + b" ", sig, now=time.time())
    assert not verify_signature("00" * 32, stamp, body, sig, now=time.time())
    assert not verify_signature(hook["secret"], stamp, body, sig, now=time.time() + 3600)


def test_a_webhook_needs_an_http_url(deal_pool: Gateway) -> None:
    r = deal_pool.clients["deal-trustee"].post("/alert-webhooks", json={"url": "file:///etc/passwd"})
    assert r.status_code == 422


def test_every_alert_and_delivery_attempt_is_in_the_decision_log(
    deal_pool: Gateway, published: dict[str, Any]
) -> None:
    entries = load_entries(connect_log(log_path_for(deal_pool.inst.db_path)))
    alerts = deal_pool.clients["deal-trustee"].get(f"/pools/{POOL}/alerts").json()
    events = [(e["resource"], e["events"]) for e in entries if e["purpose"] == "deal_alert"]
    for a in alerts:
        resource = f"pool:{POOL}/alerts/{a['alert_id']}"
        assert (resource, ["alert.raised"]) in events
        attempts = [ev for r, ev in events if r.startswith(resource + "/webhook:")]
        assert ["alert.webhook.failed"] in attempts
        assert ["alert.webhook.delivered"] in attempts
    admin = {"Authorization": f"Bearer {deal_pool.inst.admin_key}"}
    r = requests.get(f"{deal_pool.url}/admin/decision-log/verify", headers=admin, timeout=60)
    assert r.status_code == 200


def test_an_investor_gets_the_trigger_status_view_only(deal_pool: Gateway, published: dict[str, Any]) -> None:
    r = deal_pool.clients["deal-investor"].get(f"/pools/{POOL}/payment-reports/{cutoff(1)}")
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["view"] == "trigger-status"
    assert "inputs" not in view
    assert "lines" not in view
    assert {t["id"]: t["breached"] for t in view["triggers"]}["cdr"] is True
    full = deal_pool.clients["deal-trustee"].get(f"/pools/{POOL}/payment-reports/{cutoff(1)}").json()
    assert full == published["reports"][0]


def test_the_published_purchases_are_proven_and_the_investor_view_proves_the_default_trigger(
    deal_pool: Gateway, published: dict[str, Any]
) -> None:
    """Each report proves its purchases (the loans new in the month: balance plus the period's
    principal paid and written off, summed here from the submitted rows), and the investor's view
    carries the evidence without the prices, enough to prove the cumulative default status."""
    expected = []
    for k in (1, 2):
        before = {r["platform_loan_id"] for r in rows(k - 1)}
        new = [r for r in rows(k) if r["platform_loan_id"] not in before]
        flows = ("scheduled_principal", "unscheduled_principal", "written_off")
        expected.append(
            sum(r["current_principal_fen"] + sum(r[f"period_{f}_fen"] for f in flows) for r in new)
        )
    for k, report in enumerate(published["reports"], start=1):
        assert "purchases_declared" not in report
        assert [e["value"] for e in report["purchases_proven"]] == expected[:k]
    deal = parse_deal_text(published["deal_toml"])
    for k in (1, 2):
        view = deal_pool.clients["deal-investor"].get(f"/pools/{POOL}/payment-reports/{cutoff(k)}").json()
        assert all(set(e) == {"evidence"} for e in view["purchases_proven"])
        # the policy gives an investor the notes' outstanding principal, so the excess-spread
        # trigger is proven from the view too
        report = published["reports"][k - 1]
        assert view["note_balances"] == report["state_before"]["tranche_balances"]
        _, statuses = verify_trigger_view(view, deal, deal_pool.key)
        basis = {t.id: (breached, how) for t, breached, how, _ in statuses}
        assert basis["cdr"] == (True, "proven_view")
        whole = {e["id"]: e["breached"] for e in report["triggers"]}
        assert basis["excess_spread"] == (whole["excess_spread"], "proven_view")
