"""What the dashboard's pages show, read through the same functions as the API, with the same logging.

Every figure of a pool comes from the functions the API's routes call: statistics through
:func:`gateway.snapshots.disclosure.controlled_stats` for an aggregate-only party (or
:func:`gateway.policy_views.pool_stats` for a party the policy shows loan-level data), snapshot metrics
through :func:`gateway.snapshots.disclosure.metrics_release`; each call appends its decisions to the
decision log as the API does. Nothing here reads a figure from storage around them: the page of a
party shows what the API would give that party, and the end-to-end tests compare the two.

Linked months: a bundle reader (trustee, regulator) sees each month's link as ``GET .../link`` answers
it (:func:`gateway.snapshots.links.stored_link`, the refused link's stored reason) and the opened roll
matrix of the latest linked month; an investor sees the roll-rate cells ``POST .../figures`` would
release, decided by :func:`gateway.snapshots.disclosure.exact_figure_decisions` (a released cell's value
is the link bundle's opened cell, the one its compact proof proves). Vintage curves come from
:func:`gateway.snapshots.vintage.vintage_curve`, the route's function, after the route's policy checks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from policies import DecisionLog, DecisionLogError

from ..api.common import get_db, get_log_db, keys_for, policy
from ..api.snapshots import METRICS_ROLES
from ..api.views import stats_body
from ..policy_views import DEFAULT_PURPOSE, policy_party
from ..snapshots.disclosure import is_aggregate_only, metrics_release
from ..snapshots.sealed import RATIO_GUARD_NAMES, SnapshotRecord, get_snapshot
from ..storage import decisions
from ..storage.records import PartyRecord, current_tape, get_pool, pool_ids
from ..storage.snapshots import SealJob, get_job, job_ids_of_pool
from ..storage.witnesses import cosignatures_of, get_witness


def pools_in_scope(party: PartyRecord) -> list[str]:
    """The pools a party may address: its own (platform), every pool (regulator), else its grants."""
    return pool_ids(get_db()) if party.role == "regulator" else list(party.pools)


def stats_answer(party: PartyRecord, pool_id: str, cutoff: str) -> dict[str, Any]:
    """The body ``GET /<audience>/pools/<pool>/cutoffs/<cutoff>/stats`` gives ``party`` (default purpose).

    Raises :class:`gateway.storage.records.NotFound` when the cut-off has no tape, or (aggregate-only
    parties) no sealed snapshot.
    """
    purpose = DEFAULT_PURPOSE[party.role]
    p = policy_party(party)
    db = get_db()
    tape = current_tape(db, pool_id, cutoff)
    snap = get_snapshot(db, pool_id, cutoff) if is_aggregate_only(policy(), p, purpose, pool_id) else None
    return stats_body(party, pool_id, cutoff, purpose, tape, snap)


def metrics_answer(party: PartyRecord, snap: SnapshotRecord) -> dict[str, Any] | None:
    """The body of ``GET .../snapshots/<cutoff>/metrics`` for ``party`` (None for roles without it)."""
    if party.role not in METRICS_ROLES:
        return None
    p = policy_party(party)
    metrics, ratios, withheld, decided = metrics_release(policy(), p, keys_for(snap.pool_id), snap)
    log = DecisionLog()
    log.append(decided, resource=f"pool:{snap.pool_id}/snapshot:{snap.snapshot_id}/metrics", record_count=1)
    decisions.persist(get_log_db(), log)
    return {
        "pool_id": snap.pool_id,
        "cutoff_date": snap.cutoff_date,
        "snapshot_id": snap.snapshot_id,
        "metrics": metrics,
        "ratios_bps": ratios,
        "withheld": withheld,
    }


@dataclass(frozen=True)
class TriggerStatus:
    """A registered deal trigger level tested against a released ratio."""

    name: str
    ratio: str
    level_bps: int
    value_bps: int | None

    @property
    def state(self) -> str:
        """``breached`` above the level, ``ok`` at or below it, ``unknown`` when the ratio is withheld."""
        if self.value_bps is None:
            return "unknown"
        return "breached" if self.value_bps > self.level_bps else "ok"


def trigger_statuses(ratios_bps: dict[str, int | None] | None) -> list[TriggerStatus]:
    """Each registered trigger level of the policy whose ratio the snapshot metrics name."""
    out: list[TriggerStatus] = []
    levels = policy().aggregates.registered_thresholds
    for (num, den), name in sorted(RATIO_GUARD_NAMES.items()):
        ratio = f"{num}/{den}_bps"
        if ratios_bps is not None and ratio not in ratios_bps:
            continue  # another statement's ratio (dpd5 and the pool statement name the 90+ ratio apart)
        value = None if ratios_bps is None else ratios_bps.get(ratio)
        for level in levels.get(name, ()):
            out.append(TriggerStatus(name, ratio, level, value))
    return out


def cosigned_by(snap: SnapshotRecord) -> list[dict[str, Any]]:
    """Who cosigned the snapshot's header (the listing of ``GET .../cosignatures``)."""
    db = get_db()
    out = []
    for doc in cosignatures_of(db, snap.snapshot_id):
        witness = get_witness(db, doc["key_id"])
        name = witness.name if witness is not None else "(unregistered)"
        out.append({"key_id": doc["key_id"], "name": name, "cosigned_at": doc["cosigned_at"]})
    return out


