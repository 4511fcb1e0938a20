"""Alerts and webhook subscriptions, kept in the gateway database (tables created on first use)."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..storage.db import now, transaction

#: The audiences that receive deal alerts.
ALERT_ROLES = ("trustee", "regulator")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS deal_alerts (
        alert_id TEXT PRIMARY KEY, pool_id TEXT NOT NULL, deal_id TEXT NOT NULL, period INTEGER NOT NULL,
        cutoff_date TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, raised_at TEXT NOT NULL,
        UNIQUE (pool_id, deal_id, period, subject))""",
    """CREATE TABLE IF NOT EXISTS deal_webhooks (
        webhook_id TEXT PRIMARY KEY, party_id TEXT NOT NULL, role TEXT NOT NULL, url TEXT NOT NULL,
        secret TEXT NOT NULL, created_at TEXT NOT NULL)""",
)


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create the alert tables if they are missing (idempotent)."""
    with transaction(db) as conn:
        for statement in _SCHEMA:
            conn.execute(statement)


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
    ensure_tables(db)
    fresh = []
    with transaction(db) as conn:
        for a in alerts:
            cur = conn.execute(
                "INSERT OR IGNORE INTO deal_alerts VALUES (?,?,?,?,?,?,?,?)",
                (a["alert_id"], a["pool_id"], a["deal_id"], a["period"], a["cutoff_date"], a["subject"],
                 json.dumps(a, sort_keys=True), a["raised_at"]),
            )  # fmt: skip
            if cur.rowcount:
                fresh.append(a)
    return fresh


def list_alerts(db: sqlite_utils.Database, pool_id: str, *, since: str | None = None) -> list[dict[str, Any]]:
    """The pool's alerts, oldest first (``since``: raised strictly after this UTC time)."""
    ensure_tables(db)
    rows = db.conn.execute(
        "SELECT body FROM deal_alerts WHERE pool_id = ? AND raised_at > ? ORDER BY raised_at, alert_id",
        (pool_id, since or ""),
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def register_webhook(db: sqlite_utils.Database, party_id: str, role: str, url: str) -> Webhook:
    """A new webhook for ``party_id`` with a fresh 256-bit HMAC key (shown to the party once)."""
    ensure_tables(db)
    hook = Webhook(uuid.uuid4().hex, party_id, role, url, secrets.token_hex(32))
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO deal_webhooks VALUES (?,?,?,?,?,?)",
            (hook.webhook_id, party_id, role, url, hook.secret, now()),
        )
    return hook


def webhooks(db: sqlite_utils.Database) -> list[Webhook]:
    """Every registered webhook, oldest first."""
    ensure_tables(db)
    rows = db.conn.execute(
        "SELECT webhook_id, party_id, role, url, secret FROM deal_webhooks ORDER BY created_at, webhook_id"
    ).fetchall()
    return [Webhook(*r) for r in rows]
