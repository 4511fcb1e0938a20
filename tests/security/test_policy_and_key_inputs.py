"""Outside input that is not a tape or a bundle: policy files, public keys, signatures, key files.

Each parser gets mutated or random input and must answer with its own documented error (policy:
:class:`policies.PolicyFileError`; keys and signatures: :class:`proofs.errors.EncodingError` /
:class:`~proofs.errors.VerificationError`; gateway key files: ``KeyringError`` / ``GatewayKeyError``;
tape signatures: ``TapeSignatureError``) -- never another exception.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policies
from gateway.keys.gateway_key import GatewayKeyError, load_gateway_key
from gateway.keys.keyring import KeyringError, load_master_key
from gateway.keys.tape_signatures import (
    TapeSignatureError,
    public_key_bytes,
    sign_tape,
    verify_tape_signature,
)
from policies import PolicyFileError, load_policy
from proofs.errors import EncodingError, VerificationError
from proofs.signing import (
    parse_public_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
    verify_raw,
)

SETTINGS = settings(
    max_examples=80, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
POLICY = Path(policies.__file__).with_name("default_policy.toml")
CATALOGUE = Path(policies.__file__).with_name("catalogue.toml")


@st.composite
def mutated_toml(draw: st.DrawFn, original: str) -> str:
    lines = original.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "value", "chars", "swap"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            value = draw(
                st.sampled_from(
                    ['""', "-1", "1e999", "[]", "{}", "true", '"raw"', '"deny"', "99999999999999999999"]
                )
            )
            lines[i] = f"{key}= {value}"
        elif action == "chars":
            j = draw(st.integers(min_value=0, max_value=max(0, len(lines[i]))))
            lines[i] = lines[i][:j] + draw(st.text(max_size=3)) + lines[i][j:]
        else:
            k = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


def test_mutated_policy_files_load_or_fail_with_a_policy_file_error(tmp_path: Path) -> None:
    original = POLICY.read_text(encoding="utf-8")
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_bytes(CATALOGUE.read_bytes())

    @SETTINGS
    @given(text=mutated_toml(original))
    def check(text: str) -> None:
        path = tmp_path / "default_policy.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_policy(path)
        except PolicyFileError:
            return

    check()


def test_mutated_catalogues_fail_with_a_policy_file_error(tmp_path: Path) -> None:
    original = CATALOGUE.read_text(encoding="utf-8")
    policy = tmp_path / "default_policy.toml"
    policy.write_bytes(POLICY.read_bytes())

    @settings(SETTINGS, max_examples=40)
    @given(text=mutated_toml(original))
    def check(text: str) -> None:
        (tmp_path / "catalogue.toml").write_text(text, encoding="utf-8")
        try:
            load_policy(policy)
        except PolicyFileError:
            return

    check()


def test_policy_files_that_are_not_utf8_toml_fail_with_a_policy_file_error(tmp_path: Path) -> None:
    @settings(SETTINGS, max_examples=40)
    @given(data=st.binary(max_size=200))
    def check(data: bytes) -> None:
        path = tmp_path / "p.toml"
        path.write_bytes(data)
        try:
            load_policy(path)
        except PolicyFileError:
            return
        raise AssertionError("random bytes made a policy")

    check()


@SETTINGS
@given(text=st.one_of(st.text(max_size=120), st.binary(max_size=120)))
def test_random_public_keys_are_encoding_errors(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for parse, arg in ((parse_public_key, text), (public_key_from_pem, data)):
        try:
            parse(arg)  # type: ignore[operator]
        except EncodingError:
            continue
        raise AssertionError(f"{parse.__name__} accepted {arg!r}")


def test_mutated_key_pems_are_encoding_errors_or_ed25519_keys() -> None:
    """PEM has no integrity check (any 32 bytes are a private seed): a flip gives an error or a key."""
    sk = Ed25519PrivateKey.generate()
    pems = [private_key_to_pem(sk), public_key_to_pem(sk.public_key())]

    @SETTINGS
    @given(which=st.integers(0, 1), pos=st.integers(min_value=0), mask=st.integers(1, 255))
    def check(which: int, pos: int, mask: int) -> None:
        data = bytearray(pems[which])
        data[pos % len(data)] ^= mask
        try:
            key = (private_key_from_pem if which == 0 else public_key_from_pem)(bytes(data))
        except EncodingError:
            return
        assert isinstance(key, Ed25519PrivateKey | Ed25519PublicKey)

    check()


def test_flipped_signatures_never_verify() -> None:
    sk = Ed25519PrivateKey.generate()
    message = b"poolproof test message"
    good = sk.sign(message)

    @SETTINGS
    @given(sig=st.one_of(st.binary(max_size=80), st.tuples(st.integers(0, 63), st.integers(1, 255))))
    def check(sig: bytes | tuple[int, int]) -> None:
        if isinstance(sig, tuple):
            b = bytearray(good)
            b[sig[0]] ^= sig[1]
            sig = bytes(b)
        if sig == good:
            return
        try:
            verify_raw(sk.public_key(), message, sig)
        except VerificationError:
            return
        raise AssertionError("a changed signature verified")

    check()


def test_tape_signatures_bind_pool_cutoff_and_content() -> None:
    sk = Ed25519PrivateKey.generate()
    pk = public_key_bytes(sk)
    digest = hashlib.sha256(b"tape").hexdigest()
    sig = sign_tape(sk, "P1", "2024-06-30", digest)
    verify_tape_signature(pk, sig, "P1", "2024-06-30", digest)

    @SETTINGS
    @given(
        pool=st.sampled_from(["P1", "P2", "P1\x00", ""]),
        cutoff=st.sampled_from(["2024-06-30", "2024-07-31", "2024-06-30\x00P1"]),
        other=st.binary(min_size=0, max_size=70),
    )
    def check(pool: str, cutoff: str, other: bytes) -> None:
        for args in ((pool, cutoff, digest), ("P1", "2024-06-30", hashlib.sha256(other).hexdigest())):
            if args == ("P1", "2024-06-30", digest):
                continue
            try:
                verify_tape_signature(pk, sig, *args)
            except TapeSignatureError:
                continue
            raise AssertionError(f"signature accepted for {args}")
        try:
            verify_tape_signature(pk, other, "P1", "2024-06-30", digest)
        except TapeSignatureError:
            return
        assert other == sig

    check()


def test_garbage_key_files_are_keyring_or_gateway_key_errors(tmp_path: Path) -> None:
    @settings(SETTINGS, max_examples=40)
    @given(data=st.binary(min_size=8, max_size=120))
    def check(data: bytes) -> None:
        path = tmp_path / "key"
        path.write_bytes(data)
        message = ""
        try:
            load_master_key(key_file=path)
        except KeyringError as exc:
            message = str(exc)
        assert data.hex() not in message  # key material is never echoed
        try:
            load_gateway_key(path)
        except GatewayKeyError as exc:
            message = str(exc)
        assert data.hex() not in message

    check()
