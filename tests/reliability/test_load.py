"""Bounded load on loopback: concurrent investors' claims while a platform submits and a snapshot seals.

The scenario is ``bench/bench_load.py``'s (a real ``poolproof serve`` on 127.0.0.1). CI runs a small
variant; ``--runslow`` runs the benchmark's default size. Asserted: no request failed (no 5xx, no
429, no busy-database 503, no transport error), no accepted submission is missing, no thread hung,
the snapshot sealed under load. Timings are reported by the benchmark, never asserted here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_load.py"
    spec = importlib.util.spec_from_file_location("bench_load", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _check(result: dict[str, Any]) -> None:
    assert result["errors"] == 0, result["by_kind"]
    assert result["submissions_lost"] == 0
    assert result["submissions_accepted"] >= 1
    assert result["threads_hung"] == 0
    assert result["seal_state"] == "sealed"
    assert result["by_kind"]["claim"]["requests"] >= result["investors"]
    assert result["ok"] is True


def test_concurrent_claims_submissions_and_sealing_lose_nothing(tmp_path: Path) -> None:
    _check(_bench().run_load(tmp_path, investors=4, seconds=4, loans=16, tapes=2))


@pytest.mark.slow
def test_the_benchmark_load_loses_nothing(tmp_path: Path) -> None:
    _check(_bench().run_load(tmp_path, investors=24, seconds=60, loans=256, tapes=4))
