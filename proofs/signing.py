"""Ed25519 signatures (RFC 8032 §5.1, via pyca/cryptography) over domain-separated canonical JSON.

Two layers:

- **Raw**: :func:`sign_raw` / :func:`verify_raw` sign and verify arbitrary bytes. Only for
  known-answer tests and for protocols that define their own message bytes.
- **Documents**: :func:`sign` / :func:`verify` sign
  ``proofs.canonical.domain_separated(domain, obj)``, i.e. an 8-byte length, the tag
  ``poolproof/v1/<domain>`` and the RFC 8785 canonical JSON of ``obj``. A signature made for one
  domain (say ``bundle/snapshot-header``) therefore never verifies for another.

Key ids: ``key_id(pk)`` is the first 16 bytes of ``SHA-256(raw 32-byte public key)`` as 32
lowercase hex characters. It only *names* a key; verification always uses a key the caller trusts,
never one found in a document, so a colliding id cannot make a forged signature verify.

Errors: malformed keys or signatures raise :class:`~proofs.errors.EncodingError`; a signature
that does not verify raises ``VerificationError("signature", ...)``.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofs.canonical import domain_separated
from proofs.errors import EncodingError, VerificationError

__all__ = [
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "generate_private_key",
    "key_id",
    "load_public_key",
    "parse_public_key",
    "private_key_from_pem",
    "private_key_from_raw",
    "private_key_raw",
    "private_key_to_pem",
    "public_key_from_pem",
    "public_key_from_raw",
    "public_key_raw",
    "public_key_to_pem",
    "sign",
    "sign_raw",
    "verify",
    "verify_raw",
]

PUBLIC_KEY_SIZE = 32
PRIVATE_KEY_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_HEX_CHARS = 32
CHECK_SIGNATURE = "signature"

_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")


def generate_private_key() -> Ed25519PrivateKey:
    """Return a new Ed25519 private key from the OS random source."""
    return Ed25519PrivateKey.generate()


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    """Return the 32-byte RFC 8032 encoding of ``public_key``."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(data: bytes) -> Ed25519PublicKey:
    """Decode a 32-byte RFC 8032 public key; raises :class:`EncodingError` if it is not one."""
    if not isinstance(data, bytes | bytearray) or len(data) != PUBLIC_KEY_SIZE:
        size = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise EncodingError(f"Ed25519 public key: expected {PUBLIC_KEY_SIZE} bytes, got {size}")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(data))
    except ValueError as e:
        raise EncodingError("Ed25519 public key: not a valid point encoding") from e


def private_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """Return the 32-byte RFC 8032 private key (seed). Secret: never log it."""
    return private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def private_key_from_raw(seed: bytes) -> Ed25519PrivateKey:
    """Decode a 32-byte RFC 8032 private key (seed); raises :class:`EncodingError` otherwise."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != PRIVATE_KEY_SIZE:
        raise EncodingError(f"Ed25519 private key: expected {PRIVATE_KEY_SIZE} bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    """Return the public key as PEM ``SubjectPublicKeyInfo`` (RFC 8410)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    """Load a PEM ``SubjectPublicKeyInfo`` Ed25519 key; raises :class:`EncodingError` otherwise."""
    try:
        key = serialization.load_pem_public_key(bytes(data))
    except (ValueError, UnsupportedAlgorithm) as e:
        raise EncodingError("public key PEM could not be decoded") from e
    if not isinstance(key, Ed25519PublicKey):
        raise EncodingError(f"public key PEM holds a {type(key).__name__}, not an Ed25519 key")
    return key


def private_key_to_pem(private_key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """Return the private key as PKCS#8 PEM, encrypted with ``password`` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load a PKCS#8 PEM Ed25519 private key; raises :class:`EncodingError` on any failure.

    The error never includes key material.
    """
    try:
        key = serialization.load_pem_private_key(bytes(data), password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise EncodingError("private key PEM could not be decoded (wrong format or password)") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise EncodingError(f"private key PEM holds a {type(key).__name__}, not an Ed25519 key")
    return key


def parse_public_key(text: bytes | str) -> Ed25519PublicKey:
    """Parse a public key given as PEM, or as 64 hex characters of the raw key (whitespace ignored).

    Raises :class:`EncodingError` if it is neither.
    """
    data = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if b"-----BEGIN" in data:
        return public_key_from_pem(data)
    compact = b"".join(data.split()).decode("ascii", "replace")
    if not _HEX64_RE.fullmatch(compact):
        raise EncodingError("public key must be PEM or 64 hex characters of the raw Ed25519 key")
    return public_key_from_raw(bytes.fromhex(compact))


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read a public key file (PEM, or 64 hex characters) and parse it with :func:`parse_public_key`."""
    with open(path, "rb") as f:
        return parse_public_key(f.read())


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key id: hex of the first 16 bytes of ``SHA-256(raw public key)`` (32 characters)."""
    return hashlib.sha256(public_key_raw(public_key)).hexdigest()[:KEY_ID_HEX_CHARS]


def sign_raw(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Return the 64-byte RFC 8032 §5.1.6 Ed25519 signature of ``message``."""
    return private_key.sign(bytes(message))


def verify_raw(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> None:
    """Check an RFC 8032 §5.1.7 Ed25519 signature of ``message``.

    Returns ``None``; raises ``VerificationError("signature", ...)`` if the signature is not 64
    bytes or does not verify.
    """
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_SIZE:
        size = len(signature) if isinstance(signature, bytes | bytearray) else type(signature).__name__
        raise VerificationError(
            CHECK_SIGNATURE, f"Ed25519 signature must be {SIGNATURE_SIZE} bytes, got {size}"
        )
    try:
        public_key.verify(bytes(signature), bytes(message))
    except InvalidSignature:
        raise VerificationError(
            CHECK_SIGNATURE, f"Ed25519 signature does not verify for key {key_id(public_key)}"
        ) from None


def sign(private_key: Ed25519PrivateKey, domain: str, obj: Any) -> bytes:
    """Sign the canonical JSON of ``obj`` under ``domain``; returns the 64-byte signature.

    Raises :class:`EncodingError` if ``domain`` is invalid or ``obj`` has no canonical encoding.
    """
    return sign_raw(private_key, domain_separated(domain, obj))


def verify(public_key: Ed25519PublicKey, domain: str, obj: Any, signature: bytes) -> None:
    """Check a :func:`sign` signature of ``obj`` under ``domain`` with a key the caller trusts.

    Returns ``None``; raises ``VerificationError("signature", ...)`` if it does not verify
    (including when it was made for a different domain) and :class:`EncodingError` if ``obj``
    has no canonical encoding.
    """
    verify_raw(public_key, domain_separated(domain, obj), signature)
