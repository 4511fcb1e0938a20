"""Lane-circuit proofs (``proofs.lanecircuit``) against dpd5-v1's range proofs, per loan, n = 32.

Usage: ``python bench/bench_lanecircuit.py [--loans 256 1024] [--batch 4] [--v1-loans 256 1024]``

For each loan count L (one lane-circuit proof over L loans, n = 32 bits, full IPA):

* prover µs per loan (wall and CPU), single-verify and batch-verify µs per loan (``--batch`` proofs
  of L loans in one ``batch_verify_lanes`` call), proof bytes, gates (used / padded);
* in the same run, what dpd5-v1 costs for the same L loans: the four aggregated range proofs
  ``proofs.snapshot.seal_chunk`` makes per piece (4L values of 32 bits, L of 32, 4L of 8, L of 8),
  proved with ``proofs.bulletproofs.prove_range`` and batch-verified with ``batch_verify`` (the
  four proofs of ``--batch`` pieces in one call);
* the arkworks MSM cost per term (2^16 random full-width scalars; one call, and split over the
  MSM threads), with every per-gate figure also given as a ratio to it.

Commitments are included in both provers' times, as each computes them (``prove_lanes`` with the
fixed-base tables of ``commit_many``; ``prove_range`` with one 2-term MSM per value, as
``seal_chunk`` calls it). Generators are derived (hash-to-curve) and cached before timing; the
one-off cost is reported separately. The machine's load average is recorded at start and end.
Writes ``bench/results/lanecircuit-<L>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import RESULTS, machine, peak_rss_mib  # bench/ is on sys.path when run as a script

from proofs import _parallel
from proofs import bulletproofs as bp
from proofs import lanecircuit as lc
from proofs._ipa import raw_vector
from proofs.group import ORDER, Group, get_group
from proofs.transcript import Transcript

N_BITS = 32
#: seal_chunk's parts per piece of L loans: (label, first lane, lanes, bits).
V1_PARTS = (("balance/0-3", 0, 4, 32), ("balance/4", 4, 1, 32), ("count/0-3", 5, 4, 8), ("count/4", 9, 1, 8))


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """Run ``fn(*args, **kwargs)`` once: its result, wall seconds, process CPU seconds (all threads)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def msm_cost(group: Group, terms: int = 1 << 16) -> dict[str, float]:
    """µs per term of one arkworks MSM over ``terms`` random full-width scalars: one call, and split."""
    half = terms // 2
    raws = raw_vector(group, lc.LABEL_G, half)[:half] + raw_vector(group, lc.LABEL_H, half)[:half]
    rng = random.Random(1)
    scalars = [rng.randrange(ORDER) for _ in range(terms)]
    one = min(_timed(lambda: group.msm_raw(raws, scalars))[1] for _ in range(2))
    split = min(_timed(lambda: _parallel.msm(group, raws, scalars))[1] for _ in range(2))
    return {"msm_us_per_term_2_16": one / terms * 1e6, "msm_split_us_per_term_2_16": split / terms * 1e6}


