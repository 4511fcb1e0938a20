"""The gateway's signing-key history: trust that only runs forward from the verifier's pinned anchor.

A history is ``{"format": "poolproof/gateway-key-history/v2", "entries": [entry, ...]}``, an
append-only hash chain (every entry names the hash of the one before, as in RFC 9162 a tree head
commits to everything before it). Two kinds of entry:

* ``{"index", "type": "key", "key_id", "public_key" (64 hex), "created_at", "previous_entry_hash",
  "vouch", "self_signature"}``: a new signing key. ``vouch`` is the signature of the key that was
  current until then (``null`` for entry 0); ``self_signature`` is the new key's own (proof of
  possession, and its consent to the entry). This is TUF's root rotation (TUF specification,
  "update the root role": a new root is signed by the old root's keys *and* its own).
* ``{"index", "type": "revocation", "key_id", "reason", "created_at", "previous_entry_hash",
  "signature"}``: the current key declares an earlier key revoked (leaked, lost). A revoked key is
  never accepted again, whatever it signed.

Both signatures cover the entry without its signature members, under their own domains
(:mod:`proofs.signing`).

**Verification** (:func:`verify_key_history`) starts from the verifier's *anchor*, obtained out of
band: a pinned key (e.g. the genesis key received at onboarding) or a pinned history head (the hash
of an entry, like a CT client's last verified tree head). Only keys the chain vouches for *from the
anchor forward* are returned; nothing before the anchor is trusted because of what comes after it.
That rejects the backward forgery ``[A (self-signed), K (signed by A)]`` built around a trusted
``K`` (A lies before the anchor K), and a fork signed by a leaked retired key (the fork leaves the
genuine chain before the verifier's anchor, so it does not contain the anchor); verifiers should
move their anchor forward to the newest head they verified (TUF keeps its newest trusted root for
the same reason). The argument is in docs/decisions.md, "Key history".

The verifier is pure (no I/O) like the rest of ``proofs``; the gateway writes histories
(``gateway.keys.rotation``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from proofs import bundle
from proofs.canonical import document_hash
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
VERSION: Final = 2
FORMAT: Final = bundle.format_string(KIND, VERSION)
VOUCH_DOMAIN: Final = "gateway-key-history/v2/vouch"
SELF_DOMAIN: Final = "gateway-key-history/v2/self"
REVOCATION_DOMAIN: Final = "gateway-key-history/v2/revocation"
ENTRY_HASH_DOMAIN: Final = "gateway-key-history/v2/entry"
CHECK: Final = "key_history"
MAX_ENTRIES: Final = 10_000
MAX_REASON: Final = 200

_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)
_KEY_FIELDS = frozenset(
    {"index", "type", "key_id", "public_key", "created_at", "previous_entry_hash", "vouch", "self_signature"}
)
_REVOCATION_FIELDS = frozenset(
    {"index", "type", "key_id", "reason", "created_at", "previous_entry_hash", "signature"}
)
_SIGNATURE_FIELDS = frozenset({"vouch", "self_signature", "signature"})


@dataclass(frozen=True)
class HistoricalKey:
    """One key the history vouches for from the verifier's anchor."""

    index: int
    key_id: str
    public_key: Ed25519PublicKey
    created_at: str
    revoked: bool = False


@dataclass(frozen=True)
class VerifiedKeyHistory:
    """What :func:`verify_key_history` established.

    ``keys`` are the keys from the anchor forward, oldest first (revoked ones flagged); ``head`` is
    the hash of the last entry (pin it as the next anchor); ``current`` is the key that signs now.
    """

    keys: tuple[HistoricalKey, ...]
    head: bytes
    current: HistoricalKey

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[HistoricalKey]:
        return iter(self.keys)


def entry_hash(entry: Mapping[str, Any]) -> bytes:
    """SHA-256 of an entry, signatures included: what the next entry's ``previous_entry_hash`` names."""
    return document_hash(ENTRY_HASH_DOMAIN, dict(entry))


