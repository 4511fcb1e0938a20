"""The dashboard in a real headless Chromium against a real gateway on 127.0.0.1.

Each party signs in with its API key and sees its pages; every page is tried with every role (the access
matrix of tests/security, extended to pages); forms without the session's CSRF token are refused; a
session ends when idle, at sign-out and when its key is revoked; and each chart, read back from the
ECharts instance the page drew, holds exactly the figures the API releases to the same party.

The browser is Debian's ``chromium`` driven by Playwright (``.ci/run`` installs it); without one these
tests skip, saying so.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access.security_headers import DASHBOARD_CSP
from gateway.dashboard.pages import SESSIONS_EXTENSION
from gateway.dashboard.sessions import COOKIE_NAME, SessionStore
from gateway.data_quality import AMORTISING_METHODS
from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import (
    Client,
    LiveServer,
    add_party,
    expect,
    init_instance,
    load_gateway_public,
    running_gateway,
    seal_and_wait,
    submit_tape,
)
from gateway.synth import generate_months
from policies import load_policy
from proofs.signing import public_key_to_pem
from proofs.snapshot import verify_snapshot
from proofs.witness import admit_header, cosign_header, new_witness_state
from tests.gateway.test_data_quality import reference_completeness, reference_consistency

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium browser on PATH (.ci/run installs Debian's chromium as root)"
)

POOL = "DASH-1"
OTHER_POOL = "DASH-2"
START = date(2024, 6, 30)
MONTHS = 3
N_LOANS = 32
#: Who signs in, with which role (the test world has one party each).
PARTIES = {
    "platform": "platform",
    "other_platform": "platform",
    "trustee": "trustee",
    "regulator": "regulator",
    "investor": "investor",
    "outsider_investor": "investor",
    "rating_agency": "rating_agency",
    "auditor": "auditor",
}


@dataclass
class World:
    """The running gateway, every party's API key, and what was submitted."""

    server: LiveServer
    admin_key: str
    keys: dict[str, str]
    cutoffs: list[str]
    tapes: dict[str, list[dict[str, Any]]]
    tape_ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, who: str, prefix: str) -> Client:
        return Client(self.url, self.keys[who], prefix)

    @property
    def store(self) -> SessionStore:
        store: SessionStore = self.server.app.extensions[SESSIONS_EXTENSION]
        return store


