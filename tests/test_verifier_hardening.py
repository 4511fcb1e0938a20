"""What a verifier refuses of a malicious gateway: odd dates, junk signatures, repeated exposures,
crafted inclusion openings, lane-set downgrades; and prover nonces that cover the whole statement."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from proofs import bundle, sealing
from proofs.audit_cli import main
from proofs.errors import EncodingError, VerificationError
from proofs.inclusion import verify_inclusion_bundle
from proofs.signing import public_key_to_pem
from proofs.snapshot import (
    ChunkTask,
    LoanInput,
    SealParams,
    SnapshotContext,
    header_hash,
    prover_nonces,
    seal_chunk,
    verify_header,
    verify_snapshot,
)
from proofs.transcript import Transcript
from tests.snapshot_util import Sealed, inclusion_bundle_for, make_loans, seal_in_memory


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(make_loans(9, seed=11), chunk_log2=2)


def _resigned(sealed: Sealed, **changes: Any) -> dict[str, Any]:
    body = {**bundle.unsigned_body(sealed.header), **changes}
    return bundle.sign_document(sealed.key, "snapshot-header", body)


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cutoff",
    ["２０２６-１０-３１", "2026-10-3١", "2026-02-30", "2026-13-01", "26-10-31", "2026-10-31 "],
    ids=["fullwidth", "arabic-indic digit", "no such day", "no such month", "short year", "trailing space"],
)
def test_a_cutoff_that_is_not_an_ascii_calendar_date_is_refused(sealed: Sealed, cutoff: str) -> None:
    forged = _resigned(sealed, cutoff_date=cutoff)
    with pytest.raises(EncodingError, match="cutoff_date"):
        verify_header(forged, sealed.key.public_key())


def test_a_sealed_at_in_unicode_digits_is_refused(sealed: Sealed) -> None:
    forged = _resigned(sealed, sealed_at="２０２６-11-01T00:00:00Z")
    with pytest.raises(EncodingError, match="sealed_at"):
        verify_header(forged, sealed.key.public_key())


# --- header hash --------------------------------------------------------------------------------


def test_a_junk_signature_entry_does_not_change_the_header_hash(sealed: Sealed) -> None:
    junk = copy.deepcopy(sealed.header)
    junk["signatures"].append({"key_id": "ab" * 16, "alg": "ed25519", "sig": "00" * 64})
    assert (
        verify_header(junk, sealed.key.public_key()).hash
        == verify_header(sealed.header, sealed.key.public_key()).hash
    )
    assert header_hash(junk) == header_hash(sealed.header) == header_hash(bundle.unsigned_body(sealed.header))


def test_the_header_hash_changes_with_every_signed_field(sealed: Sealed) -> None:
    assert header_hash(_resigned(sealed, policy_version="other")) != header_hash(sealed.header)


# --- exposure ids -------------------------------------------------------------------------------


def test_the_sealer_refuses_a_repeated_exposure_id() -> None:
    loans = [LoanInput("E1", 10, 0), LoanInput("E2", 20, 1), LoanInput("E1", 30, 4)]
    with pytest.raises(ValueError, match="loan 2: exposure id E1 appears twice"):
        seal_in_memory(loans, chunk_log2=1)


@pytest.mark.parametrize("second_at", [1, 5], ids=["same chunk", "later chunk"])
def test_a_snapshot_with_two_leaves_for_one_exposure_is_rejected(
    monkeypatch: pytest.MonkeyPatch, second_at: int
) -> None:
    """A malicious sealer adds a second leaf for E000000 with another balance; every proof is honest."""
    monkeypatch.setattr(sealing, "refuse_repeated_exposures", lambda chunk, first, seen: None, raising=False)
    loans = make_loans(6, seed=2)
    loans[second_at] = LoanInput(loans[0].exposure_id, 999_999, 4)
    forged = seal_in_memory(loans, chunk_log2=2)
    with pytest.raises(VerificationError, match="exposure id E000000 appears in more than one leaf") as info:
        verify_snapshot(io.StringIO(forged.bundle_text), forged.key.public_key())
    assert info.value.check == "snapshot.exposure_unique"


# --- inclusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("principal", [1 << 32, (1 << 53) - 1])
def test_an_inclusion_bundle_with_an_out_of_range_principal_fails_as_a_check(
    sealed: Sealed, principal: int
) -> None:
    doc = inclusion_bundle_for(sealed, 0)
    bucket = sealed.loans[0].bucket
    doc["lanes"][bucket]["value"] = principal
    with pytest.raises(VerificationError, match="principal must be below 2\\^32") as info:
        verify_inclusion_bundle(doc, sealed.key.public_key())
    assert info.value.check == "inclusion.lanes"


def test_poolproof_audit_names_the_check_for_a_crafted_inclusion_bundle(
    sealed: Sealed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = inclusion_bundle_for(sealed, 0)
    doc["lanes"][sealed.loans[0].bucket]["value"] = 1 << 32
    (tmp_path / "inclusion.json").write_bytes(bundle.dump_bundle(doc))
    (tmp_path / "gateway.pub").write_bytes(public_key_to_pem(sealed.key.public_key()))
    code = main(
        [
            "verify-inclusion",
            str(tmp_path / "inclusion.json"),
            "--key",
            str(tmp_path / "gateway.pub"),
            "--json",
        ]
    )
    assert code == 1
    assert json.loads(capsys.readouterr().out)["check"] == "inclusion.lanes"


# --- lane-set downgrade ---------------------------------------------------------------------------


@pytest.mark.parametrize("older", ["dpd5-v1", "dpd5-v2"])
def test_an_older_lane_set_is_accepted_only_when_named(older: str) -> None:
    snap = seal_in_memory(make_loans(3), chunk_log2=1, lane_set=older)
    key = snap.key.public_key()
    with pytest.raises(VerificationError, match="lane set") as info:
        verify_snapshot(io.StringIO(snap.bundle_text), key)
    assert info.value.check == "header.lane_set"
    with pytest.raises(VerificationError, match="lane set"):
        verify_header(snap.header, key)
    assert verify_snapshot(io.StringIO(snap.bundle_text), key, lane_sets={older}).lanes.name == older


# --- prover nonces --------------------------------------------------------------------------------


def _draws(statement: dict[str, Any], n: int = 32) -> list[int]:
    t = Transcript(b"test")
    t.append_message(b"x", b"y")
    draw = prover_nonces(b"k" * 32, t, [[b"c" * 48]], statement=statement)
    return [draw() for _ in range(n)]


def test_every_statement_parameter_changes_the_nonce_stream() -> None:
    base = {"proof": "lanecircuit", "n_bits": 32, "m": 4, "loans": 4, "ipa_rounds": 2, "chunk_log2": 10}
    reference = set(_draws(base))
    for name, other in [
        ("ipa_rounds", 3),
        ("ipa_rounds", None),
        ("n_bits", 64),
        ("m", 8),
        ("proof", "rangeproof"),
    ]:
        assert reference.isdisjoint(_draws({**base, name: other})), name
    assert _draws(base) == _draws(dict(base))  # deterministic: a resumed seal is byte-identical


def test_reproving_a_chunk_with_other_rounds_draws_other_nonces() -> None:
    """The attack: one seed, one chunk, proven with ipa_rounds 2 and 3. The first prover message
    (a commitment to the first nonces, made before any challenge) must differ, or two challenges
    would be answered with one nonce and the principal recovered."""
    loans = tuple(make_loans(4, seed=5))
    context = SnapshotContext("S", "P", "2026-10-31", "dpd5-v3")
    seed = b"s" * 32
    proofs = [
        seal_chunk(ChunkTask.prepare(context, SealParams(ipa_rounds=r, chunk_log2=2), 0, loans, seed))
        .proofs[0]
        .proof
        for r in (2, 3)
    ]
    assert proofs[0][:48] != proofs[1][:48]


def test_a_statement_parameter_that_has_no_canonical_encoding_is_refused() -> None:
    with pytest.raises(EncodingError):  # a float would otherwise be a second spelling of 2
        _draws({"ipa_rounds": 2.0})
