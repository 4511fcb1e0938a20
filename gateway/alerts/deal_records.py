"""Each pool's registered deal file and its payment reports, built from the pool's sealed snapshots.

The deal file is validated (:func:`proofs.deal.parse_deal_text`) before it is stored; a pool may
register a new version, and the highest version governs every report built afterwards (each report
names the deal's hash). A payment report is built by the prover side of :mod:`proofs.payment_report`
from the chain of sealed snapshots since the deal's closing date, the lane totals kept at sealing
(the openings), the previous period's report and the period's purchases — proven
(:mod:`proofs.purchases`: the loans new in the snapshot, their leaves summed and unpacked to the
price's commitment) whenever every snapshot of the chain has a packed lane set with period flows,
declared otherwise; it is checked with
:func:`proofs.payment_report.verify_payment_report` before it is stored, so nothing unverifiable is
ever published.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs.claim_bundle import metric_opening
from proofs.cumulative import verify_chain
from proofs.deal import Deal, DealFileError, deal_hash, parse_deal_text
from proofs.errors import EncodingError, VerificationError
from proofs.group import get_group, random_scalar
from proofs.lanes import LaneSet
from proofs.payment_report import (
    build_payment_report,
    report_hash,
    sign_payment_report,
    verify_payment_report,
)
from proofs.pedersen import Opening, derive_blinding
from proofs.purchases import PRICE_METRIC, price_opening, prove_purchases
from proofs.snapshot import Header
from proofs.waterfall import DealState, initial_state

from ..errors import GatewayError
from ..keys.keyring import PoolKeys
from ..snapshots.sealed import (
    SnapshotRecord,
    lane_totals,
    leaf_exposure_ids,
    snapshot_seed,
    snapshot_tape_id,
    subset_openings,
)
from ..storage import deals
from ..storage.db import now, transaction
from ..storage.records import get_tape, iter_loans
from ..storage.snapshots import list_snapshots


class DealRejected(GatewayError):
    """A deal file that breaks a rule (422; the message names the key and the rule)."""

    http_status = 422


class DealMissing(GatewayError):
    """The pool has no registered deal, or no report for the cut-off (404)."""

    http_status = 404


class ReportNotBuildable(GatewayError):
    """The period's report cannot be built yet: snapshots or the previous report are missing (409)."""

    http_status = 409


def register_deal(db: sqlite_utils.Database, pool_id: str, source: str) -> Deal:
    """Validate and store a deal file for ``pool_id``.

    Raises:
        DealRejected: the file breaks a rule, names another pool, or reuses a stored version.
    """
    try:
        deal = parse_deal_text(source, path="deal.toml")
    except DealFileError as exc:
        raise DealRejected(
            str(exc), errors={"deal": {exc.key_path or "_file": [f"{exc.rule}: {exc.problem}"]}}
        ) from None
    if deal.pool_id != pool_id:
        raise DealRejected(f"[pool_id] pool: the deal is for pool {deal.pool_id!r}, not {pool_id!r}")
    with transaction(db) as conn:
        stored = deals.latest_deal_version(conn, pool_id)
        if stored is not None and deal.version <= stored:
            raise DealRejected(f"[version] version: version {deal.version} is not above the stored {stored}")
        if deals.has_payment_reports(conn, pool_id):
            # Every report names its deal and extends the previous one under the same deal; an
            # amendment would need the verifier to accept a change of deal between two periods.
            raise DealRejected("[version] amendment: the pool has published payment reports under its deal")
        deals.insert_deal_file(
            conn, deals.NewDealFile(pool_id, deal.version, deal.deal_id, deal_hash(deal).hex(), source, now())
        )
    return deal


def current_deal(db: sqlite_utils.Database, pool_id: str) -> Deal:
    """The pool's deal of the highest version. Raises :class:`DealMissing`."""
    source = deals.current_deal_source(db, pool_id)
    if source is None:
        raise DealMissing(f"pool {pool_id!r} has no registered deal")
    return parse_deal_text(source)


