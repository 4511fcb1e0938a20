"""The disclosure-control point: every aggregate that reaches an aggregate-only party leaves through here.

A party is *aggregate-only* when the policy gives it a pool statistic's underlying fields only as
``aggregate_only``, or scopes its rows to its own loans (a borrower, for anything beyond those), unless
its role is one of the policy's exact-value roles. For such a party:

* statistics come from the **sealed snapshot** of the cut-off (the tape the proofs speak of), never
  from an unsealed or superseded tape;
* the statistics are one registered table per snapshot (the whole pool, each DPD bucket, each loan
  status, the loans with an all-in APR), decided **once** against the pool's release ledger
  (:func:`policies.aggregates.plan_release`: minimum cohort for a cell and its complement, no cohort
  of fewer than k obligors determined by any combination with what was released before, across cells,
  tape versions and cut-offs) and then served identically to every aggregate-only party;
* a suppressed figure is ``{"suppressed": true, "reason": <one fixed text>}`` whatever it hides;
* every released figure carries its unit (and the pool's currency for money, in integer minor units);
* threshold claims spend a budget keyed by metric, threshold and direction, and a two-sided bound with
  equal ends is an exact disclosure (decided by the policy's exact-value claim rules).

Parties that may see loan-level data (platform, trustee, rating agency, auditor, regulator under the
default policy) keep their unrestricted views; their plaintext metrics report is built here too, under
the policy's exact-value rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlite_utils

from policies import DecisionLog, Party, Policy, Transform
from policies.aggregates import (
    REFUSED,
    SUPPRESSED,
    AggregateGuard,
    Cell,
    CellDecision,
    GuardState,
    ReleaseLedger,
    ReportDefinition,
    loan_digest,
    obligor_digest,
    plan_release,
    record_release,
)
from policies.decision import Decision
from policies.figures import CELL_FIGURES
from proofs.cell_claims import cell_metric, parse_cell_metric
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.lanes import BUCKETS, LaneSet, dpd_bucket
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, STATES

from ..errors import GatewayError
from ..ingest.pool_settings import PoolConfig
from ..keys.keyring import PoolKeys
from ..loan_facts import loan_facts
from ..policy_views import STAT_FIELDS, policy_party
from ..storage import decisions, disclosures
from ..storage import links as link_rows
from ..storage.db import transaction
from ..storage.records import PartyRecord, get_pool, get_tape, iter_loans
from ..storage.snapshots import get_snapshot
from .sealed import SnapshotRecord, guard_thresholds, lane_totals, metrics_report, snapshot_tape_id

TABLE_FORMAT = "poolproof/release-table/v1"
POOL_CELL = "pool"
STATS_REPORT = "pool_stats"  # the built-in statistics table (whole pool, DPD buckets, statuses)
APR_CELL = "with_apr"


class ClaimRefused(GatewayError):
    """The claim budget refuses a threshold; ``decision`` is what the decision log records."""

    http_status: ClassVar[int] = 403

    def __init__(self, decision: Decision) -> None:
        super().__init__(REFUSED)
        self.decision = decision


def suppressed_figure(policy: Policy) -> dict[str, Any]:
    """What stands in for a suppressed figure: the same object whatever the hidden value."""
    return {"suppressed": True, "reason": SUPPRESSED.format(k=policy.aggregates.min_cohort)}


#: The notes' outstanding principal at the start of a period, per tranche (a deal figure).
NOTE_BALANCES = "notes/balance"


def note_balances_decision(policy: Policy, party: Party, pool_id: str) -> Decision:
    """Whether an aggregate-only ``party``'s trigger-status view may carry the notes' outstanding
    principal at the start of the period: the policy's exact-claim rule for :data:`NOTE_BALANCES`.

    Note balances are the notes' own figures, published to note holders by every trustee report,
    not a cohort of loans, so no release ledger applies: what they follow from (the principal paid
    to the notes) is the pool's principal collections, a whole-pool figure of the servicer report.
    """
    return policy.may_request_claim(party, "exact", NOTE_BALANCES, pool_id=pool_id)


def is_aggregate_only(policy: Policy, party: Party, purpose: str, pool_id: str) -> bool:
    """Whether ``party`` may receive pool statistics only through disclosure control."""
    if party.role in policy.aggregates.exact_value_roles:
        return False
    spec = policy.roles.get(party.role)
    if spec is None or spec.row_scope != "pool":
        return True
    fields = sorted({f for fs in STAT_FIELDS.values() for f in fs})
    return any(
        policy.decide(party, f, purpose, pool_id=pool_id).transform is Transform.AGGREGATE_ONLY
        for f in fields
    )


def log_unsealed_refusal(
    log_db: sqlite_utils.Database, policy: Policy, party: Party, pool_id: str, cutoff: str, what: str
) -> None:
    """Log that an aggregate-only party was refused ``what`` of a cut-off that has no sealed snapshot."""
    decision = Decision(
        decision_id=uuid.uuid4().hex,
        party_id=party.id,
        role=party.role,
        field=f"{what}:unsealed",
        purpose="aggregates",
        transform=Transform.DENY,
        params={},
        rule_ids=("aggregates.sealed_snapshots_only",),
        reason="aggregate-only parties read sealed snapshots only",
        policy_version=policy.version,
        pool_id=pool_id,
    )
    log = DecisionLog()
    log.append([decision], resource=f"pool:{pool_id}/cutoff:{cutoff}/{what}", record_count=0)
    decisions.persist(log_db, log)


# --- the release table of a sealed snapshot --------------------------------------------------------------
@dataclass
class _CellSums:
    loans: set[int]
    count: int = 0
    original: int = 0
    current: int = 0
    current_x_nominal: int = 0
    current_x_apr: int = 0


def _status_values(policy: Policy) -> tuple[str, ...]:
    """Every loan status of the policy's catalogue: the table lists each one, empty or not, so the
    statuses a pool has are not told by which keys appear."""
    spec = policy.catalogue.get("loan_status")
    return tuple(spec.enum_values) if spec is not None else ()


TERM_BANDS: tuple[tuple[int, str], ...] = ((6, "1-6"), (12, "7-12"), (24, "13-24"), (36, "25-36"))
RATE_BANDS_BPS: tuple[tuple[int, str], ...] = (
    (999, "0-999"),
    (1799, "1000-1799"),
    (2399, "1800-2399"),
    (3599, "2400-3599"),
)
BALANCE_BANDS_MAJOR: tuple[tuple[int, str], ...] = (
    (999, "0-999"),
    (4999, "1000-4999"),
    (19999, "5000-19999"),
)


def _band(value: int, bands: tuple[tuple[int, str], ...], top: str) -> str:
    for upper, label in bands:
        if value <= upper:
            return label
    return top


def dimension_value(dimension: str, record: Mapping[str, Any], cfg: PoolConfig) -> str:
    """The value of one registered report dimension for a stored loan (bands are fixed, not asked)."""
    g = record.get
    if dimension == "vintage_month":
        return str(g("origination_date", ""))[:7] or "UNKNOWN"
    if dimension == "product_type":
        return str(g("product_type") or "UNKNOWN")
    if dimension == "term_bucket":
        return _band(int(g("term_months") or 0), TERM_BANDS, "37+") + " months"
    if dimension == "province":
        code = str(g("region_code") or "")
        return (code[:2] if cfg.region_scheme == "GB/T 2260" else code) or "UNKNOWN"
    if dimension == "dpd_bucket":
        return str(g("dpd_bucket"))
    if dimension == "rate_bucket":
        return _band(int(g("nominal_rate_bps") or 0), RATE_BANDS_BPS, "3600+") + " bps"
    if dimension == "balance_bucket":
        major = int(g("current_principal_fen") or 0) // cfg.minor_per_major
        return _band(major, BALANCE_BANDS_MAJOR, "20000+") + f" {cfg.currency}"
    if dimension == "loan_status":
        return str(g("loan_status") or "UNKNOWN")
    raise ValueError(f"unknown report dimension {dimension!r}")


#: The tape field each report dimension (and metric) is computed from, for the policy's field rules.
DIMENSION_FIELDS: dict[str, str] = {
    "vintage_month": "origination_date",
    "product_type": "product_type",
    "term_bucket": "term_months",
    "province": "region_code",
    "dpd_bucket": "dpd_bucket",
    "rate_bucket": "nominal_rate_bps",
    "balance_bucket": "current_principal_fen",
    "loan_status": "loan_status",
    "balance": "current_principal_fen",
}


def report_denied_fields(
    policy: Policy, party: Party, report: ReportDefinition, purpose: str, pool_id: str
) -> list[str]:
    """The fields a report is built from that the policy denies ``party`` outright (then no report)."""
    names = {DIMENSION_FIELDS[d] for d in report.dimensions} | {
        DIMENSION_FIELDS[m] for m in report.metrics if m in DIMENSION_FIELDS
    }
    return sorted(
        f for f in names if policy.decide(party, f, purpose, pool_id=pool_id).transform is Transform.DENY
    )


def _stats_cell_names(record: Mapping[str, Any], cfg: PoolConfig) -> list[str]:
    names = [f"dpd_bucket={record['dpd_bucket']}", f"loan_status={record.get('loan_status', 'UNKNOWN')}"]
    if record.get("apr_all_in_bps") is not None:
        names.append(APR_CELL)
    return names


def _gather(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    pool_id: str,
    cfg: PoolConfig,
    tape_id: int,
    statuses: tuple[str, ...],
    report: ReportDefinition | None = None,
) -> tuple[dict[str, _CellSums], dict[int, int]]:
    """Per-cell sums and loan memberships of a tape, and the loan -> obligor digests.

    Without ``report``: the statistics table (pool, APR cell, every DPD bucket and every catalogue
    loan status, empty ones included). With one: the pool and one cell per combination of the
    report's dimension values that occurs.
    """
    cells: dict[str, _CellSums] = {POOL_CELL: _CellSums(set())}
    if report is None:
        cells[APR_CELL] = _CellSums(set())
        for label in cfg.dpd_labels:
            cells[f"dpd_bucket={label}"] = _CellSums(set())
        for st in statuses:
            cells[f"loan_status={st}"] = _CellSums(set())
    owner: dict[int, int] = {}
    tape = get_tape(db, tape_id)
    for stored in iter_loans(db, keys, tape):
        r = stored.record
        loan = loan_digest(pool_id, str(r["exposure_id"]))
        owner[loan] = obligor_digest(pool_id, str(r["obligor_pseudo_id"]))
        cur = int(r.get("current_principal_fen") or 0)
        apr = r.get("apr_all_in_bps")
        if report is None:
            names = [POOL_CELL, *_stats_cell_names(r, cfg)]
        else:
            names = [POOL_CELL, "|".join(f"{d}={dimension_value(d, r, cfg)}" for d in report.dimensions)]
        for name in names:
            c = cells.setdefault(name, _CellSums(set()))
            c.loans.add(loan)
            c.count += 1
            c.original += int(r.get("original_principal_fen") or 0)
            c.current += cur
            c.current_x_nominal += cur * int(r.get("nominal_rate_bps") or 0)
            if apr is not None:
                c.current_x_apr += cur * int(apr)
    return cells, owner


def _figures(cfg: PoolConfig, cells: Mapping[str, _CellSums], distinct_obligors: int) -> dict[str, Any]:
    """The table's figures with units (only stored for released cells)."""

    def money(v: int) -> dict[str, Any]:
        return {"value": v, "unit": cfg.minor_unit, "currency": cfg.currency}

    def count(v: int, unit: str = "loans") -> dict[str, Any]:
        return {"value": v, "unit": unit}

    def weighted(v: int) -> dict[str, Any]:
        return {"value": v, "unit": f"{cfg.minor_unit} x bps", "currency": cfg.currency}

    pool, apr = cells[POOL_CELL], cells[APR_CELL]
    out: dict[str, Any] = {
        POOL_CELL: {
            "loans": count(pool.count),
            "distinct_obligors": count(distinct_obligors, "obligors"),
            "original_principal_fen": money(pool.original),
            "current_principal_fen": money(pool.current),
            "sum_current_x_nominal_rate_bps": weighted(pool.current_x_nominal),
        },
        APR_CELL: {
            "sum_current_x_apr_bps": weighted(apr.current_x_apr),
            "current_principal_with_apr_fen": money(apr.current),
        },
    }
    for name, c in cells.items():
        if name.startswith("dpd_bucket="):
            out[name] = {"loans": count(c.count), "current_principal_fen": money(c.current)}
        elif name.startswith("loan_status="):
            out[name] = {"loans": count(c.count)}
    return out


