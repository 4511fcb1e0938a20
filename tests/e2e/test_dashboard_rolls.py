"""Roll rates and vintage curves on the dashboard, in a real headless Chromium against a real gateway.

The three-month pool of ``tests/e2e/test_linked_months.py``: month 0 is the pool's first (not linked),
month 1 is linked to it, month 2 is refused (an outstanding loan vanished). The trustee and the
regulator see every month's link state with the refused link's reason, the opened roll matrix of month
1 (counts, roll rates by count, t-1 balances) and every cohort's vintage curve; each number drawn equals
the API's answer to the same party and a plain pandas recomputation from the raw tapes (written inline,
by docs/metrics.md "Roll rates"). The investor sees only the roll-rate cells and vintage points the
disclosure-control point releases: every cell equals the API's ``POST .../figures`` answer, a suppressed
cell shows no value, and no page of the investor carries the trustee's full matrix.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import expect, init_instance, load_gateway_public, running_gateway
from proofs.signing import public_key_to_pem
from tests.e2e.conftest import Gateway
from tests.e2e.test_linked_months import POOL, _state, _tapes, cutoff
from tests.reference.abs_metrics import OUTSTANDING, STATES
from tests.test_vintage import reference_curve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium browser on PATH (.ci/run installs Debian's chromium as root)"
)

MONTHS = 3


@dataclass
class RollWorld:
    gw: Gateway
    keys: dict[str, str]
    tapes: list[list[dict[str, Any]]]
    paths: list[Path]


def build_roll_world(root: Path) -> Iterator[RollWorld]:
    """The linked-months pool (see the module docstring) in ``root``; the generator keeps it running."""
    inst = init_instance(root / "instance")
    key = load_gateway_public(inst.gateway_key_file)
    key_file = root / "gateway.pub"
    key_file.write_bytes(public_key_to_pem(key))
    signing_key = Ed25519PrivateKey.generate()
    tapes = _tapes()
    paths = []
    for k, rows in enumerate(tapes):
        path = root / f"tape-{k}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        paths.append(path)
    settings = {"TESTING": True, "SEAL_WORKERS": 0, "SEAL_CHUNK_LOG2": 4, "RATE_LIMIT_PER_SECOND": 0}
    with running_gateway(inst, **settings) as server:
        gw = Gateway(inst, server, key, key_file, signing_key)
        gw.add(
            "platform", "dr-platform", "platform", "/platform", public_key=public_key_bytes(signing_key).hex()
        )
        gw.create_pool(POOL, "CN_CONSUMER")
        gw.add("trustee", "dr-trustee", "trustee", "/trustee", pools=[POOL])
        gw.add("regulator", "dr-regulator", "regulator", "/regulator", pools=[])
        gw.add("investor", "dr-investor", "investor", "/investor", pools=[POOL])
        gw.add("outsider", "dr-outsider", "investor", "/investor", pools=[])
        gw.add("auditor", "dr-auditor", "auditor", "/auditor", pools=[POOL])
        for k, rows in enumerate(tapes):
            gw.submit(POOL, cutoff(k), rows)
            gw.seal(POOL, cutoff(k))
        keys = {name: c.api_key for name, c in gw.clients.items()}
        yield RollWorld(gw, keys, tapes, paths)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RollWorld]:
    yield from build_roll_world(tmp_path_factory.mktemp("dash-rolls"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(browser: Any, world: RollWorld) -> Iterator[dict[str, Any]]:
    """Each party's own page, loaded once in its own signed-in context (keyed by party)."""
    opened: dict[str, tuple[Any, Any]] = {}
    home = {"trustee": "/dashboard/trustee", "regulator": "/dashboard/regulator",
            "investor": "/dashboard/investor", "outsider": "/dashboard/investor",
            "platform": "/dashboard/platform", "auditor": "/dashboard/pools"}  # fmt: skip

    class Lazy(dict[str, Any]):
        def __missing__(self, who: str) -> Any:
            ctx = browser.new_context(base_url=world.gw.url)
            page = ctx.new_page()
            page.goto("/dashboard/sign-in")
            page.fill("#api_key", world.keys[who])
            page.click("#sign-in")
            page.wait_for_load_state("load")
            page.goto(home[who])
            opened[who] = (ctx, page)
            self[who] = page
            return page

    yield Lazy()
    for ctx, _ in opened.values():
        ctx.close()


