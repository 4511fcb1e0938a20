"""The dashboard ships whole: an installed wheel carries its templates, script, styles and Apache ECharts
with its licence, so the gateway's pages work offline (no CDN)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "gateway" / "static" / "vendor" / "echarts"


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("poolproof-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_the_wheel_carries_echarts_with_its_licence_and_notice(wheel_names: set[str]) -> None:
    for name in ("echarts.common.min.js", "LICENSE", "NOTICE", "VERSION"):
        assert f"gateway/static/vendor/echarts/{name}" in wheel_names


def test_the_wheel_carries_every_dashboard_template_and_its_script_and_styles(wheel_names: set[str]) -> None:
    templates = sorted((ROOT / "gateway" / "dashboard" / "templates" / "dashboard").glob("*.html"))
    assert templates
    for t in templates:
        assert f"gateway/dashboard/templates/dashboard/{t.name}" in wheel_names
    assert {"gateway/static/dashboard.js", "gateway/static/dashboard.css"} <= wheel_names


def test_the_vendored_file_is_the_recorded_release() -> None:
    recorded = (VENDOR / "VERSION").read_text(encoding="utf-8")
    digest = re.search(r"sha256: ([0-9a-f]{64})", recorded)
    assert digest is not None
    assert hashlib.sha256((VENDOR / "echarts.common.min.js").read_bytes()).hexdigest() == digest.group(1)
    version = re.search(r"Apache ECharts (\d+\.\d+\.\d+)", recorded)
    assert version is not None
    assert f'version="{version.group(1)}"' in (VENDOR / "echarts.common.min.js").read_text(encoding="utf-8")
    assert "Apache License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "The Apache Software Foundation" in (VENDOR / "NOTICE").read_text(encoding="utf-8")


def test_the_pages_load_nothing_from_another_origin() -> None:
    for page in (ROOT / "gateway" / "dashboard" / "templates" / "dashboard").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), page.name
