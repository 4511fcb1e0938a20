"""The pool statement v2 circuit against dpd5-v3's lane circuit: prover and verifier cost per gate, per loan.

Usage: ``python bench/bench_poolcircuit.py [--gates-log2 15] [--rounds 2] [--balance-bits 23]
[--flow-bits 23 23 19 16 23 23 23] [--cap 5000000] [--flow-caps C C C C C C C] [--batch 4]``

For each circuit (dpd5-v3's packed lane circuit, n = 32; the pool-v2 circuit with the given widths
and cap; with a cap, the pool-v3 exact-bounds circuit with that balance cap and ``--flow-caps``,
by default each flow capped at ``min(cap, 2^w − 1)``) one proof fills a piece of
``2^gates-log2`` gates with as many loans as fit, as sealing does:

* prover CPU per gate and per loan (commitments included, generators derived and cached first),
  with the MSM threads pinned to one (``POOLPROOF_MSM_THREADS=1``, as seal workers run);
* batch verification CPU per loan (``--batch`` proofs in one call), proof bytes per loan;
* the arkworks MSM cost per full-width term measured in the same run (``bench_seal.msm_us_per_term``),
  and every per-gate figure as MSM terms;
* the projection to 1,000,000 loans on this machine's two cores (prover CPU / 2; no I/O, no
  gateway work), for comparison with the seal target.

Writes ``bench/results/poolcircuit-<gates-log2>-r<rounds>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("POOLPROOF_MSM_THREADS", "1")

from bench_seal import msm_us_per_term

from proofs import lanecircuit as lc
from proofs import poolcircuit as pc
from proofs.group import ORDER, get_group
from proofs.lanes import DPD5_V3
from proofs.loan_facts import STATES, TERMINAL_STATES, LoanFacts
from proofs.snapshot import circuit_packing
from proofs.transcript import Transcript

RESULTS = Path(__file__).resolve().parent / "results"


def _blindings(loans: int, inputs: int, rng: random.Random) -> list[list[int]]:
    return [[rng.randrange(ORDER) for _ in range(inputs)] for _ in range(loans)]


def _time(fn: Any) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def bench_dpd5(gates_log2: int, rounds: int, batch: int, rng: random.Random) -> dict[str, Any]:
    group = get_group("arkworks")
    n_bits = 32
    packing = circuit_packing(DPD5_V3)
    loans = lc.max_loans(gates_log2, n_bits)
    values = []
    for i in range(loans):
        bucket = i % 5
        values.append(
            [rng.randrange(1 << 24) if b == bucket else 0 for b in range(5)]
            + [int(b == bucket) for b in range(5)]
        )
    blind = _blindings(loans, 2, rng)

    def prove() -> Any:
        return lc.prove_lanes(
            group, values, blind, n_bits, Transcript(b"bench"), ipa_rounds=rounds, packing=packing
        )

    prove()  # derive and cache generators
    (proof, commitments), cpu = _time(prove)
    items = [
        lc.LaneCircuitItem(commitments, n_bits, proof, Transcript(b"bench"), packing) for _ in range(batch)
    ]
    _, vcpu = _time(lambda: lc.batch_verify_lanes(group, items))
    gates = lc.gates_per_loan(n_bits)
    return _figures("dpd5-v3", loans, gates, cpu, vcpu / batch, len(proof.to_bytes()), inputs=2)


def bench_pool(
    gates_log2: int,
    rounds: int,
    batch: int,
    params: pc.PoolCircuit,
    name: str,
    rng: random.Random,
) -> dict[str, Any]:
    group = get_group("arkworks")
    loans = params.max_loans(gates_log2)
    top = params.lane_max("balance_M0")
    flow_max = [params.lane_max(lane) for lane in pc.FLOW_LANES]
    values = []
    for i in range(loans):
        state = i % len(STATES)
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(top + 1)
        flows = tuple(rng.randrange(m + 1) for m in flow_max)
        values.append(list(params.lane_values(LoanFacts(f"E{i}", state, balance, flows))))
    blind = _blindings(loans, params.inputs, rng)

    def prove() -> Any:
        return pc.prove_pool(group, params, values, blind, Transcript(b"bench"), ipa_rounds=rounds)

    prove()
    (proof, commitments), cpu = _time(prove)
    items = [pc.PoolCircuitItem(params, commitments, proof, Transcript(b"bench")) for _ in range(batch)]
    _, vcpu = _time(lambda: pc.batch_verify_pool(group, items))
    return _figures(
        name, loans, params.gates_per_loan, cpu, vcpu / batch, len(proof.to_bytes()), params.inputs
    )


def _figures(
    name: str, loans: int, gates: int, cpu: float, vcpu: float, size: int, inputs: int
) -> dict[str, Any]:
    per_loan = cpu / loans
    return {
        "circuit": name,
        "loans_per_proof": loans,
        "gates_per_loan": gates,
        "commitments_per_leaf": inputs,
        "prover_cpu_s": round(cpu, 3),
        "prover_cpu_us_per_gate": round(1e6 * cpu / (loans * gates), 1),
        "prover_cpu_ms_per_loan": round(1e3 * per_loan, 3),
        "batch_verify_cpu_ms_per_loan": round(1e3 * vcpu / loans, 3),
        "proof_bytes_per_loan": round(size / loans, 1),
        "projected_1m_prover_minutes_on_2_cores": round(per_loan * 1e6 / 2 / 60, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gates-log2", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--balance-bits", type=int, default=23)
    ap.add_argument("--flow-bits", type=int, nargs=7, default=[23, 23, 19, 16, 23, 23, 23])
    ap.add_argument("--cap", type=int, default=5_000_000)
    ap.add_argument("--flow-caps", type=int, nargs=7, default=None, help="pool-v3 flow caps")
    args = ap.parse_args()
    rng = random.Random(2026)
    load0 = os.getloadavg()
    v2 = pc.circuit(args.balance_bits, args.flow_bits, args.cap)
    v2_name = f"pool-v2 b{args.balance_bits} f{','.join(map(str, args.flow_bits))} cap {args.cap}"
    rows = [
        bench_dpd5(args.gates_log2, args.rounds, args.batch, rng),
        bench_pool(args.gates_log2, args.rounds, args.batch, v2, v2_name, rng),
    ]
    if args.cap is not None:
        # pool-v3 at the same caps: the balance cap, and each flow capped at its v2 range's top
        # (or at the balance cap where that is lower), every amount then proven within its cap.
        flow_caps = [min(args.cap, (1 << w) - 1) for w in args.flow_bits]
        if args.flow_caps is not None:
            flow_caps = args.flow_caps
        v3 = pc.bounded_circuit(args.cap, flow_caps)
        v3_name = f"pool-v3 c{args.cap} f{','.join(map(str, flow_caps))}"
        rows.append(bench_pool(args.gates_log2, args.rounds, args.batch, v3, v3_name, rng))
    term = msm_us_per_term()
    for row in rows:
        row["msm_terms_per_gate"] = round(row["prover_cpu_us_per_gate"] / term, 2)
        row["msm_terms_per_loan"] = round(1e3 * row["prover_cpu_ms_per_loan"] / term, 1)
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "command": " ".join(["python", *sys.argv]),
        "gates_log2": args.gates_log2,
        "ipa_rounds": args.rounds,
        "msm_us_per_term_2e16_one_thread": round(term, 2),
        "load_average_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"poolcircuit-{args.gates_log2}-r{args.rounds}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
