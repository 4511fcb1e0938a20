"""Per-loan lane validity as one Bulletproofs arithmetic-circuit proof over many loans.

Implements the zero-knowledge argument for arithmetic circuits with committed inputs of Bünz,
Bootle, Boneh, Poelstra, Wuille, Maxwell, "Bulletproofs" (IEEE S&P 2018, eprint 2017/1066, §5.1
"Inner-product proof for arithmetic circuits", Protocol 3: circuits ``a_L ∘ a_R = a_O``,
``W_L·a_L + W_R·a_R + W_O·a_O = W_V·v + c`` with committed ``v``), compressed with the inner-product
argument of §3 (Protocol 2) as in §5.2, made non-interactive by Fiat–Shamir (§4.4) and verified with
one multi-scalar multiplication (§6.2).

Statement
---------
For each loan ``i`` the prover knows openings ``V_{i,ℓ} = v_{i,ℓ}·G + γ_{i,ℓ}·H`` of its 10 lane
commitments in ``dpd5-v1`` order ``(bal_0..bal_4, cnt_0..cnt_4)`` (``(G, H) = pedersen_bases``, the
leaf commitments themselves) and an integer ``P_i`` such that

* ``cnt_b ∈ {0, 1}`` for every bucket and ``Σ_b cnt_b = 1`` (exactly one bucket counted),
* ``P_i = Σ_j 2^j·p_j`` with bits ``p_j ∈ {0, 1}``, ``j < n`` (so ``0 <= P_i < 2^n``),
* ``bal_b = cnt_b·P_i`` for every bucket (the whole principal sits in the counted bucket).

So every lane is in ``[0, 2^n)`` and every count lane in ``{0, 1}``, one per loan: everything the
``dpd5-v1`` range proofs and the public ``Σ count commitments == G`` check establish, and more (the
balance lanes are one-hot and agree with the count lanes).

Gate layout (``n + 8`` multiplication gates per loan)
-----------------------------------------------------
Loan ``i`` owns gates ``i·(n+8) .. i·(n+8)+n+7``; local gate ``g``:

* ``g = j < n`` (bit gates): ``a_L = p_j``, ``a_R = p_j − 1``, ``a_O = 0``, i.e. ``p_j·(p_j − 1) = 0``.
* ``g = n + k``, ``k = 0..3`` (one-hot gates): ``a_L = cnt_k``, ``a_R = s_k − 1``, ``a_O = 0`` with
  ``s_k = cnt_0 + ... + cnt_k``, i.e. ``cnt_k·(s_k − 1) = 0``.
* ``g = n + 4 + b``, ``b = 0..3`` (product gates): ``a_L = cnt_b``, ``a_R = P``, ``a_O = bal_b``.

Linear constraints per loan (``2n + 26``, listed in :func:`_template`): for every bit gate
``a_L − a_R = 1`` and ``a_O = 0``; for every one-hot gate ``a_L = cnt_k``, ``a_R = Σ_{j<=k} cnt_j − 1``,
``a_O = 0``; for every product gate ``a_L = cnt_b``, ``a_R = Σ_j 2^j·a_L[bit j]``, ``a_O = bal_b``; and
``Σ_b cnt_b = 1`` and ``Σ_b bal_b = Σ_j 2^j·a_L[bit j]``.

Why this is sound (the one-hot gates replace booleanity gates). Over the field Z_r, ``x·y = 0``
implies ``x = 0`` or ``y = 0``. By induction on ``k``: if ``(cnt_0..cnt_{k-1}) ∈ {0, e_0..e_{k-1}}``
then ``s_{k-1} ∈ {0, 1}`` and the gate ``cnt_k·(s_{k-1} + cnt_k − 1) = 0`` leaves ``cnt_k = 0`` or
``cnt_k = 1 − s_{k-1}``; so ``cnt_k = 0`` when ``s_{k-1} = 1`` and ``cnt_k ∈ {0, 1}`` when
``s_{k-1} = 0``. After ``k = 3``, ``(cnt_0..cnt_3) ∈ {0, e_0, .., e_3}`` and ``cnt_4 = 1 − s_3 ∈ {0, 1}``
by the sum constraint: the count lanes are a unit vector. Four gates prove booleanity *and* mutual
exclusion, where five booleanity gates alone would not (``cnt = (1, 1, −1, 0, 0)`` sums to 1).
The bit gates give ``0 <= P < 2^n`` as an integer (``n <= 64`` so ``Σ 2^j p_j`` never wraps mod
r). Product gates give ``bal_b = cnt_b·P`` for ``b < 4`` and the balance-sum constraint gives
``bal_4 = P − Σ_{b<4} cnt_b·P = cnt_4·P``. Hence ``bal = P·e_bucket``, ``cnt = e_bucket``.
Why not fewer than ``n + 8`` (a dimension count, not a proof): per loan there are 11 unknowns (10
lanes and ``P``) and the honest solutions form 5 lines (a 1-dimensional set); two linear
constraints are the most the honest set allows (its affine hull is ``Σ cnt = 1``, ``Σ bal = P``),
so about 8 further equations, one per multiplication gate, are needed besides the ``n`` bit gates.

Padding: the gate count ``N = next_pow2(L·(n+8))`` (the inner-product argument halves vectors);
gates ``L·(n+8) .. N−1`` are dummy gates ``0·0 = 0`` with no linear constraint. The honest prover
uses zero blinding ``s_L = s_R = 0`` on them, so they add nothing to ``A_I``, ``A_O``, ``S``; zero
knowledge is kept because ``l(x)`` and ``r(x)`` are then the public constants ``0`` and ``−y^i`` on
those coordinates, which a simulator outputs as they are. The verifier does not rely on this choice.
:func:`gate_count` and :func:`max_loans` help pick loan counts that fill a power of two
(``n = 32``: 40 gates a loan, so 409 loans fill 2^14 gates, 256 loans use 62.5% of 2^14).

Constraint weights. Constraint ``q`` of loan ``i`` has global index ``i·Q_c + q`` (``Q_c = 2n + 26``)
and weight ``z^(i·Q_c + q + 1)``. Because every loan has the same constraints, the ``z``-weighted
rows ``z^Q·W_L`` etc. are ``ζ_i = z^(i·Q_c)`` times one per-loan template evaluated once; and
``δ(y, z) = Σ_i ζ_i²·y^(−i·(n+8))·Σ_g y^(−g)·tR_g·tL_g``.

Transcript (on the caller's :class:`~proofs.transcript.Transcript`, after its own context):
``dom-sep = "poolproof/lanecircuit/v1"``, ``generators`` = ``generator_set_id`` of
[("pedersen/G", 1), ("pedersen/H", 1), ("lanecircuit/G", N), ("lanecircuit/H", N),
("lanecircuit/Q", 1)], ``layout`` (the lane order), ``n``, ``loans``, ``gates``, ``ipa-rounds``
(u64), ``V`` (all 10·L commitments, loan-major); then ``A_I``, ``A_O``, ``S`` → ``y``, ``z``;
``T1``, ``T3``, ``T4``, ``T5``, ``T6`` → ``x``; ``tau_x``, ``mu``, ``t_hat`` → ``w`` (inner-product
base ``w·Q``); per IPA round ``L``, ``R`` → ``u``.

Serialised layout (:meth:`LaneCircuitProof.to_bytes`), ``k`` = IPA rounds, ``M = N / 2^k``::

    A_I | A_O | S | T1 | T3 | T4 | T5 | T6   8 × 48-byte compressed points
    tau_x | mu | t_hat                       3 × 32-byte big-endian canonical scalars
    L_0 | R_0 | ... | L_{k-1} | R_{k-1}      2k × 48-byte points
    a_0 .. a_{M-1} | b_0 .. b_{M-1}          2M × 32-byte scalars

Packed inputs
-------------
With ``packing`` (``dpd5-v3``) a loan has one commitment per *input* ``K_g = (Σ_{(ℓ, s) ∈ g}
lane_ℓ·2^s)·G + γ_g·H`` instead of one per lane. The gates are the same ``n + 8``; the lanes are no
longer inputs but expressions over the wires: ``cnt_b = a_L[product b]`` and ``bal_b = a_O[product
b]`` for ``b < 4``, ``cnt_4 = 1 − Σ_{b<4} cnt_b``, ``bal_4 = P − Σ_{b<4} bal_b`` with ``P = Σ 2^j·a_L[bit
j]``. Linear constraints (``2n + 16 + inputs``): the bit rows as above; per one-hot gate ``k``:
``a_L = a_L[product k]``, ``a_R = Σ_{j<=k} a_L[product j] − 1``, ``a_O = 0``; per product gate:
``a_R = P``; per input ``g``: ``Σ_{(ℓ, s) ∈ g} 2^s·lane_ℓ(wires) = v_g``. Soundness: the one-hot
lemma above applies to ``(a_L[product 0..3])`` unchanged, so ``(cnt_0..cnt_4)`` is a unit vector;
the product gates give ``bal_b = cnt_b·P`` and the definition of ``bal_4`` gives ``bal_4 = cnt_4·P``;
so the lanes are those of one honest loan and each committed input equals their packing mod r.
Whether a packing can be *unpacked* (its slots do not overlap, totals do not wrap mod r) is the
business of :mod:`proofs.unpacking`; this module proves any packing given to it. The transcript's
``layout`` message becomes ``"packed:" + lane<<shift,...;...`` so packed and unpacked proofs (and
different packings) never verify as each other.

Fewer IPA rounds (``ipa_rounds``) prove faster and give a bigger proof; zero knowledge and
soundness are as for the cut range proofs (:mod:`proofs.bulletproofs` module docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Final

from proofs import _circuit, _wire
from proofs._circuit import Constraint, Template
from proofs._ipa import ProofTerms, TermAccumulator, batch_weight
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import generator_set_id
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, ScalarSource
from proofs.pedersen import commit_many
from proofs.transcript import Transcript

#: Domain separator absorbed first by every lane-circuit proof.
DOMAIN: Final = b"poolproof/lanecircuit/v1"
LABEL_G: Final = "lanecircuit/G"
LABEL_H: Final = "lanecircuit/H"
LABEL_Q: Final = "lanecircuit/Q"
#: Lane order of the committed inputs of one loan (``dpd5-v1``'s leaf order).
LAYOUT: Final = (
    b"balance_M0,balance_M1,balance_M2,balance_M3,balance_M3+,count_M0,count_M1,count_M2,count_M3,count_M3+"
)
BUCKETS: Final = 5
LANES: Final = 2 * BUCKETS
_LANE_NAMES: Final = LAYOUT.split(b",")

#: Committed inputs packing several lanes each: per input, ``(lane index, bit shift)`` pairs in
#: ``dpd5-v1`` lane order, the input's value being ``Σ lane_value << shift``. ``None`` (the default)
#: commits every lane separately. See "Packed inputs" in the module docstring.
Packing = tuple[tuple[tuple[int, int], ...], ...]
MIN_BITS: Final = 8
MAX_BITS: Final = 64
#: Largest gate count a proof may have (bounds generator derivation for untrusted parameters).
MAX_GATES: Final = 1 << 22

_R: Final = ORDER


# -------------------------------------------------------------------------------------------------
# Sizes
# -------------------------------------------------------------------------------------------------


def inputs_per_loan(packing: Packing | None) -> int:
    """Commitments per loan: 10 lanes, or one per packed input."""
    return LANES if packing is None else len(packing)


def pack_values(values: Sequence[int], packing: Packing | None) -> list[int]:
    """The committed input values of one loan from its 10 lane values (``dpd5-v1`` order)."""
    if packing is None:
        return list(values)
    return [sum(values[lane] << shift for lane, shift in entries) % _R for entries in packing]


def _layout(packing: Packing | None) -> bytes:
    """The transcript's ``layout`` message: the lane order, or the packing (injective encoding)."""
    if packing is None:
        return LAYOUT
    return b"packed:" + b";".join(
        b",".join(_LANE_NAMES[lane] + b"<<" + str(shift).encode() for lane, shift in entries)
        for entries in packing
    )


