"""The pool statement v2 per loan: one state, the whole balance in it, non-negative period flows.

One Bulletproofs arithmetic-circuit proof (:mod:`proofs._circuit`, Bünz et al. 2018 §5.1) over a
piece of loans proves, for every loan ``i`` with packed commitments
``K_g = (Σ_{(ℓ, s) ∈ g} lane_ℓ·2^s)·G + γ_g·H``:

* its state counts ``c_0..c_9`` (in :data:`proofs.loan_facts.STATES` order) are a unit vector —
  the loan is in exactly one state;
* its outstanding principal ``B`` is an integer in ``[0, 2^n_B)`` and, if the pool has a per-loan
  cap ``C``, ``B <= C`` (the concentration bound);
* ``balance_s = c_s·B`` for each state carrying principal (the five performing buckets and
  DEFAULTED), and ``B = Σ_s balance_s``: the whole balance sits in the loan's state, and a loan in a
  terminal state (WRITTEN_OFF, PREPAID, MATURED, REPURCHASED) has none — it is never counted as
  current or outstanding;
* every period flow ``f_k`` (:data:`proofs.loan_facts.FLOWS`) is an integer in ``[0, 2^w_k)``;
* each committed input is the packing of exactly these lanes.

Lanes (the order of lane values, aggregates and openings): the six balance lanes
``balance_<state>``, the seven flow lanes ``flow_<name>``, the ten count lanes ``count_<state>``.

Gate layout of one loan (``n_B + n_C + Σ w_k + 15`` gates, ``n_C = n_B`` with a cap below
``2^n_B − 1``, else 0):

* bit gates of ``B`` (``n_B``), of ``C − B`` (``n_C``), of each flow (``w_k``):
  ``a_L = bit``, ``a_R = bit − 1``, ``a_O = 0``;
* one-hot gates ``k = 0..8``: ``a_L = c_k``, ``a_R = c_0 + .. + c_k − 1``, ``a_O = 0``;
  ``c_9 = 1 − Σ_{k<9} c_k``;
* product gates ``s = 0..5``: ``a_L = c_s``, ``a_R = B``, ``a_O = balance_s``.

Linear constraints: two per bit gate (``a_L − a_R = 1``, ``a_O = 0``); with a cap,
``Σ 2^j·capbit_j + Σ 2^j·bbit_j = C``; per one-hot gate ``a_R − Σ_{j<=k} a_L[one-hot j] = −1`` and
``a_O = 0``; per product gate ``a_L[product s] = a_L[one-hot s]`` and ``a_R = Σ 2^j·bbit_j``; the
balance sum ``Σ_s a_O[product s] = Σ 2^j·bbit_j``; and per input ``Σ 2^shift·lane(wires) = v_g``.

Soundness. The one-hot lemma of :mod:`proofs.lanecircuit` (over Z_r, ``x·y = 0`` forces a factor to
0; by induction the prefix sums stay in {0, 1}) gives a unit vector ``c``. Bit gates make ``B``,
``C − B`` and every ``f_k`` integers of their widths (widths ≤ 40, far below r: nothing wraps), so
``0 <= B <= C``. Product gates give ``balance_s = c_s·B`` and the balance sum gives
``(1 − Σ_{s<=5} c_s)·B = 0``, i.e. ``B = 0`` in a terminal state. Each input row fixes ``v_g`` as
the packing of these lanes mod r; that packed totals unpack uniquely is :mod:`proofs.unpacking`'s.

Exact bounds (the ``pool-v3`` statement, :func:`bounded_circuit`). Every amount has a public cap
``C_k >= 1`` (the balance's is the per-loan cap) and ``n_k = bits(C_k)`` bit gates with weights
``1, 2, .., 2^(n_k−2), t_k`` where ``t_k = C_k − 2^(n_k−1) + 1``; the amount is
``Σ weight_j·bit_j``. Soundness: ``1 <= t_k <= 2^(n_k−1)`` and the bits are 0 or 1, so as an integer
the amount is in ``[0, 2^(n_k−1) − 1 + t_k] = [0, C_k]`` (caps below ``2^40``, far below r: nothing
wraps). Completeness: an amount below ``2^(n_k−1)`` is its plain bits with the top bit 0; one at or
above it is ``t_k`` plus ``amount − t_k``, which lies in ``[2^n_k − 1 − C_k, 2^(n_k−1) − 1]``
(non-negative, below ``2^(n_k−1)``). This proves ``0 <= B <= C`` with ``n_B`` gates instead of the
``2·n_B`` of a range plus a ``C − B`` range, and each flow within its own cap at the width the cap
needs. The ``C − B`` gates are gone; every other gate and constraint is as above. Its transcript
domain is ``poolproof/poolcircuit/v2`` and its ``params`` message adds the flow caps, so a proof of
one statement never verifies as the other.

Zero knowledge: as :mod:`proofs._circuit`; every bit gate uses the shared blinding there.

Transcript (after the caller's context): ``dom-sep = "poolproof/poolcircuit/v1"`` (``…/v2`` with
exact bounds), ``generators``
(the lane circuit's vectors ``G``, ``H``, ``Q`` at this gate count), ``params`` (:meth:`PoolCircuit.encode`),
``layout`` (the packing), ``loans``, ``gates``, ``ipa-rounds``, ``V`` (all commitments, loan-major);
then the protocol's messages as in :mod:`proofs.lanecircuit`. Proofs use
:class:`proofs.lanecircuit.LaneCircuitProof`'s encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from typing import Final

from proofs import _circuit, _wire
from proofs._circuit import Constraint, Template, Terms
from proofs._ipa import ProofTerms, TermAccumulator, batch_weight
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import generator_set_id
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, ScalarSource
from proofs.lanecircuit import LABEL_G, LABEL_H, LABEL_Q, MAX_GATES, LaneCircuitProof, Packing
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, STATES, LoanFacts
from proofs.pedersen import commit_many
from proofs.transcript import Transcript

DOMAIN: Final = b"poolproof/poolcircuit/v1"
#: The exact-bounds statement (``pool-v3``): its own domain, so no proof of one verifies as the other.
DOMAIN_EXACT: Final = b"poolproof/poolcircuit/v2"
#: The linkable statement (``pool-v4``): pool-v3's exact bounds with the linkable packing
#: (:func:`linkable_packing`), under its own domain so no proof of one verifies as the other.
DOMAIN_LINKABLE: Final = b"poolproof/poolcircuit/v3"
_R: Final = ORDER
MIN_BITS: Final = 1
#: Widest amount (2^40 minor units is 11 billion yuan: beyond any consumer loan, and far below r).
MAX_BITS: Final = 40

BALANCE_LANES: Final = tuple(f"balance_{s}" for s in OUTSTANDING_STATES)
FLOW_LANES: Final = tuple(f"flow_{f}" for f in FLOWS)
COUNT_LANES: Final = tuple(f"count_{s}" for s in STATES)
LANES: Final = BALANCE_LANES + FLOW_LANES + COUNT_LANES
_N_BAL: Final = len(BALANCE_LANES)
_N_FLOW: Final = len(FLOW_LANES)
_N_STATES: Final = len(STATES)
_LABELS: Final = _circuit.Labels(LABEL_G, LABEL_H, LABEL_Q)


def _width(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not MIN_BITS <= v <= MAX_BITS:
        raise ValueError(f"{name} must be an integer in [{MIN_BITS}, {MAX_BITS}], got {v!r}")
    return v


def bit_weights(width: int, cap: int | None) -> tuple[int, ...]:
    """Weights of ``width`` bit gates proving a value in ``[0, cap]`` (``[0, 2^width)`` without a cap).

    ``1, 2, .., 2^(width−2)`` and a top weight ``cap − 2^(width−1) + 1`` (``2^(width−1)`` when
    ``cap = 2^width − 1`` or there is none): module docstring, "Exact bounds".
    """
    if width == 0:
        return ()
    top = 1 << (width - 1)
    last = top if cap is None else cap - top + 1
    return (*(1 << j for j in range(width - 1)), last)


def weighted_bits(value: int, weights: Sequence[int]) -> list[int]:
    """The bits ``b_j`` with ``Σ weights_j·b_j = value`` for ``value`` in the weights' range.

    Values outside the range give bits that do not sum to it (the proof then fails); the prover
    refuses such values before it gets here.
    """
    if not weights:
        return []
    if value >= 1 << (len(weights) - 1):  # the top bit set: the rest is value − top weight
        rest = value - weights[-1]
        return [(rest >> j) & 1 for j in range(len(weights) - 1)] + [1]
    return [(value >> j) & 1 for j in range(len(weights) - 1)] + [0]


def _check_exact(
    balance_bits: int, flow_bits: Sequence[int], balance_cap: int | None, flow_caps: Sequence[int]
) -> None:
    """Refuse exact-bound parameters whose widths are not the caps' bit lengths."""
    if len(flow_caps) != _N_FLOW:
        raise ValueError(f"flow_caps needs {_N_FLOW} caps ({', '.join(FLOWS)})")
    named = [("balance_cap", balance_cap, balance_bits)]
    named += [(f"flow_caps[{n}]", c, w) for n, c, w in zip(FLOWS, flow_caps, flow_bits, strict=True)]
    for name, cap, width in named:
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap < 1 << MAX_BITS:
            raise ValueError(f"{name} must be an integer in [1, 2^{MAX_BITS}), got {cap!r}")
        if cap.bit_length() != width:
            raise ValueError(f"{name} {cap} needs {cap.bit_length()} bits, not {width}")


