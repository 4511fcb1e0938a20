"""What the benchmark scripts share: where results go, how a result is written, what ran it.

The scripts run as ``python bench/<script>.py``, which puts ``bench/`` on ``sys.path``; they import
this module by its bare name.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

#: Where every script writes its JSON results by default.
RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` says, else ``"unknown"``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """``"<n> vCPU <model>, CPython <version>"``: the machine a result was measured on."""
    return f"{os.cpu_count()} vCPU {cpu_model()}, CPython {platform.python_version()}"


def msm_ns_per_term(tag: bytes, terms: int = 1 << 12) -> float:
    """Nanoseconds one term of a ``terms``-point multi-scalar multiplication takes (best of three),
    so a benchmark can state a cost in MSM terms measured in the same run."""
    import random
    import time

    from proofs.group import ORDER, get_group

    group = get_group()
    points = [group.hash_to_curve(i.to_bytes(4, "big"), tag) for i in range(terms)]
    scalars = [random.randrange(ORDER) for _ in range(terms)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        group.msm(points, scalars)
        best = min(best, time.perf_counter() - t0)
    return best / terms * 1e9


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` as indented JSON, print it on stdout and the path on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    print(f"wrote {path}", file=sys.stderr)
