"""The gateway's signing-key history: each new key is signed by the key it replaces.

A history is a JSON document ``{"format": "poolproof/gateway-key-history/v1", "keys": [entry, ...]}``.
Entry ``i`` is ``{"index": i, "key_id", "public_key" (64 hex), "created_at" (ISO 8601),
"previous_key_id" (null for entry 0), "signature" (hex)}``; its signature covers the entry without
``signature`` under domain ``gateway-key-history/entry`` (:mod:`proofs.signing`), made by the
*previous* entry's key (entry 0 by its own key, a proof of possession). So anyone who trusts one key
of the chain -- obtained out of band -- can follow the chain and trust every key before and after it:
an old snapshot header names its signer by key id and verifies under the historical key.

The verifier is pure (no I/O) like the rest of ``proofs``; the gateway writes histories
(``gateway.key_management``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from proofs import bundle
from proofs.errors import EncodingError, VerificationError
from proofs.signing import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    key_id,
    public_key_from_raw,
    public_key_raw,
    sign,
    verify,
)

KIND: Final = "gateway-key-history"
VERSION: Final = 1
FORMAT: Final = bundle.format_string(KIND, VERSION)
DOMAIN: Final = "gateway-key-history/entry"
CHECK: Final = "key_history"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_ENTRY_KEYS = frozenset({"index", "key_id", "public_key", "created_at", "previous_key_id", "signature"})
MAX_KEYS: Final = 10_000


@dataclass(frozen=True)
class HistoricalKey:
    """One verified key of the history."""

    index: int
    key_id: str
    public_key: Ed25519PublicKey
    created_at: str


def _entry_body(
    index: int, public_key: Ed25519PublicKey, created_at: str, previous: str | None
) -> dict[str, Any]:
    return {
        "index": index,
        "key_id": key_id(public_key),
        "public_key": public_key_raw(public_key).hex(),
        "created_at": created_at,
        "previous_key_id": previous,
    }


def new_history(genesis: Ed25519PrivateKey, created_at: str) -> dict[str, Any]:
    """A history holding only ``genesis`` (self-signed: proof of possession)."""
    body = _entry_body(0, genesis.public_key(), created_at, None)
    sig = sign(genesis, DOMAIN, body)
    return {"format": FORMAT, "keys": [{**body, "signature": bundle.encode_bytes(sig)}]}


def append_key(
    history: Mapping[str, Any], current: Ed25519PrivateKey, new_public: Ed25519PublicKey, created_at: str
) -> dict[str, Any]:
    """``history`` with ``new_public`` appended, signed by ``current`` (which must be its last key).

    Raises :class:`EncodingError` if ``current`` is not the history's last key.
    """
    keys = list(history["keys"])
    last = keys[-1]
    if last["key_id"] != key_id(current.public_key()):
        raise EncodingError(f"keys[{len(keys) - 1}]: the signing key is not the history's last key")
    body = _entry_body(len(keys), new_public, created_at, last["key_id"])
    sig = sign(current, DOMAIN, body)
    return {"format": FORMAT, "keys": [*keys, {**body, "signature": bundle.encode_bytes(sig)}]}


def _parse_entry(entry: object, i: int) -> tuple[dict[str, Any], Ed25519PublicKey, bytes]:
    path = f"keys[{i}]"
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        raise EncodingError(f"{path}: expected exactly {sorted(_ENTRY_KEYS)}")
    if entry["index"] != i or isinstance(entry["index"], bool):
        raise EncodingError(f"{path}.index: expected {i}")
    pk_hex = entry["public_key"]
    if not isinstance(pk_hex, str) or not _HEX64.fullmatch(pk_hex):
        raise EncodingError(f"{path}.public_key: expected 64 lowercase hex digits")
    public_key = public_key_from_raw(bytes.fromhex(pk_hex))
    if entry["key_id"] != key_id(public_key):
        raise EncodingError(f"{path}.key_id: does not name public_key")
    if not isinstance(entry["created_at"], str) or not entry["created_at"]:
        raise EncodingError(f"{path}.created_at: expected an ISO 8601 time")
    prev = entry["previous_key_id"]
    if (i == 0 and prev is not None) or (
        i > 0 and (not isinstance(prev, str) or not _KEY_ID.fullmatch(prev))
    ):
        raise EncodingError(f"{path}.previous_key_id: expected {'null' if i == 0 else 'a key id'}")
    sig = bundle.decode_bytes(entry["signature"], f"{path}.signature")
    body = {k: v for k, v in entry.items() if k != "signature"}
    return body, public_key, sig


def verify_key_history(doc: object, trusted_key: Ed25519PublicKey) -> list[HistoricalKey]:
    """Verify the whole chain and that it contains ``trusted_key``; returns every key, oldest first.

    Raises :class:`EncodingError` (malformed document) or ``VerificationError("key_history", ...)``:
    a broken link (an entry not signed by its predecessor, or a ``previous_key_id`` that does not
    name it), a repeated key, or a chain that does not contain the trusted key.
    """
    bundle.require_format(doc, KIND, {VERSION})
    if not isinstance(doc, dict) or set(doc) != {"format", "keys"}:
        raise EncodingError("(document): a key history has exactly format and keys")
    entries = doc["keys"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_KEYS:
        raise EncodingError(f"keys: expected a list of 1 to {MAX_KEYS} entries")
    out: list[HistoricalKey] = []
    previous: Ed25519PublicKey | None = None
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        body, public_key, sig = _parse_entry(entry, i)
        kid = body["key_id"]
        if kid in seen:
            raise VerificationError(CHECK, f"keys[{i}]: key {kid} appears twice")
        seen.add(kid)
        signer = public_key if previous is None else previous
        if previous is not None and body["previous_key_id"] != key_id(previous):
            raise VerificationError(CHECK, f"keys[{i}].previous_key_id does not name keys[{i - 1}]")
        try:
            verify(signer, DOMAIN, body, sig)
        except VerificationError:
            raise VerificationError(
                CHECK, f"keys[{i}] is not signed by {'itself' if i == 0 else f'keys[{i - 1}]'}"
            ) from None
        out.append(HistoricalKey(i, kid, public_key, body["created_at"]))
        previous = public_key
    if key_id(trusted_key) not in seen:
        raise VerificationError(CHECK, f"the trusted key {key_id(trusted_key)} is not in this history")
    return out


def key_by_id(keys: list[HistoricalKey], wanted: str) -> Ed25519PublicKey:
    """The verified key named ``wanted`` (e.g. a snapshot header signature's key id).

    Raises ``VerificationError("key_history", ...)`` if no key of the history has that id.
    """
    for k in keys:
        if k.key_id == wanted:
            return k.public_key
    raise VerificationError(CHECK, f"no key {wanted} in the verified history")