@dataclass(frozen=True)
class PoolCircuit:
    """The circuit's parameters: range widths and the per-loan cap, and the commitments' packing.

    ``balance_bits`` bounds outstanding principal (``B < 2^balance_bits``); ``flow_bits`` gives each
    flow's width in :data:`FLOWS` order; ``balance_cap`` (optional, below ``2^balance_bits``) is the
    proven per-loan bound ``B <= balance_cap``; ``packing`` says which lanes each committed input
    packs at which bit (``(lane index, shift)`` pairs, lane indexes into :data:`LANES`).

    Raises:
        ValueError: a width outside ``[1, 40]``, a cap outside ``[0, 2^balance_bits)``, or a packing
            that does not hold every lane exactly once.
    """

    balance_bits: int
    flow_bits: tuple[int, ...]
    balance_cap: int | None
    packing: Packing
    #: Exact bounds (the ``pool-v3`` statement): each flow's cap, in :data:`FLOWS` order. Every amount
    #: is then proven in ``[0, cap]`` with ``bits(cap)`` bit gates and a weighted top bit (module
    #: docstring, "Exact bounds"); ``None`` is the ``pool-v2`` statement (power-of-two ranges and
    #: ``C − B`` bit gates for the balance cap).
    flow_caps: tuple[int, ...] | None = None
    #: The linkable statement (``pool-v4``, exact bounds only): the packing is
    #: :func:`linkable_packing`'s, and the transcript domain and ``params`` say so.
    linkable: bool = False

    def __post_init__(self) -> None:
        _width("balance_bits", self.balance_bits)
        if len(self.flow_bits) != _N_FLOW:
            raise ValueError(f"flow_bits needs {_N_FLOW} widths ({', '.join(FLOWS)})")
        for name, w in zip(FLOWS, self.flow_bits, strict=True):
            _width(f"flow_bits[{name}]", w)
        cap = self.balance_cap
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap < self.bound
        ):
            raise ValueError(f"balance_cap must be an integer in [0, 2^{self.balance_bits}), got {cap!r}")
        lanes = sorted(lane for entries in self.packing for lane, _ in entries)
        if lanes != list(range(len(LANES))) or any(
            not 0 <= shift < 255 for entries in self.packing for _, shift in entries
        ):
            raise ValueError("packing: every lane exactly once, shifts in [0, 255)")
        if self.flow_caps is not None:
            _check_exact(self.balance_bits, self.flow_bits, self.balance_cap, self.flow_caps)
        if self.linkable and (
            self.flow_caps is None or self.packing != linkable_packing(self.balance_bits, self.flow_bits)
        ):
            raise ValueError("a linkable circuit has exact bounds and the linkable packing")

    @property
    def bound(self) -> int:
        """``2^balance_bits``: every balance is below it."""
        return 1 << self.balance_bits

    @property
    def exact(self) -> bool:
        """True for exact bounds (``pool-v3``): every amount in ``[0, its cap]`` by weighted bits."""
        return self.flow_caps is not None

    @property
    def domain(self) -> bytes:
        """The transcript's domain separator: one per statement version."""
        if self.linkable:
            return DOMAIN_LINKABLE
        return DOMAIN_EXACT if self.exact else DOMAIN

    @property
    def cap_bits(self) -> int:
        """Bit gates of ``C − B``: 0 when there is no cap, the cap is ``2^n_B − 1`` (the range says it)
        or the bounds are exact (the balance's own weighted bits say it)."""
        if self.exact or self.balance_cap is None or self.balance_cap == self.bound - 1:
            return 0
        return self.balance_bits

    @cached_property
    def balance_weights(self) -> tuple[int, ...]:
        """The weights of the balance's bit gates: ``B = Σ weight_j·bit_j``."""
        return bit_weights(self.balance_bits, self.balance_cap if self.exact else None)

    @cached_property
    def flow_weights(self) -> tuple[tuple[int, ...], ...]:
        """The weights of each flow's bit gates (:data:`FLOWS` order)."""
        caps = self.flow_caps if self.flow_caps is not None else (None,) * _N_FLOW
        return tuple(bit_weights(w, c) for w, c in zip(self.flow_bits, caps, strict=True))

    @property
    def inputs(self) -> int:
        """Committed inputs per loan."""
        return len(self.packing)

    @property
    def gates_per_loan(self) -> int:
        """Multiplication gates one loan needs (module docstring, "Gate layout")."""
        return self.balance_bits + self.cap_bits + sum(self.flow_bits) + (_N_STATES - 1) + _N_BAL

    def lane_max(self, lane: str) -> int:
        """The largest value lane ``lane`` can hold for one loan.

        Raises:
            KeyError: not a lane of this circuit.
        """
        if lane in BALANCE_LANES:
            return self.bound - 1 if self.balance_cap is None else self.balance_cap
        if lane in FLOW_LANES:
            k = FLOW_LANES.index(lane)
            return (1 << self.flow_bits[k]) - 1 if self.flow_caps is None else self.flow_caps[k]
        if lane in COUNT_LANES:
            return 1
        raise KeyError(f"no lane {lane!r}")

    def encode(self) -> bytes:
        """The parameters as the transcript's ``params`` message (injective)."""
        cap = "none" if self.balance_cap is None else str(self.balance_cap)
        text = (
            f"states={','.join(STATES)};flows={','.join(FLOWS)};balance_bits={self.balance_bits};"
            f"flow_bits={','.join(map(str, self.flow_bits))};balance_cap={cap}"
        )
        if self.flow_caps is not None:
            text += f";flow_caps={','.join(map(str, self.flow_caps))};bounds=exact"
        if self.linkable:
            text += ";packing=linkable"
        return text.encode()

    def layout(self) -> bytes:
        """The transcript's ``layout`` message: the packing by lane name and shift."""
        return b"packed:" + b";".join(
            b",".join(LANES[lane].encode() + b"<<" + str(shift).encode() for lane, shift in entries)
            for entries in self.packing
        )

    # --- gate indexes --------------------------------------------------------------------------------
    @property
    def _cap0(self) -> int:
        return self.balance_bits

    def _flow0(self, k: int) -> int:
        return self.balance_bits + self.cap_bits + sum(self.flow_bits[:k])

    @property
    def _onehot0(self) -> int:
        return self._flow0(_N_FLOW)

    @property
    def _product0(self) -> int:
        return self._onehot0 + _N_STATES - 1

    @cached_property
    def template(self) -> Template:
        """The per-loan constraint template (module docstring); every bit gate shares its blinding."""
        rows: list[Constraint] = []
        bit_gates = [*range(self._onehot0)]
        for j in bit_gates:
            rows.append(Constraint(left=((j, 1),), right=((j, _R - 1),), const=1))  # a_L − a_R = 1
            rows.append(Constraint(out=((j, 1),)))  # a_O = 0
        balance: Terms = tuple(enumerate(self.balance_weights))  # B = Σ weight_j·a_L[bit j]
        minus_balance: Terms = tuple((j, _R - c) for j, c in balance)
        if self.cap_bits:
            cap_terms = tuple((self._cap0 + j, 1 << j) for j in range(self.cap_bits))
            assert self.balance_cap is not None
            rows.append(Constraint(left=cap_terms + balance, const=self.balance_cap))
        onehot = self._onehot0
        for k in range(_N_STATES - 1):
            g = onehot + k
            rows.append(
                Constraint(
                    left=tuple((onehot + j, _R - 1) for j in range(k + 1)), right=((g, 1),), const=_R - 1
                )
            )
            rows.append(Constraint(out=((g, 1),)))
        product = self._product0
        for s in range(_N_BAL):
            g = product + s
            rows.append(Constraint(left=((g, 1), (onehot + s, _R - 1))))
            rows.append(Constraint(left=minus_balance, right=((g, 1),)))
        rows.append(Constraint(left=minus_balance, out=tuple((product + s, 1) for s in range(_N_BAL))))
        for i, entries in enumerate(self.packing):
            left: dict[int, int] = {}
            out: dict[int, int] = {}
            const = 0
            for lane, shift in entries:
                f = (1 << shift) % _R
                if lane < _N_BAL:  # balance_s = a_O[product s]
                    out[product + lane] = (out.get(product + lane, 0) + f) % _R
                elif lane < _N_BAL + _N_FLOW:  # flow_k = Σ weight_j·a_L[flow k bit j]
                    k = lane - _N_BAL
                    for j, weight in enumerate(self.flow_weights[k]):
                        g = self._flow0(k) + j
                        left[g] = (left.get(g, 0) + f * weight) % _R
                else:  # count_s = a_L[one-hot s]; count_9 = 1 − Σ_{s<9} a_L[one-hot s]
                    s = lane - _N_BAL - _N_FLOW
                    if s < _N_STATES - 1:
                        left[onehot + s] = (left.get(onehot + s, 0) + f) % _R
                    else:
                        const = (const + f) % _R
                        for j in range(_N_STATES - 1):
                            left[onehot + j] = (left.get(onehot + j, 0) - f) % _R
            rows.append(
                Constraint(
                    left=tuple(sorted(left.items())),
                    out=tuple(sorted(out.items())),
                    inputs=((i, 1),),
                    const=(-const) % _R,
                )
            )
        return Template(self.gates_per_loan, self.inputs, tuple(rows), frozenset(bit_gates))

    # --- values ---------------------------------------------------------------------------------------
    def lane_values(self, facts: LoanFacts) -> tuple[int, ...]:
        """One loan's lane values (:data:`LANES` order) from its facts."""
        balances = tuple(facts.balance if s == facts.state else 0 for s in range(_N_BAL))
        counts = tuple(1 if s == facts.state else 0 for s in range(_N_STATES))
        return balances + tuple(facts.flows) + counts

    def facts_from_values(self, exposure_id: str, values: Sequence[int]) -> LoanFacts:
        """The facts whose lane values are ``values``: the inverse of :meth:`lane_values`.

        Raises:
            ValueError: the values are not one loan's under these parameters (the message says which rule).
        """
        if len(values) != len(LANES) or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise ValueError(f"expected {len(LANES)} integer lane values")
        counts = list(values[_N_BAL + _N_FLOW :])
        if counts.count(1) != 1 or any(c not in (0, 1) for c in counts):
            raise ValueError("count lanes must hold a single 1: one state")
        state = counts.index(1)
        balances = values[:_N_BAL]
        balance = balances[state] if state < _N_BAL else 0
        if any(b != (balance if s == state else 0) for s, b in enumerate(balances)):
            raise ValueError(
                "balance lanes must hold the whole balance in the loan's state, and none if terminal"
            )
        if not 0 <= balance <= self.lane_max(BALANCE_LANES[0]):
            raise ValueError(f"the balance must be in [0, {self.lane_max(BALANCE_LANES[0])}]")
        flows = tuple(values[_N_BAL : _N_BAL + _N_FLOW])
        for name, f, w in zip(FLOWS, flows, self.flow_bits, strict=True):
            if self.flow_caps is None and not 0 <= f < 1 << w:
                raise ValueError(f"flow {name} must be in [0, 2^{w})")
            if self.flow_caps is not None and not 0 <= f <= self.lane_max(f"flow_{name}"):
                raise ValueError(f"flow {name} must be in [0, {self.lane_max(f'flow_{name}')}]")
        return LoanFacts(exposure_id, state, balance, flows)

    def pack_values(self, values: Sequence[int]) -> list[int]:
        """The committed input values of one loan from its lane values."""
        return [sum(values[lane] << shift for lane, shift in entries) % _R for entries in self.packing]

    def gate_count(self, loans: int) -> int:
        """The padded gate count ``N`` (a power of two) of a proof over ``loans`` loans.

        Raises:
            ValueError: ``loans < 1`` or more than the lane circuit's largest gate count.
        """
        if isinstance(loans, bool) or not isinstance(loans, int) or loans < 1:
            raise ValueError(f"loans must be a positive integer, got {loans!r}")
        used = loans * self.gates_per_loan
        if used > MAX_GATES:
            raise ValueError(f"{loans} loans need {used} gates, more than {MAX_GATES}")
        return 1 << (used - 1).bit_length()

    def split_loans(self, loans: int) -> list[int]:
        """Loan counts of consecutive proofs covering ``loans`` loans with little padding, largest first.

        Raises:
            ValueError: ``loans < 1``.
        """
        self.gate_count(1)
        if isinstance(loans, bool) or not isinstance(loans, int) or loans < 1:
            raise ValueError(f"loans must be a positive integer, got {loans!r}")
        return _circuit.split_loans(loans, self.gates_per_loan, MAX_GATES)

    def max_loans(self, gates_log2: int) -> int:
        """How many loans fit in ``2^gates_log2`` gates."""
        return (1 << gates_log2) // self.gates_per_loan

    def proof_size(self, loans: int, ipa_rounds: int | None = None) -> int:
        """Encoded size in bytes of a proof over ``loans`` loans.

        Raises:
            ValueError: invalid ``loans`` or ``ipa_rounds``.
        """
        n_gates = self.gate_count(loans)
        k = _check_rounds(n_gates, ipa_rounds)
        if k == 0:  # compact clear vectors (proofs._circuit: l on real gates, r off the shared ones)
            return 8 * POINT_BYTES + (3 + sum(_circuit.compact_lengths(self.template, loans))) * SCALAR_BYTES
        return (8 + 2 * k) * POINT_BYTES + (3 + 2 * (n_gates >> k)) * SCALAR_BYTES


