"""The deal on the dashboard, in a real headless Chromium against a real gateway on 127.0.0.1.

A three-month pool sealed under the pool statement, its deal registered and two periods' payment
reports published (a trigger breaches), a trustee webhook that answers 503 once and then 200. The
trustee and the regulator see every trigger's proven status per period, the latest waterfall, the deal's
limits and the alerts with their webhook delivery state; the investor sees the proven trigger-status
series only. Every table cell and every chart (read back from its ECharts instance) is compared with
what the API answers the same party; an investor's page carries no trustee-only figure.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import init_instance, load_gateway_public, running_gateway
from proofs.signing import public_key_to_pem
from tests.e2e.conftest import Gateway
from tests.e2e.test_alerts import MONTHS, POOL, admin_put_deal, cutoff, deal_toml, rows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium browser on PATH (.ci/run installs Debian's chromium as root)"
)


class FlakyReceiver:
    """A webhook endpoint answering 503 to the first delivery of each body, then 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200 if body in receiver.bodies else 503
                receiver.bodies.append(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@dataclass
class DealWorld:
    gw: Gateway
    keys: dict[str, str]
    hook_id: str


def build_deal_world(root: Path) -> Iterator[DealWorld]:
    """The deal world (see the module docstring) in ``root``; the generator keeps the gateway running."""
    inst = init_instance(root / "instance")
    key = load_gateway_public(inst.gateway_key_file)
    key_file = root / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(key))
    signing_key = Ed25519PrivateKey.generate()
    receiver = FlakyReceiver()
    settings = {"TESTING": True, "SEAL_WORKERS": 0, "SEAL_CHUNK_LOG2": 4, "SEAL_LANE_SET": "pool-v2",
                "RATE_LIMIT_PER_SECOND": 0}  # fmt: skip
    with running_gateway(inst, **settings) as server:
        gw = Gateway(inst, server, key, key_file, signing_key)
        platform_key = public_key_bytes(signing_key).hex()
        gw.add("platform", "dd-platform", "platform", "/platform", public_key=platform_key)
        gw.create_pool(POOL, "CN_CONSUMER")
        gw.add("trustee", "dd-trustee", "trustee", "/trustee", pools=[POOL])
        gw.add("regulator", "dd-regulator", "regulator", "/regulator", pools=[])
        gw.add("investor", "dd-investor", "investor", "/investor", pools=[POOL])
        gw.add("outsider", "dd-outsider", "investor", "/investor", pools=[])
        for k in range(MONTHS):
            gw.submit(POOL, cutoff(k), rows(k))
            gw.seal(POOL, cutoff(k))
        assert admin_put_deal(gw, deal_toml()).status_code == 201
        hook = gw.clients["trustee"].post("/alert-webhooks", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
        for k in (1, 2):
            r = gw.clients["trustee"].post(f"/pools/{POOL}/payment-reports/{cutoff(k)}")
            assert r.status_code == 201, r.text
        keys = {name: c.api_key for name, c in gw.clients.items()}
        yield DealWorld(gw, keys, hook.json()["webhook_id"])
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DealWorld]:
    yield from build_deal_world(tmp_path_factory.mktemp("dash-deal"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def page_of(browser: Any, world: DealWorld, who: str, path: str) -> tuple[Any, Any]:
    ctx = browser.new_context(base_url=world.gw.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", world.keys[who])
    page.click("#sign-in")
    page.wait_for_load_state("load")
    page.goto(path)
    return ctx, page


def chart_data(page: Any) -> dict[str, Any]:
    page.wait_for_selector("body[data-charts-rendered]")
    return dict(
        page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('div.chart')].map(el => {
                const o = echarts.getInstanceByDom(el).getOption();
                return [el.id, {x: o.xAxis[0].data, series: o.series.map(s => ({name: s.name, data: s.data})),
                                marks: (o.series[0].markLine || {data: []}).data.map(m => m.yAxis)}];
            }))"""
        )
    )


def status_cells(page: Any) -> list[dict[str, str]]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('table.deal-triggers td[data-trigger]')].map(td => ({
                period: td.closest('tr').dataset.period, view: td.closest('tr').dataset.view,
                trigger: td.dataset.trigger, breached: td.dataset.breached,
                in_effect: td.dataset.inEffect}))"""
        )
    )


def api_reports(world: DealWorld, who: str) -> list[dict[str, Any]]:
    client = world.gw.clients[who]
    return [client.get(f"/pools/{POOL}/payment-reports/{cutoff(k)}").json() for k in (1, 2)]


