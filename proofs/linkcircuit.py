"""The link circuit: each kept loan's move between two consecutive ``pool-v4`` snapshots.

One Bulletproofs arithmetic-circuit proof (Bünz et al. 2018 §5.1, the protocol of
:mod:`proofs._circuit`) over a *piece* of loans that are in both snapshot ``t−1`` and snapshot ``t``.
Its committed inputs per loan are the leaves' own commitments, read from the two snapshots
(:func:`proofs.poolcircuit.linkable_packing`):

* ``V_0 = S'·G + γ'_0·H``: t−1's count input, ``S' = Σ_s c'_s·2^(25·s)``;
* ``V_1, V_2``: t−1's balance inputs, ``P'_k = Σ_{m<3} bal'_{3k+m}·2^(w·m)`` (``w`` = balance
  bits + 25);
* ``V_3 = S·G + γ_3·H``: t's count input, ``S = Σ_s c_s·2^(25·s)``.

Besides them the proof has *row commitments* ``W_0 .. W_29`` of the piece (one per row, not one per
loan): ``W_i`` for ``i < 10`` commits to ``Σ_loans c'_i·S`` — the packed to-state counts of the
piece's loans that were in state ``i`` — and ``W_{10 + 2j + k}`` to ``Σ_loans c_j·P'_k`` — the
packed t−1 balances, by from-state, of the loans now in state ``j`` (the roll-rate basis: balances
as they were at t−1).

Gate layout of one loan (48 gates):

* gates 0–8, one-hot of ``c'``: ``a_L = c'_k``, ``a_R = c'_0 + .. + c'_k − 1``, ``a_O = 0``;
  ``c'_9 = 1 − Σ_{k<9} c'_k``;
* gates 9–17, the same for ``c``;
* gates 18–27, count rows: ``a_L = c'_i``, ``a_R = S``, ``a_O = c'_i·S``;
* gates 28–47, balance rows (gate ``28 + 2j + k``): ``a_L = c_j``, ``a_R = P'_k``, ``a_O = c_j·P'_k``.

Linear constraints per loan: for each one-hot gate ``a_R − Σ_{m<=k} a_L = −1`` and ``a_O = 0``;
``Σ_{k<9} c'_k·(2^(25k) − 2^225) = V_0 − 2^225`` (the packing of ``c'`` is ``S'``) and the same
for ``c`` against ``V_3``; for every row gate its ``a_L`` equals the one-hot wire it names (or
``1 − Σ``, for state 9) and its ``a_R`` equals ``V_3`` (count rows) or ``V_{1+k}`` (balance rows).
And once per piece, over all its loans: ``Σ_loans a_O[gate 18 + i] = W_i`` for each of the 30 rows.
These are the only constraints that span loans; the engine here is :mod:`proofs._circuit`'s with
those 30 rows added after the per-loan rows (weights ``z^(L·Q + i + 1)``), which touch only ``a_O``
and the row commitments, so ``δ(y, z)`` is the template's.

Soundness (given that both snapshots verify, :func:`proofs.snapshot.verify_snapshot`). By the
protocol's knowledge soundness the prover knows openings of every ``V`` and ``W`` satisfying the
constraints. The one-hot lemma (:mod:`proofs.lanecircuit`) makes ``c'`` and ``c`` unit vectors over
the integers; a unit vector packed at distinct powers ``2^(25s) < r`` has a unique packing, and
t−1's seal proves (binding) that ``V_0`` opens to the packing of that loan's t−1 state: so ``c'``
*is* the loan's state at t−1, and likewise ``c`` its state at t. A count row's ``a_O`` is ``S`` for
the loan's from-state and 0 otherwise; a balance row's is ``P'_k`` — which t−1's seal proves is the
packing of the loan's t−1 balance in its t−1 state, within the cap — for its to-state, else 0. So
``W_i`` opens to ``Σ_j N_ij·2^(25j)`` with ``N_ij`` the number of the piece's loans going from ``i``
to ``j``, and ``W_{10+2j+k}`` to the packing of the t−1 balances of loans going from each of three
from-states to ``j``. Summed over pieces every slot stays below its width (fewer than 2^25 loans,
each balance below ``2^bits``), the sums are below ``2^254 < r`` and unpack uniquely: opening the
summed row commitments (value and blinding) gives exactly the roll matrix. What is *not* proven
here: anything about loans that are in only one snapshot (:mod:`proofs.link` handles exits and
entries), and t's balances (they are t's own seal's).

Zero knowledge: as :mod:`proofs._circuit` (no shared gates: every gate has its own blindings); the
row commitments carry fresh blindings, and only their sums are opened.

Transcript (after the caller's context): ``dom-sep`` = :data:`DOMAIN`, ``generators``, ``params``
(the lane set name and slot width), ``loans``, ``gates``, ``ipa-rounds``, ``V`` (loan-major),
``W`` (the rows); then the protocol's messages. Proofs use
:class:`proofs.lanecircuit.LaneCircuitProof`'s encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

from proofs import _circuit, _wire
from proofs._circuit import Constraint, Template
from proofs._ipa import (
    ProofTerms,
    TermAccumulator,
    batch_weight,
    os_scalars,
)
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import generator_set_id
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, ScalarSource
from proofs.lanecircuit import LABEL_G, LABEL_H, LABEL_Q, MAX_GATES, LaneCircuitProof
from proofs.loan_facts import STATES
from proofs.pedersen import commit_many
from proofs.poolcircuit import LINK_LEAVES_BITS
from proofs.transcript import Transcript

DOMAIN: Final = b"poolproof/linkcircuit/v1"
_R: Final = ORDER
N_STATES: Final = len(STATES)
#: Inputs per loan: t−1 count, t−1 balance 0, t−1 balance 1, t count.
INPUTS: Final = 4
PREV_COUNT, PREV_BAL0, PREV_BAL1, CUR_COUNT = range(INPUTS)
_PREV1H: Final = 0
_CUR1H: Final = N_STATES - 1
_COUNT0: Final = 2 * (N_STATES - 1)
_BAL0: Final = _COUNT0 + N_STATES
GATES_PER_LOAN: Final = _BAL0 + 2 * N_STATES
#: Row commitments per piece: 10 count rows (by from-state) then 20 balance rows (to-state, input).
ROWS: Final = N_STATES + 2 * N_STATES
_ROW_GATES: Final = tuple(range(_COUNT0, GATES_PER_LOAN))
_TOP: Final = 1 << (LINK_LEAVES_BITS * (N_STATES - 1))


def count_row(from_state: int) -> int:
    """The row index of from-state ``from_state``'s packed to-state counts."""
    return from_state


