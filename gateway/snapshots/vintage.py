"""A pool's vintage curves for the API: the proven curve of one cohort, through the disclosure control.

The curve (:mod:`proofs.vintage`, docs/metrics.md "Vintage curves") runs over every sealed snapshot
of the pool from its first. For each snapshot the curve's evidence reveals, besides the two proven
figures, one or two stratification rows (their loan counts are plaintext): the cohort's row, or the
two neighbours that prove the cohort absent. So for an aggregate-only party (an investor) each
snapshot's *vintage release table* decides, against the pool's release ledger
(:func:`policies.aggregates.plan_release`, the same ledger the exact figures and statistics tables
use, so the differencing audit across cut-offs and tape versions applies), the cohorts those figures
sum over:

* the cohort's loans on the tape (its row count, its ``unscheduled_principal``, ``beginning_balance``);
* the cohort's loans that can carry ``defaulted_principal`` (``DEFAULTED``, ``WRITTEN_OFF``);
* the loans of each neighbour row of an absence proof.

Every cohort needs ``min_cohort`` obligors, as does its complement, and none may isolate a small
cohort with what was released before. A point is released only if its snapshot's table and every
earlier one released all of them (a later cumulative point minus an earlier one would give away a
suppressed period); the curve bundle then covers the chain through the last released point and
later points are the fixed suppression object. Parties with exact values (platform, trustee,
regulator) get every point. The tables are stored per snapshot and cohort, so asking again gives the
same decisions and releases nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from policies import Policy
from policies.aggregates import Cell, ReleaseLedger, loan_digest, obligor_digest, plan_release, record_release
from proofs.group import get_group
from proofs.strata import Table
from proofs.vintage import (
    DIMENSION,
    RATES,
    absence_evidence,
    check_cohort,
    months_on_book,
    prove_vintage_curve,
)

from ..errors import GatewayError
from ..keys.keyring import PoolKeys
from ..loan_facts import loan_facts
from ..storage import disclosures
from ..storage.db import transaction
from ..storage.records import get_pool, iter_loans
from .disclosure import FLOW_CARRIER_STATES, suppressed_figure
from .sealed import SnapshotRecord, cell_openings, list_snapshots, snapshot_rows_tape

VINTAGE_TABLE_FORMAT: Final = "poolproof/vintage-release/v1"
POOL_CELL: Final = "pool"


class VintageUnavailable(GatewayError):
    """The pool has no sealed snapshot with a vintage stratification, or no such cohort."""

    http_status: ClassVar[int] = 404


def _report_id(cohort: str) -> str:
    return f"vintage:{cohort}"


def chain_of(db: sqlite_utils.Database, pool_id: str) -> list[SnapshotRecord]:
    """The pool's sealed snapshots, oldest first, each with a vintage stratification table.

    Raises:
        VintageUnavailable: none sealed, or one without a vintage dimension.
    """
    snaps = list_snapshots(db, pool_id)
    if not snaps:
        raise VintageUnavailable(f"pool {pool_id!r} has no sealed snapshot")
    for s in snaps:
        if s.strata is None or DIMENSION not in s.strata["dimensions"]:
            raise VintageUnavailable(
                f"the {s.cutoff_date} snapshot of pool {pool_id!r} has no {DIMENSION} stratification"
            )
    return snaps


def cohorts_of(snaps: Sequence[SnapshotRecord]) -> list[str]:
    """Every cohort any snapshot's table has a row for, in order."""
    assert all(s.strata is not None for s in snaps)
    return sorted({r["cell"] for s in snaps for r in (s.strata or {})["rows"] if r["dimension"] == DIMENSION})


def _table(snap: SnapshotRecord) -> Table:
    assert snap.strata is not None
    return Table.from_dict(get_group(), snap.strata, len(snap.lanes.inputs))


def _revealed_cells(table: Table, cohort: str) -> list[tuple[str, str, str, frozenset[str]]]:
    """What the curve's evidence at one snapshot reveals: ``(name, dimension, cell, states)`` per
    cohort (``states`` empty: every loan of the cell)."""
    try:
        table.row(DIMENSION, cohort)
    except KeyError:
        absent = absence_evidence(table, cohort)["absent"]
        rows = [nb["row"] for nb in (absent["lower"], absent["upper"]) if nb is not None]
        return [(f"row:{r['dimension']}={r['cell']}", r["dimension"], r["cell"], frozenset()) for r in rows]
    carriers = frozenset(FLOW_CARRIER_STATES["defaulted_principal"])
    return [
        (f"cohort:{cohort}", DIMENSION, cohort, frozenset()),
        (f"cohort:{cohort}:defaulted", DIMENSION, cohort, carriers),
    ]