#: Packed slots: counts get 28 bits (a snapshot holds fewer than 2^28 loans); an amount of width w
#: gets w + 28 bits, so no slot total can reach the next slot; inputs end below bit 254.
LEAVES_BITS: Final = 28
PACKED_TOP_BIT: Final = 254


def default_packing(balance_bits: int, flow_bits: Sequence[int]) -> Packing:
    """Lanes packed into as few inputs as fit: first-fit by decreasing slot width, stable by lane order.

    Slot width is the lane's width plus :data:`LEAVES_BITS`; every input ends by :data:`PACKED_TOP_BIT`.
    """
    slots = slot_widths(balance_bits, flow_bits)
    order = sorted(range(len(LANES)), key=lambda i: (-slots[i], i))
    bins: list[list[tuple[int, int]]] = []
    ends: list[int] = []
    for lane in order:
        for b, end in enumerate(ends):
            if end + slots[lane] <= PACKED_TOP_BIT:
                bins[b].append((lane, end))
                ends[b] = end + slots[lane]
                break
        else:
            bins.append([(lane, 0)])
            ends.append(slots[lane])
    return tuple(tuple(entries) for entries in bins)


def slot_widths(balance_bits: int, flow_bits: Sequence[int]) -> tuple[int, ...]:
    """Each lane's packed slot width (:data:`LANES` order), as :func:`default_packing` allots them."""
    widths = [balance_bits] * _N_BAL + list(flow_bits) + [0] * _N_STATES
    return tuple(w + LEAVES_BITS for w in widths)


