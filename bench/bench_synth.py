"""Synthetic-platform throughput (``gateway.synth``): rows per second, generation and JSONL writing.

Usage: ``python bench/bench_synth.py [--n 100000 1000000] [--month 0] [--workers 2]``

Each n runs in a fresh subprocess (so peak RSS is per size). Measured, one process: generation alone
(consuming ``generate_tape``), wall clock and CPU time (CPU time is what the generator costs when other
work shares the machine); generation plus ``write_jsonl`` to a temporary file. With ``--workers K``:
generation split into K contiguous loan ranges (``indices=``) on a process pool. The loan stream is
checked to be identical in both modes (SHA-256 of the JSONL bytes of the first 20,000 rows).
Writes ``bench/results/synth-<n>.json`` and prints a line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import RESULTS, peak_rss_mib  # bench/ is on sys.path when run as a script

from gateway.synth import generate_tape, write_jsonl

CUTOFF = dt.date(2025, 6, 30)
SEED = 20251122


def _consume(n: int, month: int, start: int, stop: int) -> int:
    count = 0
    for _ in generate_tape(
        n, seed=SEED, cutoff=CUTOFF, pool_id="BENCH", month=month, indices=range(start, stop)
    ):
        count += 1
    return count


class _HashingWriter:
    """A text sink that keeps only the SHA-256 of what is written (UTF-8)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def write(self, text: str) -> int:
        self.h.update(text.encode())
        return len(text)


def _digest(n: int, month: int, start: int, stop: int) -> bytes:
    sink = _HashingWriter()
    rows = generate_tape(
        n, seed=SEED, cutoff=CUTOFF, pool_id="BENCH", month=month, indices=range(start, stop)
    )
    write_jsonl(rows, sink)  # type: ignore[arg-type]
    return sink.h.digest()


def run_one(n: int, month: int, workers: int) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    assert _consume(n, month, 0, n) == n
    gen_s, gen_cpu = time.perf_counter() - t0, time.process_time() - c0

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tape.jsonl")
        t0 = time.perf_counter()
        written = write_jsonl(generate_tape(n, seed=SEED, cutoff=CUTOFF, pool_id="BENCH", month=month), path)
        jsonl_s = time.perf_counter() - t0
        jsonl_bytes = os.path.getsize(path)
    assert written == n

    peak_single = peak_rss_mib()  # streaming generation and writing, before any parallel run
    par: dict[str, Any] = {}
    if workers > 1:
        bounds = [(n * k // workers, n * (k + 1) // workers) for k in range(workers)]
        starts, stops = zip(*bounds, strict=True)
        with cf.ProcessPoolExecutor(workers) as pool:
            list(pool.map(_consume, [1000] * workers, [month] * workers, [0] * workers, [1000] * workers))
            t0 = time.perf_counter()
            counts = list(pool.map(_consume, [n] * workers, [month] * workers, starts, stops))
            par_s = time.perf_counter() - t0
            # Workers produce the same bytes as this process, and the parts joined equal the whole.
            head = min(n, 20_000)
            split = [(head * k // workers, head * (k + 1) // workers) for k in range(workers)]
            h_starts, h_stops = zip(*split, strict=True)
            parts = list(pool.map(_digest, [n] * workers, [month] * workers, h_starts, h_stops))
        assert sum(counts) == n
        assert parts == [_digest(n, month, a, b) for a, b in split]
        whole, joined = _HashingWriter(), _HashingWriter()
        write_jsonl(
            generate_tape(n, seed=SEED, cutoff=CUTOFF, pool_id="BENCH", month=month, indices=range(head)),
            whole,
        )  # type: ignore[arg-type]
        for a, b in split:
            write_jsonl(
                generate_tape(n, seed=SEED, cutoff=CUTOFF, pool_id="BENCH", month=month, indices=range(a, b)),
                joined,
            )  # type: ignore[arg-type]
        assert whole.h.digest() == joined.h.digest()
        par = {
            "workers": workers,
            "parallel_seconds": round(par_s, 3),
            "parallel_rows_per_s": round(n / par_s),
        }

    return {
        "target": "synth",
        "loans": n,
        "month": month,
        "seconds": round(gen_s, 3),
        "rows_per_s": round(n / gen_s),
        "cpu_seconds": round(gen_cpu, 3),
        "rows_per_cpu_s": round(n / gen_cpu),
        "jsonl_seconds": round(jsonl_s, 3),
        "jsonl_rows_per_s": round(n / jsonl_s),
        "jsonl_bytes_per_row": round(jsonl_bytes / n, 1),
        **par,
        "peak_rss_mib": round(peak_single, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "date": dt.date.today().isoformat(),
        "command": "python bench/bench_synth.py " + " ".join(sys.argv[1:]),
        "python": sys.version.split()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--month", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.month, args.workers)))
        return
    RESULTS.mkdir(exist_ok=True)
    for n in args.n:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(n),
            "--month",
            str(args.month),
            "--workers",
            str(args.workers),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        res["command"] = "python bench/bench_synth.py " + " ".join(sys.argv[1:])
        suffix = f"-m{args.month}" if args.month else ""
        (RESULTS / f"synth-{n}{suffix}.json").write_text(json.dumps(res, indent=2) + "\n")
        print(
            f"n={n:>9,} month={args.month}: generate {res['rows_per_s']:>7,} rows/s wall, "
            f"{res['rows_per_cpu_s']:>7,} rows/CPU-s; +JSONL {res['jsonl_rows_per_s']:>7,} rows/s; "
            f"{args.workers} workers {res.get('parallel_rows_per_s', '-'):>7} rows/s; "
            f"peak {res['peak_rss_mib']} MiB (load {res['load_average_1m']})"
        )


if __name__ == "__main__":
    main()