def release_table(
    db: sqlite_utils.Database, keys: PoolKeys, policy: Policy, snap: SnapshotRecord, cohort: str
) -> dict[str, Any]:
    """The vintage release table of one snapshot and cohort (decided once, then stored)."""
    report = _report_id(cohort)
    stored = disclosures.stored_table(db.conn, snap.pool_id, snap.snapshot_id, report)
    if stored is not None:
        return stored
    table = _table(snap)
    wanted = _revealed_cells(table, cohort)
    cfg = get_pool(db, snap.pool_id).config
    members: dict[str, set[int]] = {name: set() for name, _, _, _ in wanted}
    every: set[int] = set()
    owner: dict[int, int] = {}
    for stored_loan in iter_loans(db, keys, snapshot_rows_tape(db, snap)):
        r = stored_loan.record
        facts = loan_facts(r, cfg)
        loan = loan_digest(snap.pool_id, str(r["exposure_id"]))
        every.add(loan)
        owner[loan] = obligor_digest(snap.pool_id, str(r["obligor_pseudo_id"]))
        for name, dim, cell, states in wanted:
            if facts.labels.get(dim) == cell and (not states or facts.state_name in states):
                members[name].add(loan)
    k = policy.aggregates.min_cohort
    with transaction(db) as conn:
        stored = disclosures.stored_table(conn, snap.pool_id, snap.snapshot_id, report)
        if stored is not None:
            return stored
        state = disclosures.ledger_state(conn, snap.pool_id)
        ledger = ReleaseLedger() if state is None else ReleaseLedger.from_dict(state)
        ledger.add_owners(owner)
        pool_cell = Cell(POOL_CELL, frozenset(every))
        cells = [Cell(f"{report}:{name}", frozenset(members[name])) for name, _, _, _ in wanted]
        top, decided = plan_release(ledger, pool_cell, cells, k)
        released = top.released and all(decided[c.name].released for c in cells)
        if released:
            record_release(ledger, snap.snapshot_id, pool_cell, cells, decided)
        doc = {
            "format": VINTAGE_TABLE_FORMAT,
            "pool_id": snap.pool_id,
            "snapshot_id": snap.snapshot_id,
            "cutoff_date": snap.cutoff_date,
            "report_id": report,
            "min_cohort": k,
            "pool_check": top.check,
            "checks": {c.name.split(":", 2)[2]: decided[c.name].check for c in cells},
            "released": released,
        }
        disclosures.insert_table(conn, snap.pool_id, snap.snapshot_id, report, doc)
        if released:
            disclosures.save_ledger_state(conn, snap.pool_id, ledger.to_dict())
    return doc


@dataclass(frozen=True)
class CurveAnswer:
    """The API's answer: the points (values or suppression objects) and the bundle proving them."""

    body: dict[str, Any]
    released_points: int
    checks: list[str]


def vintage_curve(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    policy: Policy,
    pool_id: str,
    cohort: str,
    nonce: bytes,
    gateway_key: Ed25519PublicKey,
    *,
    aggregate_only: bool,
    minor_unit: str,
    currency: str,
) -> CurveAnswer:
    """The curve of ``cohort`` over the pool's chain, each point exact or suppressed.

    ``gateway_key`` is the public key the chain's headers verify under (checked again by the proof
    code: a chain sealed across a key rotation is refused).

    Raises:
        VintageUnavailable: no chain, or no such cohort.
        EncodingError: a malformed cohort label.
    """
    check_cohort(cohort)
    snaps = chain_of(db, pool_id)
    if cohort not in cohorts_of(snaps):
        raise VintageUnavailable(
            f"pool {pool_id!r} has no cohort {cohort!r}; its cohorts are {', '.join(cohorts_of(snaps))}"
        )
    tables = [_table(s) for s in snaps]
    present = [_has(t, cohort) for t in tables]
    first = present.index(True)
    released_through = len(snaps) - 1
    checks: list[str] = []
    if aggregate_only:
        for i, s in enumerate(snaps):
            doc = release_table(db, keys, policy, s, cohort)
            checks += [f"{s.cutoff_date}:{n}:{c}" for n, c in sorted(doc["checks"].items())]
            if not doc["released"]:
                released_through = i - 1
                break
    points: list[dict[str, Any]] = []
    bundle: dict[str, Any] | None = None
    if released_through >= first:
        end = released_through + 1
        openings = [
            cell_openings(db, keys, s, DIMENSION, cohort) if present[i] else None
            for i, s in enumerate(snaps[:end])
        ]
        bundle = prove_vintage_curve(
            [s.header for s in snaps[:end]],
            gateway_key,
            tables[:end],
            cohort,
            openings,
            {},
            nonce,
        )
        for p in bundle["points"]:
            entry: dict[str, Any] = {"cutoff_date": p["cutoff_date"], "months_on_book": p["months_on_book"]}
            for rate in RATES:
                proven = p["rates"][rate]
                entry[rate] = {
                    "numerator": proven["numerator"]["value"],
                    "denominator": proven["denominator"]["value"],
                }
            points.append(entry)
    hidden = suppressed_figure(policy)
    for s in snaps[max(first, released_through + 1) :]:
        entry = {"cutoff_date": s.cutoff_date, "months_on_book": months_on_book(cohort, s.cutoff_date)}
        entry.update({rate: dict(hidden) for rate in RATES})
        points.append(entry)
    body = {
        "pool_id": pool_id,
        "cohort": cohort,
        "currency": currency,
        "minor_unit": minor_unit,
        "min_cohort": policy.aggregates.min_cohort,
        "points": points,
        "bundle": bundle,
    }
    return CurveAnswer(body, 0 if bundle is None else len(bundle["points"]), checks)


def _has(table: Table, cohort: str) -> bool:
    try:
        table.row(DIMENSION, cohort)
    except KeyError:
        return False
    return True
