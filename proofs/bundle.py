"""Versioned, self-describing JSON bundles, strict field decoding, and signed documents.

Every bundle is a JSON object whose ``"format"`` is ``"poolproof/<kind>/v<N>"`` (for example
``"poolproof/snapshot-header/v1"``). Binary fields (hashes, points, scalars, signatures) are
**lowercase hex**: one spelling per value (base64 has padding and alphabet variants, and uppercase
hex would be a second spelling), readable in diffs, and exactly what the canonical encoding signs.
Integers beyond ±(2^53 − 1) never appear as JSON numbers (see :mod:`proofs.canonical`).

:func:`dump_bundle` writes the RFC 8785 canonical bytes plus a newline, so equal bundles are equal
files. :func:`load_bundle` parses strictly (no floats, no duplicate keys, ...).

Schemas are declared with a few small field specs (:class:`Bytes`, :class:`Int`, :class:`Str`,
:class:`Object`, ...); :meth:`Object.check` rejects unknown and missing members. Every decoding
problem raises :class:`~proofs.errors.EncodingError` whose message starts with the JSON path of the
offending value, e.g. ``"proof.A: expected 48 bytes, got 47"``.

Signed documents (:func:`sign_document`, :func:`verify_document`) carry
``"signatures": [{"key_id", "alg": "ed25519", "sig"}]``. Each signature is over the document
*without* its ``signatures`` member, canonicalised and domain-separated as ``bundle/<kind>``
(see :mod:`proofs.signing`), so signatures are independent of each other and a platform can
co-sign a gateway-signed header. The keys to verify with always come from the caller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from proofs.canonical import MAX_SAFE_INTEGER, canonical_json, parse_json
from proofs.errors import EncodingError, VerificationError
from proofs.signing import SIGNATURE_SIZE, Ed25519PrivateKey, Ed25519PublicKey, key_id, sign, verify

FORMAT_PREFIX = "poolproof"
SIGNATURES = "signatures"
SIGNATURE_ALG = "ed25519"
CHECK_SIGNATURE = "bundle.signature"

_KIND_RE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_FORMAT_RE = re.compile(r"poolproof/([a-z][a-z0-9-]{0,63})/v([1-9][0-9]{0,5})")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")


def _join(path: str, member: str | int) -> str:
    if isinstance(member, int):
        return f"{path}[{member}]"
    return f"{path}.{member}" if path else member


def _name(path: str) -> str:
    return path or "(document)"


# --- formats -----------------------------------------------------------------------------------


def format_string(kind: str, version: int) -> str:
    """Return ``"poolproof/<kind>/v<version>"``; ``kind`` is ``[a-z][a-z0-9-]*``, version >= 1."""
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ValueError(f"invalid bundle kind {kind!r}")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 999_999:
        raise ValueError(f"invalid bundle version {version!r}")
    return f"{FORMAT_PREFIX}/{kind}/v{version}"


def parse_format(value: object, path: str = "format") -> tuple[str, int]:
    """Split a format string into ``(kind, version)``; raises :class:`EncodingError` if malformed."""
    if not isinstance(value, str):
        raise EncodingError(f"{path}: expected a format string, got {type(value).__name__}")
    m = _FORMAT_RE.fullmatch(value)
    if not m:
        raise EncodingError(f"{path}: {value[:80]!r} is not of the form poolproof/<kind>/v<N>")
    return m.group(1), int(m.group(2))


def require_format(doc: object, kind: str, versions: Collection[int] | None = None) -> int:
    """Check that ``doc`` is a bundle of ``kind`` in one of ``versions`` (any if None); return the version.

    Raises :class:`EncodingError` for a non-object, a missing or malformed ``format``, another
    kind, or an unsupported version.
    """
    if not isinstance(doc, Mapping):
        raise EncodingError(f"(document): expected a JSON object, got {type(doc).__name__}")
    if "format" not in doc:
        raise EncodingError("format: missing")
    got_kind, version = parse_format(doc["format"])
    if got_kind != kind:
        raise EncodingError(f"format: expected a {kind!r} bundle, got {got_kind!r}")
    if versions is not None and version not in versions:
        supported = ", ".join(f"v{v}" for v in sorted(versions))
        raise EncodingError(f"format: {kind} version v{version} is not supported (supported: {supported})")
    return version


# --- bytes -------------------------------------------------------------------------------------


def encode_bytes(data: bytes) -> str:
    """Return ``data`` as lowercase hex, the one encoding of binary fields in bundles."""
    return bytes(data).hex()


def decode_bytes(
    value: object, path: str, length: int | None = None, *, max_length: int | None = None
) -> bytes:
    """Decode a lowercase-hex field, checking its byte length.

    ``length`` demands an exact size, ``max_length`` an upper bound. Raises
    :class:`EncodingError` naming ``path``: ``"proof.A: expected 48 bytes, got 47"``,
    ``"... is not lowercase hex"``, ``"... expected a hex string, got int"``.
    """
    if not isinstance(value, str):
        raise EncodingError(f"{_name(path)}: expected a hex string, got {type(value).__name__}")
    if not _HEX_RE.fullmatch(value):
        raise EncodingError(f"{_name(path)}: is not lowercase hex with an even number of digits")
    n = len(value) // 2
    if length is not None and n != length:
        raise EncodingError(f"{_name(path)}: expected {length} bytes, got {n}")
    if max_length is not None and n > max_length:
        raise EncodingError(f"{_name(path)}: expected at most {max_length} bytes, got {n}")
    return bytes.fromhex(value)


# --- declarative field specs ---------------------------------------------------------------------


class Spec:
    """A field specification: :meth:`check` raises :class:`EncodingError` naming the path."""

    def check(self, value: object, path: str) -> None:
        """Raise :class:`EncodingError` if ``value`` (found at ``path``) does not fit."""
        raise NotImplementedError


def _type_error(path: str, expected: str, value: object) -> EncodingError:
    return EncodingError(f"{_name(path)}: expected {expected}, got {type(value).__name__}")


@dataclass(frozen=True)
class Bytes(Spec):
    """Lowercase hex of exactly ``length`` bytes (or at most ``max_length`` if ``length`` is None)."""

    length: int | None = None
    max_length: int | None = None

    def check(self, value: object, path: str) -> None:
        """See :func:`decode_bytes`."""
        decode_bytes(value, path, self.length, max_length=self.max_length)


@dataclass(frozen=True)
class Int(Spec):
    """An integer (never a boolean) in ``[minimum, maximum]``."""

    minimum: int = -MAX_SAFE_INTEGER
    maximum: int = MAX_SAFE_INTEGER

    def check(self, value: object, path: str) -> None:
        """Reject non-integers and out-of-range integers."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(path, "an integer", value)
        if not self.minimum <= value <= self.maximum:
            raise EncodingError(f"{_name(path)}: {value} is outside [{self.minimum}, {self.maximum}]")


