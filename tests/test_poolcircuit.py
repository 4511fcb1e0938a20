"""Pool-circuit proofs (``proofs.poolcircuit``): completeness, soundness against a malicious prover,
tampering, encoding and batching."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import poolcircuit as pc
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, Point, get_group
from proofs.lanecircuit import LaneCircuitProof
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES, LoanFacts, state_index
from proofs.pedersen import commit
from proofs.poolcircuit import PoolCircuit, PoolCircuitItem, batch_verify_pool, prove_pool, verify_pool
from proofs.transcript import Transcript
from tests.circuit_checks import broken
from tests.tampering import tampered_proofs
from tests.vectors_util import seeded_rng

GROUP = get_group("arkworks")
PROTOCOL = b"poolproof/test/poolcircuit/v1"
#: Small widths keep the proofs cheap; the cap (200 < 2^8 - 1) switches on the cap bit gates.
SMALL = pc.circuit(8, (8, 8, 6, 4, 8, 8, 8), balance_cap=200)
NO_CAP = pc.circuit(8, (8, 8, 6, 4, 8, 8, 8))
N_BAL, N_FLOW = len(pc.BALANCE_LANES), len(pc.FLOW_LANES)


def transcript(context: bytes = b"ctx") -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"context", context)
    return t


def facts(state: str, balance: int = 0, flows: Sequence[int] = (0,) * 7) -> LoanFacts:
    return LoanFacts("e", state_index(state), balance, tuple(flows))


def values_of(params: PoolCircuit, f: LoanFacts) -> list[int]:
    return list(params.lane_values(f))


def blindings_for(params: PoolCircuit, loans: int, salt: bytes = b"") -> list[list[int]]:
    return [
        [
            int.from_bytes(hashlib.sha256(salt + b"%d/%d" % (i, j)).digest(), "big") % ORDER
            for j in range(params.inputs)
        ]
        for i in range(loans)
    ]


def sample(params: PoolCircuit, loans: int) -> list[list[int]]:
    out = []
    for i in range(loans):
        state = STATES[i % len(STATES)]
        balance = 0 if state in TERMINAL_STATES else (37 * i + 11) % (params.lane_max("balance_M0") + 1)
        flows = [(13 * i + 7 * k) % (1 << w) for k, w in enumerate(params.flow_bits)]
        out.append(values_of(params, facts(state, balance, flows)))
    return out


def make(
    values: list[list[int]],
    params: PoolCircuit = SMALL,
    rounds: int | None = None,
    *,
    seed: bytes | None = None,
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    rng = seeded_rng(seed) if seed is not None else None
    return prove_pool(
        GROUP, params, values, blindings_for(params, len(values)), transcript(), ipa_rounds=rounds, rng=rng
    )


_GOOD: dict[str, tuple[LaneCircuitProof, list[list[Point]]]] = {}


def _good() -> tuple[LaneCircuitProof, list[list[Point]]]:
    if "p" not in _GOOD:
        _GOOD["p"] = make(sample(SMALL, 2))
    return _GOOD["p"]


def assert_rejected(
    commitments: Sequence[Sequence[Point]], proof: LaneCircuitProof, params: PoolCircuit = SMALL
) -> None:
    """Rejected by the single verifier and by the batch verifier among good proofs."""
    with pytest.raises(VerificationError):
        verify_pool(GROUP, params, commitments, proof, transcript())
    good_proof, good_v = _good()
    good = PoolCircuitItem(SMALL, good_v, good_proof, transcript())
    bad = PoolCircuitItem(params, commitments, proof, transcript())
    with pytest.raises(VerificationError, match="item 1"):
        batch_verify_pool(GROUP, [good, bad, good])


def violations(params: PoolCircuit, row: Sequence[int], wires: tuple[list[int], list[int], list[int]]) -> int:
    """Gates and linear constraints of one loan that ``wires`` and the loan's packed inputs break."""
    return broken(params.template.rows, wires, params.pack_values([v % ORDER for v in row]))


# ---------------------------------------------------------------------------------------------
# Parameters and layout
# ---------------------------------------------------------------------------------------------


