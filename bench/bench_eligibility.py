"""Cost of the purchase-eligibility statement (proofs/eligibility.py) per purchased loan.

Seals a small snapshot under a linked lane set (counts alone in one input, balances in two) with
``n`` purchased loans, then times :func:`proofs.eligibility.prove_eligibility` and
:func:`proofs.eligibility.verify_eligibility` (investor view and the trustee's whole bundle), and
measures in the same run the time of one MSM term, so the prover's cost is also given in MSM terms.
Results: ``bench/results/eligibility.json``; the table in ``docs/benchmarks.md``.

    python bench/bench_eligibility.py [--sizes 4,16,64] [--rounds 0]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import RESULTS, machine, msm_ns_per_term, write_result  # noqa: E402

from proofs import merkle  # noqa: E402
from proofs.bulletproofs import pad_widths  # noqa: E402
from proofs.claim_bundle import metric_opening  # noqa: E402
from proofs.deal import parse_deal_text  # noqa: E402
from proofs.eligibility import (  # noqa: E402
    ATTRIBUTES,
    PurchasedLoan,
    _derive,
    investor_view,
    prove_eligibility,
    purchase_layout,
    verify_eligibility,
)
from proofs.group import get_group  # noqa: E402
from proofs.loan_facts import LoanFacts  # noqa: E402
from proofs.pedersen import Opening, commit  # noqa: E402
from proofs.snapshot import loan_blindings, verify_header  # noqa: E402
from tests.eligibility_util import deal_text, linked_lane_set, registered  # noqa: E402
from tests.snapshot_util import seal_in_memory  # noqa: E402


def _facts(n_old: int, n_new: int, rng: random.Random) -> list[LoanFacts]:
    out = []
    for i in range(n_old + n_new):
        balance = rng.randrange(100_000, 3_000_000)
        paid = rng.randrange(0, 4_000_000) if i < n_old else 0
        flows = (0, paid, 0, 0, 0, 0, 0)
        labels = {"region": rng.choice(["CA", "NY", "TX"]), "original_term": "36"}
        out.append(
            LoanFacts(f"E{i:06d}", 0 if i >= n_old else 7, balance if i >= n_old else 0, flows, labels)
        )
    return out


def bench(n: int, rounds: int | None, msm_ns: float) -> dict[str, Any]:
    rng = random.Random(n)
    lanes = linked_lane_set()
    group = get_group()
    with registered(lanes):
        facts = _facts(max(8, n), n, rng)
        sealed = seal_in_memory(facts, chunk_log2=6, lane_set=lanes.name, ipa_rounds=0)  # type: ignore[arg-type]
        header = verify_header(sealed.header, sealed.key.public_key(), lane_sets={lanes.name})
        tree = merkle.MerkleTree([h for r in sealed.results for h in r.leaf_hashes])
        dims = sealed.params.strata_dimensions
        loans = []
        for i, f in enumerate(facts):
            if f.state != 0:
                continue
            values = lanes.input_values(lanes.facts_values(f))
            ops = tuple(
                Opening(v, b)
                for v, b in zip(values, loan_blindings(sealed.seed, f.exposure_id, lanes), strict=True)
            )
            attrs = {
                "nominal_rate_bps": 1500,
                "apr_bps": 1600,
                "original_term_months": 36,
                "remaining_term_months": 30,
            }
            loans.append(
                PurchasedLoan(
                    f.exposure_id,
                    i,
                    tuple(f.labels[d] for d in dims),
                    tuple(commit(group, o.value, o.blinding) for o in ops),
                    ops,
                    attrs,
                    tuple(tree.inclusion_proof(i)),
                )
            )
        o = sealed.outcome
        coll = metric_opening(lanes, "principal_collections", o.lane_value_sums, o.lane_blinding_sums)
        deal = parse_deal_text(deal_text(max_balance_fen=4_000_000, excluded_regions=["PR"]))
        t0 = time.perf_counter()
        doc = prove_eligibility(header, deal, loans, coll, sealed.key, ipa_rounds=rounds)
        prove_s = time.perf_counter() - t0
        assert doc["holds"], doc["failed"]
        t0 = time.perf_counter()
        verify_eligibility(investor_view(doc), sealed.key.public_key(), header, deal)
        investor_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        verify_eligibility(doc, sealed.key.public_key(), header, deal)
        trustee_s = time.perf_counter() - t0
        rows = [
            {k: group.decode_point(bytes.fromhex(v)) for k, v in row.items()} for row in doc["commitments"]
        ]
        derived = _derive(group, header, deal, purchase_layout(lanes), rows)
        bits = {c: sum(pad_widths(w)) for c, w in derived.widths.items()}
    investor_bytes = len(json.dumps(investor_view(doc)))
    full_bytes = len(json.dumps(doc))
    per = 1e3 / n
    return {
        "purchased": n,
        "ipa_rounds": rounds,
        "range_bits_per_proof": bits,
        "prove_ms_per_loan": round(prove_s * per, 3),
        "prove_msm_terms_per_loan": round(prove_s / n * 1e9 / msm_ns, 1),
        "verify_investor_ms_per_loan": round(investor_s * per, 3),
        "verify_investor_msm_terms_per_loan": round(investor_s / n * 1e9 / msm_ns, 1),
        "verify_trustee_ms_per_loan": round(trustee_s * per, 3),
        "investor_view_bytes_per_loan": investor_bytes // n,
        "full_bundle_bytes_per_loan": full_bytes // n,
        "attributes": list(ATTRIBUTES),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,16,64")
    ap.add_argument("--rounds", default="full", help="IPA rounds: full or a number")
    ap.add_argument("--out", type=Path, default=RESULTS / "eligibility.json")
    args = ap.parse_args()
    rounds = None if args.rounds == "full" else int(args.rounds)
    msm_ns = msm_ns_per_term(b"poolproof/bench/eligibility")
    commit_id = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    results = [bench(int(n), rounds, msm_ns) for n in args.sizes.split(",")]
    write_result(
        args.out,
        {
            "machine": machine(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "commit": commit_id,
            "command": " ".join(["python", "bench/bench_eligibility.py", *sys.argv[1:]]),
            "msm_ns_per_term_2_12": round(msm_ns, 1),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
