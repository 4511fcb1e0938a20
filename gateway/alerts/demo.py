"""A short revolving deal over the synthetic platform, for ``poolproof demo``: three months, a trigger
near its level, the trigger table, the proven roll matrix and the waterfall of every period.

:func:`run_revolving_deal` seals the closing snapshot and one snapshot a month of a seeded synthetic
pool (in memory, chained by hash, under the linkable ``pool-v4`` statement), audits every snapshot,
links each month to the one before (:func:`proofs.link.prove_link`: the month's purchases enter, only
loans that were in a terminal state leave) and verifies each link, registers a deal whose
cumulative-default level sits just under the rate the pool reaches, and publishes each period's
payment report, verified as an investor's tool verifies it. :func:`print_deal_tables` prints what the
demo shows.
"""

from __future__ import annotations

import io
import os
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.claim_bundle import metric_opening
from proofs.cumulative import verify_chain
from proofs.deal import Deal, parse_deal
from proofs.group import get_group, random_scalar
from proofs.link import LinkLoan, LinkResult, link_loans, prove_link, read_leaves, verify_link
from proofs.loan_facts import STATES
from proofs.payment_report import (
    build_payment_report,
    report_hash,
    sign_payment_report,
    trigger_table,
    verify_payment_report,
    waterfall_table,
)
from proofs.pedersen import Opening
from proofs.purchases import (
    check_entries_row,
    new_loan_totals,
    price_opening,
    prove_purchases,
    verify_purchases,
)
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    SealParams,
    SnapshotContext,
    build_header,
    chunk_document,
    header_hash,
    verify_snapshot,
    write_snapshot_bundle,
)
from proofs.waterfall import DealState, initial_state

from ..ingest.pool_settings import CN_CONSUMER
from ..loan_facts import loan_facts, statement_lane_set
from ..synth import generate_tape, monthly_cutoff

#: The example deal, shipped with the package (a copy of ``docs/examples/deal.toml``; a test keeps
#: the two identical).
EXAMPLE_DEAL = Path(__file__).resolve().with_name("example_deal.toml")


@dataclass(frozen=True)
class LinkedMonth:
    """One verified link of the revolving pool: month ``period - 1`` to month ``period``."""

    period: int
    #: The signed link bundle (``poolproof/link/v1``).
    link: dict[str, Any]
    #: What :func:`proofs.link.verify_link` opened: the roll matrix, exits and entries.
    result: LinkResult
    #: The period's purchases (added to the pool after the previous cut-off, up to this one).
    purchases: tuple[str, ...]


@dataclass
class DealDemo:
    """What the demo ran: the deal, its signed reports (period 1 first), the gateway key, every
    month's snapshot bundle (month 0, the closing, first) and the link of every period."""

    deal: Deal
    key: Ed25519PrivateKey
    reports: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    links: list[LinkedMonth] = field(default_factory=list)


def _purchase(rows: list[dict[str, Any]], start: str, end: str) -> int:
    total = 0
    for r in rows:
        if start < r["pool_addition_date"] <= end:
            total += r["current_principal_fen"] + r["period_scheduled_principal_fen"]
            total += r["period_unscheduled_principal_fen"] + r["period_written_off_fen"]
    return total


def _purchased_ids(rows: list[dict[str, Any]], start: str, end: str) -> list[str]:
    return [r["platform_loan_id"] for r in rows if start < r["pool_addition_date"] <= end]


def run_revolving_deal(
    *,
    months: int = 3,
    loans: int = 32,
    seed: int = 10,
    closing: date = date(2024, 6, 30),
    pool_id: str = "SYNTH",
) -> DealDemo:
    """Seal ``months`` + 1 snapshots and link them, register the deal, publish and verify every
    period's report.

    Raises:
        ProvingError: a month's new loans are not its purchases, or a loan left the pool from an
            outstanding state (the link's rule).
        VerificationError: a snapshot, a link or a payment report fails its check (named).
    """
    key = Ed25519PrivateKey.generate()
    lanes = statement_lane_set(CN_CONSUMER)
    params = SealParams(lane_set=lanes.name, chunk_log2=5, ipa_rounds=2)
    headers: list[dict[str, Any]] = []
    sums: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    tapes: list[list[dict[str, Any]]] = []
    bundles: list[str] = []
    loans_by_month: list[list[LinkLoan]] = []
    previous: bytes | None = None
    for k in range(months + 1):
        cutoff = monthly_cutoff(closing, k).isoformat()
        rows = list(generate_tape(loans, seed=seed, cutoff=closing, pool_id=pool_id, month=k))
        facts = [
            loan_facts({**r, "exposure_id": r["platform_loan_id"], "cutoff_date": cutoff}, CN_CONSUMER)
            for r in rows
        ]
        context = SnapshotContext(f"{pool_id}-{k}", pool_id, cutoff, lanes.name)
        seed_k = os.urandom(32)
        chunks: list[ChunkResult] = []
        outcome = seal_pool(facts, context=context, params=params, seed=seed_k, sink=chunks.append)
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
        text = io.StringIO()
        write_snapshot_bundle(text, header, (chunk_document(c) for c in chunks), None)
        bundles.append(text.getvalue())
        loans_by_month.append(link_loans(lanes, seed_k, facts))
    cutoffs = [monthly_cutoff(closing, k).isoformat() for k in range(months + 1)]
    purchases = [_purchase(tapes[k], cutoffs[k - 1], cutoffs[k]) for k in range(1, months + 1)]
    deal = parse_deal(_deal_doc(tapes, purchases, pool_id, closing))
    links = _link_months(key, headers, bundles, loans_by_month, tapes, cutoffs)

    def openings(index: int, metric: str) -> Opening:
        return metric_opening(lanes, metric, *sums[index])

    demo = DealDemo(deal, key, snapshots=bundles, links=links)
    state: DealState = initial_state(deal)
    prev_report: dict[str, Any] | None = None
    prices: list[Opening] = []
    group = get_group()
    for period in range(1, months + 1):
        chain = verify_chain(headers[: period + 1], key.public_key(), deal)
        # The period's purchases, proven: the loans new in the month (the link's entries), their
        # leaves summed and unpacked to the price's commitment; the auditor's row check is the link's.
        held = {loan.exposure_id for loan in loans_by_month[period - 1]}
        count, totals, blindings = new_loan_totals(
            lanes,
            ((n.values, n.blindings) for n in loans_by_month[period] if n.exposure_id not in held),
        )
        aggregate = [random_scalar() for _ in lanes.lanes]
        at = chain.headers[period]
        evidence = prove_purchases(group, at, count, totals, blindings, aggregate, random_scalar)
        check_entries_row(verify_purchases(group, at, evidence), count, links[period - 1].result.entries_sums)
        prices.append(price_opening(at, totals, aggregate))
        doc = build_payment_report(
            deal=deal, chain=chain, openings=openings, state_before=state,
            purchase_evidence=evidence, purchase_openings=prices,
            previous_purchases=[] if prev_report is None else prev_report["purchases_proven"],
            previous_report_hash=None if prev_report is None else report_hash(prev_report),
        )  # fmt: skip
        signed = sign_payment_report(key, doc)
        verify_payment_report(signed, deal, key.public_key(), previous=prev_report)
        demo.reports.append(signed)
        prev_report = signed
        state = DealState.from_dict(deal, signed["state_after"])
    return demo


