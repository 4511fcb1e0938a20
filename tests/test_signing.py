"""Ed25519 signing: RFC 8032 vectors, tampering, domain separation, key encodings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.canonical import domain_separated
from proofs.errors import EncodingError, VerificationError
from proofs.signing import (
    SIGNATURE_SIZE,
    generate_private_key,
    key_id,
    load_public_key,
    parse_public_key,
    private_key_from_pem,
    private_key_from_raw,
    private_key_raw,
    private_key_to_pem,
    public_key_from_pem,
    public_key_from_raw,
    public_key_raw,
    public_key_to_pem,
    sign,
    sign_raw,
    verify,
    verify_raw,
)
from tests.vectors_util import load_vectors, unhex

RFC8032 = load_vectors("signing_rfc8032_ed25519.json")["vectors"]
KEY = private_key_from_raw(unhex(RFC8032[0]["secret_key"]))
PUB = KEY.public_key()
DOC: dict[str, Any] = {"format": "poolproof/snapshot-header/v1", "leaves": 3, "root": "ab" * 32}


# --- RFC 8032 §7.1 through the raw layer --------------------------------------------------------


@pytest.mark.parametrize("v", RFC8032, ids=lambda v: v["name"])
def test_rfc8032_vector_signs_and_verifies(v: dict[str, str]) -> None:
    sk = private_key_from_raw(unhex(v["secret_key"]))
    assert public_key_raw(sk.public_key()).hex() == v["public_key"]
    sig = sign_raw(sk, unhex(v["message"]))
    assert sig.hex() == v["signature"]
    verify_raw(public_key_from_raw(unhex(v["public_key"])), unhex(v["message"]), sig)


@pytest.mark.parametrize("v", RFC8032, ids=lambda v: v["name"])
def test_rfc8032_vector_rejects_every_single_byte_change_of_signature(v: dict[str, str]) -> None:
    pk = public_key_from_raw(unhex(v["public_key"]))
    sig, msg = unhex(v["signature"]), unhex(v["message"])
    for i in range(SIGNATURE_SIZE):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        with pytest.raises(VerificationError, match=r"^signature"):
            verify_raw(pk, msg, bytes(bad))


@pytest.mark.parametrize("v", RFC8032, ids=lambda v: v["name"])
def test_rfc8032_vector_rejects_changed_message_and_other_key(v: dict[str, str]) -> None:
    pk = public_key_from_raw(unhex(v["public_key"]))
    sig, msg = unhex(v["signature"]), unhex(v["message"])
    with pytest.raises(VerificationError):
        verify_raw(pk, msg + b"\x00", sig)
    if msg:
        with pytest.raises(VerificationError):
            verify_raw(pk, bytes([msg[0] ^ 1]) + msg[1:], sig)
    other = next(w for w in RFC8032 if w is not v)
    with pytest.raises(VerificationError):
        verify_raw(public_key_from_raw(unhex(other["public_key"])), msg, sig)


def test_signature_with_s_not_reduced_mod_l_is_rejected() -> None:
    # RFC 8032 §5.1.7 step 1: S must be < L; adding L to S gives the same group equation.
    v = RFC8032[0]
    sig = unhex(v["signature"])
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(sig[32:], "little") + order
    forged = sig[:32] + s.to_bytes(32, "little")
    with pytest.raises(VerificationError):
        verify_raw(public_key_from_raw(unhex(v["public_key"])), unhex(v["message"]), forged)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_signature_of_wrong_length_is_rejected(length: int) -> None:
    with pytest.raises(VerificationError, match="must be 64 bytes"):
        verify_raw(PUB, b"m", b"\x00" * length)


# --- documents and domains ----------------------------------------------------------------------


def test_document_signature_is_over_domain_separated_canonical_json() -> None:
    sig = sign(KEY, "bundle/snapshot-header", DOC)
    verify_raw(PUB, domain_separated("bundle/snapshot-header", DOC), sig)
    verify(PUB, "bundle/snapshot-header", dict(reversed(list(DOC.items()))), sig)


def test_signature_for_one_domain_does_not_verify_for_another() -> None:
    sig = sign(KEY, "bundle/snapshot-header", DOC)
    with pytest.raises(VerificationError, match=r"^signature"):
        verify(PUB, "bundle/claim", DOC, sig)


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(sorted(DOC)), value=st.integers(0, 2**53 - 1) | st.text(max_size=5))
def test_any_change_to_the_document_invalidates_the_signature(key: str, value: Any) -> None:
    sig = sign(KEY, "bundle/snapshot-header", DOC)
    changed = {**DOC, key: value}
    if changed == DOC:
        return
    with pytest.raises(VerificationError):
        verify(PUB, "bundle/snapshot-header", changed, sig)


def test_added_member_invalidates_the_signature() -> None:
    sig = sign(KEY, "bundle/snapshot-header", DOC)
    with pytest.raises(VerificationError):
        verify(PUB, "bundle/snapshot-header", {**DOC, "extra": None}, sig)


def test_signature_from_another_key_is_rejected() -> None:
    sig = sign(generate_private_key(), "bundle/snapshot-header", DOC)
    with pytest.raises(VerificationError, match=key_id(PUB)):
        verify(PUB, "bundle/snapshot-header", DOC, sig)


def test_unsignable_document_raises_encoding_error() -> None:
    with pytest.raises(EncodingError):
        sign(KEY, "bundle/claim", {"ratio": 0.03})


# --- keys ---------------------------------------------------------------------------------------


def test_key_id_is_first_16_bytes_of_sha256_of_raw_public_key_in_hex() -> None:
    assert key_id(PUB) == hashlib.sha256(public_key_raw(PUB)).hexdigest()[:32]
    assert len(key_id(PUB)) == 32


def test_public_key_pem_and_hex_round_trip(tmp_path: Path) -> None:
    assert public_key_raw(public_key_from_pem(public_key_to_pem(PUB))) == public_key_raw(PUB)
    (tmp_path / "k.pem").write_bytes(public_key_to_pem(PUB))
    (tmp_path / "k.hex").write_text(public_key_raw(PUB).hex().upper() + "\n")
    for name in ("k.pem", "k.hex"):
        assert public_key_raw(load_public_key(tmp_path / name)) == public_key_raw(PUB)


def test_private_key_pem_round_trips_with_and_without_password() -> None:
    assert private_key_raw(private_key_from_pem(private_key_to_pem(KEY))) == private_key_raw(KEY)
    pem = private_key_to_pem(KEY, b"correct horse")
    assert private_key_raw(private_key_from_pem(pem, b"correct horse")) == private_key_raw(KEY)
    with pytest.raises(EncodingError, match="wrong format or password") as e:
        private_key_from_pem(pem, b"wrong")
    assert private_key_raw(KEY).hex() not in str(e.value)


@pytest.mark.parametrize(
    "text",
    ["", "zz" * 32, "ab" * 31, "ab" * 33, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
)
def test_malformed_public_key_text_is_rejected(text: str) -> None:
    with pytest.raises(EncodingError):
        parse_public_key(text)


def test_pem_holding_another_key_type_is_rejected() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(EncodingError, match="not an Ed25519 key"):
        public_key_from_pem(pem)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33])
def test_raw_public_key_of_wrong_length_is_rejected(raw: bytes) -> None:
    with pytest.raises(EncodingError, match="expected 32 bytes"):
        public_key_from_raw(raw)