@dataclass(frozen=True)
class Str(Spec):
    """A string of at most ``max_length`` characters, optionally matching ``pattern`` in full."""

    max_length: int = 1024
    pattern: str | None = None

    def check(self, value: object, path: str) -> None:
        """Reject non-strings, over-long strings and pattern mismatches."""
        if not isinstance(value, str):
            raise _type_error(path, "a string", value)
        if len(value) > self.max_length:
            raise EncodingError(f"{_name(path)}: longer than {self.max_length} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, value, re.ASCII):
            raise EncodingError(f"{_name(path)}: does not match {self.pattern}")


_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_ISO_UTC_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)


def check_iso_date(value: object, path: str) -> date:
    """Decode an ISO 8601 calendar date ``YYYY-MM-DD``: ASCII digits only, and a real day.

    Unicode digits (``"２０２６-０７-３１"``) match ``\\d`` but are refused: they would sort after every
    ASCII date and make a second spelling of one day. Raises :class:`EncodingError` naming ``path``.
    """
    if not isinstance(value, str):
        raise _type_error(path, "a date string", value)
    if not _ISO_DATE_RE.fullmatch(value):
        raise EncodingError(f"{_name(path)}: expected a date YYYY-MM-DD in ASCII digits")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise EncodingError(f"{_name(path)}: {value} is not a calendar date") from None


def check_utc_time(value: object, path: str) -> datetime:
    """Decode a UTC time ``YYYY-MM-DDTHH:MM:SSZ`` (ASCII digits, a real instant).

    Raises :class:`EncodingError` naming ``path``.
    """
    if not isinstance(value, str):
        raise _type_error(path, "a time string", value)
    if not _ISO_UTC_TIME_RE.fullmatch(value):
        raise EncodingError(f"{_name(path)}: expected a UTC time YYYY-MM-DDTHH:MM:SSZ in ASCII digits")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise EncodingError(f"{_name(path)}: {value} is not a real time") from None