def cosignature_listing(snap: SnapshotRecord) -> dict[str, Any]:
    """The body of ``GET .../snapshots/<cutoff>/cosignatures``."""
    return {
        "pool_id": snap.pool_id,
        "cutoff_date": snap.cutoff_date,
        "snapshot_id": snap.snapshot_id,
        "header_hash": snap.header_hash.hex(),
        "cosigned_by": cosigned_by(snap),
        "cosignatures": list(cosignatures_of(get_db(), snap.snapshot_id)),
    }


def seal_jobs(pool_id: str) -> list[SealJob]:
    """The pool's seal jobs, newest first."""
    db = get_db()
    return [get_job(db, job_id) for job_id in job_ids_of_pool(db, pool_id)]


@dataclass(frozen=True)
class LogCheck:
    """The decision log's verification from genesis: entries, or the failed check."""

    entries: int
    error: str | None


def decision_log_check() -> LogCheck:
    """Verify the stored decision-log chain (as ``GET /admin/decision-log/verify`` does)."""
    try:
        return LogCheck(decisions.verify_stored_log(get_log_db()), None)
    except DecisionLogError as exc:
        return LogCheck(0, str(exc))


def pool_currency(pool_id: str) -> tuple[str, str]:
    """(currency, minor unit) of a pool."""
    cfg = get_pool(get_db(), pool_id).config
    return cfg.currency, cfg.minor_unit


