"""The exact-bounds pool circuit (``pool-v3``, :func:`proofs.poolcircuit.bounded_circuit`): every
amount proven in ``[0, its cap]`` with ``bits(cap)`` weighted bit gates.

Completeness, the decomposition's range (exhaustively for small caps), a malicious prover for every
range that got narrower (a value just past its cap, within its power-of-two width, is rejected),
tampering, and separation from the ``pool-v2`` statement of the same widths.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import poolcircuit as pc
from proofs.errors import ProvingError, VerificationError
from proofs.group import ORDER, Point
from proofs.lanecircuit import LaneCircuitProof
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES
from proofs.poolcircuit import PoolCircuit, PoolCircuitItem, batch_verify_pool, prove_pool, verify_pool
from tests.circuit_checks import broken
from tests.tampering import tampered_proofs
from tests.test_poolcircuit import GROUP, blindings_for, facts, transcript, values_of

#: Caps that are not 2^n − 1, so every range is narrower than its power-of-two width.
BAL_CAP = 200
FLOW_CAPS = (200, 150, 50, 12, 180, 100, 200)
EXACT = pc.bounded_circuit(BAL_CAP, FLOW_CAPS)
#: The pool-v2 circuit with the same widths and balance cap.
SAME_WIDTHS_V2 = pc.circuit(EXACT.balance_bits, EXACT.flow_bits, BAL_CAP)
N_BAL, N_FLOW = len(pc.BALANCE_LANES), len(pc.FLOW_LANES)


def sample(params: PoolCircuit, loans: int) -> list[list[int]]:
    out = []
    for i in range(loans):
        state = STATES[i % len(STATES)]
        balance = 0 if state in TERMINAL_STATES else (37 * i + 11) % (params.lane_max("balance_M0") + 1)
        flows = [(13 * i + 7 * k) % (params.lane_max(f"flow_{f}") + 1) for k, f in enumerate(FLOWS)]
        out.append(values_of(params, facts(state, balance, flows)))
    return out


def make(
    values: list[list[int]], params: PoolCircuit = EXACT, rounds: int | None = None
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    return prove_pool(
        GROUP, params, values, blindings_for(params, len(values)), transcript(), ipa_rounds=rounds
    )


def violations(params: PoolCircuit, row: Sequence[int], wires: tuple[list[int], list[int], list[int]]) -> int:
    return broken(params.template.rows, wires, params.pack_values([v % ORDER for v in row]))


# ---------------------------------------------------------------------------------------------
# The weighted decomposition
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", range(1, 260))
def test_weighted_bits_reach_exactly_zero_to_cap(cap: int) -> None:
    # Soundness and completeness of the range, exhaustively: the sums over all bit vectors are
    # exactly the integers 0..cap, and the prover's decomposition of each of them is one of them.
    weights = pc.bit_weights(cap.bit_length(), cap)
    reachable = {sum(w * b for w, b in zip(weights, bits, strict=True))
                 for bits in itertools.product((0, 1), repeat=len(weights))}  # fmt: skip
    assert reachable == set(range(cap + 1))
    for v in range(cap + 1):
        bits = pc.weighted_bits(v, weights)
        assert set(bits) <= {0, 1}
        assert sum(w * b for w, b in zip(weights, bits, strict=True)) == v


def test_weights_of_a_cap_of_all_ones_are_the_powers_of_two() -> None:
    assert pc.bit_weights(8, 255) == pc.bit_weights(8, None) == tuple(1 << j for j in range(8))
    assert pc.bit_weights(25, 20_000_000)[-1] == 20_000_000 - (1 << 24) + 1


@given(cap=st.integers(1, (1 << 40) - 1), data=st.data())
def test_property_decomposition_round_trips_for_wide_caps(cap: int, data: st.DataObject) -> None:
    weights = pc.bit_weights(cap.bit_length(), cap)
    v = data.draw(st.integers(0, cap))
    bits = pc.weighted_bits(v, weights)
    assert set(bits) <= {0, 1}
    assert sum(w * b for w, b in zip(weights, bits, strict=True)) == v


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


def test_gates_are_the_caps_bit_lengths_and_no_cap_gates() -> None:
    widths = [c.bit_length() for c in FLOW_CAPS]
    assert EXACT.cap_bits == 0
    assert EXACT.gates_per_loan == BAL_CAP.bit_length() + sum(widths) + 9 + 6
    # The v2 circuit of the same widths pays 8 more gates a loan for C − B.
    assert SAME_WIDTHS_V2.gates_per_loan - EXACT.gates_per_loan == 8


def test_lane_maxima_are_the_caps() -> None:
    assert EXACT.lane_max("balance_M0") == BAL_CAP
    assert [EXACT.lane_max(f"flow_{f}") for f in FLOWS] == list(FLOW_CAPS)


@pytest.mark.parametrize(
    ("balance_cap", "flow_caps", "match"),
    [
        (0, FLOW_CAPS, "integer >= 1"),
        (BAL_CAP, (*FLOW_CAPS[:6], 0), "integer >= 1"),
        (BAL_CAP, FLOW_CAPS[:6], "7 flow caps"),
        (1 << 40, FLOW_CAPS, "balance_bits"),
        (BAL_CAP, (*FLOW_CAPS[:6], True), "integer >= 1"),
    ],
)
def test_bad_caps_are_refused(balance_cap: int, flow_caps: Sequence[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pc.bounded_circuit(balance_cap, flow_caps)


def test_widths_that_are_not_the_caps_bit_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"flow_caps\[interest\] 50 needs 6 bits, not 7"):
        dataclasses.replace(EXACT, flow_bits=(8, 8, 7, 4, 8, 7, 8))
    with pytest.raises(ValueError, match="balance_cap must be"):
        dataclasses.replace(EXACT, balance_cap=None)


def test_the_statement_encodes_its_bounds_and_domain() -> None:
    assert EXACT.encode().endswith(b";flow_caps=200,150,50,12,180,100,200;bounds=exact")
    assert EXACT.domain == b"poolproof/poolcircuit/v2"
    assert SAME_WIDTHS_V2.domain == b"poolproof/poolcircuit/v1"
    assert b"flow_caps" not in SAME_WIDTHS_V2.encode()


# ---------------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_honest_witness_at_every_cap_satisfies_every_gate(state: str) -> None:
    balance = 0 if state in TERMINAL_STATES else BAL_CAP
    row = values_of(EXACT, facts(state, balance, FLOW_CAPS))
    assert violations(EXACT, row, pc._witness([row], EXACT)) == 0


@pytest.mark.parametrize("rounds", [None, 2, 0])
def test_every_state_proves_verifies_and_round_trips(rounds: int | None) -> None:
    values = sample(EXACT, len(STATES))
    proof, commitments = make(values, rounds=rounds)
    verify_pool(GROUP, EXACT, commitments, proof, transcript())
    decoded = pc.decode_proof(GROUP, proof.to_bytes(), EXACT, len(values), rounds)
    assert decoded == proof
    assert len(proof.to_bytes()) == EXACT.proof_size(len(values), rounds)


def test_the_caps_themselves_prove() -> None:
    values = [values_of(EXACT, facts("M3+", BAL_CAP, FLOW_CAPS)), values_of(EXACT, facts("PREPAID", 0))]
    proof, commitments = make(values)
    verify_pool(GROUP, EXACT, commitments, proof, transcript())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_random_loans_within_their_caps_prove(data: st.DataObject) -> None:
    rows = []
    for _ in range(data.draw(st.integers(1, 3))):
        state = data.draw(st.sampled_from(STATES))
        balance = 0 if state in TERMINAL_STATES else data.draw(st.integers(0, BAL_CAP))
        flows = [data.draw(st.integers(0, c)) for c in FLOW_CAPS]
        rows.append(values_of(EXACT, facts(state, balance, flows)))
    proof, commitments = make(rows)
    verify_pool(GROUP, EXACT, commitments, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Soundness: each narrower range, broken by a prover who skips its own check
# ---------------------------------------------------------------------------------------------


def _row(balance: int, flows: Sequence[int], state: str = "M0") -> list[int]:
    return [*(balance if s == f"balance_{state}" else 0 for s in pc.BALANCE_LANES), *flows,
            *(int(s == state) for s in STATES)]  # fmt: skip


Z7 = [0] * 7
#: Every amount one past its cap (still below its power-of-two width), and negative.
PAST_CAP = {
    "balance cap + 1": _row(BAL_CAP + 1, Z7),
    "balance -1": _row(-1, Z7),
    **{f"{f} cap + 1": _row(5, [c + 1 if k == i else 0 for k, c in enumerate(FLOW_CAPS)])
       for i, f in enumerate(FLOWS)},
    **{f"{f} -1": _row(5, [-1 if k == i else 0 for k in range(7)]) for i, f in enumerate(FLOWS)},
}  # fmt: skip


def test_every_past_cap_value_still_fits_its_power_of_two_width() -> None:
    # The point of the tests below: these values pass the pool-v2 range of the same width.
    for i, cap in enumerate(FLOW_CAPS):
        assert cap + 1 < 1 << EXACT.flow_bits[i]


def _constraint_first_witness(
    params: PoolCircuit, row: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    """Wires whose weighted sums equal the (bad) inputs: bit 0 takes the remainder, breaking a gate."""
    a_l: list[int] = []
    a_r: list[int] = []
    a_o: list[int] = []
    lanes = [v % ORDER for v in row]
    balance = sum(lanes[:N_BAL]) % ORDER

    def ranged(value: int, weights: Sequence[int]) -> None:
        cap = sum(weights)
        bits = pc.weighted_bits(min(value, cap), weights)
        bits[0] = (value - sum(w * b for w, b in zip(weights[1:], bits[1:], strict=True))) % ORDER
        a_l.extend(bits)
        a_r.extend(b - 1 for b in bits)
        a_o.extend([0] * len(bits))

    ranged(balance, params.balance_weights)
    for k in range(N_FLOW):
        ranged(lanes[N_BAL + k], params.flow_weights[k])
    counts = lanes[N_BAL + N_FLOW :]
    pc._circuit.append_one_hot_gates((a_l, a_r, a_o), counts, len(STATES) - 1)
    pc._circuit.append_product_gates((a_l, a_r, a_o), counts, balance, N_BAL)
    return a_l, a_r, a_o


def _constraint_first_wires(
    values: Sequence[Sequence[int]], params: PoolCircuit
) -> tuple[list[int], list[int], list[int]]:
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    for row in values:
        for acc, part in zip(out, _constraint_first_witness(params, row), strict=True):
            acc += part
    return out


def _force(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    monkeypatch.setattr(pc, "_check_loan", lambda *args: None)
    if strategy == "constraints-hold":
        monkeypatch.setattr(pc, "_witness", _constraint_first_wires)


@pytest.mark.parametrize("name", PAST_CAP)
def test_past_cap_value_breaks_the_circuit_and_is_refused(name: str) -> None:
    row = PAST_CAP[name]
    assert violations(EXACT, row, pc._witness([row], EXACT)) > 0
    assert violations(EXACT, row, _constraint_first_witness(EXACT, row)) > 0
    with pytest.raises(ProvingError, match=r"^loan 1: "):
        prove_pool(GROUP, EXACT, [sample(EXACT, 1)[0], row], blindings_for(EXACT, 2), transcript())


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
@pytest.mark.parametrize("name", PAST_CAP)
def test_forced_proof_past_a_cap_does_not_verify(
    monkeypatch: pytest.MonkeyPatch, name: str, strategy: str
) -> None:
    _force(monkeypatch, strategy)
    values = [sample(EXACT, 1)[0], PAST_CAP[name]]
    proof, commitments = make(values)
    with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
        verify_pool(GROUP, EXACT, commitments, proof, transcript())
    good_proof, good_v = make(sample(EXACT, 2))
    items = [PoolCircuitItem(EXACT, good_v, good_proof, transcript()),
             PoolCircuitItem(EXACT, commitments, proof, transcript())]  # fmt: skip
    with pytest.raises(VerificationError, match="item 1"):
        batch_verify_pool(GROUP, items)


@pytest.mark.parametrize("name", ["balance cap + 1", "interest cap + 1", "fees -1"])
def test_forced_proof_past_a_cap_fails_in_the_compact_zero_round_form(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _force(monkeypatch, "gates-hold")
    proof, commitments = make([sample(EXACT, 1)[0], PAST_CAP[name]], rounds=0)
    with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
        verify_pool(GROUP, EXACT, commitments, proof, transcript())


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
def test_forcing_machinery_still_proves_honest_loans(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    # Guards the tests above: their rejections come from the bad amount, not from the machinery.
    _force(monkeypatch, strategy)
    values = sample(EXACT, len(STATES))
    assert all(violations(EXACT, v, _constraint_first_witness(EXACT, v)) == 0 for v in values)
    proof, commitments = make(values)
    verify_pool(GROUP, EXACT, commitments, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Tampering and separation from pool-v2
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [None, 0])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = make(sample(EXACT, 2), rounds=rounds)
    tampered = tampered_proofs(GROUP, proof, ("A_I", "A_O", "S", "T1", "T3", "T4", "T5", "T6"))
    assert len(tampered) > 11
    for _name, bad in tampered:
        with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
            verify_pool(GROUP, EXACT, commitments, bad, transcript())


@pytest.mark.parametrize(
    "other",
    [
        pc.bounded_circuit(BAL_CAP - 1, FLOW_CAPS),
        pc.bounded_circuit(BAL_CAP, (*FLOW_CAPS[:2], 51, *FLOW_CAPS[3:])),
        pc.bounded_circuit(BAL_CAP, (*FLOW_CAPS[:6], 199)),
        SAME_WIDTHS_V2,
    ],
    ids=["lower balance cap", "higher interest cap", "lower written-off cap", "pool-v2 same widths"],
)
def test_a_proof_does_not_verify_under_other_bounds(other: PoolCircuit) -> None:
    proof, commitments = make(sample(EXACT, 2))
    with pytest.raises(VerificationError):
        verify_pool(GROUP, other, commitments, proof, transcript())


def test_a_pool_v2_proof_does_not_verify_as_exact_bounds() -> None:
    # The same widths and gate count would fit if v2 had no cap gates: no cap, all-ones caps.
    v2 = pc.circuit(8, (8,) * 7)
    exact = pc.bounded_circuit(255, (255,) * 7)
    assert v2.template == exact.template
    proof, commitments = make(sample(v2, 2), v2)
    verify_pool(GROUP, v2, commitments, proof, transcript())
    with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
        verify_pool(GROUP, exact, commitments, proof, transcript())


def test_batch_mixes_both_statements_and_names_the_bad_item() -> None:
    p3, c3 = make(sample(EXACT, 2))
    p2, c2 = make(sample(SAME_WIDTHS_V2, 2), SAME_WIDTHS_V2)
    items = [
        PoolCircuitItem(EXACT, c3, p3, transcript()),
        PoolCircuitItem(SAME_WIDTHS_V2, c2, p2, transcript()),
    ]
    batch_verify_pool(GROUP, items)
    swapped = PoolCircuitItem(EXACT, c2, p2, transcript())
    with pytest.raises(VerificationError, match="item 2"):
        batch_verify_pool(GROUP, [*items, swapped])
