"""Alerts raised from a payment report: a breached trigger, or a switch of the deal it causes; and
from the period's purchase-eligibility statement when it does not hold.

The statuses come from the report's proofs (the report was verified before it was stored), so an
alert says what the committed figures prove. Each new alert is stored once, logged in the decision
log, and POSTed to every trustee and regulator webhook; every delivery attempt is logged too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from policies import DecisionLog
from proofs.deal import Deal, deal_hash
from proofs.payment_report import report_hash

from ..storage import decisions
from ..storage.db import now
from . import store, webhooks

ALERT_FORMAT = "poolproof/deal-alert/v1"


def alerts_from_report(report: Mapping[str, Any], deal: Deal, *, raised_at: str) -> list[dict[str, Any]]:
    """The alerts a verified payment report raises (pure: no storage)."""
    base = {
        "format": ALERT_FORMAT,
        "pool_id": report["pool_id"],
        "deal_id": deal.deal_id,
        "deal_hash": deal_hash(deal).hex(),
        "period": report["period"],
        "cutoff_date": report["cutoff_date"],
        "report_hash": report_hash(report).hex(),
        "raised_at": raised_at,
    }
    after = report["state_after"]
    out = []
    for entry in report["triggers"]:
        if not entry["breached"]:
            continue
        t = deal.trigger(entry["id"])
        out.append(
            {
                **base,
                "subject": f"trigger:{t.id}",
                "trigger": {"id": t.id, "kind": t.kind, "level_bps": t.level_bps, "effect": t.effect},
                "breached": True,
                "in_effect": after["triggers"][t.id]["in_effect"],
            }
        )
    if after["revolving_ended"] and not report["state_before"]["revolving_ended"]:
        out.append({**base, "subject": "switch:revolving_period_ended"})
    if report["switches"]["principal_mode"] == "sequential" and deal.principal_mode == "pro_rata":
        out.append({**base, "subject": "switch:sequential_principal"})
    for a in out:
        a["alert_id"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{a['report_hash']}/{a['subject']}").hex
    return out


def alerts_from_eligibility(
    statement: Mapping[str, Any], deal: Deal, report: Mapping[str, Any], *, raised_at: str
) -> list[dict[str, Any]]:
    """The alert a verified eligibility statement that does not hold raises (pure: no storage).

    It names the failed criteria only: the failing loans are in the statement, which the trustee and
    the regulator (the alerts' only recipients) fetch from the gateway.
    """
    if statement["holds"]:
        return []
    alert = {
        "format": ALERT_FORMAT,
        "pool_id": statement["pool_id"],
        "deal_id": deal.deal_id,
        "deal_hash": deal_hash(deal).hex(),
        "period": report["period"],
        "cutoff_date": statement["cutoff_date"],
        "report_hash": report_hash(report).hex(),
        "raised_at": raised_at,
        "subject": "eligibility:does_not_hold",
        "failed": list(statement["failed"]),
        "purchased": statement["purchased"],
    }
    alert["alert_id"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{alert['report_hash']}/{alert['subject']}").hex
    return [alert]


@dataclass
class Raised:
    """What :func:`raise_alerts` did."""

    alerts: list[dict[str, Any]]
    deliveries: dict[str, list[webhooks.Attempt]] = field(default_factory=dict)


def _log(log: DecisionLog, alert: Mapping[str, Any], event: str, resource: str, policy_version: str) -> None:
    log.append_view(
        decision_id=uuid.uuid4().hex,
        party_id="gateway",
        role="system",
        purpose="deal_alert",
        resource=resource,
        pool_id=str(alert["pool_id"]),
        events=[event],
        fields={},
        record_count=0,
        policy_version=policy_version,
    )


def raise_alerts(
    db: sqlite_utils.Database,
    log_db: sqlite_utils.Database,
    report: Mapping[str, Any],
    deal: Deal,
    *,
    policy_version: str,
    send: webhooks.Sender = webhooks.post,
    sleep: Any = None,
    eligibility: Mapping[str, Any] | None = None,
) -> Raised:
    """Store, log and deliver the report's new alerts (an alert already raised is not sent again),
    with the eligibility statement's when it does not hold."""
    raised_at = now()
    found = alerts_from_report(report, deal, raised_at=raised_at)
    if eligibility is not None:
        found += alerts_from_eligibility(eligibility, deal, report, raised_at=raised_at)
    fresh = store.store_alerts(db, found)
    result = Raised(fresh)
    log = DecisionLog()
    hooks = [h for h in store.webhooks(db) if h.role in store.ALERT_ROLES]
    for alert in fresh:
        resource = f"pool:{alert['pool_id']}/alerts/{alert['alert_id']}"
        _log(log, alert, "alert.raised", resource, policy_version)
        body = json.dumps(alert, sort_keys=True).encode()
        for hook in hooks:
            kwargs: dict[str, Any] = {"send": send}
            if sleep is not None:
                kwargs["sleep"] = sleep
            attempts = webhooks.deliver(hook.url, hook.secret, body, **kwargs)
            result.deliveries[f"{alert['alert_id']}:{hook.webhook_id}"] = attempts
            for a in attempts:
                event = "alert.webhook.delivered" if a.ok else "alert.webhook.failed"
                where = f"{resource}/webhook:{hook.webhook_id}/attempt:{a.number}"
                _log(log, alert, event, where, policy_version)
    decisions.persist(log_db, log)
    return result
