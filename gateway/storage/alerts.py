"""Deal alerts and webhook subscriptions at rest.

The tables are those of migration 8 (``gateway/storage/db.py``). Which alerts are raised, and how a
webhook is delivered, are :mod:`gateway.alerts`' business: here an alert is its JSON document and a
webhook its row. The functions that write take the connection of the caller's transaction and never
commit on their own.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .db import Handle, connection


# --- alerts ---------------------------------------------------------------------------------------------
def insert_alert(conn: sqlite3.Connection, alert: dict[str, Any]) -> bool:
    """Store an alert; ``False`` (nothing stored) if the pool, deal, period and subject have one already."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO deal_alerts (alert_id, pool_id, deal_id, period, cutoff_date, subject, body, "
        "raised_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            alert["alert_id"],
            alert["pool_id"],
            alert["deal_id"],
            alert["period"],
            alert["cutoff_date"],
            alert["subject"],
            json.dumps(alert, sort_keys=True),
            alert["raised_at"],
        ),
    )
    return bool(cur.rowcount)


def alerts_of(db: Handle, pool_id: str, since: str = "") -> list[dict[str, Any]]:
    """The pool's alerts raised strictly after ``since`` (a UTC time; ``""``: all), oldest first."""
    conn = connection(db)
    rows = conn.execute(
        "SELECT body FROM deal_alerts WHERE pool_id = ? AND raised_at > ? ORDER BY raised_at, alert_id",
        (pool_id, since),
    ).fetchall()
    return [dict(json.loads(r[0])) for r in rows]


# --- webhooks -------------------------------------------------------------------------------------------
def insert_webhook(
    conn: sqlite3.Connection,
    webhook_id: str,
    party_id: str,
    role: str,
    url: str,
    secret: str,
    created_at: str,
) -> None:
    """Store a party's webhook with its HMAC key."""
    conn.execute(
        "INSERT INTO deal_webhooks (webhook_id, party_id, role, url, secret, created_at) "
        "VALUES (?,?,?,?,?,?)",
        (webhook_id, party_id, role, url, secret, created_at),
    )


def webhook_rows(db: Handle) -> list[tuple[str, str, str, str, str]]:
    """``(webhook id, party id, role, url, HMAC key)`` of every webhook, oldest first."""
    conn = connection(db)
    rows = conn.execute(
        "SELECT webhook_id, party_id, role, url, secret FROM deal_webhooks ORDER BY created_at, webhook_id"
    ).fetchall()
    return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]