def _loans(count: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    rng = random.Random(seed)  # benchmark inputs only
    values = []
    for _ in range(count):
        principal, bucket = rng.randrange(1 << N_BITS), rng.randrange(5)
        values.append(
            [principal if b == bucket else 0 for b in range(5)] + [int(b == bucket) for b in range(5)]
        )
    blindings = [[rng.randrange(1, ORDER) for _ in range(10)] for _ in range(count)]
    return values, blindings


def _transcript(kind: bytes, i: int) -> Transcript:
    t = Transcript(b"poolproof/bench/lanecircuit/v1")
    t.append_message(b"kind", kind)
    t.append_u64(b"proof-index", i)
    return t


def bench_circuit(group: Group, loans: int, batch: int, distinct: int) -> dict[str, Any]:
    made = []
    prove_wall: list[float] = []
    prove_cpu: list[float] = []
    for i in range(distinct):
        values, blindings = _loans(loans, i)
        out, wall, cpu = _timed(lc.prove_lanes, group, values, blindings, N_BITS, _transcript(b"lc", i))
        made.append(out)
        prove_wall.append(wall)
        prove_cpu.append(cpu)
    proof, commitments = made[0]
    _, single_wall, _ = _timed(
        lambda: lc.verify_lanes(group, commitments, N_BITS, proof, _transcript(b"lc", 0))
    )
    items = [
        lc.LaneCircuitItem(
            made[i % distinct][1], N_BITS, made[i % distinct][0], _transcript(b"lc", i % distinct)
        )
        for i in range(batch)
    ]
    _, batch_wall, batch_cpu = _timed(lambda: lc.batch_verify_lanes(group, items))
    return {
        "gates_used": loans * lc.gates_per_loan(N_BITS),
        "gates": lc.gate_count(loans, N_BITS),
        "prove_us_per_loan": min(prove_wall) / loans * 1e6,
        "prove_cpu_us_per_loan": min(prove_cpu) / loans * 1e6,
        "single_verify_us_per_loan": single_wall / loans * 1e6,
        "batch_verify_us_per_loan": batch_wall / (batch * loans) * 1e6,
        "batch_verify_cpu_us_per_loan": batch_cpu / (batch * loans) * 1e6,
        "proof_bytes": len(proof.to_bytes()),
        "proof_bytes_per_loan": len(proof.to_bytes()) / loans,
    }


def _cap(rounds: int | None, n_total: int) -> int | None:
    """``rounds`` limited to the full round count of an ``n_total``-long proof."""
    return None if rounds is None else min(rounds, n_total.bit_length() - 1)


def bench_split(group: Group, loans: int, batch: int, rounds: int | None = None) -> dict[str, Any]:
    """The same loans proven as :func:`proofs.lanecircuit.split_loans` pieces (little padding)."""
    sizes = lc.split_loans(loans, N_BITS)
    values, blindings = _loans(loans, 0)
    made = []
    wall = cpu = 0.0
    offset = 0
    for j, size in enumerate(sizes):
        out, w, c = _timed(
            lc.prove_lanes,
            group,
            values[offset : offset + size],
            blindings[offset : offset + size],
            N_BITS,
            _transcript(b"split", j),
            ipa_rounds=_cap(rounds, lc.gate_count(size, N_BITS)),
        )
        made.append(lc.LaneCircuitItem(out[1], N_BITS, out[0], _transcript(b"split", j)))
        wall += w
        cpu += c
        offset += size
    _, batch_wall, batch_cpu = _timed(lc.batch_verify_lanes, group, made * batch)
    return {
        "split_sizes": sizes,
        "split_gates": sum(lc.gate_count(size, N_BITS) for size in sizes),
        "split_prove_us_per_loan": wall / loans * 1e6,
        "split_prove_cpu_us_per_loan": cpu / loans * 1e6,
        "split_batch_verify_us_per_loan": batch_wall / (batch * loans) * 1e6,
        "split_batch_verify_cpu_us_per_loan": batch_cpu / (batch * loans) * 1e6,
        "split_proof_bytes": sum(len(item.proof.to_bytes()) for item in made),
    }


def bench_v1(
    group: Group, loans: int, batch: int, distinct: int, rounds: int | None = None
) -> dict[str, Any]:
    """dpd5-v1: the four range proofs of one seal_chunk piece of ``loans`` loans."""
    pieces = []
    prove_wall: list[float] = []
    prove_cpu: list[float] = []
    for i in range(distinct):
        values, blindings = _loans(loans, i)
        parts = []
        wall = cpu = 0.0
        for label, first, count, n_bits in V1_PARTS:
            lanes = range(first, first + count)
            part_values = [row[lane] for lane in lanes for row in values]
            part_blinds = [row[lane] for lane in lanes for row in blindings]
            t = _transcript(label.encode(), i)
            out, w, c = _timed(
                bp.prove_range,
                group,
                part_values,
                part_blinds,
                n_bits,
                t,
                ipa_rounds=_cap(rounds, len(part_values) * n_bits),
            )
            parts.append((out, n_bits, label.encode()))
            wall += w
            cpu += c
        pieces.append(parts)
        prove_wall.append(wall)
        prove_cpu.append(cpu)
    proof_bytes = sum(len(p[0][0].to_bytes()) for p in pieces[0])
    items = [
        bp.RangeProofItem(commitments, n_bits, proof, _transcript(kind, i % distinct))
        for i in range(batch)
        for (proof, commitments), n_bits, kind in pieces[i % distinct]
    ]
    _, batch_wall, batch_cpu = _timed(lambda: bp.batch_verify(group, items))
    return {
        "v1_prove_us_per_loan": min(prove_wall) / loans * 1e6,
        "v1_prove_cpu_us_per_loan": min(prove_cpu) / loans * 1e6,
        "v1_batch_verify_us_per_loan": batch_wall / (batch * loans) * 1e6,
        "v1_batch_verify_cpu_us_per_loan": batch_cpu / (batch * loans) * 1e6,
        "v1_proof_bytes": proof_bytes,
        "v1_range_proven_bits_per_loan": sum(count * bits for _, _, count, bits in V1_PARTS),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loans", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--v1-loans", type=int, nargs="*", default=None, help="default: same as --loans")
    parser.add_argument("--batch", type=int, default=4, help="proofs per batch verification")
    parser.add_argument("--cut", type=int, nargs="*", default=[], help="also measure IPAs cut to K rounds")
    parser.add_argument(
        "--distinct", type=int, default=2, help="distinct proofs made (reused to fill a batch)"
    )
    args = parser.parse_args(argv)
    v1_loans = set(args.loans if args.v1_loans is None else args.v1_loans)
    command = "python bench/bench_lanecircuit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    group = get_group()

    t0 = time.perf_counter()
    n_max = max(lc.gate_count(max(args.loans), N_BITS), 1 << 15)
    raw_vector(group, lc.LABEL_G, n_max)
    raw_vector(group, lc.LABEL_H, n_max)
    v1_max = 4 * max(v1_loans, default=1) * 32
    raw_vector(group, bp.LABEL_G, v1_max)
    raw_vector(group, bp.LABEL_H, v1_max)
    gen_seconds = time.perf_counter() - t0
    msm = msm_cost(group)
    msm_us = msm["msm_us_per_term_2_16"]
    print(f"generators derived in {gen_seconds:.1f} s; MSM 2^16: {msm_us:.2f} µs/term (1 call), ", end="")
    print(f"{msm['msm_split_us_per_term_2_16']:.2f} µs/term split over {_parallel.thread_count()} threads")

    for loans in args.loans:
        start = time.perf_counter()
        distinct = max(1, min(args.distinct, args.batch))
        figures = bench_circuit(group, loans, args.batch, distinct)
        per_gate = figures["prove_us_per_loan"] * loans / figures["gates"]
        figures["prove_us_per_padded_gate"] = per_gate
        figures["prove_ratio_to_msm_term_per_padded_gate"] = per_gate / msm_us
        figures.update(bench_split(group, loans, args.batch))
        if loans in v1_loans:
            figures.update(bench_v1(group, loans, args.batch, distinct))
            for key in ("prove", "batch_verify"):
                v1 = figures[f"v1_{key}_us_per_loan"]
                figures[f"{key}_speedup_vs_v1"] = v1 / figures[f"{key}_us_per_loan"]
                figures[f"split_{key}_speedup_vs_v1"] = v1 / figures[f"split_{key}_us_per_loan"]
                figures[f"{key}_cpu_speedup_vs_v1"] = (
                    figures[f"v1_{key}_cpu_us_per_loan"] / figures[f"{key}_cpu_us_per_loan"]
                )
        for k in args.cut:
            cut = {**bench_split(group, loans, args.batch, k)}
            if loans in v1_loans:
                cut.update(bench_v1(group, loans, args.batch, 1, k))
                for key in ("prove_cpu", "batch_verify_cpu"):
                    cut[f"split_{key}_speedup_vs_v1"] = (
                        cut[f"v1_{key}_us_per_loan"] / cut[f"split_{key}_us_per_loan"]
                    )
            figures.update({f"cut{k}_{name}": value for name, value in cut.items()})
        figures["split_prove_ratio_to_msm_term_per_used_gate"] = (
            figures["split_prove_us_per_loan"] / lc.gates_per_loan(N_BITS) / msm_us
        )
        rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
        doc = {
            "target": "lanecircuit",
            "loans": loans,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": command,
            "machine": machine(),
            "n_bits": N_BITS,
            "batch_size": args.batch,
            "batch_distinct_proofs": distinct,
            "msm_threads": _parallel.thread_count(),
            "generator_derivation_seconds": round(gen_seconds, 2),
            **{k: round(v, 3) for k, v in msm.items()},
            **rounded,
            "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        }
        suffix = "-cut" + "-".join(map(str, args.cut)) if args.cut else ""
        (RESULTS / f"lanecircuit-{loans}{suffix}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"loans={loans}: " + json.dumps(rounded))
    print(f"load average 1m: start {load_start[0]:.2f}, end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
