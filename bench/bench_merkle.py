"""RFC 9162 Merkle tree timings (``proofs.merkle``) on one core.

Usage: ``python bench/bench_merkle.py [--n 10000 100000 1000000]``

Each n runs in a fresh subprocess (so peak RSS is per size). Leaves are ``b"loan-<i>"``. Measured:
leaf hashing, ``root()`` from leaf hashes, ``MerkleTree`` build (all levels kept), chunked build
(``chunk_roots`` with k=14 then ``fold_chunk_roots``, sequential), streaming ``RootAccumulator``,
and per-proof microseconds for inclusion and consistency proof generation and verification
(averaged over 2,000 random indices). Writes ``bench/results/merkle-<n>.json`` and prints a line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import RESULTS, peak_rss_mib  # bench/ is on sys.path when run as a script

from proofs import merkle

PROBES = 2000


def _best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_one(n: int) -> dict[str, Any]:
    t_start = time.perf_counter()
    runs = 3 if n <= 100_000 else 1
    leaf_s, leaves = _best_of(runs, lambda: [merkle.leaf_hash(b"loan-%d" % i) for i in range(n)])
    root_s, root = _best_of(runs, lambda: merkle.root(leaves))
    tree_s, tree = _best_of(runs, lambda: merkle.MerkleTree(leaves))
    assert tree.root == root
    k = 14
    chunk_s, folded = _best_of(runs, lambda: merkle.fold_chunk_roots(merkle.chunk_roots(leaves, k), n, k))
    assert folded == root

    def stream() -> bytes:
        acc = merkle.RootAccumulator()
        for h in leaves:
            acc.add(h)
        return acc.root()

    stream_s, streamed = _best_of(1, stream)
    assert streamed == root

    rng = random.Random(n)
    indices = [rng.randrange(n) for _ in range(PROBES)]
    t0 = time.perf_counter()
    proofs = [tree.inclusion_proof(i) for i in indices]
    incl_gen_us = (time.perf_counter() - t0) / PROBES * 1e6
    t0 = time.perf_counter()
    for i, p in zip(indices, proofs, strict=True):
        merkle.verify_inclusion(leaves[i], i, n, p, root)
    incl_ver_us = (time.perf_counter() - t0) / PROBES * 1e6

    old_sizes = [rng.randrange(1, n) for _ in range(PROBES)]
    t0 = time.perf_counter()
    cproofs = [tree.consistency_proof(m) for m in old_sizes]
    cons_gen_us = (time.perf_counter() - t0) / PROBES * 1e6
    old_roots = {m: merkle.root(leaves[:m]) for m in old_sizes[:50]}
    t0 = time.perf_counter()
    for m, p in list(zip(old_sizes, cproofs, strict=True))[:50]:
        merkle.verify_consistency(m, n, old_roots[m], root, p)
    cons_ver_us = (time.perf_counter() - t0) / 50 * 1e6

    return {
        "target": "merkle",
        "n": n,
        "seconds": round(time.perf_counter() - t_start, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "date": dt.date.today().isoformat(),
        "command": "python bench/bench_merkle.py --n " + str(n),
        "python": sys.version.split()[0],
        "leaf_hash_seconds": round(leaf_s, 4),
        "root_seconds": round(root_s, 4),
        "tree_build_seconds": round(tree_s, 4),
        "chunked_k14_seconds": round(chunk_s, 4),
        "streaming_accumulator_seconds": round(stream_s, 4),
        "inclusion_proof_us": round(incl_gen_us, 2),
        "inclusion_verify_us": round(incl_ver_us, 2),
        "inclusion_proof_hashes": len(proofs[0]),
        "consistency_proof_us": round(cons_gen_us, 2),
        "consistency_verify_us": round(cons_ver_us, 2),
        "root": root.hex(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--in-process", action="store_true", help="measure in this process (one n)")
    args = parser.parse_args()
    if args.in_process:
        print(json.dumps(run_one(args.n[0])))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    for n in args.n:
        cmd = [sys.executable, __file__, "--in-process", "--n", str(n)]
        result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        (RESULTS / f"merkle-{n}.json").write_text(json.dumps(result, indent=1) + "\n")
        r = result
        print(
            f"n={n:>9,}: root {r['root_seconds']:.3f} s, tree {r['tree_build_seconds']:.3f} s, "
            f"chunked {r['chunked_k14_seconds']:.3f} s, leaf hashing {r['leaf_hash_seconds']:.3f} s, "
            f"inclusion {r['inclusion_proof_us']:.1f} µs / verify {r['inclusion_verify_us']:.1f} µs, "
            f"consistency {r['consistency_proof_us']:.1f} µs / verify {r['consistency_verify_us']:.1f} µs, "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