def history_head(doc: Mapping[str, Any]) -> bytes:
    """The hash of a history's last entry (unverified; verify the history before pinning it)."""
    entries = doc["entries"]
    return entry_hash(entries[-1])


def _signed_body(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _SIGNATURE_FIELDS}


def _key_body(
    index: int, public_key: Ed25519PublicKey, created_at: str, previous: bytes | None
) -> dict[str, Any]:
    return {
        "index": index,
        "type": "key",
        "key_id": key_id(public_key),
        "public_key": public_key_raw(public_key).hex(),
        "created_at": created_at,
        "previous_entry_hash": None if previous is None else previous.hex(),
    }


def new_history(genesis: Ed25519PrivateKey, created_at: str) -> dict[str, Any]:
    """A history holding only ``genesis`` (self-signed: proof of possession)."""
    body = _key_body(0, genesis.public_key(), created_at, None)
    entry = {
        **body,
        "vouch": None,
        "self_signature": bundle.encode_bytes(sign(genesis, SELF_DOMAIN, body)),
    }
    return {"format": FORMAT, "entries": [entry]}


def _current_key_id(entries: list[dict[str, Any]]) -> str:
    return str(next(e["key_id"] for e in reversed(entries) if e["type"] == "key"))


def append_key(
    history: Mapping[str, Any], current: Ed25519PrivateKey, new: Ed25519PrivateKey, created_at: str
) -> dict[str, Any]:
    """``history`` with ``new``'s public key appended, vouched for by ``current`` and signed by ``new``.

    Raises :class:`EncodingError` if ``current`` is not the history's current key.
    """
    entries = [dict(e) for e in history["entries"]]
    if _current_key_id(entries) != key_id(current.public_key()):
        raise EncodingError("entries: the vouching key is not the history's current key")
    body = _key_body(len(entries), new.public_key(), created_at, entry_hash(entries[-1]))
    entry = {
        **body,
        "vouch": bundle.encode_bytes(sign(current, VOUCH_DOMAIN, body)),
        "self_signature": bundle.encode_bytes(sign(new, SELF_DOMAIN, body)),
    }
    return {"format": FORMAT, "entries": [*entries, entry]}


def revoke_key(
    history: Mapping[str, Any],
    current: Ed25519PrivateKey,
    revoked_key_id: str,
    reason: str,
    created_at: str,
) -> dict[str, Any]:
    """``history`` with a revocation of ``revoked_key_id`` signed by ``current`` (the current key).

    Raises :class:`EncodingError` if ``current`` is not the current key, or the revoked key is the
    current key (rotate first), is not in the history, or is already revoked.
    """
    entries = [dict(e) for e in history["entries"]]
    if _current_key_id(entries) != key_id(current.public_key()):
        raise EncodingError("entries: the revoking key is not the history's current key")
    if revoked_key_id == key_id(current.public_key()):
        raise EncodingError("key_id: the current key cannot revoke itself; rotate to a new key first")
    if not any(e["type"] == "key" and e["key_id"] == revoked_key_id for e in entries):
        raise EncodingError(f"key_id: no key {revoked_key_id} in the history")
    if any(e["type"] == "revocation" and e["key_id"] == revoked_key_id for e in entries):
        raise EncodingError(f"key_id: key {revoked_key_id} is already revoked")
    body = {
        "index": len(entries),
        "type": "revocation",
        "key_id": revoked_key_id,
        "reason": reason,
        "created_at": created_at,
        "previous_entry_hash": entry_hash(entries[-1]).hex(),
    }
    entry = {**body, "signature": bundle.encode_bytes(sign(current, REVOCATION_DOMAIN, body))}
    return {"format": FORMAT, "entries": [*entries, entry]}


def _check_time(value: object, path: str) -> str:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise EncodingError(f"{path}: expected an ISO 8601 time YYYY-MM-DDTHH:MM:SS with a UTC offset")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EncodingError(f"{path}: {value} is not a real time") from None
    return value