def test_gate_count_is_the_documented_layout() -> None:
    assert SMALL.gates_per_loan == 8 + 8 + sum(SMALL.flow_bits) + 9 + 6
    assert NO_CAP.gates_per_loan == 8 + sum(NO_CAP.flow_bits) + 9 + 6
    # A cap of 2^n - 1 is what the range already proves: no extra gates.
    assert pc.circuit(8, NO_CAP.flow_bits, balance_cap=255).cap_bits == 0


def test_default_packing_holds_every_lane_once_without_overlap() -> None:
    for params in (SMALL, pc.circuit(34, (34,) * 7, 10**9)):
        widths = pc.slot_widths(params.balance_bits, params.flow_bits)
        seen = []
        for entries in params.packing:
            end = 0
            for lane, shift in sorted(entries, key=lambda e: e[1]):
                assert shift >= end
                end = shift + widths[lane]
                seen.append(lane)
            assert end <= pc.PACKED_TOP_BIT
        assert sorted(seen) == list(range(len(pc.LANES)))


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="balance_bits"):
        pc.circuit(41, NO_CAP.flow_bits)
    with pytest.raises(ValueError, match="flow_bits needs 7"):
        pc.circuit(8, (8,) * 6)
    with pytest.raises(ValueError, match=r"flow_bits\[interest\]"):
        pc.circuit(8, (8, 8, 0, 8, 8, 8, 8))
    with pytest.raises(ValueError, match="balance_cap"):
        pc.circuit(8, NO_CAP.flow_bits, balance_cap=256)
    with pytest.raises(ValueError, match="packing"):
        dataclasses.replace(SMALL, packing=SMALL.packing[:-1])


@pytest.mark.parametrize("state", STATES)
def test_honest_witness_satisfies_every_gate_and_constraint(state: str) -> None:
    balance = 0 if state in TERMINAL_STATES else 200
    row = values_of(SMALL, facts(state, balance, (255, 255, 63, 15, 255, 255, 255)))
    assert violations(SMALL, row, pc._witness([row], SMALL)) == 0


def test_one_hot_gates_admit_only_unit_vectors() -> None:
    # The lemma of the module docstring, exhaustively over a small domain of field values: the nine
    # gates c_k·(c_0 + .. + c_k − 1) = 0 with c_9 = 1 − Σ c_k hold exactly for the unit vectors.
    domain = [0, 1, ORDER - 1]
    found = []
    for c in itertools.product(domain, repeat=9):
        full = [*c, (1 - sum(c)) % ORDER]
        if all(full[k] * (sum(full[: k + 1]) - 1) % ORDER == 0 for k in range(9)):
            found.append(full)
    assert sorted(found) == sorted([int(s == t) for s in range(10)] for t in range(10))


# ---------------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [SMALL, NO_CAP], ids=["cap", "no-cap"])
def test_every_state_proves_and_verifies(params: PoolCircuit) -> None:
    values = sample(params, len(STATES))
    proof, commitments = make(values, params)
    verify_pool(GROUP, params, commitments, proof, transcript())


def test_extremes_prove() -> None:
    top = tuple((1 << w) - 1 for w in SMALL.flow_bits)
    values = [values_of(SMALL, facts("M0", 200, top)), values_of(SMALL, facts("DEFAULTED", 0))]
    proof, commitments = make(values)
    verify_pool(GROUP, SMALL, commitments, proof, transcript())


@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_cut_inner_product_round_trips(rounds: int) -> None:
    values = sample(SMALL, 3)
    proof, commitments = make(values, rounds=rounds)
    assert proof.ipa_rounds == rounds
    verify_pool(GROUP, SMALL, commitments, proof, transcript())
    decoded = pc.decode_proof(GROUP, proof.to_bytes(), SMALL, 3, rounds)
    assert decoded == proof
    assert len(proof.to_bytes()) == SMALL.proof_size(3, rounds)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_random_loans_prove_and_verify(data: st.DataObject) -> None:
    loans = data.draw(st.integers(1, 4))
    rows = []
    for _ in range(loans):
        state = data.draw(st.sampled_from(STATES))
        balance = 0 if state in TERMINAL_STATES else data.draw(st.integers(0, 200))
        flows = [data.draw(st.integers(0, (1 << w) - 1)) for w in SMALL.flow_bits]
        rows.append(values_of(SMALL, facts(state, balance, flows)))
    proof, commitments = make(rows)
    verify_pool(GROUP, SMALL, commitments, proof, transcript())


