"""Aggregated Bulletproofs range proofs: completeness, soundness checks, tampering, encoding, batching."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import _ipa
from proofs.bulletproofs import (
    RangeProof,
    RangeProofItem,
    batch_verify,
    proof_size,
    prove_range,
    verify_range,
)
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import FIELD_MODULUS, ORDER, Point, get_group
from proofs.transcript import Transcript
from tests.tampering import tampered_proofs
from tests.vectors_util import seeded_rng

GROUP = get_group("arkworks")
PROTOCOL = b"poolproof/test/rangeproof/v1"


def transcript(context: bytes = b"ctx") -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"context", context)
    return t


def make(
    values: list[int],
    n_bits: int,
    rounds: int | None = None,
    *,
    seed: bytes | None = None,
    context: bytes = b"ctx",
) -> tuple[RangeProof, list[Point]]:
    blindings = [
        int.from_bytes(hashlib.sha256(b"blind%d" % j).digest(), "big") % ORDER for j in range(len(values))
    ]
    rng = seeded_rng(seed) if seed is not None else None
    return prove_range(GROUP, values, blindings, n_bits, transcript(context), ipa_rounds=rounds, rng=rng)


def sample_values(m: int, n_bits: int) -> list[int]:
    top = (1 << n_bits) - 1
    return [[0, top, 1, top - 1][j % 4] if j < 4 else (j * 0x9E3779B97F4A7C15) & top for j in range(m)]


def assert_rejected(
    commitments: list[Point], n_bits: int, proof: RangeProof, context: bytes = b"ctx"
) -> None:
    """Rejected by the single verifier and by the batch verifier, alone and among good proofs."""
    with pytest.raises(VerificationError):
        verify_range(GROUP, commitments, n_bits, proof, transcript(context))
    bad = RangeProofItem(commitments, n_bits, proof, transcript(context))
    with pytest.raises(VerificationError):
        batch_verify(GROUP, [bad])
    good_proof, good_v = _good()
    good = RangeProofItem(good_v, 8, good_proof, transcript())
    with pytest.raises(VerificationError, match="item 1"):
        batch_verify(GROUP, [good, bad, good])


_GOOD: dict[str, tuple[RangeProof, list[Point]]] = {}


def _good() -> tuple[RangeProof, list[Point]]:
    if "p" not in _GOOD:
        _GOOD["p"] = make([200, 3], 8)
    return _GOOD["p"]


# ---------------------------------------------------------------------------------------------
# Completeness and encoding round trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", [8, 16, 32, 64])
@pytest.mark.parametrize("m", [1, 2, 4, 8])
def test_full_compression_round_trip(m: int, n_bits: int) -> None:
    proof, commitments = make(sample_values(m, n_bits), n_bits)
    data = proof.to_bytes()
    assert len(data) == proof_size(m, n_bits) == (4 + 2 * (m * n_bits).bit_length() - 2) * 48 + 5 * 32
    decoded = RangeProof.from_bytes(GROUP, data, m=m, n_bits=n_bits)
    assert decoded == proof
    verify_range(GROUP, commitments, n_bits, decoded, transcript())


@pytest.mark.parametrize(("m", "n_bits"), [(1, 8), (2, 16), (4, 32), (8, 8)])
def test_every_cut_ipa_round_trips(m: int, n_bits: int) -> None:
    full = (m * n_bits).bit_length() - 1
    for rounds in range(full + 1):
        proof, commitments = make(sample_values(m, n_bits), n_bits, rounds)
        assert proof.ipa_rounds == rounds
        assert len(proof.a) == len(proof.b) == (m * n_bits) >> rounds
        data = proof.to_bytes()
        assert len(data) == proof_size(m, n_bits, rounds)
        decoded = RangeProof.from_bytes(GROUP, data, m=m, n_bits=n_bits, ipa_rounds=rounds)
        verify_range(GROUP, commitments, n_bits, decoded, transcript())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n_bits=st.sampled_from([8, 16]),
    m=st.sampled_from([1, 2, 4]),
)
def test_property_random_values_prove_and_verify(data: st.DataObject, n_bits: int, m: int) -> None:
    values = data.draw(st.lists(st.integers(0, (1 << n_bits) - 1), min_size=m, max_size=m))
    blindings = data.draw(st.lists(st.integers(0, ORDER - 1), min_size=m, max_size=m))
    rounds = data.draw(st.integers(0, (m * n_bits).bit_length() - 1))
    proof, commitments = prove_range(GROUP, values, blindings, n_bits, transcript(), ipa_rounds=rounds)
    g, h = pedersen_bases(GROUP)
    assert commitments == [v * g + r * h for v, r in zip(values, blindings, strict=True)]
    decoded = RangeProof.from_bytes(GROUP, proof.to_bytes(), m=m, n_bits=n_bits, ipa_rounds=rounds)
    verify_range(GROUP, commitments, n_bits, decoded, transcript())


def test_commitments_are_pedersen_commitments_on_shared_bases() -> None:
    _, commitments = prove_range(GROUP, [5, 7], [11, 13], 8, transcript())
    g, h = pedersen_bases(GROUP)
    assert commitments == [5 * g + 11 * h, 7 * g + 13 * h]


def test_prover_and_verifier_leave_transcript_in_same_state() -> None:
    t_prove, t_verify = transcript(), transcript()
    proof, commitments = prove_range(GROUP, [9], [1], 8, t_prove)
    verify_range(GROUP, commitments, 8, proof, t_verify)
    assert t_prove.state_digest() == t_verify.state_digest()


def test_default_prover_randomness_is_fresh() -> None:
    first, _ = prove_range(GROUP, [9], [1], 8, transcript())
    second, _ = prove_range(GROUP, [9], [1], 8, transcript())
    assert first.A != second.A
    assert first.S != second.S


def test_injected_rng_makes_proofs_reproducible() -> None:
    assert make([1, 2], 8, seed=b"s")[0].to_bytes() == make([1, 2], 8, seed=b"s")[0].to_bytes()


@pytest.mark.parametrize("switch", [0, 1, 2, 3, 4, 5, 6, 7, 8])
def test_ipa_schedule_does_not_change_the_proof(monkeypatch: pytest.MonkeyPatch, switch: int) -> None:
    # The prover's hybrid IPA (rounds over original generators, then explicit folding) is an
    # optimisation only: every switch point must give the same bytes.
    reference = make(sample_values(8, 32), 32, seed=b"schedule")[0].to_bytes()
    monkeypatch.setattr(_ipa, "switch_round", lambda n_total, rounds: min(switch, rounds))
    assert make(sample_values(8, 32), 32, seed=b"schedule")[0].to_bytes() == reference


def test_extreme_values_prove() -> None:
    for n_bits in (8, 64):
        proof, commitments = make([0, (1 << n_bits) - 1], n_bits)
        verify_range(GROUP, commitments, n_bits, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Prover refusals and parameter checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", [8, 32, 64])
def test_value_two_to_the_n_cannot_be_proven(n_bits: int) -> None:
    with pytest.raises(ProvingError, match=rf"value 1 out of range \[0, 2\^{n_bits}\)"):
        prove_range(GROUP, [0, 1 << n_bits], [1, 2], n_bits, transcript())


def test_negative_value_r_minus_one_cannot_be_proven() -> None:
    with pytest.raises(ProvingError) as info:
        prove_range(GROUP, [ORDER - 1], [1], 64, transcript())
    assert str(ORDER - 1) not in str(info.value)
    assert f"{ORDER - 1:x}" not in str(info.value)


def test_negative_python_int_cannot_be_proven() -> None:
    with pytest.raises(ProvingError, match="value 0 out of range"):
        prove_range(GROUP, [-1], [1], 8, transcript())


def test_noncanonical_blinding_is_refused() -> None:
    with pytest.raises(ProvingError, match="blinding 0"):
        prove_range(GROUP, [1], [ORDER], 8, transcript())


@pytest.mark.parametrize(
    ("values", "n_bits", "rounds"),
    [([1], 12, None), ([1, 2, 3], 8, None), ([], 8, None), ([1], 8, 4), ([1], 8, -1)],
)
def test_invalid_parameters_are_refused(values: list[int], n_bits: int, rounds: int | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by parameter
        prove_range(GROUP, values, [1] * len(values), n_bits, transcript(), ipa_rounds=rounds)


# ---------------------------------------------------------------------------------------------
# Soundness of the statement binding
# ---------------------------------------------------------------------------------------------


def test_proof_does_not_verify_for_another_commitment() -> None:
    proof, commitments = make([42], 8)
    g, h = pedersen_bases(GROUP)
    assert_rejected([commitments[0] + g], 8, proof)
    assert_rejected([commitments[0] + h], 8, proof)


def test_aggregated_proof_does_not_verify_with_commitments_reordered() -> None:
    proof, commitments = make([1, 2], 8)
    assert_rejected(commitments[::-1], 8, proof)


def test_32_bit_proof_does_not_verify_as_16_bit() -> None:
    proof, commitments = make([70000], 32)
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        verify_range(GROUP, commitments, 16, proof, transcript())
    # Same N = 32: two 16-bit values. The transcript binds n and m, so the equation fails.
    assert_rejected(commitments * 2, 16, proof)


def test_proof_does_not_verify_under_other_protocol_label() -> None:
    proof, commitments = make([5], 8)

    def other() -> Transcript:
        t = Transcript(b"poolproof/other/v1")
        t.append_message(b"context", b"ctx")
        return t

    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        verify_range(GROUP, commitments, 8, proof, other())
    good_proof, good_v = _good()
    good = RangeProofItem(good_v, 8, good_proof, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.batch: batch failed: item 1"):
        batch_verify(GROUP, [good, RangeProofItem(commitments, 8, proof, other())])


def test_proof_does_not_verify_under_other_context() -> None:
    proof, commitments = make([5], 8, context=b"snapshot-1")
    assert_rejected(commitments, 8, proof, context=b"snapshot-2")


def test_cut_proof_does_not_verify_as_other_round_count() -> None:
    proof, _ = make([5, 6], 16, rounds=3)
    data = proof.to_bytes()
    with pytest.raises(EncodingError):
        RangeProof.from_bytes(GROUP, data, m=2, n_bits=16, ipa_rounds=4)


def test_rounds_l_minus_2_and_full_have_equal_length_but_do_not_cross_verify() -> None:
    # The one case where the length does not fix the round count (see the module docstring).
    assert proof_size(1, 8, 1) == proof_size(1, 8, 3)
    proof, commitments = make([5], 8, rounds=1)
    data = proof.to_bytes()
    with pytest.raises((EncodingError, VerificationError)):
        verify_range(GROUP, commitments, 8, RangeProof.from_bytes(GROUP, data, m=1, n_bits=8), transcript())


# ---------------------------------------------------------------------------------------------
# Tampering: every element of the proof, every commitment
# ---------------------------------------------------------------------------------------------


def _tampered_proofs(proof: RangeProof) -> list[tuple[str, RangeProof]]:
    return tampered_proofs(GROUP, proof, ("A", "S", "T1", "T2"))


@pytest.mark.parametrize("rounds", [None, 2, 0])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = make([17, 250], 8, rounds)
    tampered = _tampered_proofs(proof)
    expected = 7 + 2 * proof.ipa_rounds + 2 * len(proof.a)
    assert len(tampered) == expected
    for _name, bad in tampered:
        assert_rejected(commitments, 8, bad)


def test_every_commitment_tampered_is_rejected() -> None:
    proof, commitments = make([1, 2, 3, 4], 8)
    _, h = pedersen_bases(GROUP)
    for j in range(4):
        changed = list(commitments)
        changed[j] = changed[j] + h
        assert_rejected(changed, 8, proof)


def _decode_and_verify(data: bytes, commitments: list[Point]) -> None:
    decoded = RangeProof.from_bytes(GROUP, data, m=1, n_bits=8, ipa_rounds=2)
    verify_range(GROUP, commitments, 8, decoded, transcript())


def test_every_serialised_byte_flip_is_rejected() -> None:
    proof, commitments = make([99], 8, rounds=2)
    data = bytearray(proof.to_bytes())
    for pos in range(0, len(data), 7):
        flipped = bytearray(data)
        flipped[pos] ^= 0x01
        with pytest.raises((EncodingError, VerificationError)):
            _decode_and_verify(bytes(flipped), commitments)


def test_wrong_shape_is_reported_as_shape() -> None:
    proof, commitments = make([1], 8)
    short = dataclasses.replace(proof, L=proof.L[:-1])
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        verify_range(GROUP, commitments, 8, short, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        verify_range(GROUP, commitments, 8, dataclasses.replace(proof, mu=ORDER), transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        verify_range(GROUP, commitments * 3, 8, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Batch verification
# ---------------------------------------------------------------------------------------------


def test_batch_of_mixed_sizes_verifies() -> None:
    items = []
    for values, n_bits, rounds in [
        ([1], 8, None),
        ([1, 2, 3, 4], 16, None),
        ([7, 8], 32, 3),
        ([300], 64, 0),
        ([0] * 8, 8, None),
    ]:
        proof, commitments = make(values, n_bits, rounds)
        items.append(RangeProofItem(commitments, n_bits, proof, transcript()))
    batch_verify(GROUP, items)
    # The smallest proof (N = 8) tampered in its clear-free final scalar: the batch must fail.
    small = items[0]
    bad = dataclasses.replace(
        small, proof=dataclasses.replace(small.proof, a=((small.proof.a[0] + 1) % ORDER,))
    )
    with pytest.raises(VerificationError, match="item 2"):
        batch_verify(GROUP, [items[1], items[3], bad, items[2]])


def test_batch_does_not_consume_item_transcripts() -> None:
    proof, commitments = make([3], 8)
    t = transcript()
    before = t.state_digest()
    batch_verify(GROUP, [RangeProofItem(commitments, 8, proof, t)])
    assert t.state_digest() == before


def test_empty_batch_is_accepted() -> None:
    batch_verify(GROUP, [])


def test_batch_names_malformed_item() -> None:
    proof, commitments = make([3], 8)
    good = RangeProofItem(commitments, 8, proof, transcript())
    bad = RangeProofItem(commitments, 16, proof, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.shape: item 1"):
        batch_verify(GROUP, [good, bad])


def test_batch_with_two_cancelling_bad_proofs_fails() -> None:
    # Shifting t_hat up in one proof and down in another cancels only with equal weights.
    p1, v1 = make([10], 8)
    p2, v2 = make([20], 8)
    bad1 = dataclasses.replace(p1, t_hat=(p1.t_hat + 1) % ORDER)
    bad2 = dataclasses.replace(p2, t_hat=(p2.t_hat - 1) % ORDER)
    with pytest.raises(VerificationError, match=r"rangeproof\.batch"):
        batch_verify(
            GROUP, [RangeProofItem(v1, 8, bad1, transcript()), RangeProofItem(v2, 8, bad2, transcript())]
        )


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def _compressed_x(on_curve: bool) -> bytes:
    """A compressed encoding whose x is (or is not) the abscissa of a point of y^2 = x^3 + 4.

    On-curve points found this way lie outside the order-r subgroup except with probability ~1/h.
    """
    x = 5
    while (pow(x**3 + 4, (FIELD_MODULUS - 1) // 2, FIELD_MODULUS) == 1) != on_curve:
        x += 1
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= 0x80
    return bytes(data)


_MALFORMED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (lambda d: d[:-1], "expected 736 bytes"),
    "extended": (lambda d: d + b"\x00", "expected 736 bytes"),
    "empty": (lambda d: b"", "expected 736 bytes"),
    "point off the curve": (lambda d: _compressed_x(False) + d[48:], "point"),
    "point outside the subgroup": (lambda d: _compressed_x(True) + d[48:], "subgroup"),
    "identity point": (lambda d: b"\xc0" + b"\x00" * 47 + d[48:], "identity"),
    "uncompressed flag": (lambda d: bytes([d[0] & 0x7F]) + d[1:], "compression flag"),
    "non-canonical tau_x (= r)": (lambda d: d[:192] + ORDER.to_bytes(32, "big") + d[224:], "non-canonical"),
    "non-canonical final b (2^256-1)": (lambda d: d[:-32] + b"\xff" * 32, "non-canonical"),
}


@pytest.mark.parametrize("case", list(_MALFORMED))
def test_malformed_encoding_is_rejected(case: str) -> None:
    mutate, message = _MALFORMED[case]
    data = _good()[0].to_bytes()
    assert len(data) == 736
    with pytest.raises(EncodingError, match=message):
        RangeProof.from_bytes(GROUP, mutate(data), m=2, n_bits=8)


def test_from_bytes_rejects_impossible_parameters() -> None:
    proof, _ = make([1], 8)
    with pytest.raises(EncodingError, match="n_bits"):
        RangeProof.from_bytes(GROUP, proof.to_bytes(), m=1, n_bits=7)
    with pytest.raises(EncodingError, match="power of two"):
        RangeProof.from_bytes(GROUP, proof.to_bytes(), m=3, n_bits=8)


def test_layout_places_fields_as_documented() -> None:
    proof, _ = make([1, 2], 8, rounds=2)
    data = proof.to_bytes()
    assert data[:48] == proof.A.to_bytes()
    assert data[144:192] == proof.T2.to_bytes()
    assert data[192:224] == proof.tau_x.to_bytes(32, "big")
    assert data[256:288] == proof.t_hat.to_bytes(32, "big")
    assert data[288:336] == proof.L[0].to_bytes()
    assert data[336:384] == proof.R[0].to_bytes()
    assert data[480:512] == proof.a[0].to_bytes(32, "big")
    assert data[-32:] == proof.b[-1].to_bytes(32, "big")
    assert len(data) == (4 + 2 * 2) * 48 + (3 + 2 * 4) * 32


def _prove_and_verify_in_worker(value: int) -> bool:
    proof, commitments = prove_range(GROUP, [value] * 64, [7] * 64, 32, transcript(), ipa_rounds=2)
    verify_range(GROUP, commitments, 32, proof, transcript())
    return True


def test_forked_process_pool_workers_can_prove_after_parent_used_threads() -> None:
    # Large MSMs run on a thread pool; a fork()ed worker must get a fresh one, not the parent's.
    import multiprocessing

    from proofs import _parallel

    assert _prove_and_verify_in_worker(1)
    if _parallel.thread_count() > 1:
        assert _parallel._pool is not None
    with multiprocessing.get_context("fork").Pool(2) as pool:
        # Without the at-fork reset the workers wait forever; the timeout turns that into a failure.
        assert pool.map_async(_prove_and_verify_in_worker, [2, 3]).get(timeout=120) == [True, True]
