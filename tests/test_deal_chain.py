"""A synthetic revolving pool sealed month after month, a deal over it, and the chain's own checks.

:func:`synthetic_chain` seals the monthly tapes of a seeded synthetic pool (the platform simulator,
``gateway.synth``) under the pool statement v2, each header naming its predecessor, and keeps what
the gateway keeps: the lane totals and blinding sums of every snapshot (to open metric
commitments), and the raw tapes as JSONL files for the plain-pandas reference. The other deal
tests (triggers, cumulative figures, waterfall) import it; it is sealed once per test process.
"""

from __future__ import annotations

import copy
import functools
import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.importers.tape_v1 import write_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_tape, monthly_cutoff
from proofs import bundle
from proofs.claim_bundle import metric_opening
from proofs.cumulative import Chain, verify_chain
from proofs.deal import Deal, deal_hash, parse_deal
from proofs.errors import VerificationError
from proofs.lanes import LaneSet
from proofs.loan_facts import LoanFacts
from proofs.payment_report import build_payment_report, report_hash, sign_payment_report
from proofs.pedersen import Opening
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, build_header, header_hash
from proofs.waterfall import DealState, initial_state
from tests.reference import abs_metrics as ref

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "deal.toml"
CLOSING = date(2024, 6, 30)
POOL = "SYNTH"
#: 32 loans, seed 10: new defaults in periods 1 and 2, 31+ delinquency every month, a write-off in
#: period 4, and loans bought into the pool from period 2 on (the simulator replenishes it).
N_LOANS, SEED, PERIODS = 32, 10, 4


@dataclass
class SealedChain:
    key: Ed25519PrivateKey
    headers: list[dict[str, Any]]
    lanes: LaneSet
    sums: list[tuple[tuple[int, ...], tuple[int, ...]]]
    tapes: list[Path]
    cutoffs: list[date]
    keep: tempfile.TemporaryDirectory[str]
    #: Each snapshot's seed and its loans' statement facts (what the gateway regenerates openings from).
    seeds: list[bytes] = field(default_factory=list)
    facts: list[list[LoanFacts]] = field(default_factory=list)

    def openings(self, index: int, metric: str) -> Opening:
        values, blindings = self.sums[index]
        return metric_opening(self.lanes, metric, values, blindings)

    def upto(self, period: int) -> list[dict[str, Any]]:
        """The headers from closing through ``period``."""
        return self.headers[: period + 1]

    def frame(self, index: int) -> pd.DataFrame:
        """The plain-pandas reading of tape ``index`` (tests/reference)."""
        return ref.tape_loans(self.tapes[index], self.cutoffs[index])

    def figures(self, index: int) -> dict[str, int]:
        """Every figure of docs/metrics.md from raw tape ``index``, by pandas code."""
        return ref.abs_metrics(self.frame(index))


def _record(row: dict[str, Any], cutoff: date) -> dict[str, Any]:
    return {**row, "exposure_id": row["platform_loan_id"], "cutoff_date": cutoff.isoformat()}


@functools.cache
def synthetic_chain(periods: int = PERIODS) -> SealedChain:
    keep = tempfile.TemporaryDirectory(prefix="poolproof-deal-")
    key = Ed25519PrivateKey.generate()
    lanes = statement_lane_set(CN_CONSUMER)
    params = SealParams(lane_set=lanes.name, chunk_log2=5, ipa_rounds=2)
    headers: list[dict[str, Any]] = []
    sums, tapes, cutoffs, seeds, all_facts = [], [], [], [], []
    previous: bytes | None = None
    for k in range(periods + 1):
        cutoff = monthly_cutoff(CLOSING, k)
        rows = list(generate_tape(N_LOANS, seed=SEED, cutoff=CLOSING, pool_id=POOL, month=k))
        path = Path(keep.name) / f"tape-{k}.jsonl"
        write_jsonl(iter(rows), str(path))
        facts = [loan_facts(_record(r, cutoff), CN_CONSUMER) for r in rows]
        context = SnapshotContext(f"S-{k}", POOL, cutoff.isoformat(), lanes.name)
        seed = os.urandom(32)
        outcome = seal_pool(facts, context=context, params=params, seed=seed, sink=lambda _: None)
        header = build_header(
            context=context,
            params=params,
            sequence=k + 1,
            previous_header_hash=previous,
            sealed_at=f"{cutoff.isoformat()}T23:00:00Z",
            leaf_count=outcome.leaf_count,
            merkle_root=outcome.merkle_root,
            currency="CNY",
            dpd_bucket_edges=(0, 30, 60, 90),
            aggregates=outcome.aggregates,
            policy_version="test-policy",
            packed_sums=outcome.packed_sums,
            aggregate_proof=outcome.aggregate_proof,
        )
        header = bundle.sign_document(key, "snapshot-header", header)
        previous = header_hash(header)
        headers.append(header)
        sums.append((tuple(outcome.lane_value_sums), tuple(outcome.lane_blinding_sums)))
        tapes.append(path)
        cutoffs.append(cutoff)
        seeds.append(seed)
        all_facts.append(facts)
    return SealedChain(key, headers, lanes, sums, tapes, cutoffs, keep, seeds, all_facts)


