"""Seal and fully audit a synthetic pool with proofs/ alone (no gateway, no database).

Isolates the cryptographic cost from storage and HTTP, for the scaling curve (docs/benchmarks.md):

    python bench/bench_seal_proofs.py --loans 10000 --ipa-rounds 4 --workers 2

Writes bench/results/seal-proofs-<loans>-<lane set>-r<rounds>-c<chunk_log2>.json (target, loans,
seconds, peak_rss_mib, date, command, and the per-step figures). Defaults: ``SealParams()``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.executors import open_executor
from proofs.sealing import seal_pool
from proofs.snapshot import (
    LoanInput,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    verify_snapshot,
    write_snapshot_bundle,
)


def loans(n: int) -> list[LoanInput]:
    rng = random.Random(1)
    return [
        LoanInput(f"E{i:08d}", rng.randrange(10_000, 5_000_000), rng.choices(range(5), [92, 4, 2, 1, 1])[0])
        for i in range(n)
    ]


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loans", type=int, default=10_000)
    defaults = SealParams()
    ap.add_argument("--ipa-rounds", default=None, help=f"integer or 'full' (default {defaults.ipa_rounds})")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--chunk-log2", type=int, default=defaults.chunk_log2)
    ap.add_argument("--lane-set", default=defaults.lane_set)
    args = ap.parse_args()
    if args.ipa_rounds is None:
        args.ipa_rounds = defaults.ipa_rounds
    else:
        args.ipa_rounds = None if args.ipa_rounds == "full" else int(args.ipa_rounds)
    key = Ed25519PrivateKey.generate()
    context = SnapshotContext("S-bench", "POOL-BENCH", "2026-10-31", args.lane_set)
    params = SealParams(lane_set=args.lane_set, chunk_log2=args.chunk_log2, ipa_rounds=args.ipa_rounds)
    pool = loans(args.loans)
    out = io.StringIO()
    chunks: list[dict[str, object]] = []
    t0, c0 = time.perf_counter(), cpu()
    with open_executor(args.workers) as executor:
        outcome = seal_pool(
            pool, context=context, params=params, seed=os.urandom(32),
            sink=lambda r: chunks.append(chunk_document(r)), executor=executor,
        )  # fmt: skip
    seal_s, seal_cpu = time.perf_counter() - t0, cpu() - c0
    header = bundle.sign_document(key, "snapshot-header", build_header(
        context=context, params=params, sequence=1, previous_header_hash=None,
        sealed_at="2026-11-01T00:00:00Z", leaf_count=outcome.leaf_count, merkle_root=outcome.merkle_root,
        currency="CNY", dpd_bucket_edges=(0, 30, 60, 90), aggregates=outcome.aggregates,
        policy_version="bench", packed_sums=outcome.packed_sums, aggregate_proof=outcome.aggregate_proof,
    ))  # fmt: skip
    write_snapshot_bundle(out, header, chunks)
    text = out.getvalue()
    chunks.clear()
    t1, c1 = time.perf_counter(), cpu()
    with open_executor(args.workers) as executor:
        verify_snapshot(io.StringIO(text), key.public_key(), executor=executor)
    audit_s, audit_cpu = time.perf_counter() - t1, cpu() - c1
    result = {
        "target": "seal-proofs",
        "loans": args.loans,
        "lane_set": args.lane_set,
        "ipa_rounds": args.ipa_rounds,
        "chunk_log2": args.chunk_log2,
        "workers": args.workers or os.cpu_count(),
        "seconds": round(seal_s, 2),
        "seal_seconds": round(seal_s, 2),
        "seal_cpu_ms_per_loan": round(1000 * seal_cpu / args.loans, 3),
        "audit_seconds": round(audit_s, 2),
        "audit_cpu_ms_per_loan": round(1000 * audit_cpu / args.loans, 3),
        "bundle_bytes": len(text),
        "bundle_bytes_per_loan": round(len(text) / args.loans, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
    }
    print(json.dumps(result, indent=2))
    name = f"seal-proofs-{args.loans}-{args.lane_set}-r{args.ipa_rounds}-c{args.chunk_log2}.json"
    path = Path(__file__).parent / "results" / name
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