def chart_data(page: Any) -> dict[str, Any]:
    page.wait_for_selector("body[data-charts-rendered]")
    return dict(
        page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('div.chart')].map(el => {
                const o = echarts.getInstanceByDom(el).getOption();
                const series = o.series.map(s => ({name: s.name, data: s.data}));
                return [el.id, {x: o.xAxis[0].data, series: series}];
            }))"""
        )
    )


# --- plain pandas by the written definition (docs/metrics.md, "Roll rates") ---------------------------------
def pandas_roll(
    previous: list[dict[str, Any]], current: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept loans by state at t-1 x state at t (counts), and their t-1 balances, from the raw rows."""
    before = pd.DataFrame(
        {
            "loan": [r["platform_loan_id"] for r in previous],
            "from": [_state(r) for r in previous],
            "balance": [int(r["current_principal_fen"]) for r in previous],
        }
    )
    after = pd.DataFrame(
        {"loan": [r["platform_loan_id"] for r in current], "to": [_state(r) for r in current]}
    )
    kept = before.merge(after, on="loan", how="inner")
    counts = pd.crosstab(kept["from"], kept["to"]).reindex(
        index=list(STATES), columns=list(STATES), fill_value=0
    )
    balances = (
        kept.pivot_table(index="from", columns="to", values="balance", aggfunc="sum", fill_value=0)
        .reindex(index=list(OUTSTANDING), columns=list(STATES), fill_value=0)
        .astype("int64")
    )
    return counts, balances