def _link_months(
    key: Ed25519PrivateKey,
    headers: list[dict[str, Any]],
    bundles: list[str],
    loans: list[list[LinkLoan]],
    tapes: list[list[dict[str, Any]]],
    cutoffs: list[str],
) -> list[LinkedMonth]:
    """Audit every snapshot once, then prove and verify the link of each consecutive pair."""
    public = key.public_key()
    leaves = []
    for text in bundles:
        verify_snapshot(io.StringIO(text), public)
        leaves.append(read_leaves(text, public))
    linked = []
    for k in range(1, len(bundles)):
        bought = tuple(_purchased_ids(tapes[k], cutoffs[k - 1], cutoffs[k]))
        doc = prove_link(
            key, headers[k - 1], headers[k], loans[k - 1], loans[k], entries=bought,
            prev_commitments=[list(leaf.inputs) for leaf in leaves[k - 1].leaves],
            cur_commitments=[list(leaf.inputs) for leaf in leaves[k].leaves], ipa_rounds=2,
        )  # fmt: skip
        result = verify_link(leaves[k - 1], leaves[k], doc, public, purchases=bought)
        linked.append(LinkedMonth(k, doc, result, bought))
    return linked


#: Column labels of :func:`roll_matrix_table` (``STATES`` order; the rows carry the full names).
_SHORT_STATES: Final = ("M0", "M1", "M2", "M3", "M3+", "DEF", "WO", "PRE", "MAT", "REP")


def roll_matrix_table(linked: LinkedMonth) -> str:
    """The link's roll matrix by count: one row per state at the previous cut-off, one column per
    state at this one (``STATES`` order, every row and column shown; the columns abbreviated as the
    rows' names: DEF defaulted, WO written off, PRE prepaid, MAT matured, REP repurchased), then the
    kept, exited (by t−1 state) and entered counts."""
    result = linked.result
    label = max(map(len, STATES)) + 1
    corner = "from / to"
    lines = [
        f"{corner:<{label}}" + "".join(f"{s:>6}" for s in _SHORT_STATES),
        *(
            f"{STATES[i]:<{label}}" + "".join(f"{v:>6}" for v in row)
            for i, row in enumerate(result.roll.counts)
        ),
    ]
    left = ", ".join(f"{STATES[s]} {v}" for s, v in enumerate(result.exits_by_state) if v) or "none"
    lines.append(
        f"kept {sum(map(sum, result.roll.counts))}; left after a terminal state: {left}; "
        f"entered (the period's purchases): {len(result.entries)}"
    )
    lines.append("(columns: DEF DEFAULTED, WO WRITTEN_OFF, PRE PREPAID, MAT MATURED, REP REPURCHASED)")
    return "\n".join(lines) + "\n"


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
    """Print each period's trigger table, roll matrix (when the period is linked) and waterfall."""
    for report in demo.reports:
        out.write(
            f"\n== {demo.deal.deal_id} period {report['period']} (cut-off {report['cutoff_date']}) ==\n"
        )
        out.write("\nTriggers (proven against the committed figures)\n")
        out.write(trigger_table(report, demo.deal))
        linked = next((m for m in demo.links if m.period == report["period"]), None)
        if linked is not None:
            prev, cur = linked.result.previous.context, linked.result.current.context
            out.write(
                f"\nRoll matrix, loans from {prev.cutoff_date} (rows) to {cur.cutoff_date} (columns), "
                "proven by the link (poolproof-audit verify-series)\n"
            )
            out.write(roll_matrix_table(linked))
        out.write("\nWaterfall (recomputed by poolproof-audit verify-distribution)\n")
        out.write(waterfall_table(report))
