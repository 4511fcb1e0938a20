"""Where a pool statement seal's time goes: cProfile over an in-process seal of synthetic loans.

Usage: ``python bench/profile_seal.py [--loans 1000] [--lane-set NAME] [--ipa-rounds R|full] [--top 25]``

Seals ``--loans`` synthetic loans (states, balances up to the cap, flows up to their lane maxima,
seed 2026) with :func:`proofs.sealing.seal_pool` and no executor, so every step (blinding
derivation, commitments, the per-loan circuit proofs, leaf hashes) runs in this process under
:mod:`cProfile`, timed by process CPU time (other load on a shared machine does not skew it), with
the MSM pinned to one thread (``POOLPROOF_MSM_THREADS=1``, as seal workers run). Generators are
derived and cached by a warm-up seal first, as a long-lived seal worker has them.

Prints the top functions by own time and by cumulative time, and the share of the time spent in
the backend's multi-scalar multiplication and in the whole prover; writes
``bench/results/profile-seal-<loans>-<lane set family>-r<rounds>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("POOLPROOF_MSM_THREADS", "1")

from proofs.lanes import get_lane_set
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES, LoanFacts
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_LANE_SET = "pool-v2:b25:f25,25,25,25,25,25,25:c20000000"


def synthetic_facts(lane_set: str, n: int, seed: int = 2026) -> list[LoanFacts]:
    """``n`` loans spread over every state, amounts uniform up to each lane's maximum."""
    circuit = get_lane_set(lane_set).circuit
    if circuit is None:
        raise SystemExit(f"{lane_set} is not a pool statement lane set")
    rng = random.Random(seed)
    top = circuit.lane_max("balance_M0")
    flow_max = [circuit.lane_max(f"flow_{f}") for f in FLOWS]
    out = []
    for i in range(n):
        state = rng.randrange(len(STATES))
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(top + 1)
        flows = tuple(rng.randrange(m + 1) for m in flow_max)
        out.append(LoanFacts(f"E{i:08d}", state, balance, flows))
    return out


def seal(loans: list[LoanFacts], lane_set: str, rounds: int | None) -> None:
    context = SnapshotContext("S-profile", "POOL-PROFILE", "2026-10-31", lane_set)
    params = SealParams(lane_set=lane_set, chunk_log2=9, ipa_rounds=rounds)
    seal_pool(loans, context=context, params=params, seed=b"\x07" * 32, sink=lambda r: None)


def _rows(stats: pstats.Stats, key: str, top: int, total: float) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    idx = 2 if key == "tottime" else 3
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][idx])[:top]
    return [
        {
            "function": f"{Path(f).name}:{line}({name})",
            "calls": nc,
            "own_s": round(tt, 3),
            "cumulative_s": round(ct, 3),
            "share": round((tt if key == "tottime" else ct) / total, 3),
        }
        for (f, line, name), (_cc, nc, tt, ct, _callers) in ranked
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loans", type=int, default=1000)
    ap.add_argument("--lane-set", default=DEFAULT_LANE_SET)
    ap.add_argument("--ipa-rounds", default="2")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    rounds = None if args.ipa_rounds == "full" else int(args.ipa_rounds)
    loans = synthetic_facts(args.lane_set, args.loans)
    seal(loans[: min(len(loans), 512)], args.lane_set, rounds)  # derive and cache generators
    # Process CPU time, not wall time: the machine is shared, and the MSM runs on this thread.
    profiler = cProfile.Profile(time.process_time)
    t0, c0 = time.perf_counter(), time.process_time()
    profiler.enable()
    seal(loans, args.lane_set, rounds)
    profiler.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    by_own = _rows(stats, "tottime", args.top, total)
    by_cum = _rows(stats, "cumtime", args.top, total)
    msm = sum(
        v[2]
        for (f, _, name), v in stats.stats.items()  # type: ignore[attr-defined]
        if "multiexp" in name or name == "msm_raw"
    )
    circuit = get_lane_set(args.lane_set).circuit
    assert circuit is not None
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "command": " ".join(["python", *sys.argv]),
        "lane_set": args.lane_set,
        "ipa_rounds": rounds,
        "loans": args.loans,
        "gates_per_loan": circuit.gates_per_loan,
        "wall_s_profiled": round(wall, 2),
        "cpu_s_profiled": round(cpu, 2),
        "profiled_own_time_s": round(total, 2),
        "msm_own_time_share": round(msm / total, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "top_by_own_time": by_own,
        "top_by_cumulative_time": by_cum,
    }
    RESULTS.mkdir(exist_ok=True)
    family = args.lane_set.split(":", 1)[0]
    path = RESULTS / f"profile-seal-{args.loans}-{family}-r{args.ipa_rounds}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for title, rows in (("own time", by_own), ("cumulative", by_cum)):
        print(f"--- top by {title} (of {total:.2f} s profiled) ---")
        for r in rows:
            share, own, cum = r["share"], r["own_s"], r["cumulative_s"]
            print(f"{share:6.1%} {own:8.3f} {cum:8.3f} {r['calls']:>8} {r['function']}")
    print(f"MSM share of own time: {msm / total:.1%}; wall {wall:.1f} s, CPU {cpu:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
