"""Screenshots of every dashboard page, for docs/screenshots/ (linked from README.md).

Builds the end-to-end tests' world (a real gateway on 127.0.0.1: two platforms' pools, three sealed and
witnessed months, one party of every role) and the deal world of ``tests/e2e/test_dashboard_deal.py``
(a pool with its deal, two published payment reports, an alert delivered to a webhook), signs each party
in through the form in headless Chromium (Debian's ``chromium``, driven by Playwright) and saves each
page whole. Prints the files it wrote.

    python bench/dashboard_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from tests.e2e.test_dashboard import POOL, build_world
from tests.e2e.test_dashboard_deal import build_deal_world


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium on PATH", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        worlds = build_world(Path(tmp))
        world = next(worlds)
        last = world.cutoffs[-1]
        shots = {
            "sign-in": (None, "/dashboard/sign-in"),
            "platform": ("platform", "/dashboard/platform"),
            "tape-quality": ("platform", f"/dashboard/platform/pools/{POOL}/tapes/{world.tape_ids[last]}"),
            "trustee": ("trustee", "/dashboard/trustee"),
            "regulator": ("regulator", "/dashboard/regulator"),
            "investor": ("investor", "/dashboard/investor"),
        }
        with tempfile.TemporaryDirectory() as tmp_deal:
            deal_worlds = build_deal_world(Path(tmp_deal))
            deal_world = next(deal_worlds)
            deal_shots = {
                "trustee-deal": ("trustee", "/dashboard/trustee"),
                "investor-deal": ("investor", "/dashboard/investor"),
            }
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
                for url, keys, shot_list in (
                    (world.url, world.keys, shots),
                    (deal_world.gw.url, deal_world.keys, deal_shots),
                ):
                    for name, (who, path) in shot_list.items():
                        _shoot(browser, url, keys.get(who or ""), path, args.out / f"dashboard-{name}.png")
                browser.close()
            deal_worlds.close()
        worlds.close()
    return 0


def _shoot(browser: object, url: str, key: str | None, path: str, target: Path) -> None:
    ctx = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = ctx.new_page()
    if key is not None:
        page.goto("/dashboard/sign-in")
        page.fill("#api_key", key)
        page.click("#sign-in")
        page.wait_for_load_state("load")
    page.goto(path)
    if page.locator("#chart-data").count():
        page.wait_for_selector("body[data-charts-rendered]")
    page.screenshot(path=str(target), full_page=True)
    print(target)
    ctx.close()


if __name__ == "__main__":
    raise SystemExit(main())
