"""Screenshots of every dashboard page, for docs/screenshots/ (linked from README.md).

Builds the end-to-end tests' world (a real gateway on 127.0.0.1: two platforms' pools, three sealed and
witnessed months, one party of every role) and the deal world of ``tests/e2e/test_dashboard_deal.py``
(a pool with its deal, two published payment reports, an alert delivered to a webhook) and the linked
months world of ``tests/e2e/test_dashboard_rolls.py`` (three months: not linked, linked, refused; the
roll matrix and vintage curves), signs each party in through the form in headless Chromium (Debian's
``chromium``, driven by Playwright) and saves each page whole. Prints the files it wrote.

    python bench/dashboard_screenshots.py [--out docs/screenshots] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from tests.e2e.test_dashboard import POOL, build_world
from tests.e2e.test_dashboard_deal import build_deal_world
from tests.e2e.test_dashboard_rolls import build_roll_world

#: The screenshots of each world, by file name (``dashboard-<name>.png``).
WORLDS = {
    "dashboard": ("sign-in", "platform", "tape-quality", "trustee", "regulator", "investor"),
    "deal": ("trustee-deal", "investor-deal"),
    "rolls": ("trustee-rolls", "investor-rolls"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="only these screenshots (e.g. trustee-rolls)"
    )
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium on PATH", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or [n for names in WORLDS.values() for n in names])
    unknown = wanted - {n for names in WORLDS.values() for n in names}
    if unknown:
        print(f"no screenshot named {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        for world_name, names in WORLDS.items():
            if not wanted & set(names):
                continue
            with tempfile.TemporaryDirectory() as tmp:
                worlds, url, keys, shots = _world(world_name, Path(tmp))
                for name, (who, path) in shots.items():
                    if name in wanted:
                        _shoot(browser, url, keys.get(who or ""), path, args.out / f"dashboard-{name}.png")
                worlds.close()
        browser.close()
    return 0


def _world(name: str, root: Path) -> tuple[Any, str, dict[str, str], dict[str, tuple[str | None, str]]]:
    """Build one world; returns its generator (close it to stop the gateway), URL, keys and shots."""
    if name == "dashboard":
        worlds: Any = build_world(root)
        world = next(worlds)
        last = world.cutoffs[-1]
        return (
            worlds,
            world.url,
            world.keys,
            {
                "sign-in": (None, "/dashboard/sign-in"),
                "platform": ("platform", "/dashboard/platform"),
                "tape-quality": (
                    "platform",
                    f"/dashboard/platform/pools/{POOL}/tapes/{world.tape_ids[last]}",
                ),
                "trustee": ("trustee", "/dashboard/trustee"),
                "regulator": ("regulator", "/dashboard/regulator"),
                "investor": ("investor", "/dashboard/investor"),
            },
        )
    if name == "deal":
        worlds = build_deal_world(root)
        deal = next(worlds)
        return (
            worlds,
            deal.gw.url,
            deal.keys,
            {
                "trustee-deal": ("trustee", "/dashboard/trustee"),
                "investor-deal": ("investor", "/dashboard/investor"),
            },
        )
    worlds = build_roll_world(root)
    rolls = next(worlds)
    return (
        worlds,
        rolls.gw.url,
        rolls.keys,
        {
            "trustee-rolls": ("trustee", "/dashboard/trustee"),
            "investor-rolls": ("investor", "/dashboard/investor"),
        },
    )


def _shoot(browser: object, url: str, key: str | None, path: str, target: Path) -> None:
    ctx = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.set_default_timeout(300_000)  # a page's first vintage curves are proven on the page's request
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
