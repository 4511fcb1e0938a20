"""Registered witnesses and the cosignatures they sent, at rest.

A witness (auditor, trustee, rating agency, independent party) is registered by the operator with
its Ed25519 public key; the gateway then accepts that key's cosignatures of snapshot headers
(:mod:`proofs.witness`), stores them and hands them out in claim and inclusion bundles. The
gateway cannot make a cosignature: it only relays what witnesses signed.

The two tables are those of migration 5 (``gateway/storage/db.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.signing import key_id, public_key_from_raw, public_key_raw

from .db import now, transaction
from .records import Conflict


@dataclass(frozen=True)
class WitnessRecord:
    """A registered witness."""

    key_id: str
    name: str
    public_key: Ed25519PublicKey
    registered_at: str

    def summary(self) -> dict[str, Any]:
        """Public form."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "public_key_hex": public_key_raw(self.public_key).hex(),
            "registered_at": self.registered_at,
        }


def register_witness(db: sqlite_utils.Database, name: str, public_key: Ed25519PublicKey) -> WitnessRecord:
    """Register a witness key under ``name``; raises :class:`Conflict` if the key or the name is taken."""
    kid = key_id(public_key)
    with transaction(db) as conn:
        taken = conn.execute(
            "SELECT key_id, name FROM witnesses WHERE key_id = ? OR name = ?", (kid, name)
        ).fetchone()
        if taken is not None:
            what = f"key {kid}" if taken[0] == kid else f"name {name!r}"
            raise Conflict(f"a witness with {what} is already registered")
        stamp = now()
        conn.execute(
            "INSERT INTO witnesses (key_id, name, public_key, registered_at) VALUES (?, ?, ?, ?)",
            (kid, name, public_key_raw(public_key), stamp),
        )
    return WitnessRecord(kid, name, public_key, stamp)


def _record(row: tuple[Any, ...]) -> WitnessRecord:
    return WitnessRecord(row[0], row[1], public_key_from_raw(bytes(row[2])), row[3])


def list_witnesses(db: sqlite_utils.Database) -> list[WitnessRecord]:
    """Every registered witness, by name."""
    rows = db.conn.execute("SELECT key_id, name, public_key, registered_at FROM witnesses ORDER BY name")
    return [_record(r) for r in rows.fetchall()]


def get_witness(db: sqlite_utils.Database, kid: str) -> WitnessRecord | None:
    """The registered witness with key id ``kid``, if any."""
    row = db.conn.execute(
        "SELECT key_id, name, public_key, registered_at FROM witnesses WHERE key_id = ?", (kid,)
    ).fetchone()
    return None if row is None else _record(row)


def store_cosignature(db: sqlite_utils.Database, snapshot_id: str, cosignature: dict[str, Any]) -> bool:
    """Store a (checked) cosignature; a newer one by the same witness replaces its older one.

    Returns ``True`` if the witness had not cosigned this snapshot before.
    """
    with transaction(db) as conn:
        before = conn.execute(
            "SELECT 1 FROM witness_cosignatures WHERE snapshot_id = ? AND key_id = ?",
            (snapshot_id, cosignature["key_id"]),
        ).fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO witness_cosignatures (snapshot_id, key_id, cosignature, received_at) "
            "VALUES (?, ?, ?, ?)",
            (snapshot_id, cosignature["key_id"], json.dumps(cosignature, sort_keys=True), now()),
        )
    return before is None


def cosignatures_of(db: sqlite_utils.Database, snapshot_id: str) -> tuple[dict[str, Any], ...]:
    """The cosignatures stored for a snapshot, by witness key id."""
    rows = db.conn.execute(
        "SELECT cosignature FROM witness_cosignatures WHERE snapshot_id = ? ORDER BY key_id", (snapshot_id,)
    ).fetchall()
    return tuple(json.loads(r[0]) for r in rows)