def test_commitments_are_the_packed_pedersen_commitments() -> None:
    values = sample(SMALL, 2)
    _, commitments = make(values)
    blind = blindings_for(SMALL, 2)
    for i, row in enumerate(values):
        for j, v in enumerate(SMALL.pack_values(row)):
            assert commitments[i][j] == commit(GROUP, v, blind[i][j])


def test_prover_and_verifier_leave_transcript_in_same_state() -> None:
    values = sample(SMALL, 2)
    t_p = transcript()
    proof, commitments = prove_pool(GROUP, SMALL, values, blindings_for(SMALL, 2), t_p)
    t_v = transcript()
    verify_pool(GROUP, SMALL, commitments, proof, t_v)
    assert t_p.challenge_scalar(b"next") == t_v.challenge_scalar(b"next")


def test_injected_randomness_reproduces_and_default_is_fresh() -> None:
    values = sample(SMALL, 1)
    assert make(values, seed=b"s")[0] == make(values, seed=b"s")[0]
    assert make(values)[0] != make(values)[0]


# ---------------------------------------------------------------------------------------------
# Soundness: every property the statement claims, broken by a prover who skips its own check
# ---------------------------------------------------------------------------------------------


def _row(balances: Sequence[int], flows: Sequence[int], counts: Sequence[int]) -> list[int]:
    return [*balances, *flows, *counts]


Z6, Z7 = [0] * 6, [0] * 7


def _unit(state: str) -> list[int]:
    return [int(s == state) for s in STATES]


def _at(state: str, v: int) -> list[int]:
    return [v if s == state else 0 for s in pc.BALANCE_LANES]


