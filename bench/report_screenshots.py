"""Screenshots of ``poolproof-audit report``, for docs/screenshots/ (linked from README.md).

Seals the report tests' three-month demo chain (``tests/report/sealed_chain.py``) and renders its report
in English and in Chinese; runs the demo's three-month revolving deal (``gateway/alerts/demo.py``) and
renders the trustee's report (whole payment reports: triggers, cumulative default rate, waterfall) and
the investor's (trigger-status views). Each page is opened from disk in headless Chromium (Debian's
``chromium``, driven by Playwright) and saved whole. The Chinese page needs CJK fonts on the machine
(Debian: ``apt-get install fonts-noto-cjk``); the Chinese PDF does not (ReportLab's STSong-Light).

    python bench/report_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from gateway.alerts.demo import run_revolving_deal
from gateway.snapshots.demo import write_deal_outputs
from proofs.report import Lang, render_report
from proofs.signing import load_public_key
from proofs.witness import WitnessPolicy
from tests.report.sealed_chain import seal_demo_chain


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
        root = Path(tmp)
        chain = seal_demo_chain(root / "bundles", root / "tapes")
        policy = WitnessPolicy((load_public_key(chain.witness_pub),))
        pages: dict[str, Path] = {}
        langs: tuple[Lang, ...] = ("en", "zh")
        for lang in langs:
            out = root / f"report-{lang}.html"
            key = load_public_key(chain.gateway_pub)
            render_report(
                chain.folder, key, out=out, witnesses=policy, lang=lang, pdf=root / f"report-{lang}.pdf"
            )
            pages[f"report-{lang}"] = out
        demo = run_revolving_deal()
        write_deal_outputs(root, demo)
        for folder, name in (("deal", "report-deal-trustee"), ("deal-investor", "report-deal-investor")):
            out = root / folder / "report.html"
            render_report(
                root / folder, demo.key.public_key(), out=out, witnesses=WitnessPolicy.unwitnessed()
            )
            pages[name] = out
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            for name, page_path in pages.items():
                ctx = browser.new_context(viewport={"width": 1200, "height": 900})
                page = ctx.new_page()
                page.goto(page_path.as_uri())
                page.wait_for_load_state("load")
                target = args.out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
                ctx.close()
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
