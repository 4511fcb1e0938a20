"""Lane sets: which values are committed per loan, and the pool metrics built from them.

A *lane* is one committed non-negative integer per loan. A *lane set* names the lanes, their
range-proof bit sizes and the metrics (public linear combinations of lane aggregates) that claims
may reference. Lane sets are versioned and named in every snapshot header, so a verifier never
guesses what a commitment means.

``dpd5-v1`` (DESIGN.md "Lanes"): outstanding principal (minor units) by delinquency bucket
M0 (current), M1 (1–30 dpd), M2 (31–60), M3 (61–90), M3+ (>90) — exactly one non-zero for an
honest loan — plus a 0/1 count lane per bucket. The count lanes' blindings are chosen to sum to
zero per loan, so anyone can check ``sum(count commitments of a loan) == G``: with each count lane
range-proven non-negative (and 5 · 2^8 far below r, so nothing wraps) this proves that every loan
counts exactly once, in exactly one bucket.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Final

from proofs import poolcircuit
from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, PERFORMING_STATES, STATES, LoanFacts
from proofs.poolcircuit import PoolCircuit

BUCKETS: Final = ("M0", "M1", "M2", "M3", "M3+")
#: Packed slots must end below this bit so that a packed total stays below the group order r
#: (r > 2^254), which makes the base-2^shift decomposition of a total unique.
PACKED_TOP_BIT: Final = 254
#: Widest slot: the unpacking proof range-proves every slot total with 64-bit range proofs.
MAX_SLOT_BITS: Final = 64


@dataclass(frozen=True)
class Slot:
    """Where one lane sits inside a packed commitment: ``value << shift``, totals below ``2^width``."""

    lane: str
    shift: int
    width: int


@dataclass(frozen=True)
class LaneSet:
    """A named, versioned set of per-loan lanes and the metrics defined over them."""

    name: str
    balance_lanes: tuple[str, ...]
    count_lanes: tuple[str, ...]
    balance_bits: int
    count_bits: int
    metrics: Mapping[str, tuple[tuple[str, int], ...]]
    #: How every leaf's lanes are proven: "rangeproof" (a Bulletproofs range proof per lane value)
    #: or "lanecircuit" (one arithmetic-circuit proof per piece of loans, :mod:`proofs.lanecircuit`).
    proof: str = "rangeproof"
    #: ``None``: one commitment per lane. Otherwise the leaf holds one commitment per *input*, to
    #: ``Σ value(slot.lane) << slot.shift`` over the input's slots (docs/decisions.md, "packed lanes").
    packing: tuple[tuple[Slot, ...], ...] | None = None
    #: The pool statement v2's circuit parameters (``proof == "poolcircuit"``), else ``None``.
    circuit: PoolCircuit | None = None

    def __post_init__(self) -> None:
        if self.packing is not None:
            _check_packing(self)

    @property
    def lanes(self) -> tuple[str, ...]:
        """All lanes, balance lanes first: the lane order of aggregates and openings."""
        return self.balance_lanes + self.count_lanes

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of a leaf's commitments, in leaf order (the lanes themselves when unpacked)."""
        if self.packing is None:
            return self.lanes
        return tuple(f"pack_{i}" for i in range(len(self.packing)))

    def input_values(self, values: Sequence[int]) -> tuple[int, ...]:
        """The committed value of each leaf commitment, given the loan's lane values (lane order)."""
        if self.packing is None:
            return tuple(values)
        by_lane = dict(zip(self.lanes, values, strict=True))
        return tuple(sum(by_lane[s.lane] << s.shift for s in slots) for slots in self.packing)

    @property
    def family(self) -> str:
        """The statement family: the name without its parameters (``pool-v2`` for ``pool-v2:b23:...``)."""
        return self.name.split(":", 1)[0]

    def lane_max(self, lane: str) -> int:
        """The largest value lane ``lane`` can hold for one loan."""
        if self.circuit is not None:
            return self.circuit.lane_max(lane)
        return (1 << self.balance_bits) - 1 if lane in self.balance_lanes else (1 << self.count_bits) - 1

    @property
    def max_leaves(self) -> int:
        """The most loans a snapshot may hold: every packed slot total must fit its width."""
        if self.packing is None:
            return 1 << 40
        return min(((1 << s.width) - 1) // self.lane_max(s.lane) for slots in self.packing for s in slots)

    def facts_values(self, facts: LoanFacts) -> tuple[int, ...]:
        """The lane values of a loan from its statement-v2 facts.

        Raises:
            ValueError: not a pool statement v2 lane set.
        """
        if self.circuit is None:
            raise ValueError(f"lane set {self.name} commits to (principal, bucket), not to loan facts")
        return self.circuit.lane_values(facts)

    def lane_values(self, principal: int, bucket: int) -> tuple[int, ...]:
        """The lane values of a loan with outstanding ``principal`` in delinquency ``bucket``.

        Raises:
            ValueError: negative principal, principal >= 2^balance_bits, or an unknown bucket.
        """
        if not 0 <= bucket < len(self.balance_lanes):
            raise ValueError(f"bucket must be in 0..{len(self.balance_lanes) - 1}")
        if not 0 <= principal < 1 << self.balance_bits:
            raise ValueError(f"principal must be in [0, 2^{self.balance_bits})")
        balances = tuple(principal if b == bucket else 0 for b in range(len(self.balance_lanes)))
        counts = tuple(1 if b == bucket else 0 for b in range(len(self.count_lanes)))
        return balances + counts

    def metric(self, name: str) -> tuple[tuple[str, int], ...]:
        """The (lane, coefficient) terms of metric ``name``.

        Raises:
            KeyError: the lane set defines no such metric.
        """
        try:
            return self.metrics[name]
        except KeyError:
            valid = ", ".join(sorted(self.metrics))
            message = f"lane set {self.name} defines no metric {name!r}; its metrics are {valid}"
            raise KeyError(message) from None

    def metric_unit(self, name: str) -> str:
        """What metric ``name`` counts: ``"loans"`` (count lanes only) or ``"minor"`` (amounts, in the
        snapshot currency's minor units).

        Raises:
            KeyError: the lane set defines no such metric (the message lists the valid ones).
        """
        counts = {lane in self.count_lanes for lane, _ in self.metric(name)}
        return "loans" if counts == {True} else "minor" if counts == {False} else "mixed"

    def metric_value(self, name: str, lane_totals: Mapping[str, int]) -> int:
        """The plaintext value of a metric from plaintext lane totals."""
        return sum(coeff * lane_totals[lane] for lane, coeff in self.metric(name))


def _check_packing(lanes: LaneSet) -> None:
    """Refuse a packing whose totals could not be unpacked uniquely (a definition error)."""
    assert lanes.packing is not None
    seen = [s.lane for slots in lanes.packing for s in slots]
    if sorted(seen) != sorted(lanes.lanes):
        raise ValueError(f"{lanes.name}: every lane must sit in exactly one slot")
    for slots in lanes.packing:
        end = 0
        for s in sorted(slots, key=lambda s: s.shift):
            if s.shift < end or not 1 <= s.width <= MAX_SLOT_BITS:
                raise ValueError(f"{lanes.name}: slot {s.lane} overlaps or has a bad width")
            end = s.shift + s.width
        if end > PACKED_TOP_BIT:
            raise ValueError(f"{lanes.name}: packed slots must end by bit {PACKED_TOP_BIT}")
    if lanes.max_leaves < 1:
        raise ValueError(f"{lanes.name}: a slot cannot hold even one loan")


def _dpd5_metrics() -> dict[str, tuple[tuple[str, int], ...]]:
    bal = [f"balance_{b}" for b in BUCKETS]
    cnt = [f"count_{b}" for b in BUCKETS]
    metrics: dict[str, tuple[tuple[str, int], ...]] = {
        "pool_balance": tuple((lane, 1) for lane in bal),
        "loan_count": tuple((lane, 1) for lane in cnt),
    }
    for i, b in enumerate(BUCKETS):
        metrics[f"balance_{b}"] = ((bal[i], 1),)
        metrics[f"count_{b}"] = ((cnt[i], 1),)
    # "N+ dpd" cumulative metrics, as investor reports state delinquency ratios.
    for label, first in (("1plus", 1), ("31plus", 2), ("61plus", 3), ("90plus", 4)):
        metrics[f"balance_dpd_{label}"] = tuple((lane, 1) for lane in bal[first:])
        metrics[f"count_dpd_{label}"] = tuple((lane, 1) for lane in cnt[first:])
    return metrics


DPD5_V1: Final = LaneSet(
    name="dpd5-v1",
    balance_lanes=tuple(f"balance_{b}" for b in BUCKETS),
    count_lanes=tuple(f"count_{b}" for b in BUCKETS),
    balance_bits=32,
    count_bits=8,
    metrics=_dpd5_metrics(),
)

#: ``dpd5-v2``: the same lanes and metrics as dpd5-v1, proven by the lane circuit instead of ten
#: range proofs per loan. Per loan it proves: the counts are a unit vector (so every count lane is
#: 0 or 1 — hence ``count_bits`` 1 — and the loan counts once), there is a principal P in
#: [0, 2^32), and balance_b = count_b · P (the balance sits in the counted bucket, every other
#: balance lane is 0). That implies every dpd5-v1 property with n + 8 = 40 gates per loan instead of
#: 200 range-proven bits (docs/decisions.md, "lane circuit").
DPD5_V2: Final = LaneSet(
    name="dpd5-v2",
    balance_lanes=DPD5_V1.balance_lanes,
    count_lanes=DPD5_V1.count_lanes,
    balance_bits=32,
    count_bits=1,
    metrics=DPD5_V1.metrics,
    proof="lanecircuit",
)

#: ``dpd5-v3``: dpd5-v2's lanes, metrics and lane circuit, but each leaf holds two *packed*
#: commitments instead of ten: ``pack_0`` = count_M0..count_M3+ in 32-bit slots and balance_M0 at
#: bit 160; ``pack_1`` = balance_M1..balance_M3+ at bits 0, 64, 128, 192. The circuit proves the packed
#: values are the packing of one loan's one-hot lanes; the header carries the per-lane aggregates
#: with an unpacking proof (:mod:`proofs.unpacking`) tying them to the sums of the packed
#: commitments. Slot widths (32 for counts, 64 for balances, 62 for the top slot) bound a snapshot
#: at 2^30 loans. Five times fewer points per leaf: the auditor's subgroup checks and the bundle
#: shrink accordingly (docs/decisions.md, "packed lanes").
DPD5_V3: Final = replace(
    DPD5_V2,
    name="dpd5-v3",
    packing=(
        (
            *(Slot(f"count_{b}", 32 * i, 32) for i, b in enumerate(BUCKETS)),
            Slot("balance_M0", 160, 64),
        ),
        (
            Slot("balance_M1", 0, 64),
            Slot("balance_M2", 64, 64),
            Slot("balance_M3", 128, 64),
            Slot("balance_M3+", 192, 62),
        ),
    ),
)

LANE_SETS: Final[Mapping[str, LaneSet]] = {
    DPD5_V1.name: DPD5_V1,
    DPD5_V2.name: DPD5_V2,
    DPD5_V3.name: DPD5_V3,
}


#: The lane sets verifiers accept unless an older one is named. dpd5-v1 proves each lane in range but
#: not that a loan's balance sits in the bucket it is counted in; dpd5-v2 proves that, and dpd5-v3
#: proves the same with packed commitments and an unpacking proof an investor can check cheaply.
#: The pool statement v2 family (:data:`POOL_V2`, any parameters; the name carries them) proves
#: ABS loan states, period flows and the per-loan cap; dpd5-v3 stays accepted because a tape
#: without period flows (tape schema v1) can be sealed under it only.
STRONGEST_LANE_SET: Final = DPD5_V3.name
POOL_V2: Final = "pool-v2"
#: The pool statement with exact bounds (:func:`pool_v3`): the same facts as ``pool-v2`` with every
#: amount proven within its own cap, in fewer gates. ``pool-v2`` names stay verifiable, unchanged.
POOL_V3: Final = "pool-v3"
#: The linkable pool statement (:func:`pool_v4`): pool-v3's per-loan statement with a packing a link
#: proof between consecutive snapshots can read (:mod:`proofs.link`).
POOL_V4: Final = "pool-v4"
DEFAULT_ACCEPTED_LANE_SETS: Final = frozenset({STRONGEST_LANE_SET, POOL_V2, POOL_V3, POOL_V4})


def accepts(lane_sets: Collection[str], lanes: LaneSet) -> bool:
    """True iff ``lane_sets`` names ``lanes`` or its family (``pool-v2`` accepts every ``pool-v2:…``)."""
    return lanes.name in lane_sets or lanes.family in lane_sets


def get_lane_set(name: str) -> LaneSet:
    """The lane set called ``name``.

    Raises:
        KeyError: unknown lane set (a bundle from a newer version, or a forged name).
    """
    if name in LANE_SETS:
        return LANE_SETS[name]
    if name.startswith(POOL_V2 + ":"):
        return _parse_pool_v2(name)
    if name.startswith(POOL_V3 + ":"):
        return _parse_pool_v3(name)
    if name.startswith(POOL_V4 + ":"):
        return _parse_pool_v4(name)
    raise KeyError(f"unknown lane set {name!r}")


def dpd_bucket(days_past_due: int, edges: Sequence[int] = (0, 30, 60, 90)) -> int:
    """The bucket index of ``days_past_due`` given upper edges (M0 = 0 dpd, M1 = 1..edges[1], ...).

    Raises:
        ValueError: negative days past due or malformed edges.
    """
    if days_past_due < 0:
        raise ValueError("days past due must be non-negative")
    if list(edges) != sorted(set(edges)) or len(edges) != len(BUCKETS) - 1 or edges[0] != 0:
        raise ValueError("edges must be 4 strictly increasing values starting at 0")
    for i, edge in enumerate(edges):
        if days_past_due <= edge:
            return i
    return len(edges)


# -------------------------------------------------------------------------------------------------
# The pool statement v2 (proofs.poolcircuit): named with its parameters
# -------------------------------------------------------------------------------------------------

# The family name POOL_V2 (above): a lane set's full name carries its parameters,
# ``pool-v2:b<balance bits>:f<flow bits, comma-separated>:c<cap or "none">``, so the header's name
# alone says what was proven. The exact-bounds family POOL_V3 names its caps instead of widths,
# ``pool-v3:c<balance cap>:f<flow caps, comma-separated>`` (the widths are the caps' bit lengths).


def _pool_v2_metrics() -> dict[str, tuple[tuple[str, int], ...]]:
    """The linear figures of docs/metrics.md, by their metric ids (ratios are claims over two of them)."""

    def bal(states: Sequence[str]) -> tuple[tuple[str, int], ...]:
        return tuple((f"balance_{s}", 1) for s in states)

    def cnt(states: Sequence[str]) -> tuple[tuple[str, int], ...]:
        return tuple((f"count_{s}", 1) for s in states)

    def flows(*names: str) -> tuple[tuple[str, int], ...]:
        return tuple((f"flow_{f}", 1) for f in names)

    metrics: dict[str, tuple[tuple[str, int], ...]] = {}
    for s in OUTSTANDING_STATES:
        metrics[f"balance_{s}"] = bal([s])
    for s in STATES:
        metrics[f"count_{s}"] = cnt([s])
    for f in FLOWS:
        metrics[f] = flows(f)
    metrics["loan_count"] = cnt(STATES)
    metrics["active_loan_count"] = cnt(OUTSTANDING_STATES)
    metrics["performing_loan_count"] = cnt(PERFORMING_STATES)
    metrics["pool_balance"] = bal(PERFORMING_STATES)
    metrics["outstanding_balance"] = bal(OUTSTANDING_STATES)
    metrics["beginning_balance"] = bal(OUTSTANDING_STATES) + flows(
        "scheduled_principal", "unscheduled_principal", "written_off"
    )
    #: The denominator of SMM and MDR: the beginning balance less scheduled principal.
    metrics["rate_base_balance"] = bal(OUTSTANDING_STATES) + flows("unscheduled_principal", "written_off")
    for label, first in (("1plus", 1), ("31plus", 2), ("61plus", 3), ("90plus", 4)):
        metrics[f"delinquent_{label}_balance"] = bal(PERFORMING_STATES[first:])
        metrics[f"delinquent_{label}_count"] = cnt(PERFORMING_STATES[first:])
    metrics["delinquent_90plus_or_defaulted_balance"] = bal(("M3+", "DEFAULTED"))
    metrics["principal_collections"] = flows("scheduled_principal", "unscheduled_principal")
    metrics["collections"] = flows(
        "scheduled_principal", "unscheduled_principal", "interest", "fees", "recoveries"
    )
    metrics["interest_and_fees"] = flows("interest", "fees")
    return metrics


def pool_v2(balance_bits: int, flow_bits: Sequence[int], balance_cap: int | None = None) -> LaneSet:
    """The pool statement v2 lane set for these widths and per-loan cap (:mod:`proofs.poolcircuit`).

    Raises:
        ValueError: widths or cap the circuit refuses, or slots wider than the unpacking proof takes.
    """
    circuit = poolcircuit.circuit(balance_bits, flow_bits, balance_cap)
    cap = "none" if balance_cap is None else str(balance_cap)
    return _pool_lane_set(f"{POOL_V2}:b{balance_bits}:f{','.join(map(str, flow_bits))}:c{cap}", circuit)


def pool_v3(balance_cap: int, flow_caps: Sequence[int]) -> LaneSet:
    """The pool statement with exact bounds: the balance in ``[0, balance_cap]`` and flow ``k`` in
    ``[0, flow_caps[k]]`` (:data:`proofs.loan_facts.FLOWS` order), each range as wide as its cap needs
    (:func:`proofs.poolcircuit.bounded_circuit`). Named ``pool-v3:c<balance cap>:f<flow caps>``.

    Raises:
        ValueError: caps the circuit refuses (each in ``[1, 2^40)``, seven flow caps).
    """
    circuit = poolcircuit.bounded_circuit(balance_cap, flow_caps)
    return _pool_lane_set(f"{POOL_V3}:c{balance_cap}:f{','.join(map(str, flow_caps))}", circuit)


def pool_v4(balance_cap: int, flow_caps: Sequence[int]) -> LaneSet:
    """The linkable pool statement: :func:`pool_v3`'s per-loan statement (same gates, same bounds)
    with :func:`proofs.poolcircuit.linkable_packing` — the ten count lanes alone in ``pack_0`` at
    25-bit slots, the six balance lanes alone in ``pack_1`` and ``pack_2``, flows in the rest — and
    its own transcript domain. Named ``pool-v4:c<balance cap>:f<flow caps>``.

    Raises:
        ValueError: caps the circuit refuses.
    """
    circuit = poolcircuit.linkable_circuit(balance_cap, flow_caps)
    widths = poolcircuit.link_slot_widths(circuit.balance_bits, circuit.flow_bits)
    return _pool_lane_set(f"{POOL_V4}:c{balance_cap}:f{','.join(map(str, flow_caps))}", circuit, widths)


def _pool_lane_set(name: str, circuit: PoolCircuit, slot_widths: Sequence[int] | None = None) -> LaneSet:
    widths = slot_widths or poolcircuit.slot_widths(circuit.balance_bits, circuit.flow_bits)
    packing = tuple(
        tuple(Slot(poolcircuit.LANES[lane], shift, widths[lane]) for lane, shift in entries)
        for entries in circuit.packing
    )
    n_amount = len(poolcircuit.BALANCE_LANES) + len(poolcircuit.FLOW_LANES)
    return LaneSet(
        name=name,
        balance_lanes=poolcircuit.LANES[:n_amount],
        count_lanes=poolcircuit.LANES[n_amount:],
        balance_bits=max(circuit.balance_bits, *circuit.flow_bits),
        count_bits=1,
        metrics=_pool_v2_metrics(),
        proof="poolcircuit",
        packing=packing,
        circuit=circuit,
    )


@cache
def _parse_pool_v2(name: str) -> LaneSet:
    parts = name.split(":")
    try:
        if len(parts) != 4 or parts[1][:1] != "b" or parts[2][:1] != "f" or parts[3][:1] != "c":
            raise ValueError("expected pool-v2:b<bits>:f<bits,...>:c<cap|none>")
        balance_bits = int(parts[1][1:])
        flow_bits = [int(w) for w in parts[2][1:].split(",")]
        cap = None if parts[3] == "cnone" else int(parts[3][1:])
        lanes = pool_v2(balance_bits, flow_bits, cap)
    except ValueError as exc:
        raise KeyError(f"unknown lane set {name!r}: {exc}") from None
    if lanes.name != name:  # one spelling per parameter set (no leading zeros, no signs)
        raise KeyError(f"unknown lane set {name!r}: not the canonical spelling {lanes.name!r}")
    return lanes


@cache
def _parse_pool_v3(name: str) -> LaneSet:
    parts = name.split(":")
    try:
        if len(parts) != 3 or parts[1][:1] != "c" or parts[2][:1] != "f":
            raise ValueError("expected pool-v3:c<balance cap>:f<flow caps, comma-separated>")
        lanes = pool_v3(int(parts[1][1:]), [int(c) for c in parts[2][1:].split(",")])
    except ValueError as exc:
        raise KeyError(f"unknown lane set {name!r}: {exc}") from None
    if lanes.name != name:  # one spelling per parameter set (no leading zeros, no signs)
        raise KeyError(f"unknown lane set {name!r}: not the canonical spelling {lanes.name!r}")
    return lanes


@cache
def _parse_pool_v4(name: str) -> LaneSet:
    parts = name.split(":")
    try:
        if len(parts) != 3 or parts[1][:1] != "c" or parts[2][:1] != "f":
            raise ValueError("expected pool-v4:c<balance cap>:f<flow caps, comma-separated>")
        lanes = pool_v4(int(parts[1][1:]), [int(c) for c in parts[2][1:].split(",")])
    except ValueError as exc:
        raise KeyError(f"unknown lane set {name!r}: {exc}") from None
    if lanes.name != name:  # one spelling per parameter set (no leading zeros, no signs)
        raise KeyError(f"unknown lane set {name!r}: not the canonical spelling {lanes.name!r}")
    return lanes