def stored_report(db: sqlite_utils.Database, pool_id: str, cutoff: str) -> dict[str, Any]:
    """The published report of a cut-off. Raises :class:`DealMissing`."""
    doc = deals.report_of_cutoff(db, pool_id, cutoff)
    if doc is None:
        raise DealMissing(f"pool {pool_id!r} has no payment report for cut-off {cutoff}")
    return doc


def declared_purchase(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, previous_cutoff: str
) -> int:
    """The purchase price of the loans a snapshot's tape added in its period: for each loan whose
    ``pool_addition_date`` falls after the previous cut-off, its principal at the start of the period
    (balance now plus scheduled, unscheduled and written-off principal of the period)."""
    tape = get_tape(db, snapshot_tape_id(db, snap))
    total = 0
    for loan in iter_loans(db, keys, tape):
        r = loan.record
        added = str(r.get("pool_addition_date") or "")
        if previous_cutoff < added <= snap.cutoff_date:
            total += int(r.get("current_principal_fen") or 0)
            for flow in ("scheduled_principal", "unscheduled_principal", "written_off"):
                total += int(r.get(f"period_{flow}_fen") or 0)
    return total


#: The key the purchase price's aggregate blindings are derived under (no exposure id has a NUL).
_PRICE_BLINDING_KEY = b"\x00purchases/aggregates"


def proves_purchases(lanes: LaneSet) -> bool:
    """Whether a period sealed under ``lanes`` can carry purchase evidence (packed, with flows)."""
    return lanes.packing is not None and PRICE_METRIC in lanes.metrics


def price_parts(
    db: sqlite_utils.Database, keys: PoolKeys, prev: SnapshotRecord, snap: SnapshotRecord
) -> tuple[int, list[int], list[int], list[int]]:
    """The loans new in ``snap`` (not in ``prev``): their number, per-lane totals, per-input
    blinding sums, and the price aggregates' blindings (regenerated from the snapshot seed, so an
    earlier period's opening is the same in every later report)."""
    before = set(leaf_exposure_ids(db, prev))
    new = {eid for eid in leaf_exposure_ids(db, snap) if eid not in before}
    totals, blindings = subset_openings(db, keys, snap, new)
    return len(new), totals, blindings, price_blindings(snapshot_seed(db, keys, snap), snap.lanes)


def price_blindings(seed: bytes, lanes: LaneSet) -> list[int]:
    """The blindings of a period's price aggregates, regenerated from its snapshot's seed."""
    return [derive_blinding(seed, _PRICE_BLINDING_KEY, lane) for lane in lanes.lanes]


def _proven_purchases(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    snaps: list[SnapshotRecord],
    headers: tuple[Header, ...],
    previous: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[Opening]]:
    """This period's purchase evidence and the price opening of every period since closing.

    An earlier period's price is the value the previous report disclosed (verified against its
    commitment when that report was published), its blinding regenerated from the period's snapshot
    seed: only this period's new loans are read from the tape."""
    group = get_group()
    openings: list[Opening] = []
    earlier = [] if previous is None else previous["purchases_proven"]
    for i in range(1, len(snaps) - 1):
        aggregate = price_blindings(snapshot_seed(db, keys, snaps[i]), snaps[i].lanes)
        blinding = price_opening(headers[i], [0] * len(snaps[i].lanes.lanes), aggregate).blinding
        openings.append(Opening(int(earlier[i - 1]["value"]), blinding))
    last = len(snaps) - 1
    count, totals, blindings, aggregate = price_parts(db, keys, snaps[last - 1], snaps[last])
    openings.append(price_opening(headers[last], totals, aggregate))
    evidence = prove_purchases(group, headers[last], count, totals, blindings, aggregate, random_scalar)
    return evidence, openings


