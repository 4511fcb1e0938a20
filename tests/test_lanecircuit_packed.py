"""The lane circuit with packed inputs (``dpd5-v3``: two commitments per loan instead of ten)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import lanecircuit as lc
from proofs.errors import ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, Point
from proofs.lanecircuit import (
    LaneCircuitItem,
    LaneCircuitProof,
    batch_verify_lanes,
    prove_lanes,
    verify_lanes,
)
from proofs.lanes import DPD5_V3
from proofs.pedersen import commit
from proofs.snapshot import circuit_packing
from tests.test_lanecircuit import (
    BAD_LOANS,
    BAD_N,
    GROUP,
    _constraint_first_witness,
    _force,
    _tampered,
    lanes,
    sample_loans,
    transcript,
)
from tests.test_lanecircuit import (
    _violations as circuit_violations,
)
from tests.vectors_util import seeded_rng

PACKING = circuit_packing(DPD5_V3)
assert PACKING is not None


def blindings_for(loans: int, salt: int = 0) -> list[list[int]]:
    return [[(7919 * (i + 1) + 104729 * j + salt) % ORDER for j in range(2)] for i in range(loans)]


def make(
    values: list[list[int]], n_bits: int = 32, rounds: int | None = None, seed: bytes | None = None
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    rng = seeded_rng(seed) if seed is not None else None
    return prove_lanes(
        GROUP,
        values,
        blindings_for(len(values)),
        n_bits,
        transcript(),
        ipa_rounds=rounds,
        rng=rng,
        packing=PACKING,
    )


def verify(commitments: Sequence[Sequence[Point]], n_bits: int, proof: LaneCircuitProof) -> None:
    verify_lanes(GROUP, commitments, n_bits, proof, transcript(), packing=PACKING)


def assert_rejected(commitments: Sequence[Sequence[Point]], n_bits: int, proof: LaneCircuitProof) -> None:
    """Rejected alone and inside a batch of good packed proofs (naming the bad item)."""
    with pytest.raises(VerificationError):
        verify(commitments, n_bits, proof)
    good_proof, good_v = make([lanes(5, 1)], 8)
    good = LaneCircuitItem(good_v, 8, good_proof, transcript(), PACKING)
    bad = LaneCircuitItem(commitments, n_bits, proof, transcript(), PACKING)
    with pytest.raises(VerificationError, match="item 1"):
        batch_verify_lanes(GROUP, [good, bad, good])


def _violations(values: list[int], n_bits: int, wires: tuple[list[int], list[int], list[int]]) -> int:
    """Gates and packed linear constraints of one loan the wires break (inputs = packed values)."""
    return circuit_violations(values, n_bits, wires, PACKING)


# -- completeness --------------------------------------------------------------------------------


def test_packing_is_the_lane_sets() -> None:
    assert PACKING == (
        ((5, 0), (6, 32), (7, 64), (8, 96), (9, 128), (0, 160)),
        ((1, 0), (2, 64), (3, 128), (4, 192)),
    )
    assert lc.pack_values(lanes(7, 0), PACKING) == [1 + (7 << 160), 0]
    assert lc.pack_values(lanes(7, 4), PACKING) == [1 << 128, 7 << 192]
    for bucket in range(5):
        assert lc.pack_values(lanes(9, bucket), PACKING) == list(DPD5_V3.input_values(lanes(9, bucket)))


def test_template_size() -> None:
    assert len(lc._template(32, PACKING)) == 2 * 32 + 16 + 2


@pytest.mark.parametrize("bucket", range(5))
def test_honest_witness_satisfies_every_gate_and_packed_constraint(bucket: int) -> None:
    values = lanes(4242, bucket)
    assert _violations(values, 16, lc._witness([values], 16)) == 0


@pytest.mark.parametrize("rounds", [None, 2, 0])
def test_round_trip_every_bucket(rounds: int | None) -> None:
    proof, commitments = make(sample_loans(7, 32), 32, rounds)
    assert all(len(c) == 2 for c in commitments)
    verify(commitments, 32, proof)


def test_commitments_are_the_packed_pedersen_commitments() -> None:
    values = sample_loans(3, 32)
    _, commitments = make(values)
    for row, gammas, got in zip(values, blindings_for(3), commitments, strict=True):
        want = [commit(GROUP, v, r) for v, r in zip(DPD5_V3.input_values(row), gammas, strict=True)]
        assert got == want


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_random_loans_prove_and_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 4))
    values = [lanes(data.draw(st.integers(0, (1 << 32) - 1)), data.draw(st.integers(0, 4))) for _ in range(n)]
    proof, commitments = make(values, 32, data.draw(st.sampled_from([None, 1, 2])))
    verify(commitments, 32, proof)


def test_packed_and_unpacked_proofs_do_not_verify_as_each_other() -> None:
    values = sample_loans(2, 8)
    proof, commitments = make(values, 8)
    with pytest.raises(VerificationError):
        verify_lanes(GROUP, commitments, 8, proof, transcript())  # read as ten lanes a loan
    other = ((tuple(reversed(PACKING[0]))), PACKING[1])  # same slots, other order: other layout
    with pytest.raises(VerificationError):
        verify_lanes(GROUP, commitments, 8, proof, transcript(), packing=other)


# -- soundness -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_LOANS)
def test_bad_loan_breaks_the_packed_circuit(name: str) -> None:
    values = [v % ORDER for v in BAD_LOANS[name]]
    assert _violations(values, BAD_N, lc._witness([values], BAD_N)) > 0
    assert _violations(values, BAD_N, _constraint_first_witness(values, BAD_N)) > 0


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
@pytest.mark.parametrize("name", BAD_LOANS)
def test_forced_proof_of_bad_loan_does_not_verify(
    monkeypatch: pytest.MonkeyPatch, name: str, strategy: str
) -> None:
    _force(monkeypatch, strategy)
    proof, commitments = make([lanes(9, 2), BAD_LOANS[name]], BAD_N)
    assert_rejected(commitments, BAD_N, proof)


@pytest.mark.parametrize(
    "shift",
    [
        ("count moved to the next bucket", 0, (1 << 32) - 1),  # + cnt_1 − cnt_0 in pack_0
        ("extra count", 0, 1 << 64),
        ("balance moved across slots", 1, (5 << 64) - 5),
        ("balance added", 1, 1),
        ("pack_0 negated", 0, None),
    ],
)
def test_packed_inputs_other_than_the_lanes_packing_do_not_verify(
    monkeypatch: pytest.MonkeyPatch, shift: tuple[str, int, int | None]
) -> None:
    # An honest witness, but loan 1's commitment is to a different packed value.
    _, index, delta = shift
    honest = lc.pack_values
    calls = {"n": 0}

    def cheat(values: Sequence[int], packing: lc.Packing | None) -> list[int]:
        out = honest(values, packing)
        calls["n"] += 1
        if calls["n"] == 2:  # the second loan
            out[index] = (-out[index] if delta is None else out[index] + delta) % ORDER
        return out

    monkeypatch.setattr(lc, "pack_values", cheat)
    proof, commitments = make([lanes(5, 0), lanes(5, 0), lanes(3, 3)], BAD_N)
    monkeypatch.setattr(lc, "pack_values", honest)
    assert_rejected(commitments, BAD_N, proof)


def test_bad_loan_is_refused_naming_only_the_loan() -> None:
    with pytest.raises(ProvingError, match=r"^loan 1: "):
        make([lanes(9, 2), BAD_LOANS["count of 2"]], BAD_N)
    with pytest.raises(ProvingError, match="loan 0: expected 2 blindings"):
        prove_lanes(GROUP, [lanes(1, 0)], [[1] * 10], 8, transcript(), packing=PACKING)
    with pytest.raises(ValueError, match="packing"):
        prove_lanes(GROUP, [lanes(1, 0)], [[1]], 8, transcript(), packing=(((0, 0),),))


# -- tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [None, 2])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = make(sample_loans(2, 8), 8, rounds)
    tampered = _tampered(proof)
    assert len(tampered) == 11 + 2 * proof.ipa_rounds + 2 * len(proof.a)
    for _name, bad in tampered:
        assert_rejected(commitments, 8, bad)


def test_every_commitment_tampered_swapped_or_reordered_is_rejected() -> None:
    proof, commitments = make(sample_loans(3, 8), 8)
    _, h = pedersen_bases(GROUP)
    for i in range(3):
        for j in range(2):
            bad = [list(c) for c in commitments]
            bad[i][j] = bad[i][j] + h
            assert_rejected(bad, 8, proof)
        swapped = [list(c) for c in commitments]
        swapped[i] = swapped[i][::-1]
        assert_rejected(swapped, 8, proof)
    assert_rejected(commitments[::-1], 8, proof)
