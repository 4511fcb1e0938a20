"""A sealed demo pool over consecutive monthly cut-offs, as the investor receives it: a folder of bundles.

The synthetic platform (:mod:`gateway.synth`) writes one tape a month; each tape's loans become their
statement v2 facts (:func:`gateway.loan_facts.loan_facts`) and are sealed under the pool's statement
lane set into a hash-chained, signed header (sequence 1, 2, …, each naming the previous header's hash).
A witness runs the auditor's full check (``verify_snapshot``) on every snapshot before it cosigns the
header, and the gateway side answers the investor's claims: exact disclosures of the report's figures
and threshold claims at the deal's trigger levels, each bound to a fresh nonce. The raw tapes are kept
as JSONL files so that a test recomputes every figure from them with plain pandas
(:mod:`tests.reference.abs_metrics`).
"""

from __future__ import annotations

import io
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_tape, monthly_cutoff
from proofs import bundle
from proofs.claim_bundle import metric_opening, prove_claim_bundle
from proofs.claims import ClaimStatement, Disclosure, RatioClaim
from proofs.group import get_group
from proofs.lanes import LaneSet
from proofs.sealing import SealOutcome, seal_pool
from proofs.signing import public_key_to_pem
from proofs.snapshot import (
    ChunkResult,
    Header,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    header_hash,
    verify_snapshot,
    write_snapshot_bundle,
)
from proofs.witness import admit_header, cosign_header, new_witness_state

POOL = "DEMO-CN1"
FIRST_CUTOFF = date(2024, 1, 31)
SETTINGS = CN_CONSUMER
#: The figures the gateway discloses to the investor each month (the report's exact figures).
DISCLOSED = (
    "loan_count",
    "active_loan_count",
    "pool_balance",
    "outstanding_balance",
    "beginning_balance",
    "rate_base_balance",
    "balance_M0",
    "balance_M1",
    "balance_M2",
    "balance_M3",
    "balance_DEFAULTED",
    "count_M1",
    "count_DEFAULTED",
    "count_PREPAID",
    "delinquent_1plus_balance",
    "delinquent_31plus_balance",
    "delinquent_90plus_or_defaulted_balance",
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "defaulted_principal",
    "recoveries",
    "written_off",
)
#: The deal's trigger claims (numerator, denominator, op, p, q): proven thresholds, not values.
TRIGGERS = (
    ("delinquent_90plus_or_defaulted_balance", "outstanding_balance", "<=", 5, 100),
    ("delinquent_31plus_balance", "pool_balance", "<=", 3, 100),
)


@dataclass
class Month:
    """One sealed cut-off: its tape file, header and the bundles written for it."""

    cutoff: str
    tape_path: Path
    header: dict[str, Any]
    files: list[str] = field(default_factory=list)
    #: The gateway side of this cut-off: proves further claims (a test's stand-in gateway uses it).
    answer: Any = None


@dataclass
class DemoChain:
    """The folder of bundles and what made it."""

    folder: Path
    gateway_key: Ed25519PrivateKey
    witness_key: Ed25519PrivateKey
    months: list[Month]

    @property
    def gateway_pub(self) -> Path:
        return self.folder / "gateway.pub"

    @property
    def witness_pub(self) -> Path:
        return self.folder / "witness.pub"


@dataclass
class _Answerer:
    """The gateway side of one snapshot: proves a claim and writes its bundle into the folder."""

    folder: Path
    lanes: LaneSet
    outcome: SealOutcome
    header: Header
    cosignature: dict[str, Any]
    month: Month

    def prove(self, statement: ClaimStatement, nonce: bytes) -> dict[str, Any]:
        """The claim bundle answering ``statement`` with ``nonce``, carrying the witness cosignature."""
        openings = {
            m: metric_opening(self.lanes, m, self.outcome.lane_value_sums, self.outcome.lane_blinding_sums)
            for m in statement.metrics
        }
        return prove_claim_bundle(
            get_group(), self.header, statement, openings, nonce, cosignatures=[self.cosignature]
        )

    def __call__(self, statement: ClaimStatement, name: str) -> None:
        claim = self.prove(statement, secrets.token_bytes(32))
        (self.folder / name).write_bytes(bundle.dump_bundle(claim))
        self.month.files.append(name)


