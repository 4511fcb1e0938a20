"""Versioned bundles: formats, strict hex fields, schemas, deterministic files, signed documents."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.bundle import (
    SIGNATURES_SPEC,
    AnyJson,
    Bool,
    Bytes,
    Const,
    Int,
    ListOf,
    Nullable,
    Object,
    Str,
    check_document,
    decode_bytes,
    dump_bundle,
    encode_bytes,
    format_string,
    load_bundle,
    parse_format,
    require_format,
    sign_document,
    unsigned_body,
    verify_document,
)
from proofs.errors import EncodingError, VerificationError
from proofs.signing import generate_private_key, key_id

GATEWAY = generate_private_key()
PLATFORM = generate_private_key()
STRANGER = generate_private_key()

HEADER: dict[str, Any] = {
    "format": "poolproof/snapshot-header/v1",
    "pool_id": "pool-2024-01",
    "cutoff": "2024-01-31",
    "leaves": 3,
    "merkle_root": "ab" * 32,
}
HEADER_SCHEMA = Object(
    {
        "format": Str(),
        "pool_id": Str(64, r"[a-z0-9-]+"),
        "cutoff": Str(10, r"\d{4}-\d{2}-\d{2}"),
        "leaves": Int(0),
        "merkle_root": Bytes(32),
        "signatures": SIGNATURES_SPEC,
    },
    optional=frozenset({"signatures"}),
)


# --- formats -------------------------------------------------------------------------------------


def test_format_string_round_trips() -> None:
    assert format_string("snapshot-header", 1) == "poolproof/snapshot-header/v1"
    assert parse_format("poolproof/claim/v12") == ("claim", 12)


@pytest.mark.parametrize(
    "value",
    [
        "poolproof/claim/v0",
        "poolproof/claim/1",
        "poolproof/Claim/v1",
        "other/claim/v1",
        "poolproof/claim/v01",
        7,
    ],
)
def test_malformed_format_is_rejected(value: object) -> None:
    with pytest.raises(EncodingError, match=r"^format"):
        parse_format(value)


def test_require_format_accepts_listed_versions_only() -> None:
    assert require_format({"format": "poolproof/claim/v2"}, "claim", {1, 2}) == 2
    with pytest.raises(EncodingError, match=r"claim version v3 is not supported \(supported: v1, v2\)"):
        require_format({"format": "poolproof/claim/v3"}, "claim", {1, 2})
    with pytest.raises(EncodingError, match="expected a 'claim' bundle, got 'inclusion'"):
        require_format({"format": "poolproof/inclusion/v1"}, "claim", {1})
    with pytest.raises(EncodingError, match="format: missing"):
        require_format({}, "claim", {1})
    with pytest.raises(EncodingError, match="expected a JSON object"):
        require_format([], "claim", {1})


# --- bytes ---------------------------------------------------------------------------------------


def test_decode_bytes_names_the_path_and_the_lengths() -> None:
    with pytest.raises(EncodingError, match=r"^proof\.A: expected 48 bytes, got 47$"):
        decode_bytes("00" * 47, "proof.A", 48)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("AB" * 4, "not lowercase hex"),
        ("abc", "not lowercase hex"),
        ("0x00", "not lowercase hex"),
        (" 00", "not lowercase hex"),
        ("zz", "not lowercase hex"),
        (12, "expected a hex string, got int"),
        (None, "expected a hex string, got NoneType"),
    ],
)
def test_decode_bytes_rejects_non_canonical_hex(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        decode_bytes(value, "x")


@given(st.binary(max_size=100))
def test_encode_decode_bytes_round_trip(data: bytes) -> None:
    assert decode_bytes(encode_bytes(data), "x", len(data)) == data


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(max_size=20).filter(lambda t: not (len(t) == 8 and all(c in "0123456789abcdef" for c in t))),
        st.integers(),
        st.none(),
        st.lists(st.text(max_size=3), max_size=3),
    )
)
def test_decode_bytes_rejects_everything_but_4_byte_hex_with_encoding_error(value: object) -> None:
    with pytest.raises(EncodingError, match=r"^x: "):
        decode_bytes(value, "x", 4)


# --- schemas -------------------------------------------------------------------------------------


def test_schema_accepts_a_well_formed_document() -> None:
    assert check_document(HEADER, "snapshot-header", {1}, HEADER_SCHEMA) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, r"^extra: unknown member$"),
        ({"leaves": -1}, r"^leaves: -1 is outside"),
        ({"leaves": True}, r"^leaves: expected an integer, got bool"),
        ({"merkle_root": "ab" * 31}, r"^merkle_root: expected 32 bytes, got 31$"),
        ({"cutoff": "2024/01/31"}, r"^cutoff: does not match"),
        ({"signatures": []}, r"^signatures: expected 1 to 16 items, got 0"),
        (
            {"signatures": [{"key_id": "0" * 32, "alg": "rsa", "sig": "00" * 64}]},
            r"^signatures\[0\]\.alg: expected",
        ),
        (
            {"signatures": [{"key_id": "0" * 32, "alg": "ed25519", "sig": "00" * 63}]},
            r"signatures\[0\]\.sig: expected 64",
        ),
    ],
)
def test_schema_rejects_with_the_json_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        check_document({**HEADER, **change}, "snapshot-header", {1}, HEADER_SCHEMA)


def test_schema_rejects_missing_required_member() -> None:
    doc = {k: v for k, v in HEADER.items() if k != "leaves"}
    with pytest.raises(EncodingError, match=r"^leaves: missing$"):
        check_document(doc, "snapshot-header", {1}, HEADER_SCHEMA)


def test_nested_specs_report_nested_paths() -> None:
    spec = Object(
        {"proof": Object({"L": ListOf(Bytes(48), max_length=2), "ok": Bool(), "n": Nullable(Int())})}
    )
    spec.check({"proof": {"L": ["00" * 48], "ok": True, "n": None}}, "")
    with pytest.raises(EncodingError, match=r"^proof\.L\[1\]: expected 48 bytes, got 1$"):
        spec.check({"proof": {"L": ["00" * 48, "00"], "ok": True, "n": 1}}, "")
    with pytest.raises(EncodingError, match=r"^proof\.L: expected 0 to 2 items, got 3$"):
        spec.check({"proof": {"L": ["00" * 48] * 3, "ok": True, "n": 1}}, "")
    with pytest.raises(EncodingError, match=r"^proof\.ok: expected a boolean"):
        spec.check({"proof": {"L": [], "ok": 1, "n": 1}}, "")


def test_const_and_any_json_specs() -> None:
    Const(1).check(1, "v")
    with pytest.raises(EncodingError):
        Const(1).check(True, "v")
    AnyJson().check({"a": [1, "x"]}, "meta")
    with pytest.raises(EncodingError, match=r"^meta: "):
        AnyJson().check({"a": 1.5}, "meta")


# --- files ---------------------------------------------------------------------------------------


def test_dump_is_canonical_and_deterministic() -> None:
    reordered = dict(reversed(list(HEADER.items())))
    assert dump_bundle(HEADER) == dump_bundle(reordered)
    assert dump_bundle(HEADER).endswith(b"}\n")
    assert b" " not in dump_bundle(HEADER)


def test_load_reads_bytes_and_files(tmp_path: Path) -> None:
    path = tmp_path / "header.json"
    path.write_bytes(dump_bundle(HEADER))
    assert load_bundle(path) == HEADER
    assert load_bundle(str(path)) == HEADER
    assert load_bundle(b'{\n  "format": "poolproof/claim/v1"\n}') == {"format": "poolproof/claim/v1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "expected a JSON object, got list"),
        (b"{}", "format: missing"),
        (b'{"format":"x"}', "not of the form"),
        (b'{"format":"poolproof/claim/v1","format":"poolproof/claim/v2"}', "duplicate"),
        (b'{"format":"poolproof/claim/v1","p":0.5}', "float"),
        (b"\xef\xbb\xbf{}", "malformed|UTF-8"),
    ],
)
def test_load_rejects_malformed_bundles(data: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        load_bundle(data)


@settings(max_examples=200)
@given(st.binary(max_size=80))
def test_load_raises_only_encoding_error_on_garbage(data: bytes) -> None:
    with contextlib.suppress(EncodingError):
        load_bundle(data)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=15,
)


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "format"), JSONISH, max_size=5))
def test_dump_load_round_trip(extra: dict[str, Any]) -> None:
    doc = {"format": "poolproof/claim/v1", **extra}
    assert load_bundle(dump_bundle(doc)) == doc


@settings(max_examples=150)
@given(JSONISH)
def test_schema_check_raises_only_encoding_error(value: Any) -> None:
    with contextlib.suppress(EncodingError):
        HEADER_SCHEMA.check(value, "")


# --- signed documents ---------------------------------------------------------------------------


def _signed(*keys: Any) -> dict[str, Any]:
    doc: dict[str, Any] = dict(HEADER)
    for k in keys:
        doc = sign_document(k, "snapshot-header", doc)
    return doc


def test_gateway_signed_document_verifies_and_fits_the_schema() -> None:
    doc = _signed(GATEWAY)
    check_document(doc, "snapshot-header", {1}, HEADER_SCHEMA)
    assert doc["signatures"][0]["key_id"] == key_id(GATEWAY.public_key())
    verify_document(doc, "snapshot-header", GATEWAY.public_key())


def test_platform_co_signature_is_verified_when_trusted_and_required() -> None:
    doc = _signed(GATEWAY, PLATFORM)
    assert [s["key_id"] for s in doc["signatures"]] == [
        key_id(GATEWAY.public_key()),
        key_id(PLATFORM.public_key()),
    ]
    verify_document(
        doc,
        "snapshot-header",
        GATEWAY.public_key(),
        cosigner_keys=[PLATFORM.public_key()],
        require_cosigners=True,
    )
    # Order of signing does not matter: each signature covers the body only.
    verify_document(
        _signed(PLATFORM, GATEWAY),
        "snapshot-header",
        GATEWAY.public_key(),
        cosigner_keys=[PLATFORM.public_key()],
    )


def test_missing_required_co_signature_is_rejected() -> None:
    with pytest.raises(VerificationError, match="missing co-signature"):
        verify_document(
            _signed(GATEWAY),
            "snapshot-header",
            GATEWAY.public_key(),
            cosigner_keys=[PLATFORM.public_key()],
            require_cosigners=True,
        )


def test_document_without_gateway_signature_is_rejected() -> None:
    with pytest.raises(VerificationError, match="no signature by the gateway key"):
        verify_document(_signed(STRANGER), "snapshot-header", GATEWAY.public_key())
    with pytest.raises(VerificationError, match="not signed"):
        verify_document(HEADER, "snapshot-header", GATEWAY.public_key())


def test_untrusted_signatures_are_ignored_not_trusted() -> None:
    verify_document(_signed(GATEWAY, STRANGER), "snapshot-header", GATEWAY.public_key())


@pytest.mark.parametrize("member", ["pool_id", "cutoff", "leaves", "merkle_root", "format"])
def test_changing_any_member_breaks_the_signature(member: str) -> None:
    doc = _signed(GATEWAY)
    replacement: dict[str, Any] = {
        "pool_id": "pool-2024-02",
        "cutoff": "2024-02-29",
        "leaves": 4,
        "merkle_root": "cd" * 32,
        "format": "poolproof/snapshot-header/v2",
    }
    doc[member] = replacement[member]
    with pytest.raises(VerificationError, match=r"^bundle\.signature: signatures\[0\] by key"):
        verify_document(doc, "snapshot-header", GATEWAY.public_key())


def test_adding_or_removing_a_member_breaks_the_signature() -> None:
    doc = _signed(GATEWAY)
    with pytest.raises(VerificationError):
        verify_document({**doc, "note": "x"}, "snapshot-header", GATEWAY.public_key())
    del doc["cutoff"]
    with pytest.raises(VerificationError):
        verify_document(doc, "snapshot-header", GATEWAY.public_key())


def test_every_byte_of_the_signature_is_checked() -> None:
    doc = _signed(GATEWAY)
    sig = bytes.fromhex(doc["signatures"][0]["sig"])
    for i in range(len(sig)):
        bad = copy.deepcopy(doc)
        bad["signatures"][0]["sig"] = (sig[:i] + bytes([sig[i] ^ 0x80]) + sig[i + 1 :]).hex()
        with pytest.raises(VerificationError):
            verify_document(bad, "snapshot-header", GATEWAY.public_key())


def test_signature_cannot_be_replayed_on_another_kind() -> None:
    doc = _signed(GATEWAY)
    replayed = {**doc, "format": "poolproof/claim/v1"}
    with pytest.raises(VerificationError):
        verify_document(replayed, "claim", GATEWAY.public_key())


def test_signature_relabelled_with_a_trusted_cosigner_key_id_is_rejected() -> None:
    doc = _signed(STRANGER)
    doc["signatures"][0]["key_id"] = key_id(PLATFORM.public_key())
    with pytest.raises(VerificationError, match="does not verify"):
        verify_document(doc, "snapshot-header", GATEWAY.public_key(), cosigner_keys=[PLATFORM.public_key()])


def test_duplicate_and_repeated_signers_are_rejected() -> None:
    doc = _signed(GATEWAY)
    with pytest.raises(EncodingError, match="already signed"):
        sign_document(GATEWAY, "snapshot-header", doc)
    doc["signatures"].append(dict(doc["signatures"][0]))
    with pytest.raises(EncodingError, match="duplicate key id"):
        verify_document(doc, "snapshot-header", GATEWAY.public_key())


def test_sign_document_checks_the_kind_and_keeps_the_input_unchanged() -> None:
    before = copy.deepcopy(HEADER)
    sign_document(GATEWAY, "snapshot-header", HEADER)
    assert before == HEADER
    with pytest.raises(EncodingError, match="expected a 'claim' bundle"):
        sign_document(GATEWAY, "claim", HEADER)


def test_unsigned_body_drops_only_signatures() -> None:
    assert unsigned_body(_signed(GATEWAY)) == HEADER


def test_signed_bundle_survives_dump_and_load() -> None:
    doc = _signed(GATEWAY, PLATFORM)
    verify_document(load_bundle(dump_bundle(doc)), "snapshot-header", GATEWAY.public_key())