def _report_figures(
    cfg: PoolConfig, cells: Mapping[str, _CellSums], report: ReportDefinition
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, c in cells.items():
        fig: dict[str, Any] = {}
        if "count" in report.metrics or not report.metrics:
            fig["loans"] = {"value": c.count, "unit": "loans"}
        if "balance" in report.metrics or not report.metrics:
            fig["current_principal_fen"] = {
                "value": c.current,
                "unit": cfg.minor_unit,
                "currency": cfg.currency,
            }
        out[name] = fig
    return out


def release_table(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    policy: Policy,
    snap: SnapshotRecord,
    report: ReportDefinition | None = None,
) -> dict[str, Any]:
    """A snapshot's release table: per cell, released figures or a suppression, decided once.

    ``report`` is a registered report of the policy; without one, the statistics table. The first
    request for a (snapshot, report) decides every cell against the pool's ledger and stores the table
    and the grown ledger in one transaction; every later request (any party) gets the stored table, so
    the same question always gets the same answer.
    """
    report_id = STATS_REPORT if report is None else report.id
    stored = disclosures.stored_table(db.conn, snap.pool_id, snap.snapshot_id, report_id)
    if stored is not None:  # read without taking the write lock
        return stored
    cfg = get_pool(db, snap.pool_id).config
    cells, owner = _gather(
        db, keys, snap.pool_id, cfg, snapshot_tape_id(db, snap), _status_values(policy), report
    )
    if report is None:
        figures = _figures(cfg, cells, len(set(owner.values())))
    else:
        figures = _report_figures(cfg, cells, report)
    k = policy.aggregates.min_cohort
    with transaction(db) as conn:
        stored = disclosures.stored_table(conn, snap.pool_id, snap.snapshot_id, report_id)
        if stored is not None:  # decided by a concurrent request meanwhile
            return stored
        led_state = disclosures.ledger_state(conn, snap.pool_id)
        ledger = ReleaseLedger() if led_state is None else ReleaseLedger.from_dict(led_state)
        ledger.add_owners(owner)
        pool_cell = Cell(POOL_CELL, frozenset(cells[POOL_CELL].loans))

        def group(name: str) -> str | None:
            if report is not None:
                return report.id  # a report's cells partition the pool
            return name.split("=", 1)[0] if "=" in name else None

        table_cells = [
            Cell(f"{report_id}:{name}", frozenset(c.loans), group(name))
            for name, c in sorted(cells.items())
            if name != POOL_CELL
        ]
        top, decided = plan_release(ledger, pool_cell, table_cells, k)
        if top.released:
            record_release(ledger, snap.snapshot_id, pool_cell, table_cells, decided)
        checks = {POOL_CELL: top.check}
        checks.update({c.name.split(":", 1)[1]: decided[c.name].check for c in table_cells})
        released = {POOL_CELL} if top.released else set()
        released |= {c.name.split(":", 1)[1] for c in table_cells if decided[c.name].released}
        doc = {
            "format": TABLE_FORMAT,
            "pool_id": snap.pool_id,
            "snapshot_id": snap.snapshot_id,
            "cutoff_date": snap.cutoff_date,
            "report_id": report_id,
            "currency": cfg.currency,
            "minor_unit": cfg.minor_unit,
            "min_cohort": k,
            "checks": checks,
            "figures": {name: figures[name] for name in sorted(released)},
        }
        disclosures.insert_table(conn, snap.pool_id, snap.snapshot_id, report_id, doc)
        disclosures.save_ledger_state(conn, snap.pool_id, ledger.to_dict())
    return doc


def exact_report(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, report: ReportDefinition
) -> dict[str, Any]:
    """A registered report with every cell exact, for parties allowed loan-level data (not recorded)."""
    cfg = get_pool(db, snap.pool_id).config
    cells, _ = _gather(db, keys, snap.pool_id, cfg, snapshot_tape_id(db, snap), (), report)
    return {
        "currency": cfg.currency,
        "minor_unit": cfg.minor_unit,
        "cells": {n: f for n, f in sorted(_report_figures(cfg, cells, report).items()) if n != POOL_CELL},
        "pool": _report_figures(cfg, cells, report)[POOL_CELL],
    }


def controlled_report(
    db: sqlite_utils.Database,
    log_db: sqlite_utils.Database,
    policy: Policy,
    party: PartyRecord,
    keys: PoolKeys,
    snap: SnapshotRecord,
    report: ReportDefinition,
) -> dict[str, Any]:
    """A registered report for an aggregate-only party, through the ledger; logs one decision per cell."""
    p = policy_party(party)
    table = release_table(db, keys, policy, snap, report)
    hidden = suppressed_figure(policy)
    figures: Mapping[str, Any] = table["figures"]
    cells = {name: figures.get(name, dict(hidden)) for name in sorted(table["checks"]) if name != POOL_CELL}
    log = DecisionLog()
    log.append(
        [
            _cell_decision(
                p, policy, snap.pool_id, f"{report.id}:{n}", CellDecision(n in figures, c), "report"
            )
            for n, c in sorted(table["checks"].items())
        ],
        resource=f"pool:{snap.pool_id}/snapshot:{snap.snapshot_id}/reports/{report.id}",
        record_count=1 if figures else 0,
    )
    decisions.persist(log_db, log)
    return {
        "currency": table["currency"],
        "minor_unit": table["minor_unit"],
        "min_cohort": table["min_cohort"],
        "pool": figures.get(POOL_CELL, dict(hidden)),
        "cells": cells,
    }


def _cell_decision(
    p: Party, policy: Policy, pool_id: str, cell: str, d: CellDecision, purpose: str
) -> Decision:
    return Decision(
        decision_id=uuid.uuid4().hex,
        party_id=p.id,
        role=p.role,
        field=f"stats:{cell}",
        purpose=purpose,
        transform=Transform.AGGREGATE_ONLY if d.released else Transform.DENY,
        params={},
        rule_ids=(f"aggregates.{d.check}",),
        reason="released" if d.released else "suppressed",
        policy_version=policy.version,
        pool_id=pool_id,
    )


def controlled_stats(
    db: sqlite_utils.Database,
    log_db: sqlite_utils.Database,
    policy: Policy,
    party: PartyRecord,
    keys: PoolKeys,
    snap: SnapshotRecord,
    purpose: str,
) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Statistics of a sealed snapshot for an aggregate-only party: (stats, withheld, table).

    ``stats`` has the shape of the unrestricted view (``loans``, ``current_principal_fen``, ...,
    ``dpd_buckets``, ``loan_status``) with every figure an object carrying ``value`` and ``unit``
    (and ``currency`` for money) or the fixed suppression object. Statistics whose fields the policy
    denies the party are listed in ``withheld``. Logs one decision per field and per cell.
    """
    p = policy_party(party)
    fields = sorted({f for fs in STAT_FIELDS.values() for f in fs})
    field_decisions = {f: policy.decide(p, f, purpose, pool_id=snap.pool_id) for f in fields}
    allowed = {
        stat
        for stat, fs in STAT_FIELDS.items()
        if all(field_decisions[f].transform is not Transform.DENY for f in fs)
    }
    withheld = sorted(set(STAT_FIELDS) - allowed)
    table = release_table(db, keys, policy, snap)
    hidden = suppressed_figure(policy)
    figures: Mapping[str, Any] = table["figures"]

    def figure(cell: str, name: str) -> Any:
        got = figures.get(cell)
        return dict(hidden) if got is None else got[name]

    stats: dict[str, Any] = {}
    for name in ("loans", "distinct_obligors", "original_principal_fen", "current_principal_fen"):
        stats[name] = figure(POOL_CELL, name)
    stats["sum_current_x_nominal_rate_bps"] = figure(POOL_CELL, "sum_current_x_nominal_rate_bps")
    stats["sum_current_x_apr_bps"] = figure(APR_CELL, "sum_current_x_apr_bps")
    stats["current_principal_with_apr_fen"] = figure(APR_CELL, "current_principal_with_apr_fen")
    buckets: dict[str, Any] = {}
    statuses: dict[str, Any] = {}
    for cell in table["checks"]:
        if cell.startswith("dpd_bucket="):
            got = figures.get(cell)
            buckets[cell.split("=", 1)[1]] = dict(hidden) if got is None else got
        elif cell.startswith("loan_status="):
            statuses[cell.split("=", 1)[1]] = figure(cell, "loans")
    stats["dpd_buckets"] = buckets
    stats["loan_status"] = dict(sorted(statuses.items()))
    for name in withheld:
        stats.pop(name, None)
    log = DecisionLog()
    cell_decisions = [
        _cell_decision(p, policy, snap.pool_id, cell, CellDecision(cell in figures, check), purpose)
        for cell, check in sorted(table["checks"].items())
    ]
    log.append(
        [*field_decisions.values(), *cell_decisions],
        resource=f"pool:{snap.pool_id}/snapshot:{snap.snapshot_id}/stats",
        record_count=1 if figures else 0,
    )
    decisions.persist(log_db, log)
    return stats, withheld, table


# --- metrics (parties the policy lets see exact values) ----------------------------------------------------
def metrics_release(
    policy: Policy, party: Party, keys: PoolKeys, snap: SnapshotRecord
) -> tuple[dict[str, Any], dict[str, Any], list[str], list[Decision]]:
    """Plaintext metrics of a sealed snapshot under the policy's exact-value claim rule.

    Returns (metrics, ratios in bps, withheld metric names, the decisions to log). Each metric the
    policy does not let ``party`` see exactly is withheld, and so is every ratio built from one.
    """
    values, _ = lane_totals(keys, snap)
    report = metrics_report(snap.lanes, values)
    decided = {
        m: policy.may_request_claim(party, "exact", m, pool_id=snap.pool_id) for m in report["metrics"]
    }
    withheld = sorted(m for m, d in decided.items() if not d.allowed)
    metrics = {m: v for m, v in report["metrics"].items() if m not in withheld}
    ratios = {
        k: v for k, v in report["ratios_bps"].items() if all(part in metrics for part in k[:-4].split("/"))
    }
    return metrics, ratios, withheld, list(decided.values())


# --- exact figures (the disclosure modes' "exact", for aggregate-only parties) ------------------------------
EXACT_TABLE_FORMAT = "poolproof/exact-release/v1"
EXACT_REPORT = "exact_figures"
STATE_GROUP = "state"

#: The loan states that may carry a non-zero value of a period flow, by the tape rules
#: (gateway/ingest/rules.py ``period_flow_errors``: defaulted principal and recoveries only on a
#: defaulted or charged-off loan, written-off principal only on a charged-off one). Every other
#: flow may sit on any loan of the tape.
FLOW_CARRIER_STATES: dict[str, tuple[str, ...]] = {
    "defaulted_principal": ("DEFAULTED", "WRITTEN_OFF"),
    "recoveries": ("DEFAULTED", "WRITTEN_OFF"),
    "written_off": ("WRITTEN_OFF",),
}


@dataclass(frozen=True)
class FigureCohort:
    """The loans an exact figure sums over: one cell of the release ledger.

    ``states``: the loan states whose loans may contribute (a loan in any other state contributes 0);
    ``label``: ``(dimension, cell)`` for a stratification cell, whose loans must also be in that cell.
    ``group`` names the partition of the tape the cell belongs to (every single-state cohort is in
    group ``state``; the cells of one stratification dimension in ``strata:<dimension>``), for the
    secondary suppression of :func:`policies.aggregates.plan_release`.
    """

    name: str
    group: str | None
    states: frozenset[str]
    label: tuple[str, str] | None = None

    def holds(self, state: str, labels: Mapping[str, str]) -> bool:
        """Whether a loan in ``state`` with stratification ``labels`` is in the cohort."""
        if state not in self.states:
            return False
        return self.label is None or labels.get(self.label[0]) == self.label[1]


def _all_states(lanes: LaneSet) -> tuple[str, ...]:
    return STATES if lanes.circuit is not None else BUCKETS


def _lane_metric_cohort(lanes: LaneSet, figure_id: str) -> FigureCohort | None:
    """The cohort of a lane-set metric: the union of the states that may carry each of its lanes."""
    try:
        terms = lanes.metric(figure_id)
    except KeyError:
        return None
    every = _all_states(lanes)
    states: set[str] = set()
    for lane, _ in terms:
        kind, _, what = lane.partition("_")
        if kind in ("balance", "count") and what in every:
            states.add(what)
        elif kind == "flow":
            states |= set(FLOW_CARRIER_STATES.get(what, every))
        else:  # pragma: no cover - a lane set whose lanes are neither states nor flows
            return None
    ordered = [s for s in every if s in states]
    if len(ordered) == len(every):
        return FigureCohort("all_loans", None, frozenset(ordered))
    if len(ordered) == 1:
        return FigureCohort(f"state={ordered[0]}", STATE_GROUP, frozenset(ordered))
    return FigureCohort("states=" + "+".join(ordered), None, frozenset(ordered))


def _strata_cohort(lanes: LaneSet, figure_id: str) -> FigureCohort | None:
    """``strata/<dimension>/<cell>/<active_loan_count|outstanding_balance>``: the loans of an
    outstanding state in the cell."""
    parts = figure_id.split("/")
    if len(parts) != 4 or parts[3] not in CELL_FIGURES or not (parts[1] and parts[2]):
        return None
    if lanes.circuit is None:  # cells are facts of the pool statement v2 only
        return None
    dim, cell = parts[1], parts[2]
    return FigureCohort(f"strata:{dim}:{cell}", f"strata:{dim}", frozenset(OUTSTANDING_STATES), (dim, cell))


#: The label a kept loan of a linked snapshot carries in :func:`_loan_states`: its state a month before.
ROLL_FROM = "roll_from"


def roll_figure_ids() -> list[str]:
    """Every roll-rate figure of a linked month (docs/metrics.md, "Roll rates"): the kept loans and
    their previous balances by from-state × to-state, and each from-state's kept loans (``row``)."""
    ids = [f"roll/count/{i}/{j}" for i in STATES for j in STATES]
    ids += [f"roll/balance/{i}/{j}" for i in OUTSTANDING_STATES for j in STATES]
    return ids + [f"roll/row/{i}" for i in STATES]


def parse_roll_figure(figure_id: str) -> tuple[str, str, str | None] | None:
    """``roll/<count|balance>/<from>/<to>`` as ``(by, from, to)``, ``roll/row/<from>`` as
    ``("row", from, None)``; ``None`` for any other id."""
    parts = figure_id.split("/")
    if len(parts) == 3 and parts[:2] == ["roll", "row"] and parts[2] in STATES:
        return "row", parts[2], None
    if len(parts) != 4 or parts[0] != "roll" or parts[2] not in STATES or parts[3] not in STATES:
        return None
    if parts[1] == "count" or (parts[1] == "balance" and parts[2] in OUTSTANDING_STATES):
        return parts[1], parts[2], parts[3]
    return None


def _roll_cohort(lanes: LaneSet, figure_id: str) -> FigureCohort | None:
    """A roll-rate cell: the kept loans that were in ``from`` a month before and are in ``to`` now (its
    count and its previous balance sum over the same loans); a row: every kept loan that was in
    ``from``. The cells of one row partition it (secondary suppression within the row)."""
    parsed = parse_roll_figure(figure_id)
    if parsed is None or lanes.circuit is None:
        return None
    _, i, j = parsed
    if j is None:
        return FigureCohort(f"roll:{i}", None, frozenset(STATES), (ROLL_FROM, i))
    return FigureCohort(f"roll:{i}:{j}", f"roll:{i}", frozenset({j}), (ROLL_FROM, i))


#: Figure-id families beyond the lane set's own metric ids, by the prefix before the first ``:``.
#: A family maps (lane set, figure id) to the figure's cohort, or ``None`` if the id is not one of it.
COHORT_FAMILIES: dict[str, Callable[[LaneSet, str], FigureCohort | None]] = {
    "strata": _strata_cohort,
    "roll": _roll_cohort,
}


def figure_cohort(lanes: LaneSet, figure_id: str) -> FigureCohort | None:
    """The cohort an exact figure of a snapshot sums over, or ``None`` for an id the release path
    does not know (never released)."""
    family = COHORT_FAMILIES.get(figure_id.split("/", 1)[0]) if "/" in figure_id else None
    return family(lanes, figure_id) if family is not None else _lane_metric_cohort(lanes, figure_id)


def _inner_metric(figure_id: str) -> str:
    """The lane-set metric a figure sums: itself, or a stratification cell figure's metric."""
    parsed = parse_cell_metric(figure_id) if figure_id.startswith("strata/") else None
    return figure_id if parsed is None else parsed[2]


def exact_figure_ids(
    policy: Policy, lanes: LaneSet, cells: Sequence[tuple[str, str]] = (), *, linked: bool = False
) -> list[str]:
    """The figures of a lane set, of the snapshot's stratification ``cells`` (dimension, cell) and, for
    a snapshot ``linked`` to the month before, its roll-rate figures, that the policy's disclosure
    modes give some aggregate-only role exactly: what the exact release table of a snapshot decides."""
    roles = sorted(policy.moded_roles - policy.aggregates.exact_value_roles)
    ids = [*sorted(lanes.metrics), *(cell_metric(d, c, f) for d, c in cells for f in CELL_FIGURES)]
    ids += roll_figure_ids() if linked else []
    return [m for m in ids if policy.exact_for_some_role(m, roles)]


def _previous_states(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, cfg: PoolConfig
) -> dict[str, str] | None:
    """Each exposure's state in the month before, when ``snap`` is linked to it (else ``None``)."""
    link = link_rows.get_link(db, snap.pool_id, snap.cutoff_date)
    if link is None or link.status != "linked" or link.bundle is None:
        return None
    previous = get_snapshot(db, snap.pool_id, str(link.bundle["previous"]["cutoff_date"]))
    tape = get_tape(db, snapshot_tape_id(db, previous))
    out: dict[str, str] = {}
    for stored in iter_loans(db, keys, tape):
        facts = loan_facts(stored.record, cfg)
        out[facts.exposure_id] = facts.state_name
    return out


def _loan_states(
    db: sqlite_utils.Database, keys: PoolKeys, snap: SnapshotRecord, cfg: PoolConfig
) -> Iterator[tuple[int, int, str, Mapping[str, str], Mapping[str, int]]]:
    """Per loan of the sealed tape: (loan digest, obligor digest, state, cell labels, period flows).

    In a linked snapshot a kept loan's labels also hold its previous state under :data:`ROLL_FROM`."""
    before = _previous_states(db, keys, snap, cfg) if snap.lanes.circuit is not None else None
    lanes = snap.lanes
    tape = get_tape(db, snapshot_tape_id(db, snap))
    edges = snap.header["dpd_bucket_edges"] if lanes.circuit is None else ()
    for stored in iter_loans(db, keys, tape):
        r = stored.record
        loan = loan_digest(snap.pool_id, str(r["exposure_id"]))
        owner = obligor_digest(snap.pool_id, str(r["obligor_pseudo_id"]))
        if lanes.circuit is not None:
            facts = loan_facts(r, cfg)
            labels: Mapping[str, str] = facts.labels
            if before is not None and facts.exposure_id in before:
                labels = {**facts.labels, ROLL_FROM: before[facts.exposure_id]}
            yield loan, owner, facts.state_name, labels, dict(zip(FLOWS, facts.flows, strict=True))
        else:
            yield loan, owner, BUCKETS[dpd_bucket(int(r["days_past_due"]), edges)], {}, {}


def exact_release_table(
    db: sqlite_utils.Database, keys: PoolKeys, policy: Policy, snap: SnapshotRecord
) -> dict[str, Any]:
    """A snapshot's exact release table: for every figure the disclosure modes make exact, whether
    its cohort may be released, decided once against the pool's release ledger.

    The cohorts (:func:`figure_cohort`) go through :func:`policies.aggregates.plan_release` with the
    pool's ledger, as the statistics tables do: a cohort needs ``min_cohort`` obligors and so does its
    complement; no cohort of fewer than ``min_cohort`` may be determined by any combination with
    what was released before (other cells, superseded tapes, other cut-offs), and the state cohorts
    partition the tape (secondary suppression). Cohorts are decided in the policy's release priority
    (:meth:`Policy.release_priority`, then the larger first): of two figures that together would pin a
    small cohort, the one the policy lists first is released. The table holds decisions, never
    values (a released figure's value is proven by its claim bundle). A cohort whose loans break the
    tape rule it rests on (a flow on a loan outside :data:`FLOW_CARRIER_STATES`) is suppressed
    (``carrier_rule``): ingestion refuses such tapes, so this only fails closed.
    """
    stored = disclosures.stored_table(db.conn, snap.pool_id, snap.snapshot_id, EXACT_REPORT)
    if stored is not None:
        return stored
    lanes = snap.lanes
    cfg = get_pool(db, snap.pool_id).config
    rows = [] if snap.strata is None else [(r["dimension"], r["cell"]) for r in snap.strata["rows"]]
    linked = (link := link_rows.get_link(db, snap.pool_id, snap.cutoff_date)) is not None and (
        link.status == "linked"
    )
    cohorts = {
        f: c
        for f in exact_figure_ids(policy, lanes, rows, linked=linked)
        if (c := figure_cohort(lanes, f)) is not None
    }
    by_name = {c.name: c for c in cohorts.values()}
    flows_of = {
        f: {lane[5:] for lane, _ in lanes.metric(_inner_metric(f)) if lane.startswith("flow_")}
        for f in cohorts
        if not f.startswith("roll/")  # a roll figure sums counts and balances, never a flow
    }
    members: dict[str, set[int]] = {name: set() for name in by_name}
    broken: set[str] = set()
    every: set[int] = set()
    owner: dict[int, int] = {}
    for loan, obligor, state, labels, flows in _loan_states(db, keys, snap, cfg):
        every.add(loan)
        owner[loan] = obligor
        for name, c in by_name.items():
            if c.holds(state, labels):
                members[name].add(loan)
        for flow, carriers in FLOW_CARRIER_STATES.items():
            if flows.get(flow, 0) and state not in carriers:
                broken |= {c.name for f, c in cohorts.items() if flow in flows_of.get(f, ())}
    k = policy.aggregates.min_cohort
    with transaction(db) as conn:
        stored = disclosures.stored_table(conn, snap.pool_id, snap.snapshot_id, EXACT_REPORT)
        if stored is not None:
            return stored
        led_state = disclosures.ledger_state(conn, snap.pool_id)
        ledger = ReleaseLedger() if led_state is None else ReleaseLedger.from_dict(led_state)
        ledger.add_owners(owner)
        pool_cell = Cell(POOL_CELL, frozenset(every))
        priority = {
            n: min(policy.release_priority(f) for f, c in cohorts.items() if c.name == n) for n in by_name
        }
        order = sorted(
            (n for n in by_name if n not in broken), key=lambda n: (priority[n], -len(members[n]), n)
        )
        cells = [Cell(f"{EXACT_REPORT}:{n}", frozenset(members[n]), by_name[n].group) for n in order]
        top, decided = plan_release(ledger, pool_cell, cells, k)
        if top.released:
            record_release(ledger, snap.snapshot_id, pool_cell, cells, decided)
        checks = {n: decided[f"{EXACT_REPORT}:{n}"].check for n in order}
        checks.update(dict.fromkeys(sorted(broken), "carrier_rule"))
        released = {n for n in order if decided[f"{EXACT_REPORT}:{n}"].released}
        doc = {
            "format": EXACT_TABLE_FORMAT,
            "pool_id": snap.pool_id,
            "snapshot_id": snap.snapshot_id,
            "cutoff_date": snap.cutoff_date,
            "report_id": EXACT_REPORT,
            "min_cohort": k,
            "pool_check": top.check,
            "checks": checks,
            "figures": {f: c.name for f, c in sorted(cohorts.items())},
            "released": sorted(f for f, c in cohorts.items() if c.name in released),
        }
        disclosures.insert_table(conn, snap.pool_id, snap.snapshot_id, EXACT_REPORT, doc)
        disclosures.save_ledger_state(conn, snap.pool_id, ledger.to_dict())
    return doc


def exact_figure_decisions(
    db: sqlite_utils.Database,
    policy: Policy,
    party: Party,
    keys: PoolKeys,
    snap: SnapshotRecord,
    figure_ids: Sequence[str],
) -> list[Decision]:
    """Whether each exact figure may leave for an aggregate-only ``party``, one decision each
    (``AGGREGATE_ONLY``: released; ``DENY``: suppressed; the rule named ``aggregates.<check>``).

    Call only after the policy allowed the exact claim (:meth:`Policy.may_request_claim`); a figure
    the exact release table does not hold is suppressed (``aggregates.not_registered``).
    """
    table = exact_release_table(db, keys, policy, snap)
    out: list[Decision] = []
    for fid in figure_ids:
        cohort = table["figures"].get(fid)
        check = table["checks"].get(cohort, "not_registered") if cohort else "not_registered"
        released = fid in table["released"]
        out.append(
            Decision(
                decision_id=uuid.uuid4().hex,
                party_id=party.id,
                role=party.role,
                field=f"exact:{fid}",
                purpose="claim",
                transform=Transform.AGGREGATE_ONLY if released else Transform.DENY,
                params={},
                rule_ids=(f"aggregates.{check}",),
                reason="released" if released else "suppressed",
                policy_version=policy.version,
                pool_id=snap.pool_id,
            )
        )
    return out


# --- claims ------------------------------------------------------------------------------------------------
def is_exact_claim(statement: ClaimStatement) -> bool:
    """A disclosure, or a two-sided bound whose ends are equal (it pins the value exactly)."""
    if isinstance(statement, Disclosure):
        return True
    if isinstance(statement, BoundClaim):
        return statement.lo is not None and statement.lo == statement.hi
    if isinstance(statement, RatioBetweenClaim):
        return statement.lo_p * statement.hi_q == statement.hi_p * statement.lo_q
    return False


def claim_kind(statement: ClaimStatement) -> str:
    """The policy's claim kind: ``exact`` for anything that pins a value, ``threshold`` otherwise."""
    return "exact" if is_exact_claim(statement) else "threshold"


def claim_questions(statement: ClaimStatement) -> list[tuple[str, int, str]]:
    """The (metric, threshold, direction) questions a range claim answers one bit each of."""
    thresholds = guard_thresholds(statement)
    directions: Sequence[str]
    if isinstance(statement, RatioClaim):
        directions = [statement.op]
    elif isinstance(statement, RatioBetweenClaim):
        directions = [">=", "<="]
    elif isinstance(statement, BoundClaim):
        directions = [d for d, t in ((">=", statement.lo), ("<=", statement.hi)) if t is not None]
    else:
        directions = []
    return [(m, t, d) for (m, t), d in zip(thresholds, directions, strict=True)]


def _budget_decision(
    p: Party, policy: Policy, pool_id: str, key: str, allowed: bool, check: str, detail: str
) -> Decision:
    return Decision(
        decision_id=uuid.uuid4().hex,
        party_id=p.id,
        role=p.role,
        field=f"claim:threshold:{key}",
        purpose="claim",
        transform=Transform.RAW if allowed else Transform.DENY,
        params={},
        rule_ids=(f"aggregates.{check}",),
        reason=detail,
        policy_version=policy.version,
        pool_id=pool_id,
    )


def spend_claim_budget(
    db: sqlite_utils.Database, policy: Policy, p: Party, snap: SnapshotRecord, statement: ClaimStatement
) -> list[Decision]:
    """Ask the budget about every question of ``statement``, atomically: all granted (and recorded) or none.

    The budget belongs to the party (every API key of it shares it) and the snapshot. Raises
    :class:`ClaimRefused` when a question is over budget; nothing is then recorded.
    """
    out: list[Decision] = []
    with transaction(db) as conn:
        stored_state = disclosures.claim_guard_state(conn)
        state = GuardState() if stored_state is None else GuardState.from_dict(stored_state)
        guard = AggregateGuard(policy.aggregates, state)
        for metric, threshold, direction in claim_questions(statement):
            d = guard.check_threshold_claim(
                p,
                pool_id=snap.pool_id,
                snapshot_id=snap.snapshot_id,
                metric=metric,
                threshold=threshold,
                direction=direction,
            )
            decision = _budget_decision(
                p, policy, snap.pool_id, f"{metric}{direction}{threshold}", d.allowed, d.check, d.detail
            )
            if not d.allowed:
                raise ClaimRefused(decision)
            out.append(decision)
        disclosures.save_claim_guard_state(conn, state.to_dict())
    return out