def _parse_entry(entry: object, i: int, previous_hash: bytes | None) -> dict[str, Any]:
    """Check one entry's encoding and its link to the previous entry (no signatures)."""
    path = f"entries[{i}]"
    if not isinstance(entry, dict):
        raise EncodingError(f"{path}: expected an object")
    kind = entry.get("type")
    fields = (
        {"key": _KEY_FIELDS, "revocation": _REVOCATION_FIELDS}.get(kind) if isinstance(kind, str) else None
    )
    if fields is None:
        raise EncodingError(f"{path}.type: expected 'key' or 'revocation'")
    if set(entry) != fields:
        raise EncodingError(f"{path}: a {kind} entry has exactly {sorted(fields)}")
    if isinstance(entry["index"], bool) or entry["index"] != i:
        raise EncodingError(f"{path}.index: expected {i}")
    if not isinstance(entry["key_id"], str) or not _KEY_ID.fullmatch(entry["key_id"]):
        raise EncodingError(f"{path}.key_id: expected 32 lowercase hex digits")
    _check_time(entry["created_at"], f"{path}.created_at")
    prev = entry["previous_entry_hash"]
    if i == 0:
        if prev is not None:
            raise EncodingError(f"{path}.previous_entry_hash: expected null for the first entry")
    else:
        if not isinstance(prev, str) or not _HEX64.fullmatch(prev):
            raise EncodingError(f"{path}.previous_entry_hash: expected 64 lowercase hex digits")
        assert previous_hash is not None
        if bytes.fromhex(prev) != previous_hash:
            raise VerificationError(CHECK, f"{path}.previous_entry_hash does not name entries[{i - 1}]")
    if kind == "key":
        pk_hex = entry["public_key"]
        if not isinstance(pk_hex, str) or not _HEX64.fullmatch(pk_hex):
            raise EncodingError(f"{path}.public_key: expected 64 lowercase hex digits")
        if entry["key_id"] != key_id(public_key_from_raw(bytes.fromhex(pk_hex))):
            raise EncodingError(f"{path}.key_id: does not name public_key")
        bundle.decode_bytes(entry["self_signature"], f"{path}.self_signature", 64)
        if i == 0:
            if entry["vouch"] is not None:
                raise EncodingError(f"{path}.vouch: expected null for the first key")
        else:
            bundle.decode_bytes(entry["vouch"], f"{path}.vouch", 64)
    else:
        reason = entry["reason"]
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise EncodingError(f"{path}.reason: expected a string of at most {MAX_REASON} characters")
        bundle.decode_bytes(entry["signature"], f"{path}.signature", 64)
    return entry


def _check_signature(
    key: Ed25519PublicKey, domain: str, body: Mapping[str, Any], sig_hex: str, what: str
) -> None:
    try:
        verify(key, domain, dict(body), bytes.fromhex(sig_hex))
    except VerificationError:
        raise VerificationError(CHECK, what) from None


