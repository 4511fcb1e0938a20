"""Platform signatures over tape submissions (non-repudiation).

A platform signs, with Ed25519 (RFC 8032, pyca/cryptography), the domain-separated message

    b"poolproof/v1/tape\\x00" || pool_id || b"\\x00" || cutoff_date || b"\\x00" || SHA-256(body)

and sends the signature with the body's SHA-256 in request headers. Binding the pool and cut-off makes a
signature useless for any other tape, pool or cut-off; binding the hash (of the exact bytes sent) makes
it useless for another body. Signing the hash rather than the body lets a client sign a file of any size
while streaming it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import GatewayError

TAPE_DOMAIN = b"poolproof/v1/tape\x00"


class TapeSignatureError(GatewayError):
    """The tape signature is malformed or does not verify under the platform's registered key."""

    http_status: ClassVar[int] = 403


def tape_signing_message(pool_id: str, cutoff: str, content_sha256_hex: str) -> bytes:
    """The exact bytes a platform signs for a tape (raises ``ValueError`` for a malformed hash)."""
    digest = bytes.fromhex(content_sha256_hex)
    if len(digest) != 32:
        raise ValueError("content hash must be a SHA-256 digest (64 hex digits)")
    return TAPE_DOMAIN + pool_id.encode() + b"\x00" + cutoff.encode() + b"\x00" + digest


def sign_tape(private_key: Ed25519PrivateKey, pool_id: str, cutoff: str, content_sha256_hex: str) -> bytes:
    """Ed25519 signature (64 bytes) over :func:`tape_signing_message`."""
    return private_key.sign(tape_signing_message(pool_id, cutoff, content_sha256_hex))


def verify_tape_signature(
    public_key: bytes, signature: bytes, pool_id: str, cutoff: str, content_sha256_hex: str
) -> None:
    """Return ``None`` if ``signature`` verifies; raise :class:`TapeSignatureError` otherwise."""
    if len(signature) != 64:
        raise TapeSignatureError("an Ed25519 signature is 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, tape_signing_message(pool_id, cutoff, content_sha256_hex)
        )
    except (InvalidSignature, ValueError):
        raise TapeSignatureError(
            "tape signature does not verify under the platform's registered key"
        ) from None


def file_sha256(f: BinaryIO) -> str:
    """SHA-256 hex of a file's remaining bytes, read in chunks."""
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key."""
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM (PKCS#8) file; raises ``ValueError`` if it is not one."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def write_private_key(key: Ed25519PrivateKey, path: str | Path) -> None:
    """Write a PEM (PKCS#8, unencrypted) private key with mode 0600; refuses to overwrite."""
    import os

    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