def circuit(balance_bits: int, flow_bits: Sequence[int], balance_cap: int | None = None) -> PoolCircuit:
    """The pool circuit with the default packing for these widths.

    Raises:
        ValueError: as :class:`PoolCircuit`.
    """
    _width("balance_bits", balance_bits)
    if len(flow_bits) != _N_FLOW:
        raise ValueError(f"flow_bits needs {_N_FLOW} widths ({', '.join(FLOWS)})")
    return PoolCircuit(balance_bits, tuple(flow_bits), balance_cap, default_packing(balance_bits, flow_bits))


def bounded_circuit(balance_cap: int, flow_caps: Sequence[int]) -> PoolCircuit:
    """The exact-bounds pool circuit (``pool-v3``): balance in ``[0, balance_cap]``, flow ``k`` in
    ``[0, flow_caps[k]]``, each with ``bits(cap)`` bit gates; the default packing for those widths.

    Raises:
        ValueError: a cap outside ``[1, 2^40)`` or the wrong number of flow caps.
    """
    caps = (balance_cap, *flow_caps)
    if len(caps) != 1 + _N_FLOW or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in caps):
        raise ValueError(f"a balance cap and {_N_FLOW} flow caps, each an integer >= 1")
    balance_bits, flow_bits = balance_cap.bit_length(), tuple(c.bit_length() for c in flow_caps)
    _width("balance_bits", balance_bits)
    for name, w in zip(FLOWS, flow_bits, strict=True):
        _width(f"flow_bits[{name}]", w)
    return PoolCircuit(
        balance_bits,
        flow_bits,
        balance_cap,
        default_packing(balance_bits, flow_bits),
        tuple(flow_caps),
    )


