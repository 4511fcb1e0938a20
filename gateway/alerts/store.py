"""Alerts and webhook subscriptions, kept in the gateway database (:mod:`gateway.storage.alerts`)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..storage import alerts as alert_rows
from ..storage.db import now, transaction

#: The audiences that receive deal alerts.
ALERT_ROLES = ("trustee", "regulator")


@dataclass(frozen=True)
class Webhook:
    """A party's webhook: where alerts are POSTed and the HMAC key that signs them."""

    webhook_id: str
    party_id: str
    role: str
    url: str
    secret: str


def store_alerts(db: sqlite_utils.Database, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store new alerts; one raised again for the same pool, deal, period and subject is not repeated.

    Returns the alerts that were new."""
    with transaction(db) as conn:
        return [a for a in alerts if alert_rows.insert_alert(conn, a)]


def list_alerts(db: sqlite_utils.Database, pool_id: str, *, since: str | None = None) -> list[dict[str, Any]]:
    """The pool's alerts, oldest first (``since``: raised strictly after this UTC time)."""
    return alert_rows.alerts_of(db, pool_id, since or "")


def register_webhook(db: sqlite_utils.Database, party_id: str, role: str, url: str) -> Webhook:
    """A new webhook for ``party_id`` with a fresh 256-bit HMAC key (shown to the party once)."""
    hook = Webhook(uuid.uuid4().hex, party_id, role, url, secrets.token_hex(32))
    with transaction(db) as conn:
        alert_rows.insert_webhook(conn, hook.webhook_id, party_id, role, url, hook.secret, now())
    return hook


def webhooks(db: sqlite_utils.Database) -> list[Webhook]:
    """Every registered webhook, oldest first."""
    return [Webhook(*r) for r in alert_rows.webhook_rows(db)]
