"""Key management at rest: a master key outside the database wraps one data key per pool.

* The master key (32 bytes) comes from configuration (``MASTER_KEY``, base64) or a key file
  (``MASTER_KEY_FILE``), never from the database.
* Each pool has a random 256-bit data key, stored only wrapped: AES-256-GCM under the master key with
  the pool id in the associated data, so a wrapped key cannot be moved to another pool.
* Level 3+ loan fields are encrypted with AES-256-GCM under the pool data key (NIST SP 800-38D), random
  96-bit nonces, associated data binding pool id, cut-off date and the loan's row id (tape and index),
  so a ciphertext cannot be swapped between loans or snapshots without failing authentication.
* Keyed identifiers (the linking key of a platform loan id, the obligor pseudonym) use keyed BLAKE2b
  (RFC 7693) under subkeys derived from the data key with HKDF-SHA256 (RFC 5869).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import GatewayError

KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_AAD = b"poolproof/v1/pool-data-key\x00"
_LOAN_AAD = b"poolproof/v1/loan\x00"


class KeyringError(GatewayError):
    """Raised when key material is missing, malformed, or fails to unwrap."""

    http_status: ClassVar[int] = 503


def generate_master_key_file(path: str | Path) -> Path:
    """Write a fresh random 32-byte master key (base64) to ``path`` with mode 0600; refuse to overwrite."""
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
    return p


def load_master_key(*, key: str | bytes | None = None, key_file: str | Path | None = None) -> bytes:
    """The 32-byte master key from a base64 value or a key file.

    Raises :class:`KeyringError` if the key is absent or malformed.
    """
    if key is None and key_file is not None:
        try:
            key = Path(key_file).read_bytes().decode("ascii").strip()
        except OSError as exc:
            raise KeyringError(f"cannot read master key file {key_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise KeyringError(f"master key file {key_file} is not base64 text") from None
    if key is None:
        raise KeyringError("no master key configured (set MASTER_KEY or MASTER_KEY_FILE)")
    if isinstance(key, bytes) and len(key) == KEY_BYTES:
        return key
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raise KeyringError("master key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"master key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def wrap_data_key(master: bytes, pool_id: str, data_key: bytes) -> bytes:
    """AES-GCM-wrap a pool data key under the master key: ``nonce || ciphertext+tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _WRAP_AAD + pool_id.encode())


def unwrap_data_key(master: bytes, pool_id: str, wrapped: bytes) -> bytes:
    """Inverse of :func:`wrap_data_key`; raises :class:`KeyringError` on a wrong key or pool id."""
    from cryptography.exceptions import InvalidTag

    try:
        return AESGCM(master).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _WRAP_AAD + pool_id.encode()
        )
    except InvalidTag:
        raise KeyringError(f"pool {pool_id}: data key does not unwrap under this master key") from None


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class PoolKeys:
    """The working keys of one pool: AEAD for level 3+ fields and two HMAC subkeys."""

    pool_id: str
    data_key: bytes = field(repr=False)
    aead: AESGCM = field(repr=False)
    loan_key_mac: bytes = field(repr=False)
    pseudonym_mac: bytes = field(repr=False)
    # Input of policies.derive_pseudonym_key (one key per recipient and pool).
    recipient_pseudonym_master: bytes = field(repr=False)

    @classmethod
    def from_data_key(cls, pool_id: str, data_key: bytes) -> PoolKeys:
        """Derive the working keys (HKDF-SHA256 with distinct info labels) from a pool data key."""
        return cls(
            pool_id=pool_id,
            data_key=data_key,
            aead=AESGCM(data_key),
            loan_key_mac=_hkdf(data_key, b"poolproof/v1/loan-key"),
            pseudonym_mac=_hkdf(data_key, b"poolproof/v1/obligor-pseudonym"),
            recipient_pseudonym_master=_hkdf(data_key, b"poolproof/v1/recipient-pseudonym-master"),
        )

    def loan_aad(self, cutoff: str, loan_ref: int) -> bytes:
        """Associated data of a loan's encrypted blob: pool id, cut-off and the loan's stored position.

        ``loan_ref`` is the loan's row id (tape id and index in the tape), fixed when it is written.
        """
        return b"%s%s\x00%s\x00%d" % (_LOAN_AAD, self.pool_id.encode(), cutoff.encode(), loan_ref)

    def encrypt(self, plaintext: bytes, cutoff: str, loan_ref: int) -> bytes:
        """Encrypt level 3+ fields of one loan: ``nonce || ciphertext+tag``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self.aead.encrypt(nonce, plaintext, self.loan_aad(cutoff, loan_ref))

    def decrypt(self, blob: bytes, cutoff: str, loan_ref: int) -> bytes:
        """Decrypt an encrypted blob; raises ``cryptography.exceptions.InvalidTag`` if altered or moved."""
        return self.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self.loan_aad(cutoff, loan_ref))

    def loan_key(self, platform_loan_id: str) -> bytes:
        """Keyed 16-byte identifier of a platform loan id (stable per pool, not reversible).

        Keyed BLAKE2b (RFC 7693 §2.5 keyed mode, a PRF): as strong as HMAC-SHA256 here and a single
        C call, which matters at a million rows per tape.
        """
        return hashlib.blake2b(platform_loan_id.encode(), key=self.loan_key_mac, digest_size=16).digest()

    def obligor_pseudonym(self, subject: str) -> str:
        """Pool-scoped obligor pseudonym: 32 hex digits of keyed BLAKE2b over a normalised identity."""
        return hashlib.blake2b(subject.encode(), key=self.pseudonym_mac, digest_size=16).hexdigest()


def new_data_key() -> bytes:
    """A fresh random pool data key."""
    return secrets.token_bytes(KEY_BYTES)