#: Slot headroom of the linkable packing: a slot total of up to 2^25 − 1 loans never reaches the next
#: slot, so a linkable snapshot holds fewer than 2^25 loans (33 million).
LINK_LEAVES_BITS: Final = 25
#: The linkable packing's fixed inputs: input 0 holds the ten count lanes, inputs 1 and 2 three
#: balance lanes each; flows fill inputs 3.. first-fit.
LINK_COUNT_INPUT: Final = 0
LINK_BALANCE_INPUTS: Final = (1, 2)


def link_slot_widths(balance_bits: int, flow_bits: Sequence[int]) -> tuple[int, ...]:
    """Each lane's slot width in the linkable packing (:data:`LANES` order): lane width + 25 bits."""
    widths = [balance_bits] * _N_BAL + list(flow_bits) + [0] * _N_STATES
    return tuple(w + LINK_LEAVES_BITS for w in widths)


def linkable_packing(balance_bits: int, flow_bits: Sequence[int]) -> Packing:
    """The ``pool-v4`` packing: the counts alone in input 0 (``Σ_s c_s·2^(25·s)``), the balances
    alone in inputs 1 and 2 (three slots each of ``balance_bits + 25`` bits), flows first-fit by
    decreasing width in the inputs after them (each ending by :data:`PACKED_TOP_BIT`).

    This is what a link proof (:mod:`proofs.linkcircuit`) reads: a loan's state from one
    commitment and its balance from two, without touching the flows.

    Raises:
        ValueError: a balance too wide for three slots below bit 254.
    """
    slots = link_slot_widths(balance_bits, flow_bits)
    w_bal = slots[0]
    if 3 * w_bal > PACKED_TOP_BIT:
        raise ValueError(f"balance_bits {balance_bits}: three balance slots end past bit {PACKED_TOP_BIT}")
    n_amount = _N_BAL + _N_FLOW
    counts = tuple((n_amount + s, LINK_LEAVES_BITS * s) for s in range(_N_STATES))
    balances = tuple(tuple((s, w_bal * (s - first)) for s in range(first, first + 3)) for first in (0, 3))
    order = sorted(range(_N_BAL, n_amount), key=lambda i: (-slots[i], i))
    bins: list[list[tuple[int, int]]] = []
    ends: list[int] = []
    for lane in order:
        for b, end in enumerate(ends):
            if end + slots[lane] <= PACKED_TOP_BIT:
                bins[b].append((lane, end))
                ends[b] = end + slots[lane]
                break
        else:
            bins.append([(lane, 0)])
            ends.append(slots[lane])
    return (counts, *balances, *(tuple(entries) for entries in bins))