def deal_doc(chain: SealedChain, **changes: Any) -> dict[str, Any]:
    """The example deal over the synthetic pool: closing at its first cut-off, sized on its balance."""
    doc = tomllib.loads(EXAMPLE.read_text())
    initial = chain.figures(0)["outstanding_balance"]
    doc["pool_id"] = POOL
    doc["closing_date"] = CLOSING.isoformat()
    doc["initial_pool_balance_fen"] = initial
    doc["revolving_periods"] = 2
    shares = (70, 15, 15)
    balances = [initial * s // 100 for s in shares]
    for t, b in zip(doc["tranches"], balances, strict=True):
        t["balance_fen"] = b
    doc["fees"] = {"fixed_fen": 1_000, "servicing_bps": 100}
    doc["reserve"] = {"initial_fen": initial // 100, "target_fen": initial // 100}
    for name, value in changes.items():
        if callable(value):
            value(doc)
        else:
            doc[name] = value
    return doc


def make_deal(chain: SealedChain, **changes: Any) -> Deal:
    return parse_deal(deal_doc(chain, **changes))


def with_level(trigger_id: str, level_bps: int) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        for t in doc["triggers"]:
            if t["id"] == trigger_id:
                t["level_bps"] = level_bps

    return edit


def verified(chain: SealedChain, deal: Deal, period: int) -> Chain:
    return verify_chain(chain.upto(period), chain.key.public_key(), deal)


# -- the chain's own checks -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed() -> SealedChain:
    return synthetic_chain()


def test_the_whole_chain_verifies(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    chain = verified(sealed, deal, PERIODS)
    assert chain.periods == PERIODS
    assert [h.context.cutoff_date for h in chain.headers] == [c.isoformat() for c in sealed.cutoffs]


def test_a_month_left_out_breaks_the_link(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    gapped = [sealed.headers[0], sealed.headers[2]]
    with pytest.raises(VerificationError, match=r"chain\.link"):
        verify_chain(gapped, sealed.key.public_key(), deal)


def test_a_chain_that_does_not_start_at_closing_is_refused(sealed: SealedChain) -> None:
    deal = make_deal(sealed, closing_date="2024-05-31")
    with pytest.raises(VerificationError, match=r"chain\.anchor"):
        verify_chain(sealed.upto(2), sealed.key.public_key(), deal)


def test_a_chain_of_another_pool_is_refused(sealed: SealedChain) -> None:
    deal = make_deal(sealed, pool_id="OTHER")
    with pytest.raises(VerificationError, match=r"chain\.pool"):
        verify_chain(sealed.upto(1), sealed.key.public_key(), deal)


def test_a_header_signed_by_another_key_is_refused(sealed: SealedChain) -> None:
    deal = make_deal(sealed)
    forged = copy.deepcopy(sealed.upto(1))
    forged[1] = bundle.sign_document(
        Ed25519PrivateKey.generate(), "snapshot-header", bundle.unsigned_body(forged[1])
    )
    with pytest.raises(VerificationError, match=r"header\.signature"):
        verify_chain(forged, sealed.key.public_key(), deal)


# -- the payment reports of a deal over the chain ---------------------------------------------------


def declared_purchases(sealed: SealedChain) -> list[int]:
    """Per period, the purchase price of the loans added in it: their principal at the start of the
    period they joined (balance now plus the principal that left them since), from the raw rows."""
    out = []
    for k in range(1, len(sealed.cutoffs)):
        start, end = sealed.cutoffs[k - 1].isoformat(), sealed.cutoffs[k].isoformat()
        total = 0
        for row in generate_tape(N_LOANS, seed=SEED, cutoff=CLOSING, pool_id=POOL, month=k):
            if start < row["pool_addition_date"] <= end:
                total += row["current_principal_fen"] + row["period_scheduled_principal_fen"]
                total += row["period_unscheduled_principal_fen"] + row["period_written_off_fen"]
        out.append(total)
    return out


_REPORTS: dict[bytes, list[dict[str, Any]]] = {}


def report_series(sealed: SealedChain, deal: Deal) -> list[dict[str, Any]]:
    """The signed payment reports of periods 1..PERIODS, each starting from the last one's state."""
    cached = _REPORTS.get(deal_hash(deal))
    if cached is not None:
        return cached
    purchases = declared_purchases(sealed)
    state = initial_state(deal)
    previous: dict[str, Any] | None = None
    reports = []
    for period in range(1, len(sealed.headers)):
        doc = build_payment_report(
            deal=deal,
            chain=verified(sealed, deal, period),
            openings=sealed.openings,
            state_before=state,
            purchases_declared=purchases[:period],
            previous_report_hash=None if previous is None else report_hash(previous),
        )
        previous = sign_payment_report(sealed.key, doc)
        reports.append(previous)
        state = DealState.from_dict(deal, previous["state_after"])
    _REPORTS[deal_hash(deal)] = reports
    return reports
