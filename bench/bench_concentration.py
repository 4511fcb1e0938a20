"""Cost of the concentration-limit proof (proofs/concentration.py) and of a period's purchase evidence
(proofs/purchases.py).

Seals ``--loans`` synthetic loans under the gateway's linkable lane set for a CN consumer pool, spread
over ``--cells`` provinces, then times :func:`proofs.concentration.prove_limit` and
:func:`proofs.concentration.verify_limit` for a region limit (one cell evidence per province and one
aggregated range proof), and :func:`proofs.purchases.prove_purchases` / ``verify_purchases`` for a
period that bought ``--bought`` of the loans. The time of one MSM term is measured in the same run,
so each cost is also given as MSM-term equivalents (time / time of one term). Results:
``bench/results/concentration.json``; the table in ``docs/benchmarks.md``.

    python bench/bench_concentration.py [--loans 2000] [--cells 8,31] [--bought 200]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import RESULTS, machine, msm_ns_per_term, write_result  # noqa: E402

from gateway.ingest.pool_settings import CN_CONSUMER  # noqa: E402
from gateway.loan_facts import statement_lane_set  # noqa: E402
from proofs import concentration  # noqa: E402
from proofs.claim_bundle import metric_opening  # noqa: E402
from proofs.deal import ConcentrationLimit  # noqa: E402
from proofs.group import ORDER, get_group, random_scalar  # noqa: E402
from proofs.loan_facts import LoanFacts  # noqa: E402
from proofs.purchases import new_loan_totals, prove_purchases, verify_purchases  # noqa: E402
from proofs.snapshot import loan_blindings, verify_header  # noqa: E402
from proofs.transcript import Transcript  # noqa: E402
from tests.snapshot_util import seal_in_memory  # noqa: E402


def _facts(n: int, cells: int, rng: random.Random) -> list[LoanFacts]:
    provinces = [f"{11 + i:02d}" for i in range(cells)]
    return [
        LoanFacts(
            f"E{i:06d}",
            0,
            rng.randrange(100_000, 2_000_000),
            (rng.randrange(0, 50_000), 0, 0, 0, 0, 0, 0),
            {"region": provinces[i % cells]},
        )
        for i in range(n)
    ]


def bench(loans: int, cells: int, bought: int, msm_ns: float) -> dict[str, Any]:
    rng = random.Random(cells)
    lanes = statement_lane_set(CN_CONSUMER)
    group = get_group()
    facts = _facts(loans, cells, rng)
    sealed = seal_in_memory(facts, chunk_log2=8, lane_set=lanes.name, ipa_rounds=None)  # type: ignore[arg-type]
    header = verify_header(sealed.header, sealed.key.public_key(), lane_sets={lanes.name})
    assert sealed.outcome.strata is not None
    openings: dict[str, tuple[list[int], list[int]]] = {}
    for f in facts:
        totals, sums = openings.setdefault(
            f.labels["region"], ([0] * len(lanes.lanes), [0] * len(lanes.inputs))
        )
        for j, v in enumerate(lanes.facts_values(f)):
            totals[j] += v
        for j, r in enumerate(loan_blindings(sealed.seed, f.exposure_id, lanes)):
            sums[j] = (sums[j] + r) % ORDER
    o = sealed.outcome
    pool = metric_opening(lanes, concentration.METRIC, o.lane_value_sums, o.lane_blinding_sums)
    limit = ConcentrationLimit("region", "region", 10_000)
    t0 = time.process_time()
    doc = concentration.prove_limit(
        group, header, o.strata, limit, openings, pool, Transcript(b"bench"), random_scalar
    )
    prove_s = time.process_time() - t0
    t0 = time.process_time()
    concentration.verify_limit(group, header, limit, doc, Transcript(b"bench"))
    verify_s = time.process_time() - t0
    # a period's purchase evidence: one unpacking proof over the bought loans' row
    new = facts[:bought]
    count, totals, blindings = new_loan_totals(
        lanes, ((lanes.facts_values(f), loan_blindings(sealed.seed, f.exposure_id, lanes)) for f in new)
    )
    aggregate = [random_scalar() for _ in lanes.lanes]
    t0 = time.process_time()
    evidence = prove_purchases(group, header, count, totals, blindings, aggregate, random_scalar)
    p_prove = time.process_time() - t0
    t0 = time.process_time()
    verify_purchases(group, header, evidence)
    p_verify = time.process_time() - t0
    return {
        "loans": loans,
        "cells": cells,
        "lane_set": lanes.name,
        "concentration_prove_s": round(prove_s, 3),
        "concentration_verify_s": round(verify_s, 3),
        "concentration_prove_ms_per_cell": round(prove_s / cells * 1e3, 1),
        "concentration_verify_ms_per_cell": round(verify_s / cells * 1e3, 1),
        "concentration_prove_msm_term_equivalents": round(prove_s * 1e9 / msm_ns),
        "proof_json_chars": len(json.dumps(doc)),
        "purchases_bought": bought,
        "purchases_prove_ms": round(p_prove * 1e3, 1),
        "purchases_verify_ms": round(p_verify * 1e3, 1),
        "purchases_prove_msm_term_equivalents": round(p_prove * 1e9 / msm_ns),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loans", type=int, default=2000)
    ap.add_argument("--cells", default="8,31")
    ap.add_argument("--bought", type=int, default=200)
    args = ap.parse_args()
    msm_ns = msm_ns_per_term(b"poolproof/bench/concentration")
    rows = [bench(args.loans, int(c), args.bought, msm_ns) for c in args.cells.split(",")]
    for r in rows:
        print(r)
    write_result(
        RESULTS / "concentration.json",
        {"machine": machine(), "msm_ns_per_term": round(msm_ns, 1), "rows": rows},
    )


if __name__ == "__main__":
    main()