@dataclass(frozen=True)
class Date(Spec):
    """An ISO 8601 calendar date in ASCII digits that names a real day (:func:`check_iso_date`)."""

    def check(self, value: object, path: str) -> None:
        """Reject anything but a real ``YYYY-MM-DD`` date."""
        check_iso_date(value, path)


@dataclass(frozen=True)
class UtcTime(Spec):
    """A UTC time ``YYYY-MM-DDTHH:MM:SSZ`` in ASCII digits (:func:`check_utc_time`)."""

    def check(self, value: object, path: str) -> None:
        """Reject anything but a real UTC time."""
        check_utc_time(value, path)


@dataclass(frozen=True)
class Bool(Spec):
    """``true`` or ``false``."""

    def check(self, value: object, path: str) -> None:
        """Reject anything but a boolean."""
        if not isinstance(value, bool):
            raise _type_error(path, "a boolean", value)


@dataclass(frozen=True)
class Const(Spec):
    """Exactly ``value`` (for example a format string)."""

    value: object

    def check(self, value: object, path: str) -> None:
        """Reject anything but the constant."""
        if type(value) is not type(self.value) or value != self.value:
            raise EncodingError(f"{_name(path)}: expected {self.value!r}")


@dataclass(frozen=True)
class Nullable(Spec):
    """``null`` or a value fitting ``inner``."""

    inner: Spec

    def check(self, value: object, path: str) -> None:
        """Accept ``None``, otherwise defer to ``inner``."""
        if value is not None:
            self.inner.check(value, path)


@dataclass(frozen=True)
class ListOf(Spec):
    """An array of ``min_length`` to ``max_length`` items, each fitting ``item``."""

    item: Spec
    min_length: int = 0
    max_length: int = 1 << 24

    def check(self, value: object, path: str) -> None:
        """Check the length, then every item with its index in the path."""
        if not isinstance(value, list):
            raise _type_error(path, "an array", value)
        if not self.min_length <= len(value) <= self.max_length:
            raise EncodingError(
                f"{_name(path)}: expected {self.min_length} to {self.max_length} items, got {len(value)}"
            )
        for i, item in enumerate(value):
            self.item.check(item, _join(path, i))


@dataclass(frozen=True)
class Object(Spec):
    """An object with exactly the declared members: unknown members are rejected.

    Members named in ``optional`` may be absent; all others are required.
    """

    fields: Mapping[str, Spec]
    optional: frozenset[str] = field(default_factory=frozenset)

    def check(self, value: object, path: str = "") -> None:
        """Reject non-objects, unknown members and missing required members, then check each."""
        if not isinstance(value, Mapping):
            raise _type_error(path, "an object", value)
        for name in value:
            if name not in self.fields:
                raise EncodingError(f"{_name(_join(path, str(name)))}: unknown member")
        for name, spec in self.fields.items():
            if name in value:
                spec.check(value[name], _join(path, name))
            elif name not in self.optional:
                raise EncodingError(f"{_name(_join(path, name))}: missing")


@dataclass(frozen=True)
class AnyJson(Spec):
    """Any canonicalisable JSON value (checked by :func:`~proofs.canonical.canonical_json`)."""

    def check(self, value: object, path: str) -> None:
        """Reject values with no canonical encoding."""
        try:
            canonical_json(value)
        except EncodingError as e:
            raise EncodingError(f"{_name(path)}: {e}") from None


SIGNATURE_ENTRY = Object(
    {"key_id": Str(32, r"[0-9a-f]{32}"), "alg": Const(SIGNATURE_ALG), "sig": Bytes(SIGNATURE_SIZE)}
)
SIGNATURES_SPEC = ListOf(SIGNATURE_ENTRY, min_length=1, max_length=16)
"""Spec of the ``signatures`` member; include it (optionally) in signed kinds' schemas."""


def check_document(doc: object, kind: str, versions: Collection[int], schema: Object) -> int:
    """Check format, kind, version and every member of ``doc`` against ``schema``; return the version.

    ``schema`` must declare ``format`` (any spec; it is checked here) and, for signed kinds,
    ``signatures`` (use :data:`SIGNATURES_SPEC`). Raises :class:`EncodingError` naming the path.
    """
    version = require_format(doc, kind, versions)
    schema.check(doc, "")
    return version


# --- files -------------------------------------------------------------------------------------


def dump_bundle(doc: Mapping[str, Any]) -> bytes:
    """Return the deterministic file bytes of a bundle: canonical JSON and a final newline.

    Raises :class:`EncodingError` if ``doc`` has no ``format`` or no canonical encoding.
    """
    if not isinstance(doc, Mapping) or "format" not in doc:
        raise EncodingError("format: missing")
    parse_format(doc["format"])
    return canonical_json(doc) + b"\n"