def balance_row(to_state: int, balance_input: int) -> int:
    """The row index of to-state ``to_state``'s packed t−1 balances of balance input 0 or 1."""
    return N_STATES + 2 * to_state + balance_input


def _onehot_rows(first: int, count_input: int) -> list[Constraint]:
    rows: list[Constraint] = []
    for k in range(N_STATES - 1):
        g = first + k
        rows.append(
            Constraint(left=tuple((first + j, _R - 1) for j in range(k + 1)), right=((g, 1),), const=_R - 1)
        )
        rows.append(Constraint(out=((g, 1),)))
    coeffs = tuple((first + k, ((1 << (LINK_LEAVES_BITS * k)) - _TOP) % _R) for k in range(N_STATES - 1))
    rows.append(Constraint(left=coeffs, inputs=((count_input, 1),), const=(_R - _TOP) % _R))
    return rows


def _select_rows(gate: int, onehot_first: int, state: int, right_input: int) -> list[Constraint]:
    """``a_L[gate]`` is one-hot wire ``state`` (``1 − Σ`` for the last) and ``a_R[gate] = V[right_input]``."""
    if state < N_STATES - 1:
        left = Constraint(left=((gate, 1), (onehot_first + state, _R - 1)))
    else:
        left = Constraint(left=((gate, 1), *((onehot_first + k, 1) for k in range(N_STATES - 1))), const=1)
    return [left, Constraint(right=((gate, 1),), inputs=((right_input, 1),))]


@cache
def template() -> Template:
    """The per-loan constraint template (module docstring)."""
    rows = _onehot_rows(_PREV1H, PREV_COUNT) + _onehot_rows(_CUR1H, CUR_COUNT)
    for i in range(N_STATES):
        rows += _select_rows(_COUNT0 + i, _PREV1H, i, CUR_COUNT)
    for j in range(N_STATES):
        for k in range(2):
            rows += _select_rows(_BAL0 + 2 * j + k, _CUR1H, j, PREV_BAL0 + k)
    return Template(GATES_PER_LOAN, INPUTS, tuple(rows))