def _month_three(prev: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The third month with one amortising loan's balance grown and one performing loan gone."""
    out = copy.deepcopy(rows)
    by_id = {r["platform_loan_id"]: r for r in prev}
    candidates = [
        r
        for r in out
        if r["platform_loan_id"] in by_id
        and r["repayment_method"] in AMORTISING_METHODS
        and r["loan_status"] == "NORMAL"
        and by_id[r["platform_loan_id"]]["current_principal_fen"] + 5000 <= r["original_principal_fen"]
    ]
    grown, gone = candidates[0], candidates[1]
    grown["current_principal_fen"] = by_id[grown["platform_loan_id"]]["current_principal_fen"] + 5000
    return [r for r in out if r is not gone]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def build_world(root: Path) -> Iterator[World]:
    """A gateway with two platforms' pools, three sealed months of one, witnessed; every role's party.

    Sealed under ``dpd5-v3`` (named), whose 90+ ratio is the registered trigger the trustee's chart
    draws against its levels."""
    inst = init_instance(root / "instance")
    with running_gateway(
        inst,
        TESTING=True,
        SEAL_WORKERS=0,
        SEAL_CHUNK_LOG2=4,
        RATE_LIMIT_PER_SECOND=0,
        SEAL_LANE_SET="dpd5-v3",
    ) as server:
        url = server.url
        signing = {"platform": Ed25519PrivateKey.generate(), "other_platform": Ed25519PrivateKey.generate()}
        keys = {}
        for who, role in PARTIES.items():
            extra = {"public_key": public_key_bytes(signing[who]).hex()} if who in signing else {}
            keys[who] = add_party(url, inst.admin_key, f"dash-{who}", role, **extra)
        admin = {"Authorization": f"Bearer {inst.admin_key}"}
        months = [
            (c.isoformat(), list(rows))
            for c, rows in generate_months(N_LOANS, seed=41, start_cutoff=START, months=MONTHS, pool_id=POOL)
        ]
        months[2] = (months[2][0], _month_three(months[1][1], months[2][1]))
        world = World(server, inst.admin_key, keys, [c for c, _ in months], dict(months))
        plat = world.api("platform", "/platform")
        expect(
            plat.post("/pools", json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}}), 201, "pool"
        )
        for who in ("trustee", "investor", "rating_agency", "auditor"):
            r = requests.post(
                f"{url}/admin/parties/dash-{who}/pools", json={"pool_id": POOL}, headers=admin, timeout=30
            )
            assert r.status_code == 200, r.text
        gateway_key = load_gateway_public(inst.gateway_key_file)
        witness = Ed25519PrivateKey.generate()
        r = requests.post(
            f"{url}/admin/witnesses",
            json={"name": "dash-auditor", "public_key": public_key_to_pem(witness.public_key()).decode()},
            headers=admin,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        auditor = world.api("auditor", "/auditor")
        state = new_witness_state()
        for cutoff, rows in months:
            world.tape_ids[cutoff] = submit_tape(plat, signing["platform"], POOL, cutoff, _jsonl(rows))[
                "tape_id"
            ]
            seal_and_wait(plat, POOL, cutoff)
            # The witness checks the whole snapshot before it cosigns (DESIGN.md, trust model).
            bundle = auditor.get(f"/pools/{POOL}/snapshots/{cutoff}/bundle")
            assert bundle.status_code == 200
            header = verify_snapshot(io.StringIO(bundle.text), gateway_key)
            state = admit_header(state, header)
            cosignature = cosign_header(witness, header, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            expect(
                auditor.post(f"/pools/{POOL}/snapshots/{cutoff}/cosignatures", json=cosignature),
                201,
                "cosign",
            )
        other = world.api("other_platform", "/platform")
        expect(
            other.post("/pools", json={"pool_id": OTHER_POOL, "settings": {"preset": "CN_CONSUMER"}}),
            201,
            "pool",
        )
        rows = list(next(generate_months(16, seed=42, start_cutoff=START, months=1, pool_id=OTHER_POOL))[1])
        submit_tape(other, signing["other_platform"], OTHER_POOL, START.isoformat(), _jsonl(rows))
        seal_and_wait(other, OTHER_POOL, START.isoformat())
        yield world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(browser: Any, world: World, who: str) -> tuple[Any, Any]:
    """A new browser context signed in as ``who`` through the form; returns (context, page)."""
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", world.keys[who])
    page.click("#sign-in")
    page.wait_for_load_state("load")
    return ctx, page


@pytest.fixture(scope="module")
def sessions(browser: Any, world: World) -> Iterator[dict[str, tuple[Any, Any]]]:
    """One signed-in context per party (made on first use)."""
    made: dict[str, tuple[Any, Any]] = {}

    class Lazy(dict[str, tuple[Any, Any]]):
        def __missing__(self, who: str) -> tuple[Any, Any]:
            made[who] = sign_in(browser, world, who)
            return made[who]

    yield Lazy()
    for ctx, _ in made.values():
        ctx.close()


def chart_data(page: Any) -> dict[str, Any]:
    """Every chart of the page as drawn: x axis and series data read from its ECharts instance."""
    page.wait_for_selector("body[data-charts-rendered]")
    return dict(
        page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('div.chart')].map(el => {
                const o = echarts.getInstanceByDom(el).getOption();
                const canvas = el.querySelector('canvas');
                return [el.id, {x: o.xAxis[0].data, series: o.series.map(s => ({name: s.name, data: s.data})),
                                marks: (o.series[0].markLine || {data: []}).data.map(m => m.yAxis),
                                drawn: !!canvas && canvas.width > 0 && canvas.height > 0}];
            }))"""
        )
    )


# --- signing in -----------------------------------------------------------------------------------------
def test_sign_in_opens_a_strict_session_under_a_fresh_id(browser: Any, world: World) -> None:
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    before = {c["name"]: c for c in ctx.cookies()}[COOKIE_NAME]
    page.fill("#api_key", world.keys["investor"])
    page.click("#sign-in")
    page.wait_for_url("**/dashboard/investor")
    after = {c["name"]: c for c in ctx.cookies()}[COOKIE_NAME]
    assert after["value"] != before["value"]
    assert (after["httpOnly"], after["secure"], after["sameSite"], after["path"]) == (
        True,
        True,
        "Strict",
        "/",
    )
    assert world.store.get(before["value"]) is None  # the pre-sign-in id is gone
    assert page.evaluate("document.cookie") == ""  # no script can read the session id
    ctx.close()


def test_a_wrong_key_is_refused_with_a_message(browser: Any, world: World) -> None:
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", "ppk_" + "A" * 43)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#sign-in")
    assert answer.value.status == 401
    assert page.inner_text("#sign-in-error") == "unknown, revoked or expired API key"
    ctx.close()


def test_an_operator_key_has_no_dashboard(browser: Any, world: World) -> None:
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", world.admin_key)
    page.click("#sign-in")
    assert "operator keys have no dashboard" in page.inner_text("#sign-in-error")
    ctx.close()


# --- the access matrix, extended to pages ---------------------------------------------------------------
def _pages(world: World) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    """Page name -> (path, roles it is for, pool it names)."""
    last = world.cutoffs[-1]
    return {
        "platform": ("/dashboard/platform", ("platform",), None),
        "tape quality": (
            f"/dashboard/platform/pools/{POOL}/tapes/{world.tape_ids[last]}",
            ("platform",),
            POOL,
        ),
        "trustee": ("/dashboard/trustee", ("trustee",), None),
        "regulator": ("/dashboard/regulator", ("regulator",), None),
        "investor": ("/dashboard/investor", ("investor",), None),
        "investor header": (
            f"/dashboard/investor/pools/{POOL}/snapshots/{last}/header.json",
            ("investor",),
            POOL,
        ),
        "investor figures": (
            f"/dashboard/investor/pools/{POOL}/snapshots/{last}/stats.json",
            ("investor",),
            POOL,
        ),
        "pools": ("/dashboard/pools", ("rating_agency", "auditor", "borrower"), None),
    }


IN_SCOPE = {"platform", "trustee", "regulator", "investor", "rating_agency", "auditor"}
PAGE_NAMES = (
    "platform",
    "tape quality",
    "trustee",
    "regulator",
    "investor",
    "investor header",
    "investor figures",
    "pools",
)


def expected_answer(who: str, roles: tuple[str, ...], pool: str | None) -> tuple[int, str]:
    """The status and message the matrix gives ``who`` on a page for ``roles`` naming ``pool``."""
    if PARTIES[who] not in roles:
        return 403, "this page is for parties with role"
    if pool is not None and who not in IN_SCOPE:
        return 404, "no such pool in this party&#39;s scope"
    return 200, ""


@pytest.mark.parametrize("who", sorted(PARTIES))
def test_every_page_answers_every_role_by_the_matrix(
    world: World, sessions: dict[str, tuple[Any, Any]], who: str
) -> None:
    ctx, _ = sessions[who]
    wrong = []
    for name, (path, roles, pool) in _pages(world).items():
        status, message = expected_answer(who, roles, pool)
        answer = ctx.request.get(path, max_redirects=0)
        if answer.status != status or message not in answer.text():
            wrong.append((name, answer.status, status, answer.text()[-400:]))
    assert wrong == []


@pytest.mark.parametrize("page_name", PAGE_NAMES)
def test_without_a_session_every_page_sends_to_the_sign_in_form(
    browser: Any, world: World, page_name: str
) -> None:
    path = _pages(world)[page_name][0]
    answer = requests.get(world.url + path, allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/sign-in"


def test_a_platform_sees_only_its_own_pools(sessions: dict[str, tuple[Any, Any]]) -> None:
    _, page = sessions["other_platform"]
    page.goto("/dashboard/platform")
    assert page.locator(f"#pool-{OTHER_POOL}").count() == 1
    assert POOL + "<" not in page.content()
    assert page.locator(f"#pool-{POOL}").count() == 0


def test_an_investor_without_a_grant_sees_no_pool_and_no_figure(sessions: dict[str, tuple[Any, Any]]) -> None:
    _, page = sessions["outsider_investor"]
    page.goto("/dashboard/investor")
    assert "No pool in your scope." in page.inner_text("main")
    assert page.locator("#chart-data").count() == 0


def test_the_trustee_sees_its_pools_and_the_regulator_every_pool(
    sessions: dict[str, tuple[Any, Any]],
) -> None:
    _, trustee = sessions["trustee"]
    trustee.goto("/dashboard/trustee")
    assert trustee.locator("section.pool").evaluate_all("els => els.map(e => e.id)") == [f"pool-{POOL}"]
    _, regulator = sessions["regulator"]
    regulator.goto("/dashboard/regulator")
    ids = regulator.locator("section.pool").evaluate_all("els => els.map(e => e.id)")
    assert sorted(ids) == sorted([f"pool-{POOL}", f"pool-{OTHER_POOL}"])


# --- CSRF, expiry, sign-out, revocation ----------------------------------------------------------------
def test_a_post_without_the_sessions_csrf_token_is_refused(browser: Any, world: World) -> None:
    ctx, page = sign_in(browser, world, "investor")
    for form in ({}, {"csrf_token": "forged"}):
        answer = ctx.request.post("/dashboard/sign-out", form=form, max_redirects=0)
        assert answer.status == 403
        assert "CSRF token is missing or does not match" in answer.text()
    page.goto("/dashboard/investor")
    assert page.url.endswith("/dashboard/investor")  # still signed in: the forged sign-out did nothing
    ctx.close()


def test_a_cross_origin_post_is_refused_even_with_the_token(browser: Any, world: World) -> None:
    ctx, page = sign_in(browser, world, "investor")
    token = page.get_attribute("input[name=csrf_token]", "value")
    answer = ctx.request.post(
        "/dashboard/sign-out",
        form={"csrf_token": token},
        headers={"Origin": "https://elsewhere.example"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert "cross-origin" in answer.text()
    ctx.close()


def test_an_idle_session_expires(browser: Any, world: World) -> None:
    ctx, page = sign_in(browser, world, "trustee")
    store = world.store
    real = store.clock
    store.clock = lambda: real() + store.idle_seconds + 1  # the clock moves past the idle limit
    try:
        page.goto("/dashboard/trustee")
        assert "/dashboard/sign-in" in page.url
    finally:
        store.clock = real
    page.goto("/dashboard/trustee")
    assert "/dashboard/sign-in" in page.url  # the session is gone, not merely asleep
    ctx.close()


def test_sign_out_ends_the_session(browser: Any, world: World) -> None:
    ctx, page = sign_in(browser, world, "investor")
    old = {c["name"]: c for c in ctx.cookies()}[COOKIE_NAME]["value"]
    page.click("#sign-out")
    page.wait_for_url("**/dashboard/sign-in")
    assert world.store.get(old) is None
    replay = requests.get(
        world.url + "/dashboard/investor", cookies={COOKIE_NAME: old}, allow_redirects=False, timeout=30
    )
    assert replay.status_code == 302
    ctx.close()


def test_revoking_the_key_ends_its_sessions(browser: Any, world: World) -> None:
    admin = {"Authorization": f"Bearer {world.admin_key}"}
    issued = requests.post(
        f"{world.url}/admin/parties/dash-investor/keys", json={"label": "short"}, headers=admin, timeout=30
    )
    assert issued.status_code == 201, issued.text
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", issued.json()["api_key"])
    page.click("#sign-in")
    page.wait_for_url("**/dashboard/investor")
    revoked = requests.delete(
        f"{world.url}/admin/parties/dash-investor/keys/{issued.json()['key_id']}", headers=admin, timeout=30
    )
    assert revoked.status_code == 200, revoked.text
    page.goto("/dashboard/investor")
    assert "/dashboard/sign-in" in page.url
    ctx.close()


# --- what the pages show ---------------------------------------------------------------------------------
def test_pages_keep_the_strict_csp_and_break_none_of_it(browser: Any, world: World) -> None:
    ctx = browser.new_context(base_url=world.url)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    answer = page.goto("/dashboard/sign-in")
    assert answer.headers["content-security-policy"] == DASHBOARD_CSP
    page.fill("#api_key", world.keys["investor"])
    page.click("#sign-in")
    page.wait_for_url("**/dashboard/investor")
    chart_data(page)
    header = f"/dashboard/investor/pools/{POOL}/snapshots/{world.cutoffs[0]}/header.json"
    for path in (header, "/dashboard/static/dashboard.js"):
        assert ctx.request.get(path).headers["content-security-policy"] == DASHBOARD_CSP
    page.goto("/dashboard/investor")
    chart_data(page)
    assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
    assert problems == []
    ctx.close()


def test_the_investor_page_says_it_is_a_view_and_verification_is_their_tool(
    sessions: dict[str, tuple[Any, Any]],
) -> None:
    _, page = sessions["investor"]
    page.goto("/dashboard/investor")
    notice = page.inner_text("#view-notice")
    assert "This page is a view, not a verification." in notice
    assert "Verification is what your own poolproof-audit tool does" in notice


def test_the_investor_charts_hold_the_figures_the_api_releases(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    _, page = sessions["investor"]
    page.goto("/dashboard/investor")
    drawn = chart_data(page)
    api = world.api("investor", "/investor")
    answers = [expect(api.get(f"/pools/{POOL}/cutoffs/{c}/stats"), 200, "stats") for c in world.cutoffs]

    def value(fig: Any) -> int | None:
        return fig["value"] if isinstance(fig, dict) and "value" in fig else None

    balance = drawn[f"chart-{POOL}-balance"]
    assert balance["drawn"]
    assert balance["x"] == world.cutoffs
    assert balance["series"] == [
        {
            "name": "current_principal_fen",
            "data": [value(a["stats"]["current_principal_fen"]) for a in answers],
        }
    ]
    assert all(isinstance(v, int) for v in balance["series"][0]["data"])  # the whole pool is released
    dpd = drawn[f"chart-{POOL}-dpd"]
    assert dpd["drawn"]
    assert dpd["x"] == world.cutoffs
    buckets = list(answers[0]["stats"]["dpd_buckets"])
    assert sorted(s["name"] for s in dpd["series"]) == sorted(buckets)
    for s in dpd["series"]:
        assert s["data"] == [
            value(a["stats"]["dpd_buckets"][s["name"]].get("current_principal_fen")) for a in answers
        ]


def test_the_investor_table_marks_exactly_the_suppressed_figures(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    _, page = sessions["investor"]
    page.goto("/dashboard/investor")
    api = world.api("investor", "/investor")
    suppressed_seen = 0
    for cutoff in world.cutoffs:
        stats = expect(api.get(f"/pools/{POOL}/cutoffs/{cutoff}/stats"), 200, "stats")["stats"]
        cells = page.locator(f"#pool-{POOL} tr[data-cutoff='{cutoff}'] td").all_inner_texts()
        buckets = stats["dpd_buckets"]
        for i, name in enumerate(
            sorted(buckets, key=lambda b: (int("".join(c for c in b if c.isdigit()) or -1), b))
        ):
            cell = buckets[name]
            if cell.get("suppressed"):
                suppressed_seen += 1
                assert cells[3 + i] == "suppressed", (cutoff, name)
            else:
                assert cells[3 + i].split(" ")[0] == f"{cell['current_principal_fen']['value']:,}", (
                    cutoff,
                    name,
                )
    assert suppressed_seen > 0  # the world has a month where a small bucket (and its complement) is hidden


def test_the_investor_downloads_are_the_apis_bodies(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    ctx, _ = sessions["investor"]
    api = world.api("investor", "/investor")
    last = world.cutoffs[-1]
    header = ctx.request.get(f"/dashboard/investor/pools/{POOL}/snapshots/{last}/header.json")
    assert header.headers["content-disposition"].startswith("attachment;")
    assert header.json() == expect(api.get(f"/pools/{POOL}/snapshots/{last}/header"), 200, "header")
    cosigned = ctx.request.get(f"/dashboard/investor/pools/{POOL}/snapshots/{last}/cosignatures.json").json()
    assert cosigned == expect(api.get(f"/pools/{POOL}/snapshots/{last}/cosignatures"), 200, "cosignatures")
    assert [c["name"] for c in cosigned["cosigned_by"]] == ["dash-auditor"]
    stats = ctx.request.get(f"/dashboard/investor/pools/{POOL}/snapshots/{last}/stats.json").json()
    assert stats == expect(api.get(f"/pools/{POOL}/cutoffs/{last}/stats"), 200, "stats")


def test_the_trustee_page_shows_triggers_cosignatures_and_the_verified_log(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    _, page = sessions["trustee"]
    page.goto("/dashboard/trustee")
    drawn = chart_data(page)
    api = world.api("trustee", "/trustee")
    metrics = [expect(api.get(f"/pools/{POOL}/snapshots/{c}/metrics"), 200, "metrics") for c in world.cutoffs]
    ratio = "balance_dpd_90plus/pool_balance_bps"
    levels = list(load_policy(None).aggregates.registered_thresholds["dpd90_ratio_bps"])
    chart = drawn[f"chart-{POOL}-trigger"]
    assert chart["drawn"]
    assert chart["x"] == world.cutoffs
    assert chart["series"][0]["data"] == [m["ratios_bps"][ratio] for m in metrics]
    assert chart["marks"] == levels
    rows = page.locator(f"#pool-{POOL} table.triggers tr[data-trigger]")
    shown = rows.evaluate_all("rs => rs.map(r => [Number(r.dataset.level), r.dataset.state])")
    latest = metrics[-1]["ratios_bps"][ratio]
    assert shown == [[lv, "breached" if latest > lv else "ok"] for lv in levels]
    assert (
        page.locator(f"#pool-{POOL} ul.cosignatures li").all_inner_texts()[0].startswith("dash-auditor at ")
    )
    log = page.locator("#decision-log p")
    assert log.get_attribute("data-verified") == "true"
    admin = {"Authorization": f"Bearer {world.admin_key}"}
    checked = requests.get(f"{world.url}/admin/decision-log/verify", headers=admin, timeout=30).json()
    assert checked["verified"] is True
    assert int(log.get_attribute("data-entries")) <= checked["entries"]
    shown_metrics = page.locator(f"#pool-{POOL} table.metrics tr").evaluate_all(
        "rs => Object.fromEntries(rs.map(r => [r.dataset.metric, Number(r.dataset.value)]))"
    )
    assert shown_metrics == metrics[-1]["metrics"]


def test_the_platform_page_lists_submissions_and_sealed_jobs(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    _, page = sessions["platform"]
    page.goto("/dashboard/platform")
    api = world.api("platform", "/platform")
    tapes = expect(api.get(f"/pools/{POOL}/tapes"), 200, "tapes")
    shown = page.locator(f"#pool-{POOL} table.tapes tr[data-tape-id]").evaluate_all(
        "rs => rs.map(r => Number(r.dataset.tapeId))"
    )
    assert shown == [t["tape_id"] for t in tapes]
    jobs = page.locator(f"#pool-{POOL} table.jobs tr[data-job-id]")
    assert jobs.count() == MONTHS
    assert set(jobs.evaluate_all("rs => rs.map(r => r.dataset.state)")) == {"sealed"}
    assert set(page.locator(f"#pool-{POOL} progress").evaluate_all("ps => ps.map(p => p.value)")) == {100}
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # nothing running: no reloading


def test_a_running_seal_job_shows_its_progress_and_the_page_reloads(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    from gateway.storage.db import connect

    db = connect(world.server.app.config["DATABASE"])
    (job_id, total) = db.conn.execute(
        "SELECT id, leaf_total FROM seal_jobs WHERE pool_id = ? ORDER BY created_at LIMIT 1", (POOL,)
    ).fetchone()
    # The job as a running one half way through (as a job under way is stored), then as it was.
    db.conn.execute(
        "UPDATE seal_jobs SET state = 'running', leaves_done = ? WHERE id = ?", (total // 2, job_id)
    )
    db.conn.commit()
    try:
        _, page = sessions["platform"]
        page.goto("/dashboard/platform")
        row = page.locator(f"tr[data-job-id='{job_id}']")
        assert row.get_attribute("data-state") == "running"
        assert row.locator("progress").evaluate("p => p.value") == pytest.approx(
            100 * (total // 2) / total, abs=0.1
        )
        assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "5"
    finally:
        db.conn.execute(
            "UPDATE seal_jobs SET state = 'sealed', leaves_done = ? WHERE id = ?", (total, job_id)
        )
        db.conn.commit()
        db.conn.close()


def test_the_quality_page_shows_what_pandas_finds_in_the_tape(
    world: World, sessions: dict[str, tuple[Any, Any]]
) -> None:
    _, page = sessions["platform"]
    prev, last = world.cutoffs[-2], world.cutoffs[-1]
    page.goto(f"/dashboard/platform/pools/{POOL}/tapes/{world.tape_ids[last]}")
    want = reference_consistency((prev, world.tapes[prev]), (last, world.tapes[last]))
    found = page.locator("#consistency tr[data-rule]").evaluate_all(
        "rs => Object.fromEntries(rs.map(r => [r.dataset.rule, Number(r.dataset.count)]))"
    )
    assert found == {name: len(ids) for name, ids in want.items()}
    assert found["balance_growth"] == 1
    assert found["vanished"] == 1
    completeness = chart_data(page)["chart-completeness"]
    reference = reference_completeness(world.tapes[last])
    shown = dict(zip(completeness["x"], completeness["series"][0]["data"], strict=True))
    assert shown == {name: round(100 * reference[name], 2) for name in shown}
    assert page.inner_text("dd[data-name=rows]") == str(len(world.tapes[last]))