def pandas_rates_bps(matrix: pd.DataFrame) -> list[list[int | None]]:
    """Each cell over its row total in basis points, rounded half up (integers, no float rounding)."""
    totals = matrix.sum(axis=1)
    return [
        [
            None if totals[i] == 0 else int((20_000 * matrix.loc[i, j] + totals[i]) // (2 * totals[i]))
            for j in matrix.columns
        ]
        for i in matrix.index
    ]


def shown_matrix(page: Any, table: str, attr: str) -> dict[str, dict[str, Any]]:
    return dict(
        page.evaluate(
            f"""() => Object.fromEntries(
                [...document.querySelectorAll('#pool-{POOL} table.{table} tr[data-from]')]
                .map(tr => [tr.dataset.from, {{
                    to: [...tr.querySelectorAll('td[data-to]')].map(td => td.dataset.to),
                    values: [...tr.querySelectorAll('td[data-to]')].map(td => Number(td.dataset.{attr})),
                    rates: [...tr.querySelectorAll('td[data-to]')].map(td =>
                        td.dataset.rateBps === '' ? null : Number(td.dataset.rateBps)),
                    total: Number(tr.dataset.rowTotal)}}]))"""
        )
    )


# --- trustee and regulator --------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["trustee", "regulator"])
def test_oversight_pages_show_the_roll_matrix_the_api_opens_and_pandas_recomputes(
    world: RollWorld, pages: dict[str, Any], who: str
) -> None:
    page = pages[who]
    api = world.gw.clients[who]
    link = expect(api.get(f"/pools/{POOL}/snapshots/{cutoff(1)}/link"), 200, "link")
    counts, balances = pandas_roll(world.tapes[0], world.tapes[1])
    assert link["roll"]["counts"] == counts.values.tolist()  # the API's matrix is the written definition

    table = page.locator(f"#pool-{POOL} table.roll-counts")
    assert (table.get_attribute("data-previous-cutoff"), table.get_attribute("data-cutoff")) == (
        cutoff(0),
        cutoff(1),
    )
    shown = shown_matrix(page, "roll-counts", "count")
    assert list(shown) == list(STATES)
    want_rates = pandas_rates_bps(counts)
    for a, i in enumerate(STATES):
        assert shown[i]["to"] == list(STATES)
        assert shown[i]["values"] == link["roll"]["counts"][a] == counts.loc[i].tolist(), i
        assert shown[i]["total"] == int(counts.loc[i].sum())
        assert shown[i]["rates"] == want_rates[a], i
    assert sum(shown["M0"]["values"]) > 0
    assert shown["M0"]["rates"][0] is not None

    shown_b = shown_matrix(page, "roll-balances", "balance")
    assert list(shown_b) == list(OUTSTANDING)
    want_b = pandas_rates_bps(balances)
    for a, i in enumerate(OUTSTANDING):
        assert shown_b[i]["values"] == link["roll"]["balances"][a] == balances.loc[i].tolist(), i
        assert shown_b[i]["total"] == int(balances.loc[i].sum())
        assert shown_b[i]["rates"] == want_b[a], i

    after = {r["platform_loan_id"] for r in world.tapes[1]}
    gone = pd.Series([_state(r) for r in world.tapes[0] if r["platform_loan_id"] not in after], dtype=object)
    exits = page.locator(f"#pool-{POOL} table.roll-counts td[data-exits]").evaluate_all(
        "tds => tds.map(td => Number(td.dataset.exits))"
    )
    assert exits == link["exits"]["by_state"] == [int((gone == s).sum()) for s in STATES]


@pytest.mark.parametrize("who", ["trustee", "regulator"])
def test_oversight_pages_name_each_months_link_state_and_the_refused_reason(
    world: RollWorld, pages: dict[str, Any], who: str
) -> None:
    page = pages[who]
    api = world.gw.clients[who]
    months = page.locator(f"#links-{POOL} tr[data-cutoff]").evaluate_all(
        "rs => rs.map(r => [r.dataset.cutoff, r.dataset.linkStatus, r.innerText])"
    )
    assert [(c, s) for c, s, _ in months] == [
        (cutoff(0), "not linked"),
        (cutoff(1), "linked"),
        (cutoff(2), "refused"),
    ]
    first = api.get(f"/pools/{POOL}/snapshots/{cutoff(0)}/link")
    assert first.status_code == 422
    assert "no link to the month before" in months[0][2]
    refused = api.get(f"/pools/{POOL}/snapshots/{cutoff(2)}/link")
    assert refused.status_code == 422
    reason = page.locator(f"#links-{POOL} tr[data-cutoff='{cutoff(2)}'] .link-reason").inner_text()
    assert "a loan may leave only after a terminal state" in reason
    assert refused.json()["message"].endswith(reason)  # the reason the API gives, word for word


def _api_curves(world: RollWorld, who: str) -> dict[str, dict[str, Any]]:
    client = world.gw.clients[who]
    cohorts = expect(client.get(f"/pools/{POOL}/vintage"), 200, "cohorts")["cohorts"]
    out = {}
    for cohort in cohorts:
        r = client.get(f"/pools/{POOL}/vintage/{cohort}", params={"nonce": secrets.token_hex(16)})
        out[cohort] = expect(r, 200, f"vintage {cohort}")
    return out


def _rate(point: dict[str, Any]) -> int | None:
    cdr = point["cumulative_default_rate"]
    if "numerator" not in cdr or cdr["denominator"] == 0:
        return None
    return int((20_000 * cdr["numerator"] + cdr["denominator"]) // (2 * cdr["denominator"]))


def _drawn_curves(page: Any) -> dict[str, dict[int, Any]]:
    chart = chart_data(page)[f"chart-{POOL}-vintage"]
    return {s["name"]: dict(zip(chart["x"], s["data"], strict=True)) for s in chart["series"]}


def test_the_trustee_vintage_chart_holds_the_apis_curves_and_pandas_agrees(
    world: RollWorld, pages: dict[str, Any]
) -> None:
    curves = _api_curves(world, "trustee")
    assert len(curves) >= 2
    drawn = _drawn_curves(pages["trustee"])
    assert set(drawn) == set(curves)
    cutoffs = [pd.Timestamp(cutoff(k)).date() for k in range(MONTHS)]
    for cohort, doc in curves.items():
        want = reference_curve(world.paths, cutoffs, cohort)
        assert [p["months_on_book"] for p in doc["points"]] == [w["months_on_book"] for w in want]
        for point, w in zip(doc["points"], want, strict=True):
            rate = _rate(point)
            assert point["cumulative_default_rate"]["numerator"] == w["cumulative_default_rate"]
            assert drawn[cohort][point["months_on_book"]] == rate, (cohort, point)
        mobs = {p["months_on_book"] for p in doc["points"]}
        assert all(v is None for m, v in drawn[cohort].items() if m not in mobs)  # a gap, never a zero


# --- the investor ------------------------------------------------------------------------------------------
def _investor_cells(page: Any) -> dict[str, dict[str, Any]]:
    return dict(
        page.evaluate(
            f"""() => Object.fromEntries(
                [...document.querySelectorAll('#rolls-{POOL} td[data-figure]')].map(td =>
                [td.dataset.figure, {{state: td.dataset.state, value: td.dataset.value, text: td.innerText,
                                       rate: td.dataset.rateBps}}]))"""
        )
    )


def test_the_investor_page_shows_exactly_the_roll_cells_the_api_releases(
    world: RollWorld, pages: dict[str, Any]
) -> None:
    page = pages["investor"]
    cells = _investor_cells(page)
    ids = [f"roll/count/{i}/{j}" for i in STATES for j in STATES]
    ids += [f"roll/balance/{i}/{j}" for i in OUTSTANDING for j in STATES]
    assert sorted(cells) == sorted(ids)
    answer: dict[str, Any] = {}
    for start in range(0, len(ids), 64):  # the route takes at most 64 figures a request
        r = world.gw.clients["investor"].post(
            f"/pools/{POOL}/snapshots/{cutoff(1)}/figures",
            json={"figures": ids[start : start + 64], "nonce": secrets.token_hex(16)},
        )
        answer.update({f["figure_id"]: f for f in expect(r, 200, "figures")["figures"]})
    k = r.json()["min_cohort"]
    counts, balances = pandas_roll(world.tapes[0], world.tapes[1])
    released = suppressed = 0
    for fid in ids:
        _, by, i, j = fid.split("/")
        shown, api = cells[fid], answer[fid]
        if api.get("suppressed"):
            suppressed += 1
            assert shown["state"] == "suppressed", fid
            assert shown["value"] is None, fid
            assert shown["text"] == "suppressed", fid
            continue
        released += 1
        assert shown["state"] == "released", fid
        assert int(shown["value"]) == api["value"], fid
        want = int(counts.loc[i, j]) if by == "count" else int(balances.loc[i, j])
        assert api["value"] == want, fid
        if by == "count":
            assert not 0 < want < k, fid
            row = int(counts.loc[i].sum())
            assert api["row_total"] == row
            assert shown["rate"] == ("" if row == 0 else str((20_000 * want + row) // (2 * row)))
            total = page.locator(f"#rolls-{POOL} tr[data-from='{i}'] td[data-row-total]").get_attribute(
                "data-row-total"
            )
            assert int(total) == row
    assert released >= 2
    assert suppressed >= 1
    small = [f"roll/count/M0/{j}" for j in STATES if 0 < int(counts.loc["M0", j]) < k]
    assert small
    assert all(cells[f]["state"] == "suppressed" for f in small)


def test_the_investor_never_sees_the_trustees_full_matrix(world: RollWorld, pages: dict[str, Any]) -> None:
    html = pages["investor"].content()
    for marker in (
        'class="roll-matrix roll-counts"',
        'class="roll-matrix roll-balances"',
        "data-count=",
        "data-balance=",
        "data-exits=",
        f"links-{POOL}",
    ):
        assert marker not in html, marker
    cells = _investor_cells(pages["investor"])
    counts, balances = pandas_roll(world.tapes[0], world.tapes[1])
    for fid, cell in cells.items():
        if cell["state"] != "released":  # a suppressed cell's value is nowhere in its cell
            _, by, i, j = fid.split("/")
            value = int(counts.loc[i, j]) if by == "count" else int(balances.loc[i, j])
            assert cell["value"] is None, fid
            assert f"{value:,}" not in cell["text"], fid
    for i in STATES:  # a row with no released count cell shows no total
        row = [cells[f"roll/count/{i}/{j}"] for j in STATES]
        total = pages["investor"].locator(f"#rolls-{POOL} tr[data-from='{i}'] td[data-row-total]")
        if all(c["state"] != "released" for c in row):
            assert total.get_attribute("data-row-total") == ""
    assert world.gw.clients["investor"].get(f"/pools/{POOL}/snapshots/{cutoff(1)}/link").status_code == 404
    outsider = pages["outsider"].content()
    assert f"rolls-{POOL}" not in outsider
    assert "data-figure=" not in outsider


def test_the_investor_vintage_points_are_the_apis_and_a_suppressed_point_has_no_value(
    world: RollWorld, pages: dict[str, Any]
) -> None:
    page = pages["investor"]
    curves = _api_curves(world, "investor")
    shown = page.locator(f"#vintage-{POOL} span.vintage-point").evaluate_all(
        """ss => ss.map(s => [s.closest('tr').dataset.cohort, Number(s.dataset.mob), s.dataset.state,
                              s.dataset.numerator, s.dataset.denominator, s.innerText])"""
    )
    want = []
    for cohort, doc in curves.items():
        for p in doc["points"]:
            cdr = p["cumulative_default_rate"]
            if "numerator" in cdr:
                want.append(
                    [cohort, p["months_on_book"], "released", str(cdr["numerator"]), str(cdr["denominator"])]
                )
            else:
                want.append([cohort, p["months_on_book"], "suppressed", None, None])
    assert [s[:5] for s in shown] == want
    assert any(s[2] == "suppressed" for s in shown)  # the test pool has cohorts too small to release
    for s in shown:
        if s[2] == "suppressed":
            assert s[5].endswith("suppressed")
    if any(s[2] == "released" for s in shown):
        drawn = _drawn_curves(page)
        for cohort, doc in curves.items():
            for p in doc["points"]:
                assert drawn[cohort][p["months_on_book"]] == _rate(p)


# --- the access matrix, extended to the new content ---------------------------------------------------------
def test_only_bundle_readers_pages_carry_the_full_matrix(world: RollWorld, browser: Any) -> None:
    """Every party on every page: the opened matrix only on the trustee's and the regulator's own pages,
    the released cells only on the investor's."""
    paths = ("/dashboard/trustee", "/dashboard/regulator", "/dashboard/investor", "/dashboard/platform",
             "/dashboard/pools")  # fmt: skip
    wrong = []
    for who in ("trustee", "regulator", "investor", "outsider", "platform", "auditor"):
        ctx = browser.new_context(base_url=world.gw.url)
        page = ctx.new_page()
        page.goto("/dashboard/sign-in")
        page.fill("#api_key", world.keys[who])
        page.click("#sign-in")
        page.wait_for_load_state("load")
        for path in paths:
            answer = ctx.request.get(path, max_redirects=0)
            body = answer.text()
            full = 'table class="roll-matrix roll-counts"' in body
            cells = "investor-roll-counts" in body
            own = answer.status == 200
            if full != (own and who in ("trustee", "regulator")):
                wrong.append((who, path, answer.status, "full matrix"))
            if cells != (own and who == "investor"):
                wrong.append((who, path, answer.status, "investor cells"))
        ctx.close()
    assert wrong == []


@pytest.mark.parametrize("who", ["trustee", "investor"])
def test_the_new_sections_draw_without_a_console_error(world: RollWorld, browser: Any, who: str) -> None:
    ctx = browser.new_context(base_url=world.gw.url)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", world.keys[who])
    page.click("#sign-in")
    page.wait_for_load_state("load")
    page.goto(f"/dashboard/{who}")
    assert f"chart-{POOL}-vintage" in chart_data(page)
    assert problems == []
    ctx.close()