@dataclass(frozen=True)
class LinkParams:
    """What a link proof is about: the lane set (both snapshots') and its balance slot width."""

    lane_set: str
    balance_slot_bits: int

    def encode(self) -> bytes:
        """The transcript's ``params`` message (injective)."""
        return (
            f"lane_set={self.lane_set};states={','.join(STATES)};count_slot_bits={LINK_LEAVES_BITS};"
            f"balance_slot_bits={self.balance_slot_bits};gates_per_loan={GATES_PER_LOAN};rows={ROWS}"
        ).encode()


def gate_count(loans: int) -> int:
    """The padded gate count of a proof over ``loans`` kept loans.

    Raises:
        ValueError: ``loans < 1`` or more gates than the engine's largest proof.
    """
    if isinstance(loans, bool) or not isinstance(loans, int) or loans < 1:
        raise ValueError(f"loans must be a positive integer, got {loans!r}")
    used = loans * GATES_PER_LOAN
    if used > MAX_GATES:
        raise ValueError(f"{loans} loans need {used} gates, more than {MAX_GATES}")
    return 1 << (used - 1).bit_length()


#: The largest piece: 2^16 gates, 1,365 kept loans. Pieces are the link's unit of parallel work (a
#: 100,000-loan link is 74 pieces, not one of 2^22 gates and a few small ones), and each needs only
#: the first 2^16 generators of the lane-circuit labels, which every seal worker already holds.
PIECE_GATES: Final = 1 << 16


def split_loans(loans: int) -> list[int]:
    """Loan counts of consecutive pieces covering ``loans`` kept loans, largest first (each at most
    :data:`PIECE_GATES` gates)."""
    return _circuit.split_loans(loans, GATES_PER_LOAN, PIECE_GATES)


def _check_rounds(n_gates: int, ipa_rounds: int | None) -> int:
    full = n_gates.bit_length() - 1
    if ipa_rounds is None:
        return full
    if isinstance(ipa_rounds, bool) or not isinstance(ipa_rounds, int) or not 1 <= ipa_rounds <= full:
        raise ValueError(f"ipa_rounds must be in [1, {full}] for {n_gates} gates, got {ipa_rounds!r}")
    return ipa_rounds


def proof_size(loans: int, ipa_rounds: int | None = None) -> int:
    """Encoded size in bytes of a proof over ``loans`` kept loans."""
    n_gates = gate_count(loans)
    k = _check_rounds(n_gates, ipa_rounds)
    return (8 + 2 * k) * POINT_BYTES + (3 + 2 * (n_gates >> k)) * SCALAR_BYTES


def msm_terms(loans: int) -> int:
    """Prover MSM terms of one proof (A_I, A_O, S and the five T commitments; the inner-product
    argument's terms come on top and are counted by the benchmark)."""
    used = loans * GATES_PER_LOAN
    return (1 + 2 * used) + (1 + used) + (1 + 2 * used) + 5 * 2 + ROWS * 2


def encode_inputs(inputs: Sequence[Sequence[Point]]) -> bytes:
    """A piece's input commitments as its transcript absorbs them: 48 bytes each, loan by loan."""
    return b"".join(c.to_bytes() for loan in inputs for c in loan)


def _absorb(
    transcript: Transcript,
    params: LinkParams,
    n_gates: int,
    rounds: int,
    loans: int,
    encoded_inputs: bytes,
    rows: Sequence[Point],
) -> None:
    gens = generator_set_id(
        [("pedersen/G", 1), ("pedersen/H", 1), (LABEL_G, n_gates), (LABEL_H, n_gates), (LABEL_Q, 1)]
    )
    transcript.append_message(b"dom-sep", DOMAIN)
    transcript.append_message(b"generators", gens)
    transcript.append_message(b"params", params.encode())
    transcript.append_u64(b"loans", loans)
    transcript.append_u64(b"gates", n_gates)
    transcript.append_u64(b"ipa-rounds", rounds)
    transcript.append_message(b"V", encoded_inputs)
    transcript.append_points(b"W", rows)


@dataclass(frozen=True)
class KeptLoan:
    """The prover's witness for one kept loan: both states, t−1's balance inputs and the blindings
    of the four leaf commitments (``V_0 .. V_3``, module docstring)."""

    prev_state: int
    cur_state: int
    prev_balance_inputs: tuple[int, int]
    blindings: tuple[int, int, int, int]

    def input_values(self) -> tuple[int, int, int, int]:
        """The values ``S', P'_0, P'_1, S`` of the loan's four inputs."""
        p0, p1 = self.prev_balance_inputs
        return (1 << (LINK_LEAVES_BITS * self.prev_state), p0, p1, 1 << (LINK_LEAVES_BITS * self.cur_state))


