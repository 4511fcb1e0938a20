"""Seal a synthetic pool through the gateway and check it as an auditor; claim proof and verification.

Usage: ``python bench/bench_seal.py [--n 10000] [--workers N] [--chunk-log2 6] [--claims 5]``

For each n, in a fresh temporary instance: ingest a synthetic month (``gateway.synth``, month 6) with
``gateway.ingest.ingest_tape``, seal it with ``gateway.sealing.run_seal_job`` on a process pool (one
worker per core by default, ``POOLPROOF_MSM_THREADS=1`` each), stream the snapshot bundle to a file,
verify it fully with ``proofs.snapshot.verify_snapshot`` (one process), then prove and verify
``--claims`` ratio claims (gateway side ``gateway.snapshots.prove_claim``, investor side
``proofs.claim_bundle.verify_claim_bundle``). Writes ``bench/results/seal-<n>.json``.

The machine is shared: the load average (``os.getloadavg``) is recorded before and after each phase.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _peak_rss_mib() -> dict[str, float]:
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def bench(n: int, workers: int, chunk_log2: int, n_claims: int, lane_set: str) -> dict[str, Any]:
    from gateway.db import connect
    from gateway.demo import init_instance
    from gateway.gateway_key import load_gateway_key
    from gateway.ingest import ingest_tape, iter_rows_as_jsonl
    from gateway.keyring import load_master_key
    from gateway.pools import CN_CONSUMER
    from gateway.sealing import SealSettings, run_seal_job, shutdown_executor, start_seal_job
    from gateway.snapshots import get_snapshot, prove_claim, stream_snapshot_bundle
    from gateway.storage import create_party, create_pool, pool_keys
    from gateway.synth import generate_tape, monthly_cutoff
    from proofs import bundle
    from proofs.claim_bundle import verify_claim_bundle
    from proofs.claims import BoundClaim, RatioClaim
    from proofs.snapshot import verify_header, verify_snapshot

    out: dict[str, Any] = {
        "target": "seal",
        "loans": n,
        "workers": workers,
        "chunk_log2": chunk_log2,
        "lane_set": lane_set,
    }
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as tmp:
        inst = init_instance(Path(tmp) / "inst")
        master = load_master_key(key_file=inst.master_key_file)
        gkey = load_gateway_key(inst.gateway_key_file)
        db = connect(inst.db_path)
        create_party(db, "plat", "platform", public_key=b"\x01" * 32)
        pool = create_pool(db, master, "BENCH", "plat", CN_CONSUMER)
        first = date(2024, 1, 31)
        cutoff = monthly_cutoff(first, 6).isoformat()
        with tempfile.TemporaryFile() as body:
            for line in iter_rows_as_jsonl(generate_tape(n, seed=7, cutoff=first, pool_id="BENCH", month=6)):
                body.write(line)
            body.seek(0)
            t0 = time.perf_counter()
            keys = pool_keys(db, master, "BENCH")
            ingest_tape(db, pool, keys, cutoff, body, "jsonl", submitted_by="plat", max_bytes=1 << 40)
        out["ingest_seconds"] = round(time.perf_counter() - t0, 2)

        settings = SealSettings(chunk_log2=chunk_log2, workers=workers, lane_set=lane_set)
        job, _ = start_seal_job(db, master, "BENCH", cutoff, settings)
        out["load_before_seal"] = _load()
        t0 = time.perf_counter()
        cpu0 = os.times()
        done = run_seal_job(inst.db_path, master, gkey, "bench", job.id, workers=workers)
        cpu1 = os.times()
        out["seal_seconds"] = round(time.perf_counter() - t0, 2)
        shutdown_executor()  # so the workers' CPU time is counted in children
        cpu2 = os.times()
        out["seal_cpu_seconds"] = round(
            (cpu1.user - cpu0.user)
            + (cpu1.system - cpu0.system)
            + (cpu2.children_user - cpu0.children_user)
            + (cpu2.children_system - cpu0.children_system),
            1,
        )
        out["load_after_seal"] = _load()
        if done.state != "sealed":
            raise SystemExit(f"seal failed: {done.error}")
        out["loans_per_second"] = round(n / out["seal_seconds"], 2)

        snap = get_snapshot(db, "BENCH", cutoff)
        path = Path(tmp) / "snapshot.json"
        t0 = time.perf_counter()
        with path.open("w", encoding="utf-8") as f:
            for part in stream_snapshot_bundle(db, snap):
                f.write(part)
        out["bundle_stream_seconds"] = round(time.perf_counter() - t0, 2)
        out["snapshot_bundle_bytes"] = path.stat().st_size
        t0 = time.perf_counter()
        with path.open(encoding="utf-8") as f:
            verify_snapshot(f, gkey.public_key())
        out["verify_snapshot_seconds"] = round(time.perf_counter() - t0, 2)
        out["load_after_verify"] = _load()

        header = verify_header(snap.header, gkey.public_key())
        keys = pool_keys(db, master, "BENCH")
        bits = max(48, header.metric_bound_bits("pool_balance"))
        statements = [
            RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100, bits),
            RatioClaim("count_dpd_90plus", "loan_count", "<=", 5, 100, bits),
            BoundClaim("pool_balance", 1, None, bits),
        ]
        prove_ms, verify_ms, sizes = [], [], []
        for i in range(n_claims):
            statement = statements[i % len(statements)]
            t0 = time.perf_counter()
            doc = prove_claim(header, keys, snap, statement, secrets.token_bytes(32))
            prove_ms.append(1000 * (time.perf_counter() - t0))
            text = bundle.dump_bundle(doc)
            sizes.append(len(text))
            parsed = bundle.load_bundle(text)
            t0 = time.perf_counter()
            verify_claim_bundle(parsed, gkey.public_key())
            verify_ms.append(1000 * (time.perf_counter() - t0))
        out["claim_prove_ms_median"] = round(statistics.median(prove_ms), 1)
        out["claim_verify_ms_median"] = round(statistics.median(verify_ms), 1)
        out["claim_verify_ms_max"] = round(max(verify_ms), 1)
        out["claim_bundle_bytes_max"] = max(sizes)
        db.conn.close()
    rss = _peak_rss_mib()
    out["peak_rss_mib"] = round(rss["self"], 1)
    out["peak_rss_mib_workers"] = round(rss["children"], 1)
    out["seconds"] = out["seal_seconds"]
    out["date"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    out["command"] = "python bench/bench_seal.py " + " ".join(sys.argv[1:])
    out["cpus"] = os.cpu_count()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-log2", type=int, default=6)
    parser.add_argument("--claims", type=int, default=6)
    parser.add_argument("--lane-set", default=None, help="default: the proofs default (dpd5-v2)")
    args = parser.parse_args(argv)
    from proofs.snapshot import SealParams

    default = SealParams().lane_set
    lane_set = args.lane_set or default
    RESULTS.mkdir(exist_ok=True)
    for n in args.n:
        result = bench(n, args.workers, args.chunk_log2, args.claims, lane_set)
        suffix = "" if lane_set == default else f"-{lane_set}"
        (RESULTS / f"seal-{n}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
