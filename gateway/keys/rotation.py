"""Key rotation: the master key, and the gateway signing key with its published, forward-only history.

Every step is crash-safe: a process killed at any point leaves either the previous state or a state
that re-running the same command completes (each command is idempotent and resumes).

* **Master key rotation** (:func:`rotate_master_key`). A new key is written to ``<key>.next`` (mode
  0600, fsync'd); every pool's data key is re-wrapped under it in one transaction; the old key file is
  kept as ``<key>.retired-<time>`` (older backups need it; delete it when none does) and the new one
  moved into place (atomic rename). Pool data keys themselves do not change, so stored loans, encrypted
  seeds and snapshots need no re-encryption. A crash between the transaction and the rename leaves
  pools wrapped under ``.next``; the server refuses requests that need a pool key (503) until the
  command is re-run.
* **Gateway signing key rotation** (:func:`rotate_gateway_key`). The new key goes to
  ``gateway.key.next``; the history (``gateway-key-history.json``, see :mod:`proofs.key_history`) gets
  an entry for it signed by the current key; then the new key replaces the old file. Old snapshots
  keep verifying: their headers name the signing key id, which the verified history maps to a key.
  A running server keeps signing with the key it loaded until it restarts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.key_history import append_key, new_history, verify_key_history
from proofs.signing import key_id

from ..fault_points import fault_point
from ..storage.db import connect, now, transaction
from ..storage.records import set_wrapped_key, wrapped_pool_keys
from .gateway_key import generate_gateway_key_file, load_gateway_key
from .key_files import KeyManagementError, fsync_path, write_private_file
from .keyring import KeyringError, generate_master_key_file, load_master_key, unwrap_data_key, wrap_data_key

HISTORY_FILE = "gateway-key-history.json"


# --- master key -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MasterRotation:
    """What a master-key rotation did."""

    pools_rewrapped: int
    pools_already_new: int
    retired_key_file: Path


def rotate_master_key(db_path: str | Path, key_file: str | Path) -> MasterRotation:
    """Re-wrap every pool data key under a fresh master key and install it (resumes a crashed run).

    Raises :class:`KeyManagementError` if a pool's data key unwraps under neither key.
    """
    key_file = Path(key_file)
    next_file = key_file.with_name(key_file.name + ".next")
    old = load_master_key(key_file=key_file)
    if not next_file.exists():
        generate_master_key_file(next_file)
        fsync_path(next_file)
        fsync_path(next_file.parent)
    new = load_master_key(key_file=next_file)
    fault_point("master.after_new_key")
    rewrapped = already = 0
    db = connect(db_path)
    try:
        with transaction(db) as conn:
            for pool_id, wrapped in wrapped_pool_keys(conn):
                try:
                    data_key = unwrap_data_key(old, pool_id, wrapped)
                except KeyringError:
                    try:
                        unwrap_data_key(new, pool_id, wrapped)
                    except KeyringError:
                        raise KeyManagementError(
                            f"pool {pool_id}: data key unwraps under neither the current nor the new key"
                        ) from None
                    already += 1
                    continue
                set_wrapped_key(conn, pool_id, wrap_data_key(new, pool_id, data_key))
                rewrapped += 1
    finally:
        db.conn.close()
    fault_point("master.after_rewrap")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    retired = key_file.with_name(f"{key_file.name}.retired-{stamp}")
    os.link(key_file, retired)  # keep the old key (0600) for older backups
    fault_point("master.after_retire")
    os.replace(next_file, key_file)
    fsync_path(key_file.parent)
    return MasterRotation(rewrapped, already, retired)


# --- gateway signing key ----------------------------------------------------------------------------------
def history_path(key_path: str | Path) -> Path:
    """The published key history beside the gateway key file."""
    return Path(key_path).with_name(HISTORY_FILE)


def load_history(key_path: str | Path) -> dict[str, Any]:
    """The key history document, created (current key, self-signed) if it does not exist yet.

    A ``v1`` history (each key signed by its predecessor only, no hash chain) that holds just the
    current key is re-issued as ``v2`` with that key as genesis; one with older keys cannot be
    re-signed without them and raises :class:`KeyManagementError`.
    """
    path = history_path(key_path)
    if path.exists():
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != "poolproof/gateway-key-history/v1":
            return doc
        current = load_gateway_key(key_path)
        if [e.get("key_id") for e in doc.get("keys", [])] != [key_id(current.public_key())]:
            raise KeyManagementError(
                f"{path}: a v1 key history with older keys cannot be converted to v2 "
                "(each key would have to countersign); keep it for old snapshots and start a v2 history"
            )
    doc = new_history(load_gateway_key(key_path), now())
    write_private_file(path, _history_bytes(doc))
    os.chmod(path, 0o644)  # public information
    return doc


def _history_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class GatewayRotation:
    """What a gateway-key rotation did."""

    old_key_id: str
    new_key_id: str
    keys_in_history: int


def rotate_gateway_key(key_path: str | Path) -> GatewayRotation:
    """Replace the gateway signing key, recording the new key in the history signed by the old one.

    Resumes a crashed run (an existing ``.next`` key and a history that already names it).
    """
    key_path = Path(key_path)
    current = load_gateway_key(key_path)
    history = load_history(key_path)
    next_path = key_path.with_name(key_path.name + ".next")
    # Resuming after the history was written: its current key is already the one in ``.next``.
    recorded = history["entries"][-1]["key_id"]
    if next_path.exists() and recorded == key_id(load_gateway_key(next_path).public_key()):
        verify_key_history(history, genesis_key(history), current=load_gateway_key(next_path).public_key())
    else:
        verify_key_history(history, genesis_key(history), current=current.public_key())
    if not next_path.exists():
        generate_gateway_key_file(next_path)
        fsync_path(next_path)
        fsync_path(next_path.parent)
    new = load_gateway_key(next_path)
    fault_point("gateway.after_new_key")
    new_id = key_id(new.public_key())
    if history["entries"][-1]["key_id"] != new_id:
        history = append_key(history, current, new, now())
        path = history_path(key_path)
        write_private_file(path, _history_bytes(history))
        os.chmod(path, 0o644)
    fault_point("gateway.after_history")
    os.replace(next_path, key_path)
    fsync_path(key_path.parent)
    verified = verify_key_history(history, genesis_key(history), current=new.public_key())
    return GatewayRotation(key_id(current.public_key()), new_id, len(verified.keys))


def genesis_key(history: dict[str, Any]) -> Ed25519PublicKey:
    """The first key of the gateway's own history: the anchor the gateway checks its own file from.

    (Verifiers elsewhere pin a key or head they obtained out of band; the gateway wrote this file.)
    """
    from proofs.signing import public_key_from_raw

    return public_key_from_raw(bytes.fromhex(history["entries"][0]["public_key"]))


@dataclass(frozen=True)
class GatewayRevocation:
    """What a revocation of a retired gateway key did."""

    revoked_key_id: str
    entries_in_history: int


def revoke_gateway_key(key_path: str | Path, revoked_key_id: str, reason: str) -> GatewayRevocation:
    """Record in the history that the retired key ``revoked_key_id`` is revoked, signed by the current key.

    Verifiers then refuse anything that key signs. Raises :class:`KeyManagementError` if the key is
    the current one, not in the history, or already revoked.
    """
    from proofs.errors import EncodingError
    from proofs.key_history import revoke_key

    key_path = Path(key_path)
    current = load_gateway_key(key_path)
    history = load_history(key_path)
    verify_key_history(history, genesis_key(history), current=current.public_key())
    try:
        history = revoke_key(history, current, revoked_key_id, reason, now())
    except EncodingError as exc:
        raise KeyManagementError(str(exc)) from None
    path = history_path(key_path)
    write_private_file(path, _history_bytes(history))
    os.chmod(path, 0o644)
    return GatewayRevocation(revoked_key_id, len(history["entries"]))


def header_public_key(key_path: str | Path, header: dict[str, Any]) -> Ed25519PublicKey:
    """The gateway key that signed ``header`` (a snapshot header), found through the verified history.

    The gateway's own history file, checked from its genesis key to the current key file, maps the
    key id a header names to a key (headers signed before a rotation name an older key id).
    Raises ``VerificationError("key_history", ...)`` if the history does not verify or has no such key.
    """
    from proofs.key_history import key_by_id

    current = load_gateway_key(key_path).public_key()
    history = load_history(key_path)
    keys = verify_key_history(history, genesis_key(history), current=current)
    signer = header.get("signatures", [{}])[0].get("key_id", "")
    return key_by_id(keys, str(signer))

