"""Build small chains of sealed ``pool-v4`` snapshots in memory for the link tests (no gateway)."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.lanes import LaneSet, pool_v4
from proofs.link import LinkLoan, link_loans
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES, LoanFacts
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    header_hash,
    write_snapshot_bundle,
)

FLOW_CAPS = (900_000, 900_000, 40_000, 3_000, 900_000, 500_000, 900_000)
BALANCE_CAP = 900_000
LANES: LaneSet = pool_v4(BALANCE_CAP, FLOW_CAPS)
TERMINAL = frozenset(STATES.index(s) for s in TERMINAL_STATES)
OUTSTANDING = frozenset(range(len(STATES))) - TERMINAL


@dataclass
class Month:
    header: dict[str, Any]
    text: str
    facts: list[LoanFacts]
    seed: bytes
    loans: list[LinkLoan]


def facts_for(eid: str, state: int, balance: int, rng: random.Random) -> LoanFacts:
    balance = 0 if state in TERMINAL else balance
    flows = tuple(rng.randrange(0, cap + 1) for cap in FLOW_CAPS)
    assert len(flows) == len(FLOWS)
    return LoanFacts(eid, state, balance, flows)


def seal_month(
    facts: Sequence[LoanFacts],
    key: Ed25519PrivateKey,
    *,
    sequence: int,
    previous: dict[str, Any] | None,
    pool_id: str = "POOL-L",
    chunk_log2: int = 3,
    lanes: LaneSet = LANES,
) -> Month:
    cutoff = f"2026-{sequence:02d}-28"
    context = SnapshotContext(f"S-{pool_id}-{sequence}", pool_id, cutoff, lanes.name)
    params = SealParams(lane_set=lanes.name, chunk_log2=chunk_log2, ipa_rounds=2)
    seed = os.urandom(32)
    results: list[ChunkResult] = []
    outcome = seal_pool(list(facts), context=context, params=params, seed=seed, sink=results.append)
    header = build_header(
        context=context,
        params=params,
        sequence=sequence,
        previous_header_hash=None if previous is None else header_hash(previous),
        sealed_at=f"2026-{sequence:02d}-28T12:00:00Z",
        leaf_count=outcome.leaf_count,
        merkle_root=outcome.merkle_root,
        currency="CNY",
        dpd_bucket_edges=(0, 30, 60, 90),
        aggregates=outcome.aggregates,
        policy_version="test-policy",
        packed_sums=outcome.packed_sums,
        aggregate_proof=outcome.aggregate_proof,
        strata_field=None,
    )
    header = bundle.sign_document(key, "snapshot-header", header)
    out = io.StringIO()
    write_snapshot_bundle(out, header, (chunk_document(r) for r in results), None)
    return Month(header, out.getvalue(), list(facts), seed, link_loans(lanes, seed, facts))


def next_facts(
    prev: Sequence[LoanFacts], rng: random.Random, *, new: int, first_id: int, stay_terminal: float = 0.3
) -> list[LoanFacts]:
    """The next month: terminal loans leave (some stay), outstanding ones move, ``new`` purchases."""
    out = []
    for f in prev:
        if f.state in TERMINAL and rng.random() > stay_terminal:
            continue
        if f.state in TERMINAL:
            state = f.state
        else:
            state = rng.choices(range(len(STATES)), weights=[60, 8, 5, 4, 3, 3, 2, 8, 4, 3])[0]
        out.append(facts_for(f.exposure_id, state, rng.randrange(0, BALANCE_CAP + 1), rng))
    for k in range(new):
        out.append(facts_for(f"E{first_id + k:06d}", 0, rng.randrange(1, BALANCE_CAP + 1), rng))
    return out


def first_facts(n: int, rng: random.Random) -> list[LoanFacts]:
    return [facts_for(f"E{i:06d}", i % len(STATES), rng.randrange(0, BALANCE_CAP + 1), rng) for i in range(n)]
