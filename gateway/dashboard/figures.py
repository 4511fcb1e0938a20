"""What the dashboard's pages show, read through the same functions as the API, with the same logging.

Every figure of a pool comes from the functions the API's routes call: statistics through
:func:`gateway.snapshots.disclosure.controlled_stats` for an aggregate-only party (or
:func:`gateway.policy_views.pool_stats` for a party the policy shows loan-level data), snapshot metrics
through :func:`gateway.snapshots.disclosure.metrics_release`; each call appends its decisions to the
decision log as the API does. Nothing here reads a figure from storage around them: the page of a
party shows what the API would give that party, and the end-to-end tests compare the two.
"""

from __future__ import annotations

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
    its trigger-status view. The rule of :class:`gateway.api.deal.PaymentReport`, decided from the same
    policy calls and logged as the route logs it (the end-to-end tests compare the page with the API)."""
    import uuid

    from policies import Transform
    from policies.decision import Decision

    from ..alerts.deal_records import trigger_view
    from ..api.deal import EXACT_FIGURES

    p = policy_party(party)
    decided = [policy().may_request_claim(p, "exact", m, pool_id=pool_id) for m in EXACT_FIGURES]
    aggregate_only = is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id)
    whole = all(d.allowed for d in decided) and not aggregate_only
    entry = Decision(
        decision_id=uuid.uuid4().hex,
        party_id=p.id,
        role=p.role,
        field="payment_report:triggers",
        purpose="claim",
        transform=Transform.RAW,
        params={},
        rule_ids=("aggregates.registered_threshold",),
        reason="trigger levels are the deal's registered thresholds",
        policy_version=policy().version,
        pool_id=pool_id,
    )
    log = DecisionLog()
    resource = f"pool:{pool_id}/cutoff:{report['cutoff_date']}/payment-report"
    log.append([*decided, entry], resource=resource, record_count=1 if whole else 0)
    decisions.persist(get_log_db(), log)
    return report if whole else trigger_view(report)


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