def load_bundle(source: bytes | str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a bundle from bytes, or from the file at a path (``str`` or path-like).

    Returns the JSON object. Raises :class:`EncodingError` for malformed JSON (strict: see
    :func:`~proofs.canonical.parse_json`), a non-object, or a missing/malformed ``format``;
    ``OSError`` if the file cannot be read. Kind- and version-specific checks are the caller's
    (:func:`require_format`, :func:`check_document`).
    """
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        with open(source, "rb") as f:
            data = f.read()
    doc = parse_json(data)
    if not isinstance(doc, dict):
        raise EncodingError(f"(document): expected a JSON object, got {type(doc).__name__}")
    if "format" not in doc:
        raise EncodingError("format: missing")
    parse_format(doc["format"])
    return doc


# --- signed documents ---------------------------------------------------------------------------


def signing_domain(kind: str) -> str:
    """The signature domain of bundles of ``kind``: ``"bundle/<kind>"``."""
    return f"bundle/{kind}"


def unsigned_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``doc`` without its ``signatures`` member: the part every signature covers."""
    return {k: v for k, v in doc.items() if k != SIGNATURES}


def _signature_entries(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if SIGNATURES not in doc:
        return []
    entries = doc[SIGNATURES]
    SIGNATURES_SPEC.check(entries, SIGNATURES)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry["key_id"] in seen:
            raise EncodingError(f"signatures[{i}].key_id: duplicate key id {entry['key_id']}")
        seen.add(entry["key_id"])
    return list(entries)


def sign_document(private_key: Ed25519PrivateKey, kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``doc`` with one more signature, by ``private_key``, appended.

    The signature covers :func:`unsigned_body` under domain ``bundle/<kind>``; existing signatures
    are kept, so a second party can co-sign. Raises :class:`EncodingError` if ``doc`` is not a
    ``kind`` bundle, is not canonicalisable, has malformed signatures, or this key already signed.
    """
    require_format(doc, kind)
    entries = _signature_entries(doc)
    body = unsigned_body(doc)
    kid = key_id(private_key.public_key())
    if any(e["key_id"] == kid for e in entries):
        raise EncodingError(f"signatures: key {kid} has already signed this document")
    sig = sign(private_key, signing_domain(kind), body)
    entry = {"key_id": kid, "alg": SIGNATURE_ALG, "sig": encode_bytes(sig)}
    return {**body, SIGNATURES: [*(dict(e) for e in entries), entry]}


def verify_document(
    doc: Mapping[str, Any],
    kind: str,
    gateway_key: Ed25519PublicKey,
    *,
    cosigner_keys: Sequence[Ed25519PublicKey] = (),
    require_cosigners: bool = False,
) -> None:
    """Verify the signatures of a ``kind`` document with keys the caller trusts.

    Every signature whose key id belongs to ``gateway_key`` or a ``cosigner_keys`` entry is
    verified; signatures by other keys are ignored (they prove nothing to this caller). A valid
    gateway signature is always required; with ``require_cosigners`` every cosigner's is too.

    Returns ``None``. Raises :class:`EncodingError` if the document or its ``signatures`` member
    is malformed, and ``VerificationError("bundle.signature", ...)`` if a required signature is
    missing or any trusted key's signature does not verify.
    """
    require_format(doc, kind)
    entries = _signature_entries(doc)
    if not entries:
        raise VerificationError(CHECK_SIGNATURE, "document is not signed")
    gateway_id = key_id(gateway_key)
    trusted = {gateway_id: gateway_key}
    for k in cosigner_keys:
        trusted[key_id(k)] = k
    body = unsigned_body(doc)
    present: set[str] = set()
    for i, entry in enumerate(entries):
        kid = entry["key_id"]
        public_key = trusted.get(kid)
        if public_key is None:
            continue
        try:
            verify(public_key, signing_domain(kind), body, decode_bytes(entry["sig"], f"signatures[{i}].sig"))
        except VerificationError:
            raise VerificationError(
                CHECK_SIGNATURE, f"signatures[{i}] by key {kid} does not verify"
            ) from None
        present.add(kid)
    if gateway_id not in present:
        raise VerificationError(CHECK_SIGNATURE, f"no signature by the gateway key {gateway_id}")
    if require_cosigners:
        missing = sorted(set(trusted) - present)
        if missing:
            raise VerificationError(CHECK_SIGNATURE, f"missing co-signature by key {', '.join(missing)}")