def _check_packing(packing: Packing | None) -> None:
    if packing is None:
        return
    lanes = sorted(lane for entries in packing for lane, _ in entries)
    if lanes != list(range(LANES)) or any(
        not 0 <= shift < 255 for entries in packing for _, shift in entries
    ):
        raise ValueError("packing: every lane exactly once, shifts in [0, 255)")


def gates_per_loan(n_bits: int) -> int:
    """Multiplication gates one loan needs: ``n_bits`` bit gates, 4 one-hot and 4 product gates."""
    return n_bits + 8


def gate_count(loans: int, n_bits: int) -> int:
    """The padded gate count ``N`` (a power of two) of a proof over ``loans`` loans.

    Raises:
        ValueError: ``n_bits`` outside ``[8, 64]``, ``loans < 1`` or more than :data:`MAX_GATES` gates.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not MIN_BITS <= n_bits <= MAX_BITS:
        raise ValueError(f"n_bits must be an integer in [{MIN_BITS}, {MAX_BITS}], got {n_bits!r}")
    if isinstance(loans, bool) or not isinstance(loans, int) or loans < 1:
        raise ValueError(f"loans must be a positive integer, got {loans!r}")
    used = loans * gates_per_loan(n_bits)
    if used > MAX_GATES:
        raise ValueError(f"{loans} loans need {used} gates, more than {MAX_GATES}")
    return 1 << (used - 1).bit_length()


def max_loans(gates_log2: int, n_bits: int) -> int:
    """How many loans fit in ``2^gates_log2`` gates without a wasted power of two (0 if none)."""
    return (1 << gates_log2) // gates_per_loan(n_bits)


def split_loans(loans: int, n_bits: int) -> list[int]:
    """Loan counts of consecutive proofs covering ``loans`` loans with little padding, largest first.

    Minimises the total padded gate count plus a small per-proof overhead over splits where each
    proof but the last fills the largest power of two of gates that the remaining loans reach. For
    ``n_bits = 32``: 256 loans split as ``[204, 51, 1]`` (10,304 gates instead of 16,384 for one
    proof), 1024 loans as ``[819, 204, 1]`` (41,024 instead of 65,536), 409 loans stay ``[409]``.

    Raises:
        ValueError: ``loans < 1`` or ``n_bits`` outside ``[8, 64]``.
    """
    gate_count(1, n_bits)  # validates n_bits
    if isinstance(loans, bool) or not isinstance(loans, int) or loans < 1:
        raise ValueError(f"loans must be a positive integer, got {loans!r}")
    return _circuit.split_loans(loans, gates_per_loan(n_bits), MAX_GATES)


def _check_rounds(n_gates: int, ipa_rounds: int | None) -> int:
    full = n_gates.bit_length() - 1
    if ipa_rounds is None:
        return full
    if isinstance(ipa_rounds, bool) or not isinstance(ipa_rounds, int) or not 0 <= ipa_rounds <= full:
        raise ValueError(f"ipa_rounds must be in [0, {full}] for {n_gates} gates, got {ipa_rounds!r}")
    return ipa_rounds


def proof_size(loans: int, n_bits: int, ipa_rounds: int | None = None) -> int:
    """Encoded size in bytes of a proof over ``loans`` loans of ``n_bits`` bits.

    Raises:
        ValueError: invalid ``loans``, ``n_bits`` or ``ipa_rounds``.
    """
    n_gates = gate_count(loans, n_bits)
    k = _check_rounds(n_gates, ipa_rounds)
    return (8 + 2 * k) * POINT_BYTES + (3 + 2 * (n_gates >> k)) * SCALAR_BYTES


# -------------------------------------------------------------------------------------------------
# The per-loan constraint template
# -------------------------------------------------------------------------------------------------

Terms = _circuit.Terms
_Constraint = Constraint


def _bal(b: int) -> int:
    return b


def _cnt(b: int) -> int:
    return BUCKETS + b


def _bit_rows(n_bits: int) -> list[_Constraint]:
    """The constraints of the bit gates: ``a_L − a_R = 1`` and ``a_O = 0`` for each."""
    rows: list[_Constraint] = []
    for j in range(n_bits):
        rows.append(_Constraint(left=((j, 1),), right=((j, _R - 1),), const=1))  # a_L − a_R = 1
        rows.append(_Constraint(out=((j, 1),)))  # a_O = 0
    return rows


@cache
def _template(n_bits: int, packing: Packing | None = None) -> tuple[_Constraint, ...]:
    """The linear constraints of one loan: ``2n + 26`` with one input per lane (module docstring,
    "Gate layout"), ``2n + 16 + inputs`` with packed inputs ("Packed inputs")."""
    if packing is not None:
        return _packed_template(n_bits, packing)
    onehot = n_bits
    product = n_bits + 4
    principal: Terms = tuple((j, 1 << j) for j in range(n_bits))  # Σ 2^j·a_L[bit j]
    rows = _bit_rows(n_bits)
    for k in range(4):
        g = onehot + k
        rows.append(_Constraint(left=((g, 1),), inputs=((_cnt(k), 1),)))
        rows.append(
            _Constraint(right=((g, 1),), inputs=tuple((_cnt(j), 1) for j in range(k + 1)), const=_R - 1)
        )
        rows.append(_Constraint(out=((g, 1),)))
    for b in range(4):
        g = product + b
        rows.append(_Constraint(left=((g, 1),), inputs=((_cnt(b), 1),)))
        rows.append(_Constraint(left=tuple((j, _R - c) for j, c in principal), right=((g, 1),)))
        rows.append(_Constraint(out=((g, 1),), inputs=((_bal(b), 1),)))
    rows.append(_Constraint(inputs=tuple((_cnt(b), 1) for b in range(BUCKETS)), const=_R - 1))
    rows.append(_Constraint(left=principal, inputs=tuple((_bal(b), 1) for b in range(BUCKETS))))
    return tuple(rows)


def _packed_template(n_bits: int, packing: Packing) -> tuple[_Constraint, ...]:
    onehot = n_bits
    product = n_bits + 4
    principal: Terms = tuple((j, 1 << j) for j in range(n_bits))  # Σ 2^j·a_L[bit j]
    rows = _bit_rows(n_bits)
    for k in range(4):
        g = onehot + k
        # a_L[one-hot k] = a_L[product k] (= cnt_k); a_R[one-hot k] = Σ_{j<=k} cnt_j − 1; a_O = 0.
        rows.append(_Constraint(left=((g, 1), (product + k, _R - 1))))
        rows.append(
            _Constraint(
                left=tuple((product + j, _R - 1) for j in range(k + 1)), right=((g, 1),), const=_R - 1
            )
        )
        rows.append(_Constraint(out=((g, 1),)))
    for b in range(4):
        rows.append(_Constraint(left=tuple((j, _R - c) for j, c in principal), right=((product + b, 1),)))
    for i, entries in enumerate(packing):
        # Lane expressions over the wires: cnt_b = a_L[product b], cnt_4 = 1 − Σ cnt_b,
        # bal_b = a_O[product b], bal_4 = P − Σ bal_b (b < 4). Input i = Σ 2^shift·lane.
        left: dict[int, int] = {}
        out: dict[int, int] = {}
        const = 0
        for lane, shift in entries:
            f = (1 << shift) % _R
            kind, b = divmod(lane, BUCKETS)  # kind 0: balance, 1: count
            if b < 4:
                target = out if kind == 0 else left
                target[product + b] = (target.get(product + b, 0) + f) % _R
                continue
            for bb in range(4):
                target = out if kind == 0 else left
                target[product + bb] = (target.get(product + bb, 0) - f) % _R
            if kind == 0:
                for j, c in principal:
                    left[j] = (left.get(j, 0) + f * c) % _R
            else:
                const = (const + f) % _R
        rows.append(
            _Constraint(
                left=tuple(sorted(left.items())),
                out=tuple(sorted(out.items())),
                inputs=((i, 1),),
                const=(-const) % _R,
            )
        )
    return tuple(rows)


@cache
def _circuit_template(n_bits: int, packing: Packing | None) -> Template:
    """The per-loan template the engine proves (no shared-blinding gates: the frozen vectors fix the
    prover's randomness layout)."""
    return Template(gates_per_loan(n_bits), inputs_per_loan(packing), _template(n_bits, packing))


_LABELS: Final = _circuit.Labels(LABEL_G, LABEL_H, LABEL_Q)


# -------------------------------------------------------------------------------------------------
# Proof object and encoding
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneCircuitProof:
    """A lane-circuit proof (module docstring: fields and byte layout)."""

    A_I: Point
    A_O: Point
    S: Point
    T1: Point
    T3: Point
    T4: Point
    T5: Point
    T6: Point
    tau_x: int
    mu: int
    t_hat: int
    L: tuple[Point, ...]
    R: tuple[Point, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]

    @property
    def ipa_rounds(self) -> int:
        """Number of inner-product rounds the proof carries."""
        return len(self.L)

    def _points(self) -> tuple[Point, ...]:
        return (self.A_I, self.A_O, self.S, self.T1, self.T3, self.T4, self.T5, self.T6)

    def messages(self) -> _circuit.Messages:
        """The proof's messages in protocol order, as the circuit engine reads them."""
        return _circuit.Messages(
            self._points(), self.tau_x, self.mu, self.t_hat, self.L, self.R, self.a, self.b
        )

    @classmethod
    def from_messages(cls, m: _circuit.Messages) -> LaneCircuitProof:
        """The proof holding the circuit engine's messages."""
        a_i, a_o, s_pt, t1, t3, t4, t5, t6 = m.points
        return cls(
            a_i,
            a_o,
            s_pt,
            t1,
            t3,
            t4,
            t5,
            t6,
            m.tau_x,
            m.mu,
            m.t_hat,
            tuple(m.lefts),
            tuple(m.rights),
            tuple(m.a),
            tuple(m.b),
        )

    def to_bytes(self) -> bytes:
        """The canonical encoding (module docstring, "Serialised layout").

        Raises:
            EncodingError: a scalar outside ``[0, r)``.
        """
        return _wire.encode(
            "lanecircuit", self._points(), (self.tau_x, self.mu, self.t_hat), self.L, self.R, self.a, self.b
        )

    @classmethod
    def from_bytes(
        cls, group: Group, data: bytes, *, loans: int, n_bits: int, ipa_rounds: int | None = None
    ) -> LaneCircuitProof:
        """Decode a proof over ``loans`` loans of ``n_bits`` bits with ``ipa_rounds`` rounds (default full).

        Every point is decoded with curve and subgroup checks (the identity is refused) and every
        scalar must be canonical (``< r``).

        Raises:
            EncodingError: wrong length, a malformed or off-subgroup point, a scalar >= r, or
                impossible parameters.
        """
        try:
            expected = proof_size(loans, n_bits, ipa_rounds)
            n_gates = gate_count(loans, n_bits)
            k = _check_rounds(n_gates, ipa_rounds)
        except ValueError as exc:
            raise EncodingError(f"lanecircuit: {exc}") from exc
        data = bytes(data)
        if len(data) != expected:
            raise EncodingError(
                f"lanecircuit: expected {expected} bytes for {loans} loans, n={n_bits}, {k} rounds, "
                f"got {len(data)}"
            )
        d = _wire.decode(group, data, n_points=8, n_scalars=3, rounds=k, clear=n_gates >> k)
        return cls.from_wire(d)

    @classmethod
    def from_wire(cls, d: _wire.Decoded) -> LaneCircuitProof:
        """The proof of a decoded byte layout (8 points, 3 scalars, the rounds, the clear vectors)."""
        (a_i, a_o, s_pt, t1, t3, t4, t5, t6), (tau_x, mu, t_hat) = d.points, d.scalars
        return cls(a_i, a_o, s_pt, t1, t3, t4, t5, t6, tau_x, mu, t_hat, d.lefts, d.rights, d.a, d.b)


@dataclass(frozen=True)
class LaneCircuitItem:
    """One proof to check in :func:`batch_verify_lanes`, with the transcript it was made under.

    ``transcript`` must be in the prover's starting state; :func:`batch_verify_lanes` works on a clone.
    """

    commitments: Sequence[Sequence[Point]]
    n_bits: int
    proof: LaneCircuitProof
    transcript: Transcript
    packing: Packing | None = None


def _absorb_statement(
    transcript: Transcript,
    n_bits: int,
    n_gates: int,
    rounds: int,
    commitments: Sequence[Sequence[Point]],
    packing: Packing | None,
) -> None:
    gens = generator_set_id(
        [("pedersen/G", 1), ("pedersen/H", 1), (LABEL_G, n_gates), (LABEL_H, n_gates), (LABEL_Q, 1)]
    )
    transcript.append_message(b"dom-sep", DOMAIN)
    transcript.append_message(b"generators", gens)
    transcript.append_message(b"layout", _layout(packing))
    transcript.append_u64(b"n", n_bits)
    transcript.append_u64(b"loans", len(commitments))
    transcript.append_u64(b"gates", n_gates)
    transcript.append_u64(b"ipa-rounds", rounds)
    transcript.append_points(b"V", (c for loan in commitments for c in loan))


# -------------------------------------------------------------------------------------------------
# Prover
# -------------------------------------------------------------------------------------------------


def _check_loan(index: int, values: Sequence[int], n_bits: int) -> None:
    """Refuse a loan whose lanes are not ``P·e_b`` and ``e_b`` with ``0 <= P < 2^n_bits``.

    The message names the loan index only: lane values are secrets.
    """
    problem = ProvingError(
        f"loan {index}: lane values are not one counted bucket holding a principal in [0, 2^{n_bits})"
    )
    if len(values) != LANES:
        raise ProvingError(f"loan {index}: expected {LANES} lane values")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise problem
    counts = list(values[BUCKETS:])
    if sorted(counts) != [0] * (BUCKETS - 1) + [1]:
        raise problem
    bucket = counts.index(1)
    principal = values[bucket]
    if not 0 <= principal < 1 << n_bits:
        raise problem
    if any(values[b] != 0 for b in range(BUCKETS) if b != bucket):
        raise problem


def _witness(values: Sequence[Sequence[int]], n_bits: int) -> tuple[list[int], list[int], list[int]]:
    """Gate wires ``a_L, a_R, a_O`` (real gates only) from the lane values, by the layout's formulas.

    The formulas make every multiplication gate hold; only a loan that passes :func:`_check_loan`
    also satisfies the linear constraints.
    """
    a_l: list[int] = []
    a_r: list[int] = []
    a_o: list[int] = []
    for row in values:
        lanes = [v % _R for v in row]
        cnt = lanes[BUCKETS:]
        principal = sum(lanes[:BUCKETS]) % _R
        bits = [(principal >> j) & 1 for j in range(n_bits)]
        p_bits = sum(bit << j for j, bit in enumerate(bits))
        a_l += bits
        a_r += [bit - 1 for bit in bits]
        a_o += [0] * n_bits
        _circuit.append_one_hot_gates((a_l, a_r, a_o), cnt, 4)
        _circuit.append_product_gates((a_l, a_r, a_o), cnt, p_bits, 4)
    return a_l, a_r, a_o


def prove_lanes(
    group: Group,
    values: Sequence[Sequence[int]],
    blindings: Sequence[Sequence[int]],
    n_bits: int,
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    rng: ScalarSource | None = None,
    packing: Packing | None = None,
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    """Prove that every loan's 10 lanes are a one-hot bucket holding a principal in ``[0, 2^n_bits)``.

    ``values[i]`` are loan ``i``'s lane values in ``dpd5-v1`` order (``bal_0..bal_4, cnt_0..cnt_4``)
    and ``blindings[i]`` the blindings of its committed inputs: one per lane, or one per packed
    input with ``packing`` (whose values are :func:`pack_values`); the commitments are
    ``v·G + γ·H`` on the Pedersen bases.
    Returns the proof and the commitments it proves (``[loan][lane]``). The transcript is advanced
    past the proof (the verifier's ends in the same state).

    ``rng`` exists for tests only: it supplies the prover's blinding scalars (alpha, beta, rho,
    tau_1, tau_3, tau_4, tau_5, tau_6, s_L over the real gates, s_R over the real gates) so frozen
    vectors can be regenerated. Left as None, they come from ``os.urandom``. Never pass a
    deterministic source in production: reused prover randomness reveals the values.

    Raises:
        ValueError: no loans, ``n_bits`` outside ``[8, 64]``, bad ``ipa_rounds``, too many gates,
            or ``values`` and ``blindings`` of different lengths.
        ProvingError: a loan that is not one-hot or whose principal is outside ``[0, 2^n_bits)``,
            or a blinding outside ``[0, r)`` (the message names the loan index only).
    """
    loans = len(values)
    if len(blindings) != loans:
        raise ValueError("values and blindings differ in length")
    _check_packing(packing)
    n_inputs = inputs_per_loan(packing)
    n_gates = gate_count(loans, n_bits)
    rounds = _check_rounds(n_gates, ipa_rounds)
    for i, (row, gammas) in enumerate(zip(values, blindings, strict=True)):
        _check_loan(i, row, n_bits)
        if len(gammas) != n_inputs or any(
            isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < _R for g in gammas
        ):
            raise ProvingError(f"loan {i}: expected {n_inputs} blindings in [0, r)")

    flat = commit_many(
        group,
        [v % _R for row in values for v in pack_values(row, packing)],
        [g for gammas in blindings for g in gammas],
    )
    commitments = [flat[i * n_inputs : (i + 1) * n_inputs] for i in range(loans)]
    done = _circuit.prove(
        group,
        _circuit_template(n_bits, packing),
        _LABELS,
        _witness(values, n_bits),
        blindings,
        n_gates,
        rounds,
        transcript,
        partial(
            _absorb_statement,
            n_bits=n_bits,
            n_gates=n_gates,
            rounds=rounds,
            commitments=commitments,
            packing=packing,
        ),
        rng,
    )
    proof = LaneCircuitProof.from_messages(done)
    return proof, commitments


# -------------------------------------------------------------------------------------------------
# Verifier
# -------------------------------------------------------------------------------------------------


def _shape(
    commitments: Sequence[Sequence[Point]], n_bits: int, proof: LaneCircuitProof, packing: Packing | None
) -> int:
    """Check that ``proof`` fits the statement; return the gate count.

    Raises:
        VerificationError: ``lanecircuit.shape``.
    """
    loans = len(commitments)
    try:
        n_gates = gate_count(loans, n_bits)
    except ValueError as exc:
        raise VerificationError("lanecircuit.shape", str(exc)) from exc
    _circuit.check_shape(
        "lanecircuit.shape",
        n_gates,
        commitments,
        inputs_per_loan(packing),
        proof.messages(),
        f"{loans} loans of n={n_bits}",
    )
    return n_gates


def _proof_terms(
    group: Group,
    commitments: Sequence[Sequence[Point]],
    n_bits: int,
    proof: LaneCircuitProof,
    transcript: Transcript,
    e_commit: int,
    e_ipa: int,
    packing: Packing | None = None,
) -> ProofTerms:
    """Replay the transcript and express both verification equations as MSM coefficients
    (:func:`proofs._circuit.proof_terms` gives the equations).

    Raises:
        VerificationError: ``lanecircuit.shape`` when the proof does not fit the statement.
    """
    n_gates = _shape(commitments, n_bits, proof, packing)
    absorb = partial(
        _absorb_statement,
        n_bits=n_bits,
        n_gates=n_gates,
        rounds=len(proof.L),
        commitments=commitments,
        packing=packing,
    )
    return _circuit.proof_terms(
        group,
        _circuit_template(n_bits, packing),
        commitments,
        proof.messages(),
        n_gates,
        transcript,
        absorb,
        e_commit,
        e_ipa,
    )


def _check_terms(group: Group, terms: Iterable[ProofTerms]) -> bool:
    """True iff the weighted sum of every proof's equations is the identity (one MSM)."""
    batch = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    for t in terms:
        batch.add(t)
    return batch.holds(group)


def verify_lanes(
    group: Group,
    commitments: Sequence[Sequence[Point]],
    n_bits: int,
    proof: LaneCircuitProof,
    transcript: Transcript,
    *,
    packing: Packing | None = None,
) -> None:
    """Check that every loan's commitments open to a one-hot bucket and a principal in range.

    ``commitments[i]`` are loan ``i``'s lane commitments in ``dpd5-v1`` order, or its packed input
    commitments with ``packing`` (then they open to the packing of such lanes). One multi-scalar
    multiplication checks both equations, combined with fresh random weights from ``os.urandom``.
    The transcript must be in the prover's starting state; it is advanced past the proof.

    Raises:
        VerificationError: ``lanecircuit.shape`` (the proof does not fit the statement, a scalar
            is not canonical, a loan has the wrong number of commitments), ``lanecircuit.equation`` (the
            proof is invalid).
    """
    terms = _proof_terms(
        group, commitments, n_bits, proof, transcript, batch_weight(), batch_weight(), packing
    )
    if not _check_terms(group, [terms]):
        raise VerificationError("lanecircuit.equation", "lane circuit verification equation does not hold")


def batch_verify_lanes(group: Group, items: Sequence[LaneCircuitItem]) -> None:
    """Check many lane-circuit proofs (any loan counts and bit sizes) in one multi-scalar multiplication.

    Each proof's two equations get independent 128-bit random weights from ``os.urandom``, so a
    batch containing an invalid proof passes with probability about 2^-127. The generator terms are
    shared by all proofs. Item transcripts are cloned, not consumed. On failure each item is
    re-checked alone to name the first bad one.

    Raises:
        VerificationError: ``lanecircuit.shape`` for a malformed item (named by index),
            ``lanecircuit.batch`` when the batch equation fails (naming the first bad index).
    """
    _circuit.batch_check(
        group,
        _LABELS,
        items,
        lambda item: _proof_terms(
            group,
            item.commitments,
            item.n_bits,
            item.proof,
            item.transcript.clone(),
            batch_weight(),
            batch_weight(),
            item.packing,
        ),
        lambda item: verify_lanes(
            group, item.commitments, item.n_bits, item.proof, item.transcript.clone(), packing=item.packing
        ),
        "lanecircuit.batch",
    )