def publish_payment_report(
    db: sqlite_utils.Database, keys: PoolKeys, pool_id: str, cutoff: str, signing_key: Ed25519PrivateKey
) -> tuple[dict[str, Any], Deal]:
    """Build, verify, sign and store the payment report of ``cutoff``; return it with its deal.

    Raises:
        DealMissing: no registered deal.
        ReportNotBuildable: no sealed snapshot at closing or at the cut-off, a gap in the chain, or
            the previous period's report is not published yet.
    """
    deal = current_deal(db, pool_id)
    snaps = [s for s in list_snapshots(db, pool_id) if deal.closing_date <= s.cutoff_date <= cutoff]
    if not snaps or snaps[0].cutoff_date != deal.closing_date:
        raise ReportNotBuildable(
            f"no sealed snapshot of pool {pool_id!r} at the closing date {deal.closing_date}"
        )
    if snaps[-1].cutoff_date != cutoff:
        raise ReportNotBuildable(f"no sealed snapshot of pool {pool_id!r} for cut-off {cutoff}")
    period = len(snaps) - 1
    if period < 1:
        raise ReportNotBuildable("the closing snapshot has no payment report; the first is one period later")
    key = signing_key.public_key()
    lane_sets = {s.lanes.name for s in snaps}
    try:
        chain = verify_chain([s.header for s in snaps], key, deal, lane_sets=lane_sets)
    except (VerificationError, EncodingError) as exc:
        raise ReportNotBuildable(f"the pool's snapshots do not form a chain from closing: {exc}") from None
    previous = deals.report_of_period(db, pool_id, period - 1) if period > 1 else None
    if period > 1 and previous is None:
        raise ReportNotBuildable(f"publish the report of period {period - 1} first")
    state = initial_state(deal) if previous is None else DealState.from_dict(deal, previous["state_after"])
    proven = all(proves_purchases(s.lanes) for s in snaps[1:]) and (
        previous is None or "purchases_proven" in previous
    )
    purchases: dict[str, Any]
    if proven:
        evidence, price_openings = _proven_purchases(db, keys, snaps, chain.headers, previous)
        purchases = {
            "purchase_evidence": evidence,
            "previous_purchases": [] if previous is None else previous["purchases_proven"],
            "purchase_openings": price_openings,
        }
    else:
        declared = list(previous["purchases_declared"]) if previous is not None else []
        declared.append(declared_purchase(db, keys, snaps[-1], snaps[-2].cutoff_date))
        purchases = {"purchases_declared": declared}
    sums = [lane_totals(keys, s) for s in snaps]

    def openings(index: int, metric: str) -> Opening:
        values, blindings = sums[index]
        return metric_opening(snaps[index].lanes, metric, values, blindings)

    doc = build_payment_report(
        deal=deal,
        chain=chain,
        openings=openings,
        state_before=state,
        **purchases,
        previous_report_hash=None if previous is None else report_hash(previous),
    )
    signed = sign_payment_report(signing_key, doc)
    verify_payment_report(signed, deal, key, previous=previous, lane_sets=lane_sets)
    report = deals.NewPaymentReport(
        pool_id, cutoff, period, deal_hash(deal).hex(), report_hash(signed).hex(), signed, now()
    )
    with transaction(db) as conn:
        deals.put_payment_report(conn, report)
    return signed, deal


def trigger_view(report: dict[str, Any], *, note_balances: bool = False) -> dict[str, Any]:
    """What an aggregate-only party gets: the chain, the deal binding and each trigger's proven status
    (the levels are the deal's registered thresholds); no exact pool figure. With ``note_balances``
    (the disclosure-control point's decision) also the notes' outstanding principal at the start of
    the period, from which the excess-spread trigger's expenses follow."""
    keep = ("format", "pool_id", "cutoff_date", "period", "headers", "triggers", "switches", "extensions")
    view: dict[str, Any] = {"view": "trigger-status", **{k: report[k] for k in keep}}
    if note_balances:
        view["note_balances"] = dict(report["state_before"]["tranche_balances"])
    if "purchases_proven" in report:  # the evidence without the disclosed prices
        view["purchases_proven"] = [{"evidence": e["evidence"]} for e in report["purchases_proven"]]
    return view
