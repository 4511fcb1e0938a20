"""The eligibility of a period's purchases, built on the gateway when the period's payment report is
published: the loans new in the cut-off's snapshot, their leaves and openings, the tape's rates and
terms, proven against the deal's purchase criteria (:mod:`proofs.eligibility`), verified, signed,
stored, and an alert to the trustee and the regulator when the statement does not hold.

Who sees what (:func:`statement_view`): the trustee and the regulator the whole bundle (with the
loans, their openings and, for a statement that does not hold, the failing loans); every other
party the investor view (:func:`proofs.eligibility.investor_view`: holds or does not hold, the
failed criteria and the proofs, over commitments only — no loan id, no per-loan value), which is
what the disclosure point lets an aggregate-only party receive of a statement.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import concentration
from proofs.claim_bundle import metric_opening
from proofs.deal import Deal, deal_hash
from proofs.eligibility import (
    EligibilityError,
    PurchasedLoan,
    StrataOpenings,
    investor_view,
    prove_eligibility,
    purchase_layout,
    verify_eligibility,
)
from proofs.group import ORDER, get_group
from proofs.pedersen import Opening
from proofs.purchases import price_opening
from proofs.snapshot import Header, loan_blindings, verify_header
from proofs.strata import Table

from ..errors import GatewayError
from ..keys.keyring import PoolKeys
from ..loan_facts import loan_facts, remaining_term_months
from ..snapshots.sealed import (
    SnapshotRecord,
    decode_labelled_leaves,
    lane_totals,
    snapshot_seed,
    snapshot_tape_id,
    snapshot_tree,
)
from ..storage import deals
from ..storage import eligibility as rows
from ..storage import snapshots as snapshot_rows
from ..storage.db import now, transaction
from ..storage.records import get_pool, get_tape, iter_loans
from ..storage.snapshots import list_snapshots
from . import deal_records

LOG = logging.getLogger(__name__)

#: Parties that see the whole statement, loans included.
FULL_VIEW_ROLES: Final = frozenset({"trustee", "regulator"})


class EligibilityNotBuildable(GatewayError):
    """The statement cannot be made for this snapshot (409; the message says why)."""

    http_status = 409


class EligibilityMissing(GatewayError):
    """No statement for the cut-off (404)."""

    http_status = 404


Leaf = tuple[str, bytes, tuple[str, ...] | None]


def _leaves(db: sqlite_utils.Database, snap: SnapshotRecord) -> list[Leaf]:
    n_inputs = len(snap.lanes.inputs)
    labelled = bool(snap.header.get("strata"))
    out: list[Leaf] = []
    for _, blob in snapshot_rows.iter_chunk_leaves(db, snap.job_id):
        out.extend(decode_labelled_leaves(blob, n_inputs, labelled))
    return out


def _attributes(record: dict[str, Any], cutoff: str) -> dict[str, int]:
    """The tape's nominal rate, APR, original and remaining term of one loan.

    Raises:
        EligibilityNotBuildable: a field the criteria need is missing.
    """
    missing = [
        f
        for f in ("nominal_rate_bps", "apr_all_in_bps", "term_months", "maturity_date")
        if record.get(f) is None
    ]
    if missing:
        raise EligibilityNotBuildable(
            f"loan {record.get('exposure_id')}: the tape has no {', '.join(missing)} "
            "(the purchase criteria need them)"
        )
    return {
        "nominal_rate_bps": int(record["nominal_rate_bps"]),
        "apr_bps": int(record["apr_all_in_bps"]),
        "original_term_months": int(record["term_months"]),
        "remaining_term_months": remaining_term_months(str(record["maturity_date"]), cutoff),
    }


def build_statement(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    deal: Deal,
    snaps: list[SnapshotRecord],
    signing_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """Build, verify, sign and store the eligibility statement of the last of ``snaps`` (the chain
    from closing to the cut-off); return it (whole).

    Raises:
        EligibilityNotBuildable: fewer than two snapshots, a lane set whose packing the proof cannot
            read, or tape rows without the fields the criteria need.
    """
    if len(snaps) < 2:
        raise EligibilityNotBuildable("purchases are the loans new since the previous snapshot: none yet")
    snap, before = snaps[-1], snaps[-2]
    key = signing_key.public_key()
    header: Header = verify_header(snap.header, key, lane_sets={snap.lanes.name}, deal=deal)
    try:
        purchase_layout(header.lanes)
    except EligibilityError as exc:
        raise EligibilityNotBuildable(f"snapshot {snap.snapshot_id}: {exc}") from None
    previous_ids = {eid for eid, _, _ in _leaves(db, before)}
    leaves = _leaves(db, snap)
    new = {eid: i for i, (eid, _, _) in enumerate(leaves) if eid not in previous_ids}
    config = get_pool(db, snap.pool_id).config
    seed = snapshot_seed(db, keys, snap)
    tree = snapshot_tree(db, snap)
    group = get_group()
    lanes = snap.lanes
    width = 48
    loans: list[PurchasedLoan] = []
    # The concentration limits on stratified dimensions are proven on the cells' rows: every loan's
    # openings summed by its cell in each such dimension.
    limited = sorted({x.dimension for x in deal.concentration_limits if concentration.provable(header, x)})
    by_cell: dict[str, dict[str, tuple[list[int], list[int]]]] = {d: {} for d in limited}
    new_totals = [0] * len(lanes.lanes)  # the purchases' lane totals: the price's opening
    for loan in iter_loans(db, keys, get_tape(db, snapshot_tape_id(db, snap))):
        record = dict(loan.record)
        facts = loan_facts(record, config)
        index = new.get(facts.exposure_id)
        if index is None and not limited:
            continue
        lane_values = lanes.facts_values(facts)
        loan_blinds = loan_blindings(seed, facts.exposure_id, lanes)
        if limited:
            for d in limited:
                empty = ([0] * len(lanes.lanes), [0] * len(lanes.inputs))
                totals, sums = by_cell[d].setdefault(facts.labels[d], empty)
                for j, v in enumerate(lane_values):
                    totals[j] += v
                for j, r in enumerate(loan_blinds):
                    sums[j] = (sums[j] + r) % ORDER
        if index is None:
            continue
        _, blob, cells = leaves[index]
        new_totals = [t + v for t, v in zip(new_totals, lane_values, strict=True)]
        values = lanes.input_values(lane_values)
        blindings = loan_blinds
        loans.append(
            PurchasedLoan(
                facts.exposure_id,
                index,
                tuple(cells or ()),
                tuple(
                    group.decode_point(blob[width * j : width * (j + 1)]) for j in range(len(lanes.inputs))
                ),
                tuple(Opening(v, b) for v, b in zip(values, blindings, strict=True)),
                _attributes(record, snap.cutoff_date),
                tuple(tree.inclusion_proof(index)),
            )
        )
    if len(loans) != len(new):
        raise EligibilityNotBuildable("the snapshot's new leaves are not all on its tape")  # pragma: no cover
    values, blinding_sums = lane_totals(keys, snap)
    collections = metric_opening(lanes, "principal_collections", values, blinding_sums)
    # The price is the period's purchase evidence in its published report (the loans'
    # start-of-period principal), when the report proves its purchases.
    report = deals.report_of_cutoff(db, snap.pool_id, snap.cutoff_date)
    evidence, price = None, None
    if report is not None and "purchases_proven" in report:
        evidence = report["purchases_proven"][-1]["evidence"]
        price = price_opening(header, new_totals, deal_records.price_blindings(seed, lanes))
    strata = None
    if limited and snap.strata is not None:
        table = Table.from_dict(group, snap.strata, len(lanes.inputs))
        pool = metric_opening(lanes, concentration.METRIC, values, blinding_sums)
        strata = StrataOpenings(table, by_cell, pool)
    try:
        doc = prove_eligibility(
            header,
            deal,
            loans,
            collections,
            signing_key,
            group=group,
            purchase_evidence=evidence,
            price=price,
            strata=strata,
        )
    except EligibilityError as exc:
        raise EligibilityNotBuildable(str(exc)) from None
    verify_eligibility(
        doc, key, header, deal, group=group,
        previous_exposures=sorted(previous_ids), snapshot_exposures=[e for e, _, _ in leaves],
    )  # fmt: skip
    with transaction(db) as conn:
        rows.put_statement(
            conn,
            rows.NewStatement(
                snap.pool_id, snap.cutoff_date, deal_hash(deal).hex(), doc["holds"], doc, now()
            ),
        )
    return doc


def build_for_cutoff(
    db: sqlite_utils.Database, keys: PoolKeys, pool_id: str, cutoff: str, signing_key: Ed25519PrivateKey
) -> dict[str, Any] | None:
    """The statement of the period ending at ``cutoff`` if one can be made, else ``None``: outside
    the revolving period, or a snapshot sealed under a lane set the proof cannot read (the pool's
    statement then names no eligibility; nothing is stored).

    Raises:
        DealMissing: no registered deal.
    """
    deal = deal_records.current_deal(db, pool_id)
    snaps = [s for s in list_snapshots(db, pool_id) if deal.closing_date <= s.cutoff_date <= cutoff]
    if len(snaps) < 2 or snaps[-1].cutoff_date != cutoff or len(snaps) - 1 > deal.revolving_periods:
        return None
    try:
        return build_statement(db, keys, deal, snaps, signing_key)
    except EligibilityNotBuildable as exc:
        LOG.info("eligibility of %s at %s not built: %s", pool_id, cutoff, exc)
        return None


def stored_statement(db: sqlite_utils.Database, pool_id: str, cutoff: str) -> dict[str, Any]:
    """The stored statement of a cut-off. Raises :class:`EligibilityMissing`."""
    doc = rows.statement_of_cutoff(db, pool_id, cutoff)
    if doc is None:
        raise EligibilityMissing(f"pool {pool_id!r} has no eligibility statement for cut-off {cutoff}")
    return doc


def statement_view(doc: dict[str, Any], role: str, *, min_cohort: int = 1) -> dict[str, Any]:
    """What ``role`` receives: the whole statement for the trustee and the regulator, the investor
    view (no loan ids, no per-loan values) for everyone else. The investor view discloses how many
    loans were bought (the proofs' shape does): a period that bought fewer than ``min_cohort`` (the
    aggregate guard's minimum cohort), but at least one, is withheld from them (``suppressed``)."""
    if role in FULL_VIEW_ROLES:
        return {"view": "full", "statement": doc}
    if 0 < doc["purchased"] < min_cohort:
        return {"view": "suppressed", "suppressed": True, "min_cohort": min_cohort}
    return {"view": "investor", "statement": investor_view(doc)}
