"""What verification on no one's word costs: cosigning, witness checks and the unpacking check per
claim, and the exposure-id uniqueness check of ``verify-snapshot`` at 1M leaves.

Usage: ``python bench/bench_trust.py [--leaves 1000000] [--repeat 200]``. Prints one JSON object.

* ``cosign_ms``: :func:`proofs.witness.cosign_header` on a verified header (one Ed25519 signature over
  the canonical cosignature body) -- what a witness adds after its full check.
* ``witness_check_ms``: :func:`proofs.witness.check_witnesses` with 1 and 3 required witnesses.
* ``unpacking_check_ms``: :func:`proofs.claim_bundle.verify_unpacked_aggregates` (dpd5-v3 header).
* ``claim_verify_ms``: a whole claim verification, unwitnessed (``--no-witness``) and with one
  required witness, both with the unpacking check (the cost of the new checks is the difference
  against ``claim_proof_only_ms``, the header signature plus the claim proof alone).
* ``uniqueness``: 1M 24-hex-digit exposure ids (as the gateway issues them) streamed through the
  same set-based fold ``verify_snapshot`` uses, in chunks of 1,024; wall time and peak memory of
  the set (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - t0))
    return round(statistics.median(samples), 3)


def bench_claims(repeat: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from proofs import claims
    from proofs.claim_bundle import (
        ExpectedClaim,
        claim_context,
        metric_commitments,
        metric_opening,
        prove_claim_bundle,
        verify_claim_answer,
        verify_unpacked_aggregates,
    )
    from proofs.claims import RatioClaim
    from proofs.group import get_group
    from proofs.snapshot import verify_header
    from proofs.witness import WitnessPolicy, check_witnesses, cosign_header
    from tests.snapshot_util import make_loans, seal_in_memory

    sealed = seal_in_memory(make_loans(64, seed=3), chunk_log2=4)
    group = get_group()
    key = sealed.key.public_key()
    header = verify_header(sealed.header, key)
    witnesses = [Ed25519PrivateKey.generate() for _ in range(3)]
    stamp = "2026-11-02T00:00:00Z"
    cosignatures = [cosign_header(w, header, stamp) for w in witnesses]
    statement = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 1, 2)
    openings = {
        m: metric_opening(header.lanes, m, sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums)
        for m in statement.metrics
    }
    nonce = os.urandom(32)
    doc = prove_claim_bundle(group, header, statement, openings, nonce, cosignatures=cosignatures)
    one = WitnessPolicy((witnesses[0].public_key(),))
    three = WitnessPolicy(tuple(w.public_key() for w in witnesses))
    asked = ExpectedClaim(nonce=nonce, statement=statement)

    def proof_only() -> None:
        h = verify_header(doc["header"], key, group=group)
        proof = claims.ClaimProof.from_dict(group, doc["proof"])
        claims.verify_claim(
            group, statement, metric_commitments(h, statement), proof, context=claim_context(h, nonce)
        )

    return {
        "cosign_ms": _ms(lambda: cosign_header(witnesses[0], header, stamp), repeat),
        "witness_check_ms": {
            "1_witness": _ms(lambda: check_witnesses(header, cosignatures, one), repeat),
            "3_witnesses": _ms(lambda: check_witnesses(header, cosignatures, three), repeat),
        },
        "unpacking_check_ms": _ms(lambda: verify_unpacked_aggregates(header, group), max(repeat // 4, 5)),
        "claim_proof_only_ms": _ms(proof_only, max(repeat // 4, 5)),
        "claim_verify_ms": {
            "no_witness": _ms(
                lambda: verify_claim_answer(doc, key, expected=asked, witnesses=WitnessPolicy.unwitnessed()),
                max(repeat // 4, 5),
            ),
            "1_witness": _ms(
                lambda: verify_claim_answer(doc, key, expected=asked, witnesses=one), max(repeat // 4, 5)
            ),
        },
    }


def bench_uniqueness(leaves: int) -> dict[str, Any]:
    """The fold of ``proofs.snapshot.verify_snapshot`` over streamed exposure ids."""

    def chunks() -> Any:
        for start in range(0, leaves, 1024):
            yield tuple(os.urandom(12).hex() for _ in range(min(1024, leaves - start)))

    generated = list(chunks())  # generated first: time only the check
    t0 = time.perf_counter()
    seen: set[str] = set()
    for ids in generated:
        for eid in ids:
            if eid in seen:
                raise SystemExit(f"duplicate {eid}")
            seen.add(eid)
    seconds = time.perf_counter() - t0
    del generated, seen
    # Memory: the set and the id strings it keeps alive (the chunk documents are freed as they go).
    tracemalloc.start()
    kept: set[str] = set()
    for ids in chunks():
        kept.update(ids)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "leaves": leaves,
        "seconds": round(seconds, 3),
        "ns_per_leaf": round(1e9 * seconds / leaves, 1),
        "peak_mib_set_and_ids": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps({**bench_claims(args.repeat), "uniqueness": bench_uniqueness(args.leaves)}, indent=1))


if __name__ == "__main__":
    main()