def linkable_circuit(balance_cap: int, flow_caps: Sequence[int]) -> PoolCircuit:
    """The ``pool-v4`` circuit: :func:`bounded_circuit`'s statement with :func:`linkable_packing`.

    Raises:
        ValueError: as :func:`bounded_circuit`, or a balance cap too wide for the packing.
    """
    base = bounded_circuit(balance_cap, flow_caps)
    return replace(base, packing=linkable_packing(base.balance_bits, base.flow_bits), linkable=True)


def _check_rounds(n_gates: int, ipa_rounds: int | None) -> int:
    full = n_gates.bit_length() - 1
    if ipa_rounds is None:
        return full
    if isinstance(ipa_rounds, bool) or not isinstance(ipa_rounds, int) or not 0 <= ipa_rounds <= full:
        raise ValueError(f"ipa_rounds must be in [0, {full}] for {n_gates} gates, got {ipa_rounds!r}")
    return ipa_rounds


def _absorb_statement(
    transcript: Transcript,
    params: PoolCircuit,
    n_gates: int,
    rounds: int,
    commitments: Sequence[Sequence[Point]],
) -> None:
    gens = generator_set_id(
        [("pedersen/G", 1), ("pedersen/H", 1), (LABEL_G, n_gates), (LABEL_H, n_gates), (LABEL_Q, 1)]
    )
    transcript.append_message(b"dom-sep", params.domain)
    transcript.append_message(b"generators", gens)
    transcript.append_message(b"params", params.encode())
    transcript.append_message(b"layout", params.layout())
    transcript.append_u64(b"loans", len(commitments))
    transcript.append_u64(b"gates", n_gates)
    transcript.append_u64(b"ipa-rounds", rounds)
    transcript.append_points(b"V", (c for loan in commitments for c in loan))


