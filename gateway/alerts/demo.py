"""A short revolving deal over the synthetic platform, for ``poolproof demo``: three months, a trigger
near its level, the trigger table and the waterfall of every period.

:func:`run_revolving_deal` seals the closing snapshot and one snapshot a month of a seeded synthetic
pool (in memory, chained by hash), registers a deal whose cumulative-default level sits just under the
rate the pool reaches, and publishes each period's payment report, verified as an investor's tool
verifies it. :func:`print_deal_tables` prints what the demo shows.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.claim_bundle import metric_opening
from proofs.cumulative import verify_chain
from proofs.deal import Deal, parse_deal
from proofs.payment_report import (
    build_payment_report,
    report_hash,
    sign_payment_report,
    trigger_table,
    verify_payment_report,
    waterfall_table,
)
from proofs.pedersen import Opening
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, build_header, header_hash
from proofs.waterfall import DealState, initial_state

from ..ingest.pool_settings import CN_CONSUMER
from ..loan_facts import loan_facts, statement_lane_set
from ..synth import generate_tape, monthly_cutoff

#: The example deal, shipped with the package (a copy of ``docs/examples/deal.toml``; a test keeps
#: the two identical).
EXAMPLE_DEAL = Path(__file__).resolve().with_name("example_deal.toml")


@dataclass
class DealDemo:
    """What the demo ran: the deal, its signed reports (period 1 first) and the gateway key."""

    deal: Deal
    key: Ed25519PrivateKey
    reports: list[dict[str, Any]] = field(default_factory=list)


def _purchase(rows: list[dict[str, Any]], start: str, end: str) -> int:
    total = 0
    for r in rows:
        if start < r["pool_addition_date"] <= end:
            total += r["current_principal_fen"] + r["period_scheduled_principal_fen"]
            total += r["period_unscheduled_principal_fen"] + r["period_written_off_fen"]
    return total


def run_revolving_deal(
    *,
    months: int = 3,
    loans: int = 32,
    seed: int = 10,
    closing: date = date(2024, 6, 30),
    pool_id: str = "SYNTH",
) -> DealDemo:
    """Seal ``months`` + 1 snapshots, register the deal, publish and verify every period's report."""
    key = Ed25519PrivateKey.generate()
    lanes = statement_lane_set(CN_CONSUMER)
    params = SealParams(lane_set=lanes.name, chunk_log2=5, ipa_rounds=2)
    headers: list[dict[str, Any]] = []
    sums: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    tapes: list[list[dict[str, Any]]] = []
    previous: bytes | None = None
    for k in range(months + 1):
        cutoff = monthly_cutoff(closing, k).isoformat()
        rows = list(generate_tape(loans, seed=seed, cutoff=closing, pool_id=pool_id, month=k))
        facts = [
            loan_facts({**r, "exposure_id": r["platform_loan_id"], "cutoff_date": cutoff}, CN_CONSUMER)
            for r in rows
        ]
        context = SnapshotContext(f"{pool_id}-{k}", pool_id, cutoff, lanes.name)
        outcome = seal_pool(facts, context=context, params=params, seed=os.urandom(32), sink=lambda _: None)
        header = build_header(
            context=context, params=params, sequence=k + 1, previous_header_hash=previous,
            sealed_at=f"{cutoff}T23:00:00Z", leaf_count=outcome.leaf_count, merkle_root=outcome.merkle_root,
            currency="CNY", dpd_bucket_edges=(0, 30, 60, 90), aggregates=outcome.aggregates,
            policy_version="demo", packed_sums=outcome.packed_sums, aggregate_proof=outcome.aggregate_proof,
        )  # fmt: skip
        header = bundle.sign_document(key, "snapshot-header", header)
        previous = header_hash(header)
        headers.append(header)
        sums.append((tuple(outcome.lane_value_sums), tuple(outcome.lane_blinding_sums)))
        tapes.append(rows)
    cutoffs = [monthly_cutoff(closing, k).isoformat() for k in range(months + 1)]
    purchases = [_purchase(tapes[k], cutoffs[k - 1], cutoffs[k]) for k in range(1, months + 1)]
    deal = parse_deal(_deal_doc(tapes, purchases, pool_id, closing))

    def openings(index: int, metric: str) -> Opening:
        return metric_opening(lanes, metric, *sums[index])

    demo = DealDemo(deal, key)
    state: DealState = initial_state(deal)
    prev_report: dict[str, Any] | None = None
    for period in range(1, months + 1):
        chain = verify_chain(headers[: period + 1], key.public_key(), deal)
        doc = build_payment_report(
            deal=deal, chain=chain, openings=openings, state_before=state,
            purchases_declared=purchases[:period],
            previous_report_hash=None if prev_report is None else report_hash(prev_report),
        )  # fmt: skip
        signed = sign_payment_report(key, doc)
        verify_payment_report(signed, deal, key.public_key(), previous=prev_report)
        demo.reports.append(signed)
        prev_report = signed
        state = DealState.from_dict(deal, signed["state_after"])
    return demo


def _deal_doc(
    tapes: list[list[dict[str, Any]]], purchases: list[int], pool_id: str, closing: date
) -> dict[str, Any]:
    """The example deal sized on the pool, its cumulative-default level just under the final rate."""
    doc = tomllib.loads(EXAMPLE_DEAL.read_text())
    terminal = {"PREPAID_IN_FULL", "MATURED_PAID", "CHARGED_OFF", "REPURCHASED"}
    initial = sum(r["current_principal_fen"] for r in tapes[0] if r["loan_status"] not in terminal)
    defaulted = sum(r["period_defaulted_principal_fen"] for rows in tapes[1:] for r in rows)
    rate_bps = defaulted * 10_000 // (initial + sum(purchases))
    doc.update(pool_id=pool_id, closing_date=closing.isoformat(), initial_pool_balance_fen=initial,
               revolving_periods=2, fees={"fixed_fen": 1_000, "servicing_bps": 100},
               reserve={"initial_fen": initial // 100, "target_fen": initial // 100})  # fmt: skip
    for t, share in zip(doc["tranches"], (70, 15, 15), strict=True):
        t["balance_fen"] = initial * share // 100
    for t in doc["triggers"]:
        if t["kind"] == "cumulative_default_rate":
            t["level_bps"] = max(1, rate_bps)  # the rate is just above it: a breach near the level
    return doc


def print_deal_tables(demo: DealDemo, out: TextIO = sys.stdout) -> None:
    """Print each period's trigger table and waterfall."""
    for report in demo.reports:
        out.write(
            f"\n== {demo.deal.deal_id} period {report['period']} (cut-off {report['cutoff_date']}) ==\n"
        )
        out.write("\nTriggers (proven against the committed figures)\n")
        out.write(trigger_table(report, demo.deal))
        out.write("\nWaterfall (recomputed by poolproof-audit verify-distribution)\n")
        out.write(waterfall_table(report))