def _value_bits(header: Any, *metrics: str) -> int:
    return max(48, *(header.metric_bound_bits(m) for m in metrics))


def seal_demo_chain(
    folder: Path,
    tapes: Path,
    *,
    loans: int = 40,
    months: tuple[int, ...] = (5, 6, 7),
    with_snapshot_bundles: bool = False,
    gateway_key: Ed25519PrivateKey | None = None,
) -> DemoChain:
    """Seal ``months`` of the synthetic pool into ``folder`` (bundles) and ``tapes`` (raw JSONL)."""
    folder.mkdir(parents=True, exist_ok=True)
    tapes.mkdir(parents=True, exist_ok=True)
    gateway_key = gateway_key or Ed25519PrivateKey.generate()
    witness_key = Ed25519PrivateKey.generate()
    (folder / "gateway.pub").write_bytes(public_key_to_pem(gateway_key.public_key()))
    (folder / "witness.pub").write_bytes(public_key_to_pem(witness_key.public_key()))
    lanes = statement_lane_set(SETTINGS)
    params = SealParams(lane_set=lanes.name, chunk_log2=5, ipa_rounds=2)
    witness_state = new_witness_state()
    previous: bytes | None = None
    out: list[Month] = []
    for sequence, month in enumerate(months, 1):
        cutoff = monthly_cutoff(FIRST_CUTOFF, month).isoformat()
        rows = list(generate_tape(loans, seed=5, cutoff=FIRST_CUTOFF, pool_id=POOL, month=month))
        tape_path = tapes / f"tape-{cutoff}.jsonl"
        tape_path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        facts = [
            loan_facts({**r, "exposure_id": r["platform_loan_id"], "cutoff_date": cutoff}, SETTINGS)
            for r in rows
        ]
        context = SnapshotContext(f"S-{POOL}-{cutoff}", POOL, cutoff, lanes.name)
        results: list[ChunkResult] = []
        outcome = seal_pool(facts, context=context, params=params, seed=os.urandom(32), sink=results.append)
        doc = build_header(
            context=context,
            params=params,
            sequence=sequence,
            previous_header_hash=previous,
            sealed_at=f"{cutoff}T23:00:00Z",
            leaf_count=outcome.leaf_count,
            merkle_root=outcome.merkle_root,
            currency="CNY",
            dpd_bucket_edges=SETTINGS.dpd_edges,
            aggregates=outcome.aggregates,
            policy_version="demo-policy",
            packed_sums=outcome.packed_sums,
            aggregate_proof=outcome.aggregate_proof,
        )
        doc = bundle.sign_document(gateway_key, "snapshot-header", doc)
        text = io.StringIO()
        write_snapshot_bundle(text, doc, (chunk_document(r) for r in results))
        # The witness cosigns only after the auditor's full check passed and the chain extends.
        header = verify_snapshot(io.StringIO(text.getvalue()), gateway_key.public_key())
        witness_state = admit_header(witness_state, header)
        cosignature = cosign_header(witness_key, header, f"{cutoff}T23:30:00Z")
        entry = Month(cutoff, tape_path, doc)
        if with_snapshot_bundles:
            name = f"snapshot-{cutoff}.json"
            (folder / name).write_text(text.getvalue(), encoding="utf-8")
            entry.files.append(name)

        answer = _Answerer(folder, lanes, outcome, header, cosignature, entry)
        entry.answer = answer
        for metric in DISCLOSED:
            answer(Disclosure(metric), f"{cutoff}-{metric}.json")
        for i, (num, den, op, p, q) in enumerate(TRIGGERS, 1):
            statement = RatioClaim(num, den, op, p, q, _value_bits(header, num, den))  # type: ignore[arg-type]
            answer(statement, f"{cutoff}-trigger-{i}.json")
        out.append(entry)
        previous = header_hash(doc)
    return DemoChain(folder, gateway_key, witness_key, out)