# -------------------------------------------------------------------------------------------------
# Prover
# -------------------------------------------------------------------------------------------------


def _check_loan(index: int, values: Sequence[int], params: PoolCircuit) -> None:
    """Refuse lane values that are not one loan's facts (:meth:`PoolCircuit.facts_from_values`).

    The message names the loan index and the rule broken, never a value.
    """
    try:
        params.facts_from_values("-", values)
    except ValueError as exc:
        raise ProvingError(f"loan {index}: {exc}") from None


def _witness(values: Sequence[Sequence[int]], params: PoolCircuit) -> tuple[list[int], list[int], list[int]]:
    """Gate wires ``a_L, a_R, a_O`` over the real gates from the lane values, by the layout's formulas."""
    a_l: list[int] = []
    a_r: list[int] = []
    a_o: list[int] = []

    def bits(value: int, weights: Sequence[int]) -> None:
        for bit in weighted_bits(value, weights):
            a_l.append(bit)
            a_r.append(bit - 1)
            a_o.append(0)

    pow2 = bit_weights(params.cap_bits, None)
    for row in values:
        lanes = [v % _R for v in row]
        balance = sum(lanes[:_N_BAL]) % _R
        bits(balance, params.balance_weights)
        if params.cap_bits:
            assert params.balance_cap is not None
            bits((params.balance_cap - balance) % _R, pow2)
        for k in range(_N_FLOW):
            bits(lanes[_N_BAL + k], params.flow_weights[k])
        counts = lanes[_N_BAL + _N_FLOW :]
        _circuit.append_one_hot_gates((a_l, a_r, a_o), counts, _N_STATES - 1)
        _circuit.append_product_gates((a_l, a_r, a_o), counts, balance, _N_BAL)
    return a_l, a_r, a_o


def prove_pool(
    group: Group,
    params: PoolCircuit,
    values: Sequence[Sequence[int]],
    blindings: Sequence[Sequence[int]],
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    rng: ScalarSource | None = None,
) -> tuple[LaneCircuitProof, list[list[Point]]]:
    """Prove every loan's lanes are one state holding the whole balance, with flows in range.

    ``values[i]`` are loan ``i``'s lane values (:data:`LANES` order; :meth:`PoolCircuit.lane_values`);
    ``blindings[i]`` the blindings of its packed inputs. Returns the proof and the commitments it proves
    (``[loan][input]``); the transcript is advanced past the proof. ``rng`` is for tests only (frozen
    vectors); left as None the prover's randomness comes from ``os.urandom``.

    Raises:
        ValueError: no loans, too many gates, bad ``ipa_rounds``, or lengths that differ.
        ProvingError: a loan whose lanes break the statement, or a blinding outside ``[0, r)`` (the
            message names the loan index only).
    """
    loans = len(values)
    if len(blindings) != loans:
        raise ValueError("values and blindings differ in length")
    n_gates = params.gate_count(loans)
    rounds = _check_rounds(n_gates, ipa_rounds)
    for i, (row, gammas) in enumerate(zip(values, blindings, strict=True)):
        _check_loan(i, row, params)
        if len(gammas) != params.inputs or any(
            isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < _R for g in gammas
        ):
            raise ProvingError(f"loan {i}: expected {params.inputs} blindings in [0, r)")
    flat = commit_many(
        group,
        [v for row in values for v in params.pack_values(row)],
        [g for gammas in blindings for g in gammas],
    )
    commitments = [flat[i * params.inputs : (i + 1) * params.inputs] for i in range(loans)]
    done = _circuit.prove(
        group,
        params.template,
        _LABELS,
        _witness(values, params),
        blindings,
        n_gates,
        rounds,
        transcript,
        partial(_absorb_statement, params=params, n_gates=n_gates, rounds=rounds, commitments=commitments),
        rng,
    )
    proof = LaneCircuitProof.from_messages(done)
    if rounds == 0:
        l_part, r_part = _circuit.compact_clear(params.template, loans, done.a, done.b)
        proof = replace(proof, a=l_part, b=r_part)
    return proof, commitments


# -------------------------------------------------------------------------------------------------
# Verifier
# -------------------------------------------------------------------------------------------------


