"""The SEAL, AUDIT and CLAIM benchmarks: defaults come from the project, results are named and measured right.

No timings are asserted (benchmarks print numbers; tests check behaviour). The end-to-end run of the three
commands on a tiny pool is marked slow.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _script(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def _run_seal_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *flags: str) -> tuple[Any, Path]:
    seal = _script("bench_seal")
    seen: dict[str, Any] = {}

    def fake_bench(n: int, settings: Any, keep: Path | None) -> dict[str, Any]:
        seen["settings"] = settings
        return {"target": "seal", "loans": n}

    monkeypatch.setattr(seal, "bench", fake_bench)
    assert seal.main(["--n", "5", "--results", str(tmp_path), *flags]) == 0
    (written,) = tmp_path.iterdir()
    return seen["settings"], written


def test_seal_uses_the_project_defaults_read_at_run_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gateway.snapshots.seal_jobs import SealSettings

    settings, written = _run_seal_main(monkeypatch, tmp_path)
    defaults = SealSettings()
    assert (settings.lane_set, settings.chunk_log2, settings.ipa_rounds) == (
        defaults.lane_set,
        defaults.chunk_log2,
        defaults.ipa_rounds,
    )
    assert written.name == "seal-5.json"
    doc = json.loads(written.read_text())
    assert doc["defaults"] == {
        "lane_set": defaults.lane_set,
        "chunk_log2": defaults.chunk_log2,
        "ipa_rounds": defaults.ipa_rounds,
    }


def test_seal_flags_override_and_name_the_result(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gateway.snapshots.seal_jobs import SealSettings

    chunk = 7 if SealSettings().chunk_log2 != 7 else 8
    settings, written = _run_seal_main(monkeypatch, tmp_path, "--chunk-log2", str(chunk), "--ipa-rounds", "3")
    assert (settings.chunk_log2, settings.ipa_rounds) == (chunk, 3)
    assert written.name == f"seal-5-c{chunk}-r3.json"


def test_ipa_rounds_full_means_no_cut() -> None:
    seal = _script("bench_seal")
    assert seal.parse_rounds("full") is None
    assert seal.parse_rounds("4") == 4


def test_tree_sampler_sees_the_peak_of_a_child_process() -> None:
    audit = _script("bench_audit")
    code = "import time; b = bytearray(96 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    sampler = audit.TreeSampler(proc.pid, interval=0.1)
    time.sleep(1.2)
    sampler.stop()
    proc.wait()
    assert sampler.peaks_kib[proc.pid] >= 96 << 10


@pytest.mark.slow
def test_seal_audit_claim_end_to_end_on_a_tiny_pool(tmp_path: Path) -> None:
    kept, results = tmp_path / "kept", tmp_path / "results"
    for argv in (
        ["bench_seal.py", "--n", "70", "--keep", str(kept), "--workers", "2"],
        ["bench_audit.py", "--dir", str(kept)],
        ["bench_claim.py", "--dir", str(kept), "--claims", "4"],
    ):
        argv[0] = str(BENCH / argv[0])
        subprocess.run([sys.executable, *argv, "--results", str(results)], check=True, capture_output=True)
    docs = {p.name: json.loads(p.read_text()) for p in results.iterdir()}
    assert set(docs) == {"seal-70.json", "audit-70.json", "claim-70.json"}
    for name, doc in docs.items():
        assert doc["target"] == name.split("-")[0]
        assert doc["loans"] == 70
        for key in ("seconds", "peak_rss_mib", "date", "command"):
            assert doc[key], (name, key)
    assert docs["audit-70.json"]["cli_answer"]["leaf_count"] == 70
    assert docs["claim-70.json"]["bundle_bytes_max"] > 0