@pytest.mark.parametrize("who", ["trustee", "regulator"])
def test_oversight_pages_show_every_trigger_per_period_the_waterfall_and_alerts(
    browser: Any, world: DealWorld, who: str
) -> None:
    reports = api_reports(world, who)
    assert all("lines" in r for r in reports)  # these parties get whole reports from the API
    ctx, page = page_of(browser, world, who, f"/dashboard/{who}")
    try:
        cells = status_cells(page)
        expected = [
            {"period": str(r["period"]), "view": "whole", "trigger": t["id"],
             "breached": str(t["breached"]).lower(),
             "in_effect": str(r["state_after"]["triggers"][t["id"]]["in_effect"]).lower()}
            for r in reports for t in r["triggers"]
        ]  # fmt: skip
        assert cells == expected
        assert any(c["breached"] == "true" for c in cells)
        lines = page.evaluate(
            "() => [...document.querySelectorAll('table.deal-waterfall tr[data-line]')]"
            ".map(tr => [tr.dataset.line, Number(tr.dataset.amount)])"
        )
        assert lines == reports[-1]["lines"]
        mode = page.get_attribute("[data-principal-mode]", "data-principal-mode")
        assert mode == reports[-1]["switches"]["principal_mode"]
        limits = page.evaluate(
            "() => [...document.querySelectorAll('tr[data-limit]')].map(tr => tr.dataset.limit)"
        )
        assert limits == ["region", "obligor"]
        charts = chart_data(page)
        status = charts[f"chart-{POOL}-trigger-status"]
        assert status["x"] == [r["cutoff_date"] for r in reports]
        assert {s["name"]: s["data"] for s in status["series"]} == {
            t["id"]: [int(next(x for x in r["triggers"] if x["id"] == t["id"])["breached"]) for r in reports]
            for t in reports[0]["triggers"]
        }
        cdr = charts[f"chart-{POOL}-deal-cdr"]
        assert cdr["series"][0]["data"] == [
            (r["cumulative_default_rate"]["ppm"] + 50) // 100 for r in reports
        ]
        assert cdr["marks"] == [1]  # the deal's cumulative default level (bps)
        alerts = world.gw.clients[who].get(f"/pools/{POOL}/alerts").json()
        shown = page.evaluate(
            """() => [...document.querySelectorAll('table.deal-alerts tr[data-alert-id]')].map(tr => ({
                id: tr.dataset.alertId, subject: tr.dataset.subject,
                deliveries: [...tr.querySelectorAll('.delivery')].map(d =>
                    [d.dataset.webhookId, d.dataset.state, Number(d.dataset.attempts)])}))"""
        )
        assert [(a["id"], a["subject"]) for a in shown] == [(a["alert_id"], a["subject"]) for a in alerts]
        assert alerts
        for a in shown:
            if who == "trustee":  # its own webhook: 503 first, then 200
                assert a["deliveries"] == [[world.hook_id, "delivered", 2]]
            else:  # the regulator registered none; the trustee's deliveries are not its business
                assert a["deliveries"] == []
    finally:
        ctx.close()


def test_the_investor_page_shows_the_proven_status_series_and_no_trustee_figure(
    browser: Any, world: DealWorld
) -> None:
    views = api_reports(world, "investor")
    assert all(v["view"] == "trigger-status" for v in views)
    whole = api_reports(world, "trustee")
    ctx, page = page_of(browser, world, "investor", "/dashboard/investor")
    try:
        cells = status_cells(page)
        assert cells == [
            {"period": str(v["period"]), "view": "trigger-status", "trigger": t["id"],
             "breached": str(t["breached"]).lower(), "in_effect": ""}
            for v in views for t in v["triggers"]
        ]  # fmt: skip
        html = page.content()
        assert "deal-waterfall" not in html
        assert "deal-alerts" not in html
        for r in whole:  # no exact figure of the whole report reaches the investor's page
            for name, amount in r["lines"]:
                if amount >= 10_000:
                    assert f'data-amount="{amount}"' not in html, name
                    assert f"{amount:,}" not in html, name
            assert str(r["cumulative_default_rate"]["numerator"]) not in html
        charts = chart_data(page)
        assert f"chart-{POOL}-deal-cdr" not in charts
        status = charts[f"chart-{POOL}-trigger-status"]
        assert {s["name"]: s["data"] for s in status["series"]} == {
            t["id"]: [int(next(x for x in v["triggers"] if x["id"] == t["id"])["breached"]) for v in views]
            for t in views[0]["triggers"]
        }
    finally:
        ctx.close()


def test_an_investor_without_the_pool_sees_no_deal(browser: Any, world: DealWorld) -> None:
    ctx, page = page_of(browser, world, "outsider", "/dashboard/investor")
    try:
        assert "deal-triggers" not in page.content()
        assert page.evaluate("() => document.querySelectorAll('section.deal').length") == 0
    finally:
        ctx.close()
