"""Bulletproofs range-proof costs per range-proven bit (``proofs.bulletproofs``), n = 32.

Usage: ``python bench/bench_rangeproof.py [--m 1 64 1024] [--batch 16] [--cut 4 0] [--sigma 3]``

For each m (number of aggregated 32-bit values, N = 32·m bits): prover µs per bit at full
compression and at each ``--cut`` round count, single verifier µs per bit, batch verifier µs per bit
over ``--batch`` aggregated proofs, proof bytes. In the same run: the arkworks MSM cost per term at
2^16 terms (one call, one thread, and split over the MSM threads), so every figure is also given as a
ratio to it; and ``sigma-rangeproof`` (the only Python range-proof package on PyPI) proving and
verifying ``--sigma`` 32-bit values. Writes ``bench/results/rangeproof-m<m>.json`` (one per m) and
``bench/results/rangeproof-sigma.json``; prints a summary.

Generators are derived (hash-to-curve) and cached before timing: a one-off per process, reported
separately. The machine's load average is recorded at start and end: other jobs on a 2-core box
inflate every wall-clock figure, the MSM reference included. CPU time (all threads of this process)
is reported beside wall time, with ratios to the MSM's own CPU time: those are the load-robust
comparison; wall-clock ratios show what two threads buy when the cores are free.
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
from py_arkworks_bls12381 import G1Point, Scalar

from proofs import _parallel
from proofs import bulletproofs as bp
from proofs._ipa import raw_vector
from proofs.group import ORDER, get_group
from proofs.transcript import Transcript

N_BITS = 32


def _best(fn: Callable[[], object], reps: int) -> float:
    return _best_wall_cpu(fn, reps)[0]


def _best_wall_cpu(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``reps`` runs; CPU time sums all threads of the process."""
    best = (float("inf"), float("inf"))
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        run = (time.perf_counter() - t0, time.process_time() - c0)
        best = min(best, run)
    return best


