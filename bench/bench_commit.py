"""Pedersen commitment throughput on one core (``proofs.pedersen.commit_many``).

Usage: ``python bench/bench_commit.py [--n 10000 100000] [--backend arkworks]``

For each n: commit n random values below 2^40 (fen-sized amounts) with uniform blindings, one
process, one thread. Writes ``bench/results/commit-<n>.json`` and prints a summary line. In the
same run it measures the plain two-scalar-multiplication ``commit`` and the arkworks MSM cost per
term at 2^16 terms, so the figures can be compared as ratios across machines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time
from pathlib import Path

from _common import RESULTS, cpu_model, peak_rss_mib  # bench/ is on sys.path when run as a script

from proofs import pedersen
from proofs.group import ORDER, get_group


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backend", default="arkworks")
    parser.add_argument("--seed", type=int, default=1, help="seed for the benchmark's input values")
    args = parser.parse_args(argv)

    group = get_group(args.backend)
    rng = random.Random(args.seed)  # benchmark inputs only; never used for real blindings

    t0 = time.perf_counter()
    pedersen.commit_many(group, [1], [1])  # builds the fixed-base tables once
    table_seconds = time.perf_counter() - t0

    plain_n = 500
    pv = [rng.randrange(2**40) for _ in range(plain_n)]
    pr = [rng.randrange(1, ORDER) for _ in range(plain_n)]
    t0 = time.perf_counter()
    for v, r in zip(pv, pr, strict=True):
        pedersen.commit(group, v, r)
    plain_rate = plain_n / (time.perf_counter() - t0)

    msm_ns = None
    for n in args.n:
        values = [rng.randrange(2**40) for _ in range(n)]
        blindings = [rng.randrange(1, ORDER) for _ in range(n)]
        t0 = time.perf_counter()
        commitments = pedersen.commit_many(group, values, blindings)
        seconds = time.perf_counter() - t0
        # spot-check the batch against the definition
        for i in rng.sample(range(n), 5):
            assert commitments[i] == pedersen.commit(group, values[i], blindings[i])

        if msm_ns is None and args.backend == "arkworks" and n >= 2**16:
            scalars = [rng.randrange(ORDER) for _ in range(2**16)]
            t0 = time.perf_counter()
            group.msm(commitments[: 2**16], scalars)
            msm_ns = (time.perf_counter() - t0) / 2**16 * 1e9

        result = {
            "target": "commit",
            "n": n,
            "seconds": round(seconds, 4),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "backend": args.backend,
            "window_bits": pedersen.WINDOW_BITS,
            "commitments_per_second": round(n / seconds),
            "us_per_commitment": round(seconds / n * 1e6, 2),
            "table_build_seconds": round(table_seconds, 3),
            "plain_commit_per_second": round(plain_rate),
            "msm_ns_per_term_2_16": round(msm_ns) if msm_ns is not None else None,
            "value_bits": 40,
            "threads": 1,
            "machine": f"{cpu_model()}, {platform.python_implementation()} {platform.python_version()}",
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"commit-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