BAD_LOANS = {
    "a loan in two states": _row(_at("balance_M0", 5), Z7, [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    "a loan in no state": _row(Z6, Z7, [0] * 10),
    "a state counted twice": _row(_at("balance_M1", 5), Z7, [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
    "counts 2 and -1 summing to 1": _row(Z6, Z7, [2, -1, 0, 0, 0, 0, 0, 0, 0, 0]),
    "a balance split across two states": _row([3, 4, 0, 0, 0, 0], Z7, _unit("M0")),
    "a balance in a state not counted": _row(_at("balance_M2", 9), Z7, _unit("M0")),
    "a terminated loan with a balance (counted as current)": _row(_at("balance_M0", 9), Z7, _unit("PREPAID")),
    "a written-off loan still outstanding": _row(_at("balance_DEFAULTED", 9), Z7, _unit("WRITTEN_OFF")),
    "a negative balance": _row(_at("balance_M0", -1), Z7, _unit("M0")),
    "a balance of 2^n": _row(_at("balance_M0", 256), Z7, _unit("M0")),
    "a balance above the cap": _row(_at("balance_M0", 201), Z7, _unit("M0")),
    **{
        f"a negative {name} flow": _row(
            _at("balance_M0", 5), [-1 if k == i else 0 for k in range(7)], _unit("M0")
        )
        for i, name in enumerate(FLOWS)
    },
    "a flow of 2^w": _row(Z6, [0, 0, 64, 0, 0, 0, 0], _unit("M0")),
}


def _constraint_first_witness(
    params: PoolCircuit, row: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    """Wires that satisfy every range sum for these inputs, breaking gates instead (bit 0 takes the rest)."""
    a_l: list[int] = []
    a_r: list[int] = []
    a_o: list[int] = []
    lanes = [v % ORDER for v in row]
    balance = sum(lanes[:N_BAL]) % ORDER

    def ranged(value: int, width: int) -> None:
        bits = [(value >> j) & 1 for j in range(width)]
        bits[0] = (value - sum(b << j for j, b in enumerate(bits) if j)) % ORDER
        a_l.extend(bits)
        a_r.extend(b - 1 for b in bits)
        a_o.extend([0] * width)

    ranged(balance, params.balance_bits)
    if params.cap_bits:
        assert params.balance_cap is not None
        ranged((params.balance_cap - balance) % ORDER, params.cap_bits)
    for k, w in enumerate(params.flow_bits):
        ranged(lanes[N_BAL + k], w)
    counts = lanes[N_BAL + N_FLOW :]
    prefix = 0
    for k in range(9):
        prefix += counts[k]
        a_l.append(counts[k])
        a_r.append(prefix - 1)
        a_o.append(0)
    for s in range(N_BAL):
        a_l.append(counts[s])
        a_r.append(balance)
        a_o.append(lanes[s])
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


@pytest.mark.parametrize("name", BAD_LOANS)
def test_bad_loan_breaks_the_circuit(name: str) -> None:
    row = BAD_LOANS[name]
    assert violations(SMALL, row, pc._witness([row], SMALL)) > 0
    assert violations(SMALL, row, _constraint_first_witness(SMALL, row)) > 0


@pytest.mark.parametrize("name", BAD_LOANS)
def test_bad_loan_is_refused_naming_only_the_loan(name: str) -> None:
    values = [sample(SMALL, 1)[0], BAD_LOANS[name]]
    with pytest.raises(ProvingError, match=r"^loan 1: "):
        prove_pool(GROUP, SMALL, values, blindings_for(SMALL, 2), transcript())


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
@pytest.mark.parametrize("name", BAD_LOANS)
def test_forced_proof_of_bad_loan_does_not_verify(
    monkeypatch: pytest.MonkeyPatch, name: str, strategy: str
) -> None:
    _force(monkeypatch, strategy)
    values = [sample(SMALL, 1)[0], BAD_LOANS[name]]
    proof, commitments = prove_pool(GROUP, SMALL, values, blindings_for(SMALL, 2), transcript())
    assert_rejected(commitments, proof)


@pytest.mark.parametrize("strategy", ["gates-hold", "constraints-hold"])
def test_forcing_machinery_still_proves_honest_loans(monkeypatch: pytest.MonkeyPatch, strategy: str) -> None:
    # Guards the test above: the rejections there come from the bad loan, not from the machinery.
    _force(monkeypatch, strategy)
    values = sample(SMALL, len(STATES))
    assert all(violations(SMALL, v, _constraint_first_witness(SMALL, v)) == 0 for v in values)
    proof, commitments = prove_pool(GROUP, SMALL, values, blindings_for(SMALL, len(values)), transcript())
    verify_pool(GROUP, SMALL, commitments, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Tampering: every proof element, every commitment, every statement parameter
# ---------------------------------------------------------------------------------------------


def _tampered(proof: LaneCircuitProof) -> list[tuple[str, LaneCircuitProof]]:
    return tampered_proofs(GROUP, proof, ("A_I", "A_O", "S", "T1", "T3", "T4", "T5", "T6"))


@pytest.mark.parametrize("rounds", [None, 2, 0])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = make(sample(SMALL, 2), rounds=rounds)
    for name, bad in _tampered(proof):
        with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
            verify_pool(GROUP, SMALL, commitments, bad, transcript())
        assert name


def test_every_commitment_tampered_is_rejected() -> None:
    proof, commitments = _good()
    g, _ = pedersen_bases(GROUP)
    for i, loan in enumerate(commitments):
        for j in range(len(loan)):
            changed = [list(c) for c in commitments]
            changed[i][j] = changed[i][j] + g
            with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
                verify_pool(GROUP, SMALL, changed, proof, transcript())


def test_commitments_swapped_between_inputs_or_loans_are_rejected() -> None:
    proof, commitments = _good()
    swapped = [list(reversed(c)) for c in commitments]
    with pytest.raises(VerificationError):
        verify_pool(GROUP, SMALL, swapped, proof, transcript())
    with pytest.raises(VerificationError):
        verify_pool(GROUP, SMALL, list(reversed(commitments)), proof, transcript())


@pytest.mark.parametrize(
    "other",
    [
        pc.circuit(8, (8, 8, 6, 4, 8, 8, 8), balance_cap=199),
        pc.circuit(8, (8, 8, 6, 4, 8, 8, 8), balance_cap=201),
        dataclasses.replace(SMALL, packing=tuple(reversed(SMALL.packing))),
    ],
    ids=["lower cap", "higher cap", "other packing"],
)
def test_other_parameters_are_rejected(other: PoolCircuit) -> None:
    proof, commitments = _good()
    with pytest.raises(VerificationError):
        verify_pool(GROUP, other, commitments, proof, transcript())


def test_other_widths_or_loan_count_are_rejected_as_shape() -> None:
    proof, commitments = _good()
    with pytest.raises(VerificationError, match="poolcircuit"):
        verify_pool(GROUP, pc.circuit(9, SMALL.flow_bits, 200), commitments, proof, transcript())
    with pytest.raises(VerificationError, match=r"poolcircuit\.shape"):
        verify_pool(GROUP, SMALL, [*commitments, commitments[0]] * 4, proof, transcript())


def test_other_transcript_context_is_rejected() -> None:
    proof, commitments = _good()
    with pytest.raises(VerificationError, match=r"poolcircuit\.equation"):
        verify_pool(GROUP, SMALL, commitments, proof, transcript(b"other"))


def test_lane_circuit_proof_of_the_same_bytes_is_not_a_pool_proof() -> None:
    from proofs.lanecircuit import verify_lanes

    proof, commitments = _good()
    with pytest.raises(VerificationError):
        verify_lanes(GROUP, commitments, 8, proof, transcript())


def test_batch_verifies_and_names_the_bad_item() -> None:
    proof, commitments = _good()
    other = make(sample(NO_CAP, 3), NO_CAP)
    items = [
        PoolCircuitItem(SMALL, commitments, proof, transcript()),
        PoolCircuitItem(NO_CAP, other[1], other[0], transcript()),
    ]
    batch_verify_pool(GROUP, items)
    batch_verify_pool(GROUP, [])
    bad = dataclasses.replace(proof, t_hat=(proof.t_hat + 1) % ORDER)
    with pytest.raises(VerificationError, match="item 2"):
        batch_verify_pool(GROUP, [*items, PoolCircuitItem(SMALL, commitments, bad, transcript())])


def test_malformed_encodings_are_rejected() -> None:
    proof, _ = _good()
    data = proof.to_bytes()
    with pytest.raises(EncodingError, match="expected"):
        pc.decode_proof(GROUP, data[:-1], SMALL, 2, proof.ipa_rounds)
    with pytest.raises(EncodingError):
        pc.decode_proof(GROUP, b"\xff" * 48 + data[48:], SMALL, 2, proof.ipa_rounds)
    with pytest.raises(EncodingError):
        pc.decode_proof(GROUP, data, SMALL, 0, proof.ipa_rounds)


@pytest.mark.parametrize(
    "name", ["a loan in two states", "a negative interest flow", "a balance above the cap"]
)
def test_forced_bad_loan_fails_in_the_compact_zero_round_form_too(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _force(monkeypatch, "gates-hold")
    values = [sample(SMALL, 1)[0], BAD_LOANS[name]]
    proof, commitments = prove_pool(GROUP, SMALL, values, blindings_for(SMALL, 2), transcript(), ipa_rounds=0)
    assert (len(proof.a), len(proof.b)) == pc._circuit.compact_lengths(SMALL.template, 2)
    assert_rejected(commitments, proof)


def test_zero_round_proofs_carry_r_only_off_the_bit_gates() -> None:
    proof, commitments = make(sample(SMALL, 3), rounds=0)
    used = 3 * SMALL.gates_per_loan
    assert len(proof.a) == used
    assert len(proof.b) == used - 3 * len(SMALL.template.shared)
    # The full-length form of the same proof is not accepted: the encoding is the compact one.
    padded = dataclasses.replace(proof, b=proof.a)
    with pytest.raises(VerificationError, match=r"poolcircuit\.shape"):
        verify_pool(GROUP, SMALL, commitments, padded, transcript())