def measure_msm(terms: int = 1 << 16) -> dict[str, float]:
    """ns per term of one arkworks MSM over ``terms`` random full-width scalars (prepared Scalars)."""
    group = get_group("arkworks")
    raws = raw_vector(group, bp.LABEL_G, terms // 2) + raw_vector(group, bp.LABEL_H, terms // 2)
    ints = [random.randrange(ORDER) for _ in range(terms)]
    scalars = [Scalar.from_le_bytes(k.to_bytes(32, "little")) for k in ints]
    one, one_cpu = _best_wall_cpu(lambda: G1Point.multiexp_unchecked(raws, scalars), 3)
    split = _best(lambda: _parallel.msm(group, raws, ints), 3)
    return {
        "msm_ns_per_term_2_16": one / terms * 1e9,
        "msm_cpu_ns_per_term_2_16": one_cpu / terms * 1e9,
        "msm_split_ns_per_term_2_16": split / terms * 1e9,
    }


def _transcript(i: int) -> Transcript:
    t = Transcript(b"poolproof/bench/rangeproof/v1")
    t.append_u64(b"proof-index", i)
    return t


def bench_m(m: int, batch: int, cuts: list[int], msm_us: float, msm_cpu_us: float) -> dict[str, Any]:
    group = get_group()
    n_total = N_BITS * m
    full = n_total.bit_length() - 1
    rng = random.Random(m)  # benchmark inputs only
    values = [rng.randrange(1 << N_BITS) for _ in range(m)]
    blindings = [rng.randrange(1, ORDER) for _ in range(m)]
    reps = 3 if m <= 64 else 1

    def prove(rounds: int | None, i: int = 0) -> tuple[bp.RangeProof, list[Any]]:
        return bp.prove_range(group, values, blindings, N_BITS, _transcript(i), ipa_rounds=rounds)

    prover: dict[str, float] = {}
    prover_cpu: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for k in [None, *(c for c in cuts if c < full)]:
        key = f"rounds={full} (full)" if k is None else f"rounds={k}"
        wall, cpu = _best_wall_cpu(lambda k=k: prove(k), reps)
        prover[key] = wall / n_total * 1e6
        prover_cpu[key] = cpu / n_total * 1e6
        sizes[key] = bp.proof_size(m, N_BITS, k)
    t_full = prover[f"rounds={full} (full)"] * n_total / 1e6

    # Distinct proofs for the batch (up to a proving budget), each reused until the batch is full;
    # every item still gets its own random weights.
    distinct = max(1, min(batch, 4096 // m))
    made = [prove(None, i) for i in range(distinct)]
    items = [
        bp.RangeProofItem(made[i % distinct][1], N_BITS, made[i % distinct][0], _transcript(i % distinct))
        for i in range(batch)
    ]
    proof, commitments = made[0]
    t_single, c_single = _best_wall_cpu(
        lambda: bp.verify_range(group, commitments, N_BITS, proof, _transcript(0)), reps
    )
    t_batch, c_batch = _best_wall_cpu(lambda: bp.batch_verify(group, items), 2 if m <= 64 else 1)
    single_us = t_single / n_total * 1e6
    batch_us = t_batch / (n_total * batch) * 1e6
    full_us = prover[f"rounds={full} (full)"]
    return {
        "m": m,
        "n_bits": N_BITS,
        "bits_per_proof": n_total,
        "prover_us_per_bit": {k: round(v, 2) for k, v in prover.items()},
        "prover_ratio_to_msm_term": {k: round(v / msm_us, 2) for k, v in prover.items()},
        "prover_cpu_us_per_bit": {k: round(v, 2) for k, v in prover_cpu.items()},
        "prover_cpu_ratio_to_msm_cpu_term": {k: round(v / msm_cpu_us, 2) for k, v in prover_cpu.items()},
        "proof_bytes": sizes,
        "single_verify_us_per_bit": round(single_us, 2),
        "single_verify_ratio_to_msm_term": round(single_us / msm_us, 3),
        "batch_size": batch,
        "batch_distinct_proofs": distinct,
        "batch_verify_us_per_bit": round(batch_us, 3),
        "batch_verify_ratio_to_msm_term": round(batch_us / msm_us, 3),
        "single_verify_cpu_us_per_bit": round(c_single / n_total * 1e6, 2),
        "batch_verify_cpu_us_per_bit": round(c_batch / (n_total * batch) * 1e6, 3),
        "batch_verify_cpu_ratio_to_msm_cpu_term": round(c_batch / (n_total * batch) * 1e6 / msm_cpu_us, 3),
        "single_verify_cpu_ratio_to_msm_cpu_term": round(c_single / n_total * 1e6 / msm_cpu_us, 3),
        "target_prover_full_le_12x_msm": full_us / msm_us <= 12,
        "target_prover_full_cpu_le_12x_msm_cpu": prover_cpu[f"rounds={full} (full)"] / msm_cpu_us <= 12,
        "target_batch_cpu_le_0_4x_msm_cpu": c_batch / (n_total * batch) * 1e6 / msm_cpu_us <= 0.4,
        "target_batch_le_0_4x_msm": batch_us / msm_us <= 0.4,
        "prove_seconds_full": round(t_full, 3),
    }


def bench_sigma(count: int) -> dict[str, Any]:
    import sigma_rangeproof as srp

    rng = random.Random(7)
    prove_s = verify_s = 0.0
    size = 0
    for _ in range(count):
        value = rng.randrange(1 << N_BITS)
        commitment, blinding = srp.commit(value)
        t0 = time.perf_counter()
        proof = srp.prove_ge(value, blinding, 0, bits=N_BITS)
        t1 = time.perf_counter()
        ok = srp.verify_ge(commitment, 0, proof)
        t2 = time.perf_counter()
        if not ok:
            raise RuntimeError("sigma-rangeproof rejected its own proof")
        prove_s += t1 - t0
        verify_s += t2 - t1
        size = len(json.dumps(proof.to_dict())) if hasattr(proof, "to_dict") else 0
    return {
        "values": count,
        "prove_ms_per_value": round(prove_s / count * 1e3, 1),
        "verify_ms_per_value": round(verify_s / count * 1e3, 1),
        "prover_us_per_bit": round(prove_s / count / N_BITS * 1e6, 1),
        "verifier_us_per_bit": round(verify_s / count / N_BITS * 1e6, 1),
        "proof_json_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cut", type=int, nargs="*", default=[6, 4, 0])
    parser.add_argument("--sigma", type=int, default=3)
    args = parser.parse_args(argv)
    command = " ".join(["python bench/bench_rangeproof.py", *(argv if argv is not None else sys.argv[1:])])
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    group = get_group()

    t0 = time.perf_counter()
    n_max = max(max(args.m) * N_BITS, 1 << 15)
    raw_vector(group, bp.LABEL_G, n_max)
    raw_vector(group, bp.LABEL_H, n_max)
    gen_seconds = time.perf_counter() - t0
    msm = measure_msm()
    msm_us = msm["msm_ns_per_term_2_16"] / 1000
    split_us = msm["msm_split_ns_per_term_2_16"] / 1000
    print(
        f"generators {2 * n_max} in {gen_seconds:.1f} s; MSM 2^16: {msm_us:.2f} µs/term (1 call), "
        f"CPU {msm['msm_cpu_ns_per_term_2_16'] / 1000:.2f} µs/term"
    )
    print(f"  {split_us:.2f} µs/term split over {_parallel.thread_count()} threads")

    common = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "msm_threads": _parallel.thread_count(),
        "generator_derivation_seconds": round(gen_seconds, 2),
        **{k: round(v, 1) for k, v in msm.items()},
    }
    for m in args.m:
        start = time.perf_counter()
        figures = bench_m(m, args.batch, args.cut, msm_us, msm["msm_cpu_ns_per_term_2_16"] / 1000)
        doc = {
            "target": "rangeproof",
            "n": m * N_BITS,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            **common,
            **figures,
            "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        }
        (RESULTS / f"rangeproof-m{m}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"m={m} N={m * N_BITS}: " + json.dumps(figures))
    if args.sigma:
        start = time.perf_counter()
        sigma = bench_sigma(args.sigma)
        doc = {
            "target": "rangeproof-sigma",
            "n": args.sigma,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            **common,
            "sigma_rangeproof": sigma,
        }
        (RESULTS / "rangeproof-sigma.json").write_text(json.dumps(doc, indent=2) + "\n")
        print("sigma-rangeproof 32-bit: " + json.dumps(sigma))
    print(f"load average 1m: start {load_start[0]:.2f}, end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