def verify_key_history(
    doc: object,
    anchor: Ed25519PublicKey | bytes,
    *,
    current: Ed25519PublicKey | None = None,
) -> VerifiedKeyHistory:
    """Verify the history forward from ``anchor``; return the keys it vouches for from there.

    ``anchor`` is what the verifier pinned out of band: a key of the history (trust starts at that
    key's entry) or a 32-byte entry hash (a history head seen before; trust starts at that entry's
    current key). From the anchor on, every key entry must be vouched for by the key current before
    it and signed by itself, every revocation signed by the current key; a revoked key is never
    current again. ``current``, if given, must be the history's current key.

    Raises :class:`EncodingError` (malformed document) or ``VerificationError("key_history", ...)``:
    the anchor is not in the history, a broken hash link, a missing or invalid vouch,
    self-signature or revocation signature, a repeated key, a revocation of an unknown, current
    or already revoked key, or another current key than ``current``.
    """
    bundle.require_format(doc, KIND, {VERSION})
    if not isinstance(doc, dict) or set(doc) != {"format", "entries"}:
        raise EncodingError("(document): a key history has exactly format and entries")
    raw = doc["entries"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENTRIES:
        raise EncodingError(f"entries: expected a list of 1 to {MAX_ENTRIES} entries")
    entries: list[dict[str, Any]] = []
    hashes: list[bytes] = []
    for i, item in enumerate(raw):
        entries.append(_parse_entry(item, i, hashes[-1] if hashes else None))
        hashes.append(entry_hash(entries[-1]))
    if entries[0]["type"] != "key":
        raise EncodingError("entries[0].type: the first entry is a key")

    # Where trust starts: the entry whose key is pinned, or the pinned head.
    if isinstance(anchor, bytes | bytearray):
        if bytes(anchor) not in hashes:
            raise VerificationError(
                CHECK, f"the pinned history head {bytes(anchor).hex()} is not in this history"
            )
        start = hashes.index(bytes(anchor))
        while entries[start]["type"] != "key":  # a head on a revocation: trust its current key
            start -= 1
    else:
        wanted = key_id(anchor)
        found = [i for i, e in enumerate(entries) if e["type"] == "key" and e["key_id"] == wanted]
        if not found:
            raise VerificationError(CHECK, f"the pinned key {wanted} is not in this history")
        start = found[0]
        if public_key_raw(anchor).hex() != entries[start]["public_key"]:
            raise VerificationError(CHECK, f"entries[{start}] names the pinned key's id with another key")

    seen: set[str] = set()
    revoked: set[str] = set()
    keys: list[HistoricalKey] = []
    current_key: Ed25519PublicKey | None = None
    for i, entry in enumerate(entries):
        body = _signed_body(entry)
        kid = entry["key_id"]
        if entry["type"] == "key":
            if kid in seen:
                raise VerificationError(CHECK, f"entries[{i}]: key {kid} appears twice")
            seen.add(kid)
            public_key = public_key_from_raw(bytes.fromhex(entry["public_key"]))
            if i >= start:
                _check_signature(
                    public_key,
                    SELF_DOMAIN,
                    body,
                    entry["self_signature"],
                    f"entries[{i}] is not signed by its own key",
                )
                if i > start:
                    assert current_key is not None
                    if entry["vouch"] is None:
                        raise VerificationError(CHECK, f"entries[{i}] is not vouched for")
                    _check_signature(
                        current_key,
                        VOUCH_DOMAIN,
                        body,
                        entry["vouch"],
                        f"entries[{i}] is not vouched for by the key current before it",
                    )
                keys.append(HistoricalKey(i, kid, public_key, entry["created_at"]))
            current_key = public_key
        else:
            if kid not in seen:
                raise VerificationError(CHECK, f"entries[{i}] revokes key {kid}, which is not before it")
            if kid in revoked:
                raise VerificationError(CHECK, f"entries[{i}] revokes key {kid} a second time")
            assert current_key is not None
            if kid == key_id(current_key):
                raise VerificationError(CHECK, f"entries[{i}] revokes the current key")
            if i > start:
                _check_signature(
                    current_key,
                    REVOCATION_DOMAIN,
                    body,
                    entry["signature"],
                    f"entries[{i}] (revocation) is not signed by the current key",
                )
            revoked.add(kid)
    keys = [HistoricalKey(k.index, k.key_id, k.public_key, k.created_at, k.key_id in revoked) for k in keys]
    assert current_key is not None
    if current is not None and key_id(current) != key_id(current_key):
        raise VerificationError(
            CHECK, f"the history's current key is {key_id(current_key)}, not the expected {key_id(current)}"
        )
    return VerifiedKeyHistory(tuple(keys), hashes[-1], keys[-1])


def key_by_id(history: VerifiedKeyHistory, wanted: str) -> Ed25519PublicKey:
    """The verified, unrevoked key named ``wanted`` (e.g. a snapshot header signature's key id).

    Raises ``VerificationError("key_history", ...)`` if the history does not vouch for that key
    from the verifier's anchor, or the key is revoked.
    """
    for k in history.keys:
        if k.key_id == wanted:
            if k.revoked:
                raise VerificationError(CHECK, f"key {wanted} is revoked")
            return k.public_key
    raise VerificationError(CHECK, f"no key {wanted} vouched for from your anchor")