# --- the deal: trigger statuses per period, the latest waterfall, alerts and their deliveries -------------
def payment_report_answer(party: PartyRecord, pool_id: str, report: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /<audience>/pools/<pool>/payment-reports/<cutoff>`` gives ``party`` for ``report``: the
    whole report, or (an aggregate-only party, or one the policy refuses any exact figure of the report)
    its trigger-status view: :func:`gateway.api.deal.report_for_party`, the route's own decision and
    log entry (the end-to-end tests compare the page with the API)."""
    from ..api.deal import report_for_party

    return report_for_party(party, pool_id, report)


def _deliveries(
    party: PartyRecord, pool_id: str, alert_id: str, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each delivery of the alert to the party's own webhooks, from the decision log's attempt entries."""
    from ..alerts import store

    own = {h.webhook_id: h.url for h in store.webhooks(get_db()) if h.party_id == party.id}
    prefix = f"pool:{pool_id}/alerts/{alert_id}/webhook:"
    attempts: dict[str, list[str]] = {}
    for entry in entries:
        resource = str(entry.get("resource") or "")
        if not resource.startswith(prefix):
            continue
        webhook_id = resource.removeprefix(prefix).split("/", 1)[0]
        if webhook_id in own:
            attempts.setdefault(webhook_id, []).extend(str(e) for e in entry.get("events", ()))
    out = []
    for webhook_id, url in own.items():
        events = attempts.get(webhook_id, [])
        state = (
            "delivered" if "alert.webhook.delivered" in events else "failed" if events else "not attempted"
        )
        out.append({"webhook_id": webhook_id, "url": url, "state": state, "attempts": len(events)})
    return out


def deal_panel(party: PartyRecord, pool_id: str) -> dict[str, Any] | None:
    """The pool's deal as the party may see it, or None when the pool has no registered deal.

    Every published payment report passes :func:`payment_report_answer`, so a party given the
    trigger-status view sees statuses only (no waterfall line, no cumulative figure). Alerts, with the
    delivery state of each of the party's own webhooks, are shown to the alert audiences only.
    """
    from ..alerts import deal_records, store
    from ..alerts.deal_records import DealMissing
    from ..storage import deals as deal_rows

    db = get_db()
    try:
        deal = deal_records.current_deal(db, pool_id)
    except DealMissing:
        return None
    answers: list[dict[str, Any]] = []
    period = 1
    while (stored := deal_rows.report_of_period(db, pool_id, period)) is not None:
        answers.append(payment_report_answer(party, pool_id, stored))
        period += 1
    whole = [a for a in answers if a.get("view") != "trigger-status"]
    periods = []
    for a in answers:
        after = a.get("state_after", {}).get("triggers", {}) if "state_after" in a else {}
        statuses = []
        for entry in a["triggers"]:
            t = deal.trigger(entry["id"])
            statuses.append(
                {
                    "id": t.id,
                    "kind": t.kind,
                    "level_bps": None if t.kind == "excess_spread" else t.level_bps,
                    "effect": t.effect,
                    "breached": bool(entry["breached"]),
                    "in_effect": after[t.id]["in_effect"] if t.id in after else None,
                }
            )
        cdr = a.get("cumulative_default_rate")
        periods.append(
            {
                "period": a["period"],
                "cutoff_date": a["cutoff_date"],
                "view": "trigger-status" if a.get("view") == "trigger-status" else "whole",
                "triggers": statuses,
                "cdr_ppm": None if cdr is None else cdr["ppm"],
            }
        )
    latest = whole[-1] if whole else None
    waterfall = None
    if latest is not None:
        waterfall = {
            "period": latest["period"],
            "cutoff_date": latest["cutoff_date"],
            "lines": [(str(n), int(v)) for n, v in latest["lines"]],
            "switches": latest["switches"],
        }
    alerts = None
    if party.role in store.ALERT_ROLES:
        raised = store.list_alerts(db, pool_id)
        entries = decisions.load_entries(get_log_db()) if raised else []
        alerts = [
            {**a, "deliveries": _deliveries(party, pool_id, str(a["alert_id"]), entries)} for a in raised
        ]
    limits = [
        {"id": x.id, "dimension": x.dimension, "max_share_bps": x.max_share_bps}
        for x in deal.concentration_limits
    ]
    return {
        "deal_id": deal.deal_id,
        "version": deal.version,
        "triggers": [{"id": t.id, "kind": t.kind, "level_bps": t.level_bps, "effect": t.effect}
                     for t in deal.triggers],
        "periods": periods,
        "waterfall": waterfall,
        "alerts": alerts,
        "limits": limits,
    }  # fmt: skip


# --- linked months: roll matrices and roll-rate cells -------------------------------------------------------
def rate_bps(numerator: int, denominator: int) -> int | None:
    """``numerator / denominator`` in basis points, rounded half up; ``None`` over an empty denominator."""
    if denominator <= 0:
        return None
    return (20_000 * numerator + denominator) // (2 * denominator)


def link_states(snaps: list[SnapshotRecord]) -> list[dict[str, Any]]:
    """Each snapshot's link to the month before, as ``GET .../snapshots/<cutoff>/link`` answers a bundle
    reader: ``linked`` (with the bundle), ``refused`` (with the stored reason) or ``not linked`` (the
    pool's first month, or a lane set that does not link; with the route's message)."""
    from ..snapshots.links import NotLinked, stored_link
    from ..storage import links as link_rows

    db = get_db()
    out: list[dict[str, Any]] = []
    for snap in snaps:
        link = link_rows.get_link(db, snap.pool_id, snap.cutoff_date)
        entry: dict[str, Any] = {"cutoff_date": snap.cutoff_date, "bundle": None}
        if link is not None and link.status == "refused":
            entry.update(status="refused", reason=link.reason)
        else:
            try:
                entry.update(status="linked", reason=None, bundle=stored_link(db, snap).bundle)
            except NotLinked as exc:
                entry.update(status="not linked", reason=str(exc))
        out.append(entry)
    return out


def roll_matrix(bundle: dict[str, Any]) -> dict[str, Any]:
    """A link bundle's opened roll matrix as a page shows it to a bundle reader: counts with their row
    totals and roll rates by count (cell / row total, bps), and the t−1 balances of the outstanding
    from-states with their rates by balance (docs/metrics.md, "Roll rates")."""
    roll = bundle["roll"]
    states = list(roll["from_states"])
    rows = []
    for i, state in enumerate(states):
        counts = [int(v) for v in roll["counts"][i]]
        total = sum(counts)
        row: dict[str, Any] = {
            "from": state,
            "counts": counts,
            "count_total": total,
            "count_rates_bps": [rate_bps(c, total) for c in counts],
            "balances": None,
        }
        if i < len(roll["balances"]):
            balances = [int(v) for v in roll["balances"][i]]
            row["balances"] = balances
            row["balance_total"] = sum(balances)
            row["balance_rates_bps"] = [rate_bps(b, row["balance_total"]) for b in balances]
        rows.append(row)
    return {
        "previous_cutoff": bundle["previous"]["cutoff_date"],
        "cutoff_date": bundle["current"]["cutoff_date"],
        "kept": int(bundle["kept"]),
        "states": states,
        "rows": rows,
        "exits_by_state": [int(v) for v in bundle["exits"]["by_state"]],
        "entries": len(bundle["entries"]),
    }


def link_panel(party: PartyRecord, pool_id: str, snaps: list[SnapshotRecord]) -> dict[str, Any]:
    """The pool's linked months for a bundle reader (trustee, regulator): every month's link state and
    the roll matrix of the latest linked month (``None`` when no month is linked)."""
    states = link_states(snaps)
    linked = [s for s in states if s["status"] == "linked"]
    return {
        "months": [{k: v for k, v in s.items() if k != "bundle"} for s in states],
        "matrix": roll_matrix(linked[-1]["bundle"]) if linked else None,
    }


def investor_roll_cells(party: PartyRecord, pool_id: str, snaps: list[SnapshotRecord]) -> dict[str, Any]:
    """The roll-rate cells of the latest linked month as ``POST .../snapshots/<cutoff>/figures`` would
    release them to ``party`` (an aggregate-only party: every cell through the disclosure-control point).

    Each ``roll/count/<from>/<to>`` and ``roll/balance/<from>/<to>`` figure is decided by the route's
    calls: :meth:`Policy.may_request_claim` (exact), then for an aggregate-only party
    :func:`gateway.snapshots.disclosure.exact_figure_decisions` on the figures and their rows' totals
    (``roll/row/<from>``); a count cell is released only with its row total, as the route releases it.
    The decisions are logged as the route logs them. A released cell's value is the link bundle's
    opened cell, the value the route's compact proof proves (:func:`proofs.link.prove_roll_figure`
    reads the same bundle); a withheld or suppressed cell carries no value.
    """
    from proofs.loan_facts import OUTSTANDING_STATES, STATES

    from ..snapshots.disclosure import exact_figure_decisions, parse_roll_figure

    states = link_states(snaps)
    linked = [s for s in states if s["status"] == "linked"]
    latest = states[-1] if states else None
    panel: dict[str, Any] = {
        "latest_status": None if latest is None else latest["status"],
        "latest_cutoff": None if latest is None else latest["cutoff_date"],
        "cutoff_date": None,
        "rows": [],
    }
    if not linked:
        return panel
    bundle = linked[-1]["bundle"]
    snap = next(s for s in snaps if s.cutoff_date == linked[-1]["cutoff_date"])
    p = policy_party(party)
    ids = [f"roll/count/{i}/{j}" for i in STATES for j in STATES]
    ids += [f"roll/balance/{i}/{j}" for i in OUTSTANDING_STATES for j in STATES]
    decided = [policy().may_request_claim(p, "exact", fid, pool_id=pool_id) for fid in ids]
    allowed = {fid: d.allowed for fid, d in zip(ids, decided, strict=True)}
    released = dict(allowed)
    rows_released: dict[str, bool] = dict.fromkeys(STATES, True)
    if is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id):
        asked = [fid for fid in ids if allowed[fid]]
        row_ids = [f"roll/row/{i}" for i in STATES]
        gate = exact_figure_decisions(get_db(), policy(), p, keys_for(pool_id), snap, asked + row_ids)
        decided += gate
        ok = {fid: d.allowed for fid, d in zip(asked + row_ids, gate, strict=True)}
        rows_released = {i: ok[f"roll/row/{i}"] for i in STATES}
        for fid in ids:
            parsed = parse_roll_figure(fid)
            assert parsed is not None
            by, i, _ = parsed
            released[fid] = allowed[fid] and ok[fid] and (by != "count" or rows_released[i])
    roll = bundle["roll"]
    rows = []
    for a, i in enumerate(STATES):
        counts = [int(v) for v in roll["counts"][a]]
        total = sum(counts)
        row: dict[str, Any] = {"from": i, "count_cells": [], "balance_cells": None, "row_total": None}
        for b, j in enumerate(STATES):
            fid = f"roll/count/{i}/{j}"
            row["count_cells"].append(_roll_cell(fid, allowed[fid], released[fid], counts[b], total))
        if any("value" in c for c in row["count_cells"]):
            row["row_total"] = total  # the route gives it with each released count cell
        if a < len(OUTSTANDING_STATES):
            row["balance_cells"] = []
            for b, j in enumerate(STATES):
                fid = f"roll/balance/{i}/{j}"
                value = int(roll["balances"][a][b])
                row["balance_cells"].append(_roll_cell(fid, allowed[fid], released[fid], value, None))
        rows.append(row)
    log = DecisionLog()
    shown = sum(1 for r in rows for c in r["count_cells"] + (r["balance_cells"] or []) if "value" in c)
    log.append(decided, resource=f"pool:{pool_id}/snapshot:{snap.snapshot_id}/figures", record_count=shown)
    decisions.persist(get_log_db(), log)
    panel.update(
        cutoff_date=snap.cutoff_date,
        previous_cutoff=bundle["previous"]["cutoff_date"],
        states=list(STATES),
        rows=rows,
        min_cohort=policy().aggregates.min_cohort,
    )
    return panel