def _witness(loans: Sequence[KeptLoan]) -> tuple[list[int], list[int], list[int], list[int]]:
    """Gate wires ``a_L, a_R, a_O`` over the real gates and the 30 row values (mod r)."""
    a_l: list[int] = []
    a_r: list[int] = []
    a_o: list[int] = []
    totals = [0] * ROWS
    for loan in loans:
        prev = [1 if s == loan.prev_state else 0 for s in range(N_STATES)]
        cur = [1 if s == loan.cur_state else 0 for s in range(N_STATES)]
        s_prev, p0, p1, s_cur = loan.input_values()
        _circuit.append_one_hot_gates((a_l, a_r, a_o), prev, N_STATES - 1)
        _circuit.append_one_hot_gates((a_l, a_r, a_o), cur, N_STATES - 1)
        del s_prev
        rows_start = len(a_o)
        _circuit.append_product_gates((a_l, a_r, a_o), prev, s_cur, N_STATES)
        for j in range(N_STATES):
            for p in (p0, p1):
                a_l.append(cur[j])
                a_r.append(p)
                a_o.append(cur[j] * p % _R)
        for r in range(ROWS):
            totals[r] = (totals[r] + a_o[rows_start + r]) % _R
    return a_l, a_r, a_o, totals


def _global_weights(z: int, per_loan: int, loans: int) -> list[int]:
    """The weights ``z^(L·Q + i + 1)`` of the 30 piece rows."""
    base = pow(per_loan, loans, _R)
    out = []
    for _ in range(ROWS):
        base = base * z % _R
        out.append(base)
    return out


def prove_link_piece(
    group: Group,
    params: LinkParams,
    loans: Sequence[KeptLoan],
    inputs: Sequence[Sequence[Point]] | bytes,
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    rng: ScalarSource | None = None,
) -> tuple[LaneCircuitProof, list[Point], list[int], list[int]]:
    """Prove one piece: every loan's two states and t−1 balance inputs, summed into 30 row commitments.

    ``inputs[i]`` are loan ``i``'s four leaf commitments (``V_0 .. V_3``), or all of them already
    encoded (:func:`encode_inputs`: the prover only absorbs them, so a worker need not decode them);
    ``loans[i]`` their openings. Returns the proof, the row commitments, their values and their
    blindings (the values and blindings are secret until summed and opened). ``rng`` is for tests only.

    Raises:
        ValueError: no loans, too many gates, bad ``ipa_rounds`` or lengths that differ.
        ProvingError: a state outside the ten, or a blinding or balance input outside ``[0, r)``.
    """
    n = len(loans)
    if isinstance(inputs, bytes):
        if len(inputs) != n * INPUTS * POINT_BYTES:
            raise ValueError(f"expected {n * INPUTS} encoded input commitments")
        encoded = inputs
    else:
        if len(inputs) != n:
            raise ValueError("loans and inputs differ in length")
        if any(len(loan) != INPUTS for loan in inputs):
            raise ValueError(f"expected {INPUTS} input commitments a loan")
        encoded = encode_inputs(inputs)
    n_gates = gate_count(n)
    rounds = _check_rounds(n_gates, ipa_rounds)
    for i, loan in enumerate(loans):
        if not (0 <= loan.prev_state < N_STATES and 0 <= loan.cur_state < N_STATES):
            raise ProvingError(f"loan {i}: a state outside the {N_STATES} states")
        if any(not 0 <= v < _R for v in (*loan.blindings, *loan.prev_balance_inputs)):
            raise ProvingError(f"loan {i}: a blinding or balance input outside [0, r)")
    tmpl = template()
    a_l, a_r, a_o, totals = _witness(loans)
    used = n * GATES_PER_LOAN
    randomness = (
        os_scalars(8 + ROWS + 2 * used) if rng is None else [rng() % _R for _ in range(8 + ROWS + 2 * used)]
    )
    # Drawn in this order: the engine's eight scalars, the rows' blindings, then s_L and s_R.
    omegas = randomness[8 : 8 + ROWS]
    row_points = commit_many(group, totals, omegas)
    messages = _circuit.prove(
        group,
        tmpl,
        _circuit.Labels(LABEL_G, LABEL_H, LABEL_Q),
        (a_l, a_r, a_o),
        [loan.blindings for loan in loans],
        n_gates,
        rounds,
        transcript,
        lambda t: _absorb(t, params, n_gates, rounds, n, encoded, row_points),
        randomness=[*randomness[:8], *randomness[8 + ROWS :]],
        piece_rows=_circuit.PieceRows(tuple(_ROW_GATES), tuple(omegas), _global_weights),
    )
    return LaneCircuitProof.from_messages(messages), row_points, totals, omegas