def _shape(commitments: Sequence[Sequence[Point]], params: PoolCircuit, proof: LaneCircuitProof) -> int:
    loans = len(commitments)
    try:
        n_gates = params.gate_count(loans)
    except ValueError as exc:
        raise VerificationError("poolcircuit.shape", str(exc)) from exc
    if proof.L or proof.R:
        _circuit.check_shape(
            "poolcircuit.shape", n_gates, commitments, params.inputs, proof.messages(), f"{loans} loans"
        )
        return n_gates
    # No inner-product rounds: compact clear vectors.
    n_l, n_r = _circuit.compact_lengths(params.template, loans)
    if (len(proof.a), len(proof.b)) != (n_l, n_r):
        raise VerificationError(
            "poolcircuit.shape",
            f"proof does not fit {loans} loans: {len(proof.a)} l and {len(proof.b)} r values, "
            f"expected {n_l} and {n_r}",
        )
    for i, loan in enumerate(commitments):
        if len(loan) != params.inputs:
            raise VerificationError("poolcircuit.shape", f"loan {i}: expected {params.inputs} commitments")
    for value in (proof.tau_x, proof.mu, proof.t_hat, *proof.a, *proof.b):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _R:
            raise VerificationError("poolcircuit.shape", "scalar out of range [0, r)")
    return n_gates


def _proof_terms(
    group: Group,
    params: PoolCircuit,
    commitments: Sequence[Sequence[Point]],
    proof: LaneCircuitProof,
    transcript: Transcript,
    e_commit: int,
    e_ipa: int,
) -> ProofTerms:
    n_gates = _shape(commitments, params, proof)
    absorb = partial(
        _absorb_statement, params=params, n_gates=n_gates, rounds=len(proof.L), commitments=commitments
    )
    return _circuit.proof_terms(
        group,
        params.template,
        commitments,
        proof.messages(),
        n_gates,
        transcript,
        absorb,
        e_commit,
        e_ipa,
        compact=not proof.L,
    )


def verify_pool(
    group: Group,
    params: PoolCircuit,
    commitments: Sequence[Sequence[Point]],
    proof: LaneCircuitProof,
    transcript: Transcript,
) -> None:
    """Check that every loan's commitments pack one state holding its whole balance, flows in range.

    The transcript must be in the prover's starting state; it is advanced past the proof.

    Raises:
        VerificationError: ``poolcircuit.shape`` (the proof or commitments do not fit the statement),
            ``poolcircuit.equation`` (the proof is invalid).
    """
    terms = _proof_terms(group, params, commitments, proof, transcript, batch_weight(), batch_weight())
    batch = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    batch.add(terms)
    if not batch.holds(group):
        raise VerificationError("poolcircuit.equation", "pool circuit verification equation does not hold")


@dataclass(frozen=True)
class PoolCircuitItem:
    """One proof to check in :func:`batch_verify_pool`, with the transcript it was made under."""

    params: PoolCircuit
    commitments: Sequence[Sequence[Point]]
    proof: LaneCircuitProof
    transcript: Transcript


def batch_verify_pool(group: Group, items: Sequence[PoolCircuitItem]) -> None:
    """Check many pool-circuit proofs in one multi-scalar multiplication (independent 128-bit weights).

    Item transcripts are cloned, not consumed. On failure each item is re-checked alone to name the
    first bad one.

    Raises:
        VerificationError: ``poolcircuit.shape`` for a malformed item (named by index),
            ``poolcircuit.batch`` when the batch equation fails (naming the first bad index).
    """
    _circuit.batch_check(
        group,
        _LABELS,
        items,
        lambda item: _proof_terms(
            group,
            item.params,
            item.commitments,
            item.proof,
            item.transcript.clone(),
            batch_weight(),
            batch_weight(),
        ),
        lambda item: verify_pool(group, item.params, item.commitments, item.proof, item.transcript.clone()),
        "poolcircuit.batch",
    )


def decode_proof(
    group: Group, data: bytes, params: PoolCircuit, loans: int, ipa_rounds: int | None = None
) -> LaneCircuitProof:
    """Decode a pool-circuit proof over ``loans`` loans with ``ipa_rounds`` rounds (default full).

    Every point is decoded with curve and subgroup checks (the identity is refused) and every
    scalar must be canonical (``< r``).

    Raises:
        EncodingError: wrong length, a malformed point or scalar, or impossible parameters.
    """
    try:
        expected = params.proof_size(loans, ipa_rounds)
        n_gates = params.gate_count(loans)
        rounds = _check_rounds(n_gates, ipa_rounds)
    except ValueError as exc:
        raise EncodingError(f"poolcircuit: {exc}") from exc
    data = bytes(data)
    if len(data) != expected:
        raise EncodingError(f"poolcircuit: expected {expected} bytes for {loans} loans, got {len(data)}")
    if rounds == 0:
        n_l, n_r = _circuit.compact_lengths(params.template, loans)
        d = _wire.decode(group, data, n_points=8, n_scalars=3, rounds=0, clear=n_l, clear_b=n_r)
    else:
        d = _wire.decode(group, data, n_points=8, n_scalars=3, rounds=rounds, clear=n_gates >> rounds)
    return LaneCircuitProof.from_wire(d)
