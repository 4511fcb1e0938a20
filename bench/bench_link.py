"""Linked months: the link prover against the month's seal, per loan, in CPU time, gates and MSM terms.

Usage: ``python bench/bench_link.py [--loans 2000] [--cap 20000000] [--rounds 2] [--exits 0.02]``

Two months of one pool of ``--loans`` loans under ``pool-v4`` with the gateway's statement (every
amount capped at ``--cap``); month t keeps all but ``--exits`` of the loans (terminal ones leave)
and buys as many new ones. In one process, MSM threads pinned to one (``POOLPROOF_MSM_THREADS=1``,
as seal workers run):

* the seal of month t (:func:`proofs.sealing.seal_pool`, inline, its own chunking and IPA rounds):
  CPU per loan, gates per loan;
* the link prover (:func:`proofs.link.prove_link`): CPU per loan, gates per kept loan, and the
  prover's MSM terms (A_I, A_O, S, T_1..T_6, the row commitments, the inner-product rounds);
* the link verifier given the leaves (:func:`proofs.link.verify_link` with the snapshots' leaves
  already read; the snapshot audits are verify-snapshot's and are not counted);
* the arkworks MSM cost per full-width term measured in the same run, and the link/seal ratio
  against the 25% target.

Writes ``bench/results/link-<loans>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("POOLPROOF_MSM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import RESULTS, machine, write_result
from bench_seal import msm_us_per_term
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import linkcircuit as lc
from proofs.lanes import pool_v4
from proofs.link import prove_link, read_leaves, verify_link
from proofs.loan_facts import STATES, TERMINAL_STATES, LoanFacts
from tests.link_chain import seal_month

TERMINAL = {STATES.index(s) for s in TERMINAL_STATES}


def _facts(eid: str, state: int, cap: int, rng: random.Random) -> LoanFacts:
    balance = 0 if state in TERMINAL else rng.randrange(1, cap + 1)
    flows = tuple(rng.randrange(0, cap // 50) for _ in range(7))
    return LoanFacts(eid, state, balance, flows)


def _link_msm_terms(kept: int, rounds: int | None) -> int:
    """MSM terms of the link prover over the pieces of ``kept`` loans."""
    total = 0
    for size in lc.split_loans(kept):
        n = lc.gate_count(size)
        k = n.bit_length() - 1 if rounds is None else min(rounds, n.bit_length() - 1)
        total += lc.msm_terms(size)
        total += 2 * n * k  # L and R of each round over the original generators: N terms each
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=2000)
    ap.add_argument("--cap", type=int, default=20_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--exits", type=float, default=0.02)
    args = ap.parse_args()
    rng = random.Random(20261203)
    lanes = pool_v4(args.cap, (args.cap,) * 7)
    key = Ed25519PrivateKey.generate()
    n = args.loans
    month1 = [
        _facts(f"E{i:07d}", rng.choices(range(10), weights=[80, 4, 2, 2, 2, 2, 2, 3, 2, 1])[0], args.cap, rng)
        for i in range(n)
    ]
    leaving = {f.exposure_id for f in month1 if f.state in TERMINAL and rng.random() < args.exits / 0.08}
    month2 = [
        _facts(
            f.exposure_id,
            f.state
            if f.state in TERMINAL
            else rng.choices(range(10), weights=[80, 5, 2, 2, 2, 2, 2, 3, 1, 1])[0],
            args.cap,
            rng,
        )
        for f in month1
        if f.exposure_id not in leaving
    ]
    month2 += [_facts(f"N{i:07d}", 0, args.cap, rng) for i in range(len(leaving))]
    m1 = seal_month(month1, key, sequence=1, previous=None, chunk_log2=10, lanes=lanes)
    t0 = time.process_time()
    m2 = seal_month(month2, key, sequence=2, previous=m1.header, chunk_log2=10, lanes=lanes)
    seal_cpu = time.process_time() - t0
    entries = [f.exposure_id for f in month2 if f.exposure_id.startswith("N")]
    # The gateway keeps every leaf's commitments; the link prover is given them.
    leaves = (read_leaves(m1.text, key.public_key()), read_leaves(m2.text, key.public_key()))
    given = [[list(leaf.inputs) for leaf in side.leaves] for side in leaves]
    t0 = time.process_time()
    doc = prove_link(
        key,
        m1.header,
        m2.header,
        m1.loans,
        m2.loans,
        entries=entries,
        prev_commitments=given[0],
        cur_commitments=given[1],
        ipa_rounds=args.rounds,
    )
    link_cpu = time.process_time() - t0
    t0 = time.process_time()
    verify_link(leaves[0], leaves[1], doc, key.public_key())
    verify_cpu = time.process_time() - t0
    kept = doc["kept"]
    assert lanes.circuit is not None
    seal_gates = lanes.circuit.gates_per_loan
    us_term = msm_us_per_term()
    link_terms = _link_msm_terms(kept, args.rounds)
    commit_sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit_sha,
        "machine": machine(),
        "command": " ".join(["python", "bench/bench_link.py", *sys.argv[1:]]),
        "lane_set": lanes.name,
        "loans": n,
        "kept": kept,
        "exits": len(leaving),
        "entries": len(entries),
        "seal_cpu_s": round(seal_cpu, 3),
        "seal_ms_per_loan": round(1e3 * seal_cpu / len(month2), 3),
        "seal_gates_per_loan": seal_gates,
        "link_cpu_s": round(link_cpu, 3),
        "link_ms_per_kept_loan": round(1e3 * link_cpu / kept, 3),
        "link_gates_per_kept_loan": lc.GATES_PER_LOAN,
        "link_pieces": [p["loans"] for p in doc["pieces"]],
        "link_msm_terms": link_terms,
        "link_msm_terms_per_kept_loan": round(link_terms / kept, 1),
        "link_verify_ms_per_kept_loan": round(1e3 * verify_cpu / kept, 3),
        "msm_us_per_term": round(us_term, 3),
        "seal_cpu_msm_terms_per_loan": round(1e6 * seal_cpu / len(month2) / us_term, 1),
        "link_cpu_msm_terms_per_kept_loan": round(1e6 * link_cpu / kept / us_term, 1),
        "link_msm_projection_ms_per_kept_loan": round(link_terms / kept * us_term / 1e3, 3),
        "link_over_seal_cpu": round(link_cpu / seal_cpu, 4),
        "link_over_seal_gates": round(lc.GATES_PER_LOAN / seal_gates, 4),
        "target": 0.25,
    }
    out = RESULTS / f"link-{n}.json"
    write_result(out, result)
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
