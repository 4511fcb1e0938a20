"""Build small sealed snapshots in memory for proofs/ tests (no gateway, no database)."""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle, merkle
from proofs.inclusion import make_inclusion_bundle
from proofs.lanes import get_lane_set
from proofs.sealing import SealOutcome, seal_pool
from proofs.snapshot import (
    ChunkResult,
    LoanInput,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    labelled,
    loan_blindings,
    write_snapshot_bundle,
)


@dataclass
class Sealed:
    key: Ed25519PrivateKey
    header: dict[str, Any]
    bundle_text: str
    outcome: SealOutcome
    loans: list[LoanInput]
    results: list[ChunkResult]
    seed: bytes
    context: SnapshotContext
    params: SealParams


def make_loans(n: int, *, seed: int = 7) -> list[LoanInput]:
    rng = random.Random(seed)
    loans = []
    for i in range(n):
        # The first five loans cover every bucket, so every metric is non-zero.
        bucket = i if i < 5 else rng.choices(range(5), weights=[90, 4, 2, 2, 2])[0]
        loans.append(LoanInput(f"E{i:06d}", rng.randrange(1, 5_000_000), bucket))
    return loans


def seal_in_memory(
    loans: list[LoanInput],
    *,
    chunk_log2: int = 4,
    ipa_rounds: int | None = None,
    key: Ed25519PrivateKey | None = None,
    lane_set: str = SealParams().lane_set,
    strata_dimensions: tuple[str, ...] | None = None,
) -> Sealed:
    """Seal ``loans``; a pool statement v2 lane set takes its dimensions from the first loan's labels
    unless ``strata_dimensions`` names them."""
    key = key or Ed25519PrivateKey.generate()
    context = SnapshotContext("S-test-1", "POOL-1", "2026-10-31", lane_set)
    if strata_dimensions is None:
        first = loans[0] if loans else None
        strata_dimensions = tuple(getattr(first, "labels", {})) if labelled(get_lane_set(lane_set)) else ()
    params = SealParams(
        lane_set=lane_set, chunk_log2=chunk_log2, ipa_rounds=ipa_rounds, strata_dimensions=strata_dimensions
    )
    seed = os.urandom(32)
    results: list[ChunkResult] = []
    outcome = seal_pool(loans, context=context, params=params, seed=seed, sink=results.append)
    header = build_header(
        context=context,
        params=params,
        sequence=1,
        previous_header_hash=None,
        sealed_at="2026-11-01T00:00:00Z",
        leaf_count=outcome.leaf_count,
        merkle_root=outcome.merkle_root,
        currency="CNY",
        dpd_bucket_edges=(0, 30, 60, 90),
        aggregates=outcome.aggregates,
        policy_version="test-policy",
        packed_sums=outcome.packed_sums,
        aggregate_proof=outcome.aggregate_proof,
        strata_field=None if outcome.strata is None else outcome.strata.header_field(),
    )
    header = bundle.sign_document(key, "snapshot-header", header)
    out = io.StringIO()
    table = None if outcome.strata is None else outcome.strata.to_dict()
    write_snapshot_bundle(out, header, (chunk_document(r) for r in results), table)
    return Sealed(key, header, out.getvalue(), outcome, loans, results, seed, context, params)


def inclusion_bundle_for(sealed: Sealed, index: int) -> dict[str, Any]:
    """The inclusion bundle of loan ``index`` of ``sealed``, made from its openings as the gateway does."""
    loan = sealed.loans[index]
    lane_set = get_lane_set(sealed.params.lane_set)
    leaves = [h for r in sealed.results for h in r.leaf_hashes]
    return make_inclusion_bundle(
        sealed.header,
        index,
        loan.exposure_id,
        lane_set.lane_values(loan.principal, loan.bucket),
        loan_blindings(sealed.seed, loan.exposure_id, lane_set),
        merkle.MerkleTree(leaves).inclusion_proof(index),
    )


def rewrite_chunk(sealed: Sealed, index: int, edit: Callable[[dict[str, Any]], None]) -> str:
    """The bundle text with chunk line ``index`` parsed, changed by ``edit`` and written back."""
    lines = sealed.bundle_text.split("\n")
    line = lines[1 + index]
    comma = line.endswith(",")
    doc = json.loads(line[:-1] if comma else line)
    edit(doc)
    lines[1 + index] = json.dumps(doc, separators=(",", ":")) + ("," if comma else "")
    return "\n".join(lines)


def flip_hex(s: str, pos: int) -> str:
    """``s`` with the hex digit at ``pos`` changed."""
    return s[:pos] + ("0" if s[pos] != "0" else "1") + s[pos + 1 :]
