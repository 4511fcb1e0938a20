"""Lane-circuit proofs (``proofs.lanecircuit``): completeness, soundness, tampering, encoding, batching."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import lanecircuit as lc
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import FIELD_MODULUS, ORDER, Point, get_group
from proofs.lanecircuit import (
    LaneCircuitItem,
    LaneCircuitProof,
    batch_verify_lanes,
    prove_lanes,
    verify_lanes,
)
from proofs.lanes import DPD5_V1
from proofs.pedersen import commit
from proofs.transcript import Transcript
from tests.circuit_checks import broken
from tests.tampering import tampered_proofs
from tests.vectors_util import seeded_rng

GROUP = get_group("arkworks")
PROTOCOL = b"poolproof/test/lanecircuit/v1"


def off_subgroup_point_bytes() -> bytes:
    """A compressed point on y^2 = x^3 + 4 that (w.h.p.) lies outside the order-r subgroup."""
    x = 5
    while pow(x**3 + 4, (FIELD_MODULUS - 1) // 2, FIELD_MODULUS) != 1:
        x += 1
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= 0x80
    return bytes(data)


def transcript(context: bytes = b"ctx", protocol: bytes = PROTOCOL) -> Transcript:
    t = Transcript(protocol)
    t.append_message(b"context", context)
    return t


def lanes(principal: int, bucket: int) -> list[int]:
    """dpd5-v1 lane values of an honest loan."""
    return [principal if b == bucket else 0 for b in range(5)] + [int(b == bucket) for b in range(5)]


def blindings_for(loans: int, salt: bytes = b"") -> list[list[int]]:
    return [
        [int.from_bytes(hashlib.sha256(salt + b"%d/%d" % (i, j)).digest(), "big") % ORDER for j in range(10)]
        for i in range(loans)
    ]


def sample_loans(loans: int, n_bits: int) -> list[list[int]]:
    top = (1 << n_bits) - 1
    principals = [0, top, 1, top - 1, 123456 & top]
    return [lanes(principals[i] if i < 5 else (i * 0x9E3779B97F4A7C15) & top, i % 5) for i in range(loans)]


def make(
    values: list[list[int]],
    n_bits: int = 32,
    rounds: int | None = None,
    *,
    context: bytes = b"ctx",
    seed: bytes | None = None,
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    rng = seeded_rng(seed) if seed is not None else None
    return prove_lanes(
        GROUP, values, blindings_for(len(values)), n_bits, transcript(context), ipa_rounds=rounds, rng=rng
    )


_GOOD: dict[str, tuple[LaneCircuitProof, list[list[Point]]]] = {}


def _good() -> tuple[LaneCircuitProof, list[list[Point]]]:
    if "p" not in _GOOD:
        _GOOD["p"] = make([lanes(5, 1)], 8)
    return _GOOD["p"]


def assert_rejected(
    commitments: Sequence[Sequence[Point]],
    n_bits: int,
    proof: LaneCircuitProof,
    t: Transcript | None = None,
) -> None:
    """Rejected by the single verifier and by the batch verifier, alone and among good proofs."""
    t = t or transcript()
    with pytest.raises(VerificationError):
        verify_lanes(GROUP, commitments, n_bits, proof, t.clone())
    good_proof, good_v = _good()
    good = LaneCircuitItem(good_v, 8, good_proof, transcript())
    bad = LaneCircuitItem(commitments, n_bits, proof, t.clone())
    with pytest.raises(VerificationError, match="item 1"):
        batch_verify_lanes(GROUP, [good, bad, good])


# ---------------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loans", [1, 2, 3, 16])
def test_round_trip_every_bucket(loans: int) -> None:
    values = sample_loans(loans, 32)
    proof, commitments = make(values)
    verify_lanes(GROUP, commitments, 32, proof, transcript())
    decoded = LaneCircuitProof.from_bytes(GROUP, proof.to_bytes(), loans=loans, n_bits=32)
    assert decoded == proof
    verify_lanes(GROUP, commitments, 32, decoded, transcript())


@pytest.mark.parametrize("bucket", range(5))
@pytest.mark.parametrize("n_bits", [8, 13])
def test_each_bucket_and_extreme_principals_prove(bucket: int, n_bits: int) -> None:
    values = [lanes(0, bucket), lanes((1 << n_bits) - 1, bucket)]
    proof, commitments = make(values, n_bits)
    verify_lanes(GROUP, commitments, n_bits, proof, transcript())


def test_64_bit_principals_prove() -> None:
    values = [lanes(2**64 - 1, 4), lanes(2**63, 0)]
    proof, commitments = make(values, 64)
    verify_lanes(GROUP, commitments, 64, proof, transcript())


@pytest.mark.parametrize("rounds", [0, 1, 3, 5])
def test_cut_inner_product_round_trips(rounds: int) -> None:
    proof, commitments = make(sample_loans(3, 16), 16, rounds)
    assert proof.ipa_rounds == rounds
    assert len(proof.a) == lc.gate_count(3, 16) >> rounds
    data = proof.to_bytes()
    assert len(data) == lc.proof_size(3, 16, rounds)
    decoded = LaneCircuitProof.from_bytes(GROUP, data, loans=3, n_bits=16, ipa_rounds=rounds)
    verify_lanes(GROUP, commitments, 16, decoded, transcript())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n_bits=st.sampled_from([8, 16, 32]),
    loans=st.integers(min_value=1, max_value=4),
)
def test_property_random_loans_prove_and_verify(data: st.DataObject, n_bits: int, loans: int) -> None:
    values = [
        lanes(
            data.draw(st.integers(min_value=0, max_value=(1 << n_bits) - 1)),
            data.draw(st.integers(min_value=0, max_value=4)),
        )
        for _ in range(loans)
    ]
    blindings = [
        [data.draw(st.integers(min_value=0, max_value=ORDER - 1)) for _ in range(10)] for _ in range(loans)
    ]
    proof, commitments = prove_lanes(GROUP, values, blindings, n_bits, transcript())
    verify_lanes(GROUP, commitments, n_bits, proof, transcript())
    decoded = LaneCircuitProof.from_bytes(GROUP, proof.to_bytes(), loans=loans, n_bits=n_bits)
    assert decoded == proof


def test_commitments_are_the_leaf_pedersen_commitments() -> None:
    values = sample_loans(2, 32)
    blindings = blindings_for(2)
    _, commitments = prove_lanes(GROUP, values, blindings, 32, transcript())
    for row_v, row_r, row_c in zip(values, blindings, commitments, strict=True):
        assert row_c == [commit(GROUP, v, r) for v, r in zip(row_v, row_r, strict=True)]


def test_prover_and_verifier_leave_transcript_in_same_state() -> None:
    tp, tv = transcript(), transcript()
    proof, commitments = prove_lanes(GROUP, sample_loans(2, 8), blindings_for(2), 8, tp)
    verify_lanes(GROUP, commitments, 8, proof, tv)
    assert tp.state_digest() == tv.state_digest()


def test_default_prover_randomness_is_fresh_and_injected_randomness_reproduces() -> None:
    values = sample_loans(1, 8)
    assert make(values)[0] != make(values)[0]
    assert make(values, seed=b"s")[0] == make(values, seed=b"s")[0]


def test_gate_counts_and_sizes() -> None:
    assert lc.gates_per_loan(32) == 40
    assert lc.gate_count(1, 8) == 16
    assert lc.gate_count(256, 32) == 16384
    assert lc.gate_count(409, 32) == 16384
    assert lc.gate_count(410, 32) == 32768
    assert lc.max_loans(14, 32) == 409
    assert lc.proof_size(1, 8) == (8 + 2 * 4) * 48 + 5 * 32
    with pytest.raises(ValueError, match="n_bits"):
        lc.gate_count(1, 7)
    with pytest.raises(ValueError, match="n_bits"):
        lc.gate_count(1, 65)
    with pytest.raises(ValueError, match="loans"):
        lc.gate_count(0, 32)
    with pytest.raises(ValueError, match="gates"):
        lc.gate_count(1 << 20, 32)


@pytest.mark.parametrize("loans", [1, 2, 3, 16, 255, 256, 409, 410, 1024, 5000])
@pytest.mark.parametrize("n_bits", [8, 32, 64])
def test_split_loans_covers_every_loan_and_never_pads_more_than_one_proof(loans: int, n_bits: int) -> None:
    sizes = lc.split_loans(loans, n_bits)
    assert sum(sizes) == loans
    assert all(size >= 1 for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
    total = sum(lc.gate_count(size, n_bits) for size in sizes)
    assert total <= lc.gate_count(loans, n_bits) + 32 * (len(sizes) - 1)
    # Every proof but the last fills its power of two to within one loan's gates.
    for size in sizes[:-1]:
        assert lc.gate_count(size, n_bits) - size * lc.gates_per_loan(n_bits) < lc.gates_per_loan(n_bits)


def test_split_loans_examples() -> None:
    assert lc.split_loans(256, 32) == [204, 51, 1]
    assert lc.split_loans(1024, 32) == [819, 204, 1]
    assert lc.split_loans(409, 32) == [409]
    assert lc.split_loans(256, 24) == [256]
    with pytest.raises(ValueError, match="loans"):
        lc.split_loans(0, 32)


# ---------------------------------------------------------------------------------------------
# The circuit itself: honest witnesses satisfy it, the one-hot gates admit only unit vectors
# ---------------------------------------------------------------------------------------------


def _violations(
    values: list[int],
    n_bits: int,
    wires: tuple[list[int], list[int], list[int]],
    packing: lc.Packing | None = None,
) -> int:
    """How many gates and linear constraints of one loan the wires break (checked mod r).

    With ``packing`` the constraints are the packed ones and their inputs the packed values.
    """
    return broken(lc._template(n_bits, packing), wires, lc.pack_values(values, packing))


def test_layout_is_the_dpd5_leaf_lane_order() -> None:
    assert lc.LAYOUT.decode().split(",") == list(DPD5_V1.lanes)


def test_template_has_documented_size() -> None:
    assert len(lc._template(32)) == 2 * 32 + 26


@pytest.mark.parametrize("bucket", range(5))
def test_honest_witness_satisfies_every_gate_and_constraint(bucket: int) -> None:
    values = lanes(4242, bucket)
    assert _violations(values, 16, lc._witness([values], 16)) == 0


def test_one_hot_gates_admit_only_unit_vectors() -> None:
    # The soundness lemma of the module docstring, exhaustively over small field values:
    # cnt_k·(cnt_0 + ... + cnt_k − 1) = 0 for k < 4 and Σ cnt = 1 hold exactly for e_0..e_4.
    domain = [0, 1, 2, ORDER - 1, ORDER - 2]
    found = []
    for cnt in itertools.product(domain, repeat=4):
        last = (1 - sum(cnt)) % ORDER
        full = [*cnt, last]
        gates_hold = all(full[k] * (sum(full[: k + 1]) - 1) % ORDER == 0 for k in range(4))
        if gates_hold:
            found.append(full)
    assert sorted(found) == sorted(lanes(0, b)[5:] for b in range(5))


BAD_N = 8  # the bit size the bad-loan tests use (small keeps the forced proofs cheap)
BAD_LOANS = {
    "two buckets counted": [5, 0, 0, 0, 0, 1, 1, 0, 0, 0],
    "two buckets counted, balance in both": [5, 5, 0, 0, 0, 1, 1, 0, 0, 0],
    "no bucket counted": [0] * 10,
    "no bucket counted, balance present": [5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "count of 2": [5, 0, 0, 0, 0, 2, 0, 0, 0, 0],
    "counts 2 and -1 summing to 1": [10, -5, 0, 0, 0, 2, -1, 0, 0, 0],
    "negative principal": [-1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    "principal 2^n": [1 << BAD_N, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    "principal 2^32": [1 << 32, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    "principal r-1": [ORDER - 1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    "balance in a bucket not counted": [0, 7, 0, 0, 0, 1, 0, 0, 0, 0],
    "balance in last bucket, first counted": [0, 0, 0, 0, 7, 1, 0, 0, 0, 0],
    "balance split across two buckets": [3, 4, 0, 0, 0, 1, 0, 0, 0, 0],
    "balance split, last bucket counted": [3, 0, 0, 0, 4, 0, 0, 0, 0, 1],
}


@pytest.mark.parametrize("name", BAD_LOANS)
def test_bad_loan_breaks_the_circuit(name: str) -> None:
    values = [v % ORDER for v in BAD_LOANS[name]]
    assert _violations(values, BAD_N, lc._witness([values], BAD_N)) > 0
    assert _violations(values, BAD_N, _constraint_first_witness(values, BAD_N)) > 0


@pytest.mark.parametrize("name", BAD_LOANS)
def test_bad_loan_is_refused_naming_only_the_loan(name: str) -> None:
    values = [lanes(9, 2), BAD_LOANS[name]]
    with pytest.raises(ProvingError, match=r"^loan 1: ") as info:
        prove_lanes(GROUP, values, blindings_for(2), BAD_N, transcript())
    message = str(info.value)
    for v in BAD_LOANS[name]:
        if abs(v) > 9:
            assert str(v) not in message


def test_malformed_prover_inputs_are_refused() -> None:
    good = lanes(1, 0)
    with pytest.raises(ProvingError, match="loan 0"):
        prove_lanes(GROUP, [good[:9]], blindings_for(1), 8, transcript())
    with pytest.raises(ProvingError, match="loan 0"):
        prove_lanes(GROUP, [[True, *good[1:]]], blindings_for(1), 8, transcript())
    bad_blind = blindings_for(1)
    bad_blind[0][3] = ORDER
    with pytest.raises(ProvingError, match="loan 0: expected 10 blindings"):
        prove_lanes(GROUP, [good], bad_blind, 8, transcript())
    with pytest.raises(ValueError, match="differ in length"):
        prove_lanes(GROUP, [good], blindings_for(2), 8, transcript())
    with pytest.raises(ValueError, match="loans"):
        prove_lanes(GROUP, [], [], 8, transcript())
    with pytest.raises(ValueError, match="ipa_rounds"):
        prove_lanes(GROUP, [good], blindings_for(1), 8, transcript(), ipa_rounds=5)


# ---------------------------------------------------------------------------------------------
# Soundness: a proof forced through past the prover's check does not verify
# ---------------------------------------------------------------------------------------------


def _constraint_first_witness(values: Sequence[int], n_bits: int) -> tuple[list[int], list[int], list[int]]:
    """Wires that satisfy every *linear* constraint for these inputs (breaking gates instead)."""
    bal, cnt = list(values[:5]), list(values[5:])
    principal = sum(bal) % ORDER
    bits = [(principal >> j) & 1 for j in range(n_bits)]
    # Make Σ 2^j·a_L[bit j] = P exactly by giving bit 0 whatever is left (possibly not a bit).
    bits[0] = (principal - sum(b << j for j, b in enumerate(bits) if j)) % ORDER
    a_l, a_r, a_o = list(bits), [b - 1 for b in bits], [0] * n_bits
    prefix = 0
    for k in range(4):
        prefix += cnt[k]
        a_l.append(cnt[k])
        a_r.append(prefix - 1)
        a_o.append(0)
    for b in range(4):
        a_l.append(cnt[b])
        a_r.append(principal)
        a_o.append(bal[b])
    return a_l, a_r, a_o


def _constraint_first_wires(
    values: Sequence[Sequence[int]], n_bits: int
) -> tuple[list[int], list[int], list[int]]:
    """A drop-in for ``lc._witness`` that builds :func:`_constraint_first_witness` for every loan."""
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    for row in values:
        parts = _constraint_first_witness([v % ORDER for v in row], n_bits)
        for acc, part in zip(out, parts, strict=True):
            acc += part
    return out


def _force(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    """Bypass the prover's check; with "constraints-hold", also swap in the hand-built witness."""
    monkeypatch.setattr(lc, "_check_loan", lambda *args: None)
    if strategy == "constraints-hold":
        monkeypatch.setattr(lc, "_witness", _constraint_first_wires)


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
@pytest.mark.parametrize("name", BAD_LOANS)
def test_forced_proof_of_bad_loan_does_not_verify(
    monkeypatch: pytest.MonkeyPatch, name: str, strategy: str
) -> None:
    _force(monkeypatch, strategy)
    values = [lanes(9, 2), BAD_LOANS[name]]
    proof, commitments = prove_lanes(GROUP, values, blindings_for(2), BAD_N, transcript())
    assert_rejected(commitments, BAD_N, proof)


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
def test_forcing_machinery_still_proves_honest_loans(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    # Guards the test above: each forcing strategy yields valid proofs for valid inputs, so the
    # rejections there come from the bad loan, not from the machinery.
    _force(monkeypatch, strategy)
    values = sample_loans(5, BAD_N)
    assert all(_violations(v, BAD_N, _constraint_first_witness(v, BAD_N)) == 0 for v in values)
    proof, commitments = prove_lanes(GROUP, values, blindings_for(5), BAD_N, transcript())
    verify_lanes(GROUP, commitments, BAD_N, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Tampering: every proof element, every commitment, every statement parameter
# ---------------------------------------------------------------------------------------------


def _tampered(proof: LaneCircuitProof) -> list[tuple[str, LaneCircuitProof]]:
    return tampered_proofs(GROUP, proof, ("A_I", "A_O", "S", "T1", "T3", "T4", "T5", "T6"))


@pytest.mark.parametrize("rounds", [None, 2])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = make(sample_loans(2, 8), 8, rounds)
    tampered = _tampered(proof)
    assert len(tampered) == 11 + 2 * proof.ipa_rounds + 2 * len(proof.a)
    for _name, bad in tampered:
        assert_rejected(commitments, 8, bad)


def test_every_commitment_tampered_is_rejected() -> None:
    proof, commitments = make(sample_loans(2, 8), 8)
    _, h = pedersen_bases(GROUP)
    for i in range(2):
        for lane in range(10):
            changed = [list(row) for row in commitments]
            changed[i][lane] = changed[i][lane] + h
            assert_rejected(changed, 8, proof)


def test_commitments_swapped_between_lanes_or_loans_are_rejected() -> None:
    proof, commitments = make([lanes(5, 0), lanes(5, 1)], 8)
    swapped_lanes = [list(row) for row in commitments]
    swapped_lanes[0][0], swapped_lanes[0][1] = swapped_lanes[0][1], swapped_lanes[0][0]
    assert_rejected(swapped_lanes, 8, proof)
    assert_rejected(commitments[::-1], 8, proof)


def test_other_bit_size_is_rejected() -> None:
    proof, commitments = make(sample_loans(2, 8), 8)
    for n_bits in (9, 16, 7):
        assert_rejected(commitments, n_bits, proof)


def test_other_loan_count_is_rejected() -> None:
    proof, commitments = make(sample_loans(3, 8), 8)
    # Dropping or adding a loan keeps the gate count (3·16 and 2·16, 4·16 all pad to 64) but not
    # the statement.
    assert_rejected(commitments[:2], 8, proof)
    assert_rejected([*commitments, commitments[0]], 8, proof)
    assert_rejected([], 8, proof)
    with pytest.raises(VerificationError, match=r"lanecircuit\.shape"):
        verify_lanes(GROUP, [commitments[0][:9]], 8, proof, transcript())


def test_other_transcript_label_or_context_is_rejected() -> None:
    proof, commitments = make(sample_loans(2, 8), 8)
    assert_rejected(commitments, 8, proof, transcript(protocol=b"poolproof/test/lanecircuit/v2"))
    assert_rejected(commitments, 8, proof, transcript(context=b"other"))


def _decode_and_verify(data: bytes, commitments: list[list[Point]], rounds: int | None) -> None:
    decoded = LaneCircuitProof.from_bytes(GROUP, data, loans=1, n_bits=8, ipa_rounds=rounds)
    verify_lanes(GROUP, commitments, 8, decoded, transcript())


def test_cut_proof_is_rejected_as_other_round_count() -> None:
    proof, commitments = make(sample_loans(1, 8), 8, rounds=2)
    data = proof.to_bytes()
    with pytest.raises(EncodingError):
        LaneCircuitProof.from_bytes(GROUP, data, loans=1, n_bits=8, ipa_rounds=3)
    # Same length for k and k+2 rounds (k = log2 N − 2): decodes, but must not verify.
    assert lc.proof_size(1, 8, 2) == lc.proof_size(1, 8, 4)
    with pytest.raises((EncodingError, VerificationError)):
        _decode_and_verify(data, commitments, None)


def test_wrong_shape_is_reported_as_shape() -> None:
    proof, commitments = make(sample_loans(1, 8), 8)
    for bad in (
        dataclasses.replace(proof, L=proof.L[:-1]),
        dataclasses.replace(proof, b=()),
        dataclasses.replace(proof, mu=ORDER),
        dataclasses.replace(proof, a=(-1,)),
    ):
        with pytest.raises(VerificationError, match=r"lanecircuit\.shape"):
            verify_lanes(GROUP, commitments, 8, bad, transcript())


# ---------------------------------------------------------------------------------------------
# Batch verification
# ---------------------------------------------------------------------------------------------


def test_batch_of_mixed_sizes_verifies() -> None:
    items = []
    for loans, n_bits, rounds in [(1, 8, None), (3, 16, None), (2, 32, 2), (1, 64, 0)]:
        proof, commitments = make(sample_loans(loans, n_bits), n_bits, rounds)
        items.append(LaneCircuitItem(commitments, n_bits, proof, transcript()))
    batch_verify_lanes(GROUP, items)


def test_batch_with_one_bad_proof_fails_naming_it() -> None:
    items = []
    for i in range(3):
        proof, commitments = make(sample_loans(2, 8), 8, context=b"%d" % i)
        items.append(LaneCircuitItem(commitments, 8, proof, transcript(b"%d" % i)))
    batch_verify_lanes(GROUP, items)
    bad = dataclasses.replace(items[2], transcript=transcript(b"0"))
    with pytest.raises(VerificationError, match=r"lanecircuit\.batch: batch failed: item 2"):
        batch_verify_lanes(GROUP, [*items[:2], bad])


def test_batch_with_two_cancelling_bad_proofs_fails() -> None:
    p1, v1 = make([lanes(10, 0)], 8)
    p2, v2 = make([lanes(20, 1)], 8)
    bad1 = dataclasses.replace(p1, t_hat=(p1.t_hat + 1) % ORDER)
    bad2 = dataclasses.replace(p2, t_hat=(p2.t_hat - 1) % ORDER)
    with pytest.raises(VerificationError, match=r"lanecircuit\.batch"):
        batch_verify_lanes(
            GROUP, [LaneCircuitItem(v1, 8, bad1, transcript()), LaneCircuitItem(v2, 8, bad2, transcript())]
        )


def test_batch_does_not_consume_transcripts_and_empty_batch_passes() -> None:
    proof, commitments = _good()
    t = transcript()
    before = t.state_digest()
    batch_verify_lanes(GROUP, [LaneCircuitItem(commitments, 8, proof, t)])
    assert t.state_digest() == before
    batch_verify_lanes(GROUP, [])


def test_batch_names_malformed_item() -> None:
    proof, commitments = _good()
    good = LaneCircuitItem(commitments, 8, proof, transcript())
    bad = LaneCircuitItem(commitments, 70, proof, transcript())
    with pytest.raises(VerificationError, match=r"lanecircuit\.shape: item 1"):
        batch_verify_lanes(GROUP, [good, bad])


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def test_layout_places_fields_as_documented() -> None:
    proof, _ = make(sample_loans(1, 8), 8, rounds=2)
    data = proof.to_bytes()
    assert data[:48] == proof.A_I.to_bytes()
    assert data[96:144] == proof.S.to_bytes()
    assert data[336:384] == proof.T6.to_bytes()
    assert data[384:416] == proof.tau_x.to_bytes(32, "big")
    assert data[448:480] == proof.t_hat.to_bytes(32, "big")
    assert data[480:528] == proof.L[0].to_bytes()
    assert data[528:576] == proof.R[0].to_bytes()
    assert data[672:704] == proof.a[0].to_bytes(32, "big")
    assert data[-32:] == proof.b[-1].to_bytes(32, "big")
    assert len(data) == (8 + 2 * 2) * 48 + (3 + 2 * 4) * 32


def test_malformed_encodings_are_rejected() -> None:
    proof, _ = _good()
    data = proof.to_bytes()
    cases = {
        "truncated": data[:-1],
        "extended": data + b"\x00",
        "empty": b"",
        "point off curve": b"\x80" + b"\x00" * 46 + b"\x07" + data[48:],
        "point outside subgroup": off_subgroup_point_bytes() + data[48:],
        "identity point": b"\xc0" + b"\x00" * 47 + data[48:],
        "non-canonical tau_x": data[:384] + ORDER.to_bytes(32, "big") + data[416:],
        "all-ones final b": data[:-32] + b"\xff" * 32,
    }
    for name, bad in cases.items():
        with pytest.raises(EncodingError):
            LaneCircuitProof.from_bytes(GROUP, bad, loans=1, n_bits=8)
        assert name


def test_from_bytes_rejects_impossible_parameters() -> None:
    data = _good()[0].to_bytes()
    with pytest.raises(EncodingError, match="n_bits"):
        LaneCircuitProof.from_bytes(GROUP, data, loans=1, n_bits=7)
    with pytest.raises(EncodingError, match="loans"):
        LaneCircuitProof.from_bytes(GROUP, data, loans=0, n_bits=8)
    with pytest.raises(EncodingError, match="expected"):
        LaneCircuitProof.from_bytes(GROUP, data, loans=2, n_bits=8)


def test_every_serialised_byte_flip_is_rejected() -> None:
    proof, commitments = make(sample_loans(1, 8), 8, rounds=2)
    data = proof.to_bytes()
    for pos in range(0, len(data), 11):
        flipped = bytearray(data)
        flipped[pos] ^= 0x01
        with pytest.raises((EncodingError, VerificationError)):
            _decode_and_verify(bytes(flipped), commitments, 2)
