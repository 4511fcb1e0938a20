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

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    loan_digest,
    obligor_digest,
    plan_release,
    record_release,
)
from policies.catalogue import DEFAULT_CATALOGUE
from policies.policy import Decision
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim

from . import decisions
from .db import transaction
from .keyring import PoolKeys
from .pools import PoolConfig
from .snapshots import SnapshotRecord, guard_thresholds, lane_totals, metrics_report, snapshot_tape_id
from .storage import PartyRecord, get_pool, get_tape, iter_loans
from .views import STAT_FIELDS, policy_party

TABLE_FORMAT = "poolproof/release-table/v1"
POOL_CELL = "pool"
APR_CELL = "with_apr"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS disclosure_ledger (pool_id TEXT PRIMARY KEY, state TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS disclosure_tables (pool_id TEXT NOT NULL, snapshot_id TEXT NOT NULL, "
    "document TEXT NOT NULL, PRIMARY KEY (pool_id, snapshot_id))",
)


class ClaimRefused(Exception):
    """The claim budget refuses a threshold; ``decision`` is what the decision log records."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(REFUSED)
        self.decision = decision


def suppressed_figure(policy: Policy) -> dict[str, Any]:
    """What stands in for a suppressed figure: the same object whatever the hidden value."""
    return {"suppressed": True, "reason": SUPPRESSED.format(k=policy.aggregates.min_cohort)}


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


# --- the release table of a sealed snapshot --------------------------------------------------------------
@dataclass
class _CellSums:
    loans: set[int]
    count: int = 0
    original: int = 0
    current: int = 0
    current_x_nominal: int = 0
    current_x_apr: int = 0


def _status_values() -> tuple[str, ...]:
    spec = DEFAULT_CATALOGUE.get("loan_status")
    return tuple(spec.enum_values) if spec is not None else ()


def _gather(
    db: sqlite_utils.Database, keys: PoolKeys, pool_id: str, cfg: PoolConfig, tape_id: int
) -> tuple[dict[str, _CellSums], dict[int, int]]:
    """Per-cell sums and loan memberships of a tape, and the loan -> obligor digests."""
    statuses = _status_values()
    cells: dict[str, _CellSums] = {POOL_CELL: _CellSums(set()), APR_CELL: _CellSums(set())}
    for label in cfg.dpd_labels:
        cells[f"dpd_bucket={label}"] = _CellSums(set())
    for st in statuses:
        cells[f"loan_status={st}"] = _CellSums(set())
    owner: dict[int, int] = {}
    tape = get_tape(db, tape_id)
    for stored in iter_loans(db, keys, tape):
        r = stored.record
        loan = loan_digest(pool_id, str(r["exposure_id"]))
        obl = obligor_digest(pool_id, str(r["obligor_pseudo_id"]))
        owner[loan] = obl
        cur = int(r.get("current_principal_fen", 0))
        apr = r.get("apr_all_in_bps")
        names = [POOL_CELL, f"dpd_bucket={r['dpd_bucket']}", f"loan_status={r.get('loan_status', 'UNKNOWN')}"]
        if apr is not None:
            names.append(APR_CELL)
        for name in names:
            c = cells.setdefault(name, _CellSums(set()))
            c.loans.add(loan)
            c.count += 1
            c.original += int(r.get("original_principal_fen", 0))
            c.current += cur
            c.current_x_nominal += cur * int(r.get("nominal_rate_bps", 0))
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


def _ensure_schema(conn: Any) -> None:
    for stmt in _SCHEMA:
        conn.execute(stmt)


def release_table(
    db: sqlite_utils.Database, keys: PoolKeys, policy: Policy, snap: SnapshotRecord
) -> dict[str, Any]:
    """The snapshot's release table: per cell, released figures or a suppression, decided once.

    The first request for a snapshot decides every cell against the pool's ledger and stores the
    table and the grown ledger in one transaction; every later request (any party) gets the stored
    table, so the same question always gets the same answer.
    """
    if "disclosure_tables" in db.table_names():  # read without taking the write lock
        row = db.conn.execute(
            "SELECT document FROM disclosure_tables WHERE pool_id = ? AND snapshot_id = ?",
            (snap.pool_id, snap.snapshot_id),
        ).fetchone()
        if row is not None:
            stored: dict[str, Any] = json.loads(row[0])
            return stored
    cfg = get_pool(db, snap.pool_id).config
    cells, owner = _gather(db, keys, snap.pool_id, cfg, snapshot_tape_id(db, snap))
    distinct = len(set(owner.values()))
    figures = _figures(cfg, cells, distinct)
    k = policy.aggregates.min_cohort
    with transaction(db) as conn:
        _ensure_schema(conn)
        row = conn.execute(
            "SELECT document FROM disclosure_tables WHERE pool_id = ? AND snapshot_id = ?",
            (snap.pool_id, snap.snapshot_id),
        ).fetchone()
        if row is not None:  # decided by a concurrent request meanwhile
            stored = json.loads(row[0])
            return stored
        led_row = conn.execute(
            "SELECT state FROM disclosure_ledger WHERE pool_id = ?", (snap.pool_id,)
        ).fetchone()
        ledger = ReleaseLedger.from_dict(json.loads(led_row[0])) if led_row else ReleaseLedger()
        ledger.add_owners(owner)
        pool_cell = Cell(POOL_CELL, frozenset(cells[POOL_CELL].loans))
        table_cells = [
            Cell(name, frozenset(c.loans), name.split("=", 1)[0] if "=" in name else None)
            for name, c in cells.items()
            if name != POOL_CELL
        ]
        top, decided = plan_release(ledger, pool_cell, table_cells, k)
        decided = {POOL_CELL: top, **decided}
        if top.released:
            record_release(ledger, snap.snapshot_id, pool_cell, table_cells, decided)
        doc = {
            "format": TABLE_FORMAT,
            "pool_id": snap.pool_id,
            "snapshot_id": snap.snapshot_id,
            "cutoff_date": snap.cutoff_date,
            "currency": cfg.currency,
            "minor_unit": cfg.minor_unit,
            "min_cohort": k,
            "checks": {name: d.check for name, d in decided.items()},
            "figures": {name: figures[name] for name, d in decided.items() if d.released},
        }
        conn.execute(
            "INSERT INTO disclosure_tables (pool_id, snapshot_id, document) VALUES (?, ?, ?)",
            (snap.pool_id, snap.snapshot_id, json.dumps(doc, sort_keys=True)),
        )
        conn.execute(
            "INSERT INTO disclosure_ledger (pool_id, state) VALUES (?, ?) "
            "ON CONFLICT(pool_id) DO UPDATE SET state = excluded.state",
            (snap.pool_id, json.dumps(ledger.to_dict(), sort_keys=True)),
        )
    return doc


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
        row = conn.execute("SELECT state FROM claim_guard WHERE id = 1").fetchone()
        state = GuardState.from_dict(json.loads(row[0])) if row else GuardState()
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
        conn.execute(
            "INSERT INTO claim_guard (id, state) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET state = excluded.state",
            (json.dumps(state.to_dict(), sort_keys=True),),
        )
    return out