def _roll_cell(fid: str, allowed: bool, released: bool, value: int, total: int | None) -> dict[str, Any]:
    from ..snapshots.disclosure import suppressed_figure

    if not allowed:
        return {"figure_id": fid, "withheld": True}
    if not released:
        return {"figure_id": fid, **suppressed_figure(policy())}
    cell: dict[str, Any] = {"figure_id": fid, "value": value}
    if total is not None:
        cell["rate_bps"] = rate_bps(value, total)
    return cell


# --- vintage curves -----------------------------------------------------------------------------------------
VINTAGE_CACHE = "poolproof_dashboard_vintage"
_VINTAGE_CACHE_SIZE = 256
_VINTAGE_CACHE_LOCK = threading.Lock()


def vintage_panel(party: PartyRecord, pool_id: str) -> dict[str, Any]:
    """Every cohort's vintage curve as ``GET .../vintage/<cohort>?nonce=`` answers ``party``.

    Per cohort the route's calls: the policy's exact decisions on the cohort cell's figures (a refused
    cohort is listed with the rule, no point), then :func:`gateway.snapshots.vintage.vintage_curve`
    (aggregate-only parties: each point through the release ledger; a suppressed point is the fixed
    suppression object), logged as the route logs it. The curve's bundle is bound to a fresh nonce and
    not shown (the party's own tool asks for its own). The answer's points depend only on the chain and
    the release tables stored for it, so they are kept per chain for the page's next visit.
    """
    import secrets

    from flask import current_app

    from proofs.cell_claims import cell_metric
    from proofs.errors import EncodingError, VerificationError
    from proofs.vintage import DIMENSION

    from ..api.common import header_signer
    from ..api.vintage import CURVE_FIGURES
    from ..snapshots.vintage import VintageUnavailable, chain_of, cohorts_of, vintage_curve

    db = get_db()
    try:
        snaps = chain_of(db, pool_id)
    except VintageUnavailable as exc:
        return {"available": False, "reason": str(exc), "cohorts": []}
    p = policy_party(party)
    aggregate_only = is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id)
    cfg = get_pool(db, pool_id).config
    cache: dict[tuple[Any, ...], dict[str, Any]] = current_app.extensions.setdefault(VINTAGE_CACHE, {})
    cohorts: list[dict[str, Any]] = []
    for cohort in cohorts_of(snaps):
        resource = f"pool:{pool_id}/vintage:{cohort[:16]}"
        decided = [
            policy().may_request_claim(p, "exact", cell_metric(DIMENSION, cohort, f), pool_id=pool_id)
            for f in CURVE_FIGURES
        ]
        refused = [d for d in decided if not d.allowed]
        log = DecisionLog()
        if refused:
            log.append(decided, resource=resource, record_count=0)
            decisions.persist(get_log_db(), log)
            cohorts.append({"cohort": cohort, "refused": f"[{refused[0].rule_ids[0]}] {refused[0].reason}"})
            continue
        key = (pool_id, tuple(s.snapshot_id for s in snaps), cohort, aggregate_only, policy().version)
        with _VINTAGE_CACHE_LOCK:
            body = cache.get(key)
        released = 0
        if body is None:
            try:
                answer = vintage_curve(
                    db,
                    keys_for(pool_id),
                    policy(),
                    pool_id,
                    cohort,
                    secrets.token_bytes(16),
                    header_signer(snaps[-1]),
                    aggregate_only=aggregate_only,
                    minor_unit=cfg.minor_unit,
                    currency=cfg.currency,
                )
            except (EncodingError, VerificationError) as exc:
                log.append(decided, resource=resource, record_count=0)
                decisions.persist(get_log_db(), log)
                cohorts.append({"cohort": cohort, "refused": str(exc)})
                continue
            body = {k: v for k, v in answer.body.items() if k != "bundle"}
            released = answer.released_points
            with _VINTAGE_CACHE_LOCK:
                while len(cache) >= _VINTAGE_CACHE_SIZE:
                    cache.pop(next(iter(cache)))
                cache[key] = body
        else:
            released = sum(1 for pt in body["points"] if "numerator" in pt["cumulative_default_rate"])
        log.append(decided, resource=resource, record_count=released)
        decisions.persist(get_log_db(), log)
        points = []
        for pt in body["points"]:
            cdr = pt["cumulative_default_rate"]
            entry: dict[str, Any] = {"cutoff_date": pt["cutoff_date"], "months_on_book": pt["months_on_book"]}
            if "numerator" in cdr:
                entry.update(
                    numerator=int(cdr["numerator"]),
                    denominator=int(cdr["denominator"]),
                    rate_bps=rate_bps(int(cdr["numerator"]), int(cdr["denominator"])),
                )
            else:
                entry["suppressed"] = dict(cdr)
            points.append(entry)
        cohorts.append({"cohort": cohort, "points": points})
    return {"available": True, "reason": None, "cohorts": cohorts}


def vintage_chart(pool_id: str, panel: dict[str, Any]) -> dict[str, Any] | None:
    """The chart of a vintage panel: cumulative default rate (bps) by months on book, one line per
    cohort; a suppressed point, or a month on book the cohort has no point at, is a gap."""
    curves = [c for c in panel["cohorts"] if "points" in c]
    if not curves:
        return None
    x = sorted({pt["months_on_book"] for c in curves for pt in c["points"]})
    series = []
    for c in curves:
        at = {pt["months_on_book"]: pt.get("rate_bps") for pt in c["points"]}
        series.append({"name": c["cohort"], "values": [at.get(m) for m in x]})
    return {
        "id": f"chart-{pool_id}-vintage",
        "kind": "line",
        "title": f"{pool_id}: vintage curves, cumulative default rate by months on book",
        "unit": "bps",
        "x": x,
        "series": series,
        "pool_id": pool_id,
    }
