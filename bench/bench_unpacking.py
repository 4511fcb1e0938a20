"""The investor's unpacking check (:func:`proofs.unpacking.verify_unpacking`) per lane set, one thread.

Usage: ``python bench/bench_unpacking.py [--repeat 7] [--loans 1000] [LANE_SET ...]``

For each lane set (default: the pool-v2 and pool-v3 lane sets of a 20,000,000 cap, and dpd5-v3)
proves the unpacking of ``--loans`` synthetic loans' totals once, then verifies it ``--repeat``
times, timing each verification in process CPU time with the MSM pinned to one thread
(``POOLPROOF_MSM_THREADS=1``), so the figure does not depend on free cores. Reports the median and
the range-proven bits, the proof bytes, and the arkworks MSM term measured in the same run. This is
the part of a claim verification that depends on the lane set (docs/benchmarks.md).

Writes ``bench/results/unpacking.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("POOLPROOF_MSM_THREADS", "1")

from bench_seal import msm_us_per_term

from proofs import unpacking
from proofs.group import ORDER, get_group
from proofs.lanes import LaneSet, get_lane_set
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES, LoanFacts
from proofs.transcript import Transcript

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULTS = (
    "pool-v2:b25:f25,25,25,25,25,25,25:c20000000",
    "pool-v3:c20000000:f20000000,20000000,20000000,20000000,20000000,20000000,20000000",
    "dpd5-v3",
)


def _totals(lanes: LaneSet, loans: int, rng: random.Random) -> list[int]:
    rows = []
    for i in range(loans):
        if lanes.circuit is None:
            rows.append(lanes.lane_values(rng.randrange(1 << 24), rng.randrange(5)))
            continue
        state = rng.randrange(len(STATES))
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(lanes.lane_max("balance_M0") + 1)
        flows = tuple(rng.randrange(lanes.lane_max(f"flow_{f}") + 1) for f in FLOWS)
        rows.append(lanes.facts_values(LoanFacts(f"E{i}", state, balance, flows)))
    return [sum(r[j] for r in rows) for j in range(len(lanes.lanes))]


def bench(name: str, loans: int, repeat: int, rng: random.Random) -> dict[str, Any]:
    group = get_group("arkworks")
    lanes = get_lane_set(name)
    assert lanes.packing is not None
    totals = _totals(lanes, loans, rng)
    rhos = [rng.randrange(ORDER) for _ in lanes.lanes]
    gammas = [rng.randrange(ORDER) for _ in lanes.packing]

    def draw() -> int:  # the prover's nonces (a benchmark, not a seal: seeded for repeatability)
        return rng.randrange(ORDER)

    proof, aggregates, sums = unpacking.prove_unpacking(
        group, lanes, loans, totals, rhos, gammas, Transcript(b"bench"), draw
    )
    unpacking.verify_unpacking(group, lanes, loans, aggregates, sums, proof, Transcript(b"bench"))  # warm
    cpu = []
    for _ in range(repeat):
        c0 = time.process_time()
        unpacking.verify_unpacking(group, lanes, loans, aggregates, sums, proof, Transcript(b"bench"))
        cpu.append(time.process_time() - c0)
    widths = unpacking._slot_widths(lanes)
    bits = sum(widths) if widths is not None else len(unpacking._slots(lanes)) * unpacking.RANGE_BITS
    return {
        "lane_set": name,
        "range_proven_bits": bits,
        "proof_bytes": len(proof),
        "verify_cpu_ms_median": round(1000 * statistics.median(cpu), 2),
        "verify_cpu_ms_min": round(1000 * min(cpu), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("lane_sets", nargs="*", default=list(DEFAULTS))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--loans", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(2026)
    load0 = os.getloadavg()[0]
    rows = [bench(name, args.loans, args.repeat, rng) for name in args.lane_sets]
    term = msm_us_per_term()
    for row in rows:
        row["verify_msm_terms"] = round(1000 * row["verify_cpu_ms_median"] / term)
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "command": " ".join(["python", *sys.argv]),
        "msm_us_per_term_2e16_one_thread": round(term, 2),
        "load_average_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "unpacking.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