def _proof_terms(
    group: Group,
    params: LinkParams,
    inputs: Sequence[Sequence[Point]],
    rows: Sequence[Point],
    proof: LaneCircuitProof,
    transcript: Transcript,
    e_commit: int,
    e_ipa: int,
) -> ProofTerms:
    n = len(inputs)
    try:
        n_gates = gate_count(n)
    except ValueError as exc:
        raise VerificationError("linkcircuit.shape", str(exc)) from exc
    m = proof.messages()
    _circuit.check_shape("linkcircuit.shape", n_gates, inputs, INPUTS, m, f"{n} loans")
    if len(rows) != ROWS:
        raise VerificationError("linkcircuit.shape", f"expected {ROWS} row commitments, got {len(rows)}")
    if not m.lefts:
        raise VerificationError("linkcircuit.shape", "a link proof has at least one inner-product round")
    return _circuit.proof_terms(
        group,
        template(),
        inputs,
        m,
        n_gates,
        transcript,
        lambda t: _absorb(t, params, n_gates, len(m.lefts), n, encode_inputs(inputs), rows),
        e_commit,
        e_ipa,
        piece_rows=(rows, tuple(_ROW_GATES), _global_weights),
    )


@dataclass(frozen=True)
class LinkPieceItem:
    """One piece proof to check: its inputs, row commitments, proof and starting transcript."""

    params: LinkParams
    inputs: Sequence[Sequence[Point]]
    rows: Sequence[Point]
    proof: LaneCircuitProof
    transcript: Transcript


def verify_link_piece(group: Group, item: LinkPieceItem) -> None:
    """Check one piece proof (the transcript is cloned, not consumed).

    Raises:
        VerificationError: ``linkcircuit.shape`` or ``linkcircuit.equation``.
    """
    terms = _proof_terms(
        group,
        item.params,
        item.inputs,
        item.rows,
        item.proof,
        item.transcript.clone(),
        batch_weight(),
        batch_weight(),
    )
    acc = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    acc.add(terms)
    if not acc.holds(group):
        raise VerificationError("linkcircuit.equation", "link circuit verification equation does not hold")


def batch_verify_link(group: Group, items: Sequence[LinkPieceItem]) -> None:
    """Check every piece proof in one multi-scalar multiplication (independent 128-bit weights).

    Raises:
        VerificationError: ``linkcircuit.shape`` for a malformed piece, ``linkcircuit.batch`` when
            the batch equation fails (naming the first bad piece).
    """
    _circuit.batch_check(
        group,
        _circuit.Labels(LABEL_G, LABEL_H, LABEL_Q),
        items,
        lambda it: _proof_terms(
            group,
            it.params,
            it.inputs,
            it.rows,
            it.proof,
            it.transcript.clone(),
            batch_weight(),
            batch_weight(),
        ),
        lambda it: verify_link_piece(group, it),
        "linkcircuit.batch",
    )


def decode_proof(group: Group, data: bytes, loans: int, ipa_rounds: int | None = None) -> LaneCircuitProof:
    """Decode a link-circuit piece proof (curve and subgroup checks on every point, canonical scalars).

    Raises:
        EncodingError: wrong length, a malformed point or scalar, or impossible parameters.
    """
    try:
        expected = proof_size(loans, ipa_rounds)
        n_gates = gate_count(loans)
        rounds = _check_rounds(n_gates, ipa_rounds)
    except ValueError as exc:
        raise EncodingError(f"linkcircuit: {exc}") from exc
    data = bytes(data)
    if len(data) != expected:
        raise EncodingError(f"linkcircuit: expected {expected} bytes for {loans} loans, got {len(data)}")
    d = _wire.decode(group, data, n_points=8, n_scalars=3, rounds=rounds, clear=n_gates >> rounds)
    return LaneCircuitProof.from_wire(d)
