"""The VINTAGE benchmark: build and verify one cohort's vintage curve over a chain of sealed snapshots.

Usage: ``python bench/bench_vintage.py [--loans 48] [--months 6] [--repeat 3]``.

Seals ``--months`` monthly tapes of the synthetic platform's pool (``gateway.synth``, seed 24) under
the pool statement with a ``region`` and ``vintage`` stratification (in process, ``proofs.sealing``;
not timed as part of the curve), then for the cohort present on every tape with the most loans:
builds the all-exact ``poolproof/vintage-curve/v1`` bundle (``proofs.vintage.prove_vintage_curve``:
per snapshot the cell's unpacking proof, per point and rate two disclosure proofs) and verifies it
(``verify_vintage_curve``: every header, every row's audit path, every unpacking proof, every point).
Times are the median of ``--repeat`` runs, wall and process CPU, and the CPU times also as MSM terms
(one arkworks MSM term measured in the same run, ``bench_seal.msm_us_per_term``). The gateway's
cell openings (summing the cohort's sealed loans) are not included. Writes
``bench/results/vintage-<loans>x<months>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import time
from datetime import date
from typing import Any

from _common import RESULTS, machine, write_result  # bench/ is on sys.path when run as a script
from bench_seal import msm_us_per_term

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_tape, monthly_cutoff
from proofs import bundle
from proofs.group import ORDER
from proofs.loan_facts import LoanFacts
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, build_header, header_hash, loan_blindings
from proofs.vintage import prove_vintage_curve, verify_vintage_curve

START = date(2024, 6, 30)
DIMS = ("region", "vintage")


def seal_chain(n_loans: int, months: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    lanes = statement_lane_set(CN_CONSUMER)
    params = SealParams(lane_set=lanes.name, chunk_log2=6, strata_dimensions=DIMS)
    out: dict[str, Any] = {"key": key, "lanes": lanes, "headers": [], "tables": [], "facts": [], "seeds": []}
    previous: bytes | None = None
    for k in range(months):
        cutoff = monthly_cutoff(START, k)
        rows = generate_tape(n_loans, seed=24, cutoff=START, pool_id="BENCH-V", month=k)
        facts = []
        for r in rows:
            f = loan_facts(
                {**r, "exposure_id": r["platform_loan_id"], "cutoff_date": cutoff.isoformat()}, CN_CONSUMER
            )
            facts.append(
                LoanFacts(f.exposure_id, f.state, f.balance, f.flows, {d: f.labels[d] for d in DIMS})
            )
        context = SnapshotContext(f"S-{k}", "BENCH-V", cutoff.isoformat(), lanes.name)
        seed = os.urandom(32)
        outcome = seal_pool(facts, context=context, params=params, seed=seed, sink=lambda _: None)
        assert outcome.strata is not None
        header = build_header(
            context=context,
            params=params,
            sequence=k + 1,
            previous_header_hash=previous,
            sealed_at=f"{cutoff.isoformat()}T23:00:00Z",
            leaf_count=outcome.leaf_count,
            merkle_root=outcome.merkle_root,
            currency="CNY",
            dpd_bucket_edges=(0, 30, 60, 90),
            aggregates=outcome.aggregates,
            policy_version="bench",
            packed_sums=outcome.packed_sums,
            aggregate_proof=outcome.aggregate_proof,
            strata_field=outcome.strata.header_field(),
        )
        header = bundle.sign_document(key, "snapshot-header", header)
        previous = header_hash(header)
        out["headers"].append(header)
        out["tables"].append(outcome.strata)
        out["facts"].append(facts)
        out["seeds"].append(seed)
    return out


def cell_openings(chain: dict[str, Any], cohort: str) -> list[tuple[list[int], list[int]] | None]:
    lanes = chain["lanes"]
    result: list[tuple[list[int], list[int]] | None] = []
    for facts, seed in zip(chain["facts"], chain["seeds"], strict=True):
        members = [f for f in facts if f.labels["vintage"] == cohort]
        if not members:
            result.append(None)
            continue
        totals = [sum(c) for c in zip(*(lanes.facts_values(f) for f in members), strict=True)]
        blinds = [
            sum(c) % ORDER
            for c in zip(*(loan_blindings(seed, f.exposure_id, lanes) for f in members), strict=True)
        ]
        result.append((totals, blinds))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--loans", type=int, default=48)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    chain = seal_chain(args.loans, args.months)
    seal_s = time.perf_counter() - t0
    everywhere = set.intersection(*({f.labels["vintage"] for f in facts} for facts in chain["facts"]))
    last = chain["facts"][-1]
    cohort = max(sorted(everywhere), key=lambda c: sum(1 for f in last if f.labels["vintage"] == c))
    openings = cell_openings(chain, cohort)
    pub = chain["key"].public_key()
    prove_wall, prove_cpu, verify_wall, verify_cpu = [], [], [], []
    doc: dict[str, Any] = {}
    for _ in range(args.repeat):
        w, c = time.perf_counter(), time.process_time()
        doc = prove_vintage_curve(
            chain["headers"], pub, chain["tables"], cohort, openings, {}, b"bench-nonce"
        )
        prove_wall.append(time.perf_counter() - w)
        prove_cpu.append(time.process_time() - c)
        w, c = time.perf_counter(), time.process_time()
        points = verify_vintage_curve(doc, pub)
        verify_wall.append(time.perf_counter() - w)
        verify_cpu.append(time.process_time() - c)
    term = msm_us_per_term()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit.stdout.strip(),
        "command": "python bench/bench_vintage.py "
        f"--loans {args.loans} --months {args.months} --repeat {args.repeat}",
        "loans_per_tape": args.loans,
        "snapshots": args.months,
        "cohort": cohort,
        "cohort_loans_last_tape": sum(1 for f in last if f.labels["vintage"] == cohort),
        "points": len(doc["points"]),
        "proofs_verified": len(points),
        "bundle_bytes": len(json.dumps(doc, separators=(",", ":"))),
        "seal_chain_s": round(seal_s, 1),
        "prove_wall_ms_median": round(1000 * statistics.median(prove_wall), 1),
        "prove_cpu_ms_median": round(1000 * statistics.median(prove_cpu), 1),
        "verify_wall_ms_median": round(1000 * statistics.median(verify_wall), 1),
        "verify_cpu_ms_median": round(1000 * statistics.median(verify_cpu), 1),
        "msm_us_per_term_2e16_one_thread": round(term, 3),
        "prove_msm_terms": round(1000 * statistics.median(prove_cpu) * 1000 / term),
        "verify_msm_terms": round(1000 * statistics.median(verify_cpu) * 1000 / term),
        "load_average_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    write_result(RESULTS / f"vintage-{args.loans}x{args.months}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
