"""A period's purchases, committed: the loans new in snapshot ``t`` and their purchase price.

During a deal's revolving period the principal collections buy loans; the cumulative default rate's
denominator is the initial pool balance plus every purchase since closing (docs/deal.md), and the
waterfall pays at most the period's purchase price for them. The **purchase price** of a period is
the start-of-period principal of the loans it bought — for a loan new in snapshot ``t``, its balance
at ``t`` plus the scheduled and unscheduled principal and the write-off of its period: the metric
:data:`PRICE_METRIC` (``beginning_balance``, docs/metrics.md) over exactly those loans.

*Purchase evidence* for a period ties that price to the snapshots, without revealing a loan:

1. the **entries row**: the number of loans new in ``t`` (in ``t``, not in ``t − 1``) and, per packed
   input, the sum of their ``t`` leaves' input commitments — computed by whoever holds the two
   snapshot bundles (:func:`entries_row`), and checked so by ``poolproof-audit verify-series``
   (:func:`check_entries_row` against what :func:`proofs.link.verify_link` recomputes);
2. fresh per-lane aggregates ``A_lane`` of those loans and the unpacking proof
   (:mod:`proofs.unpacking`) that they unpack the row's sums over the row's count — exactly as a
   header's aggregates unpack the pool's.

The verifier forms the price's commitment ``Σ c·A_lane`` over :data:`PRICE_METRIC`'s terms
(:meth:`Purchases.commitment`). A trigger proof over it (:mod:`proofs.triggers`) sizes its claim
from :meth:`Purchases.value_bits`, the bound the row's ``count`` leaves' range proofs give (what an
honest row meets); its soundness needs only that the value cannot wrap modulo ``r``, which the
unpacking proof's slot ranges guarantee whatever the row is (:func:`bound_bits`, about 60 bits).
The unpacking transcript is the snapshot's unpacking transcript extended with
:data:`TRANSCRIPT_LABEL`, so evidence for one snapshot cannot stand for another, nor for a cell claim.

What an investor holding only the signed report relies on: the gateway's signature over the row,
and the auditor's check of it against the two snapshots' leaves. The figure itself never needs to
be disclosed: a trigger status over it is proven on the commitment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proofs import bundle, unpacking
from proofs.errors import EncodingError, VerificationError
from proofs.group import ORDER, POINT_BYTES, Group, Point, ScalarSource
from proofs.lanes import LaneSet
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header
from proofs.transcript import Transcript

#: The metric whose value over a period's new loans is the period's purchase price.
PRICE_METRIC: Final = "beginning_balance"
TRANSCRIPT_LABEL: Final = b"poolproof/purchases/entries/v1"
_MAX_COUNT: Final = 1 << 40


def _transcript(header: Header) -> Transcript:
    t = header.context.unpacking_transcript()
    t.append_message(b"purchases", TRANSCRIPT_LABEL)
    return t


def _schema(n_inputs: int, n_lanes: int) -> bundle.Object:
    return bundle.Object(
        {
            "count": bundle.Int(0, _MAX_COUNT),
            "sums": bundle.ListOf(bundle.Bytes(POINT_BYTES), n_inputs, n_inputs),
            "aggregates": bundle.Bytes(POINT_BYTES * n_lanes),
            "proof": bundle.Bytes(max_length=1 << 16),
        }
    )


def entries_row(
    group: Group, n_inputs: int, new_leaves: Sequence[Sequence[Point]]
) -> tuple[int, list[Point]]:
    """The entries row of the new loans' ``t`` leaves: their number and their per-input sums."""
    sums = [group.identity()] * n_inputs
    for inputs in new_leaves:
        if len(inputs) != n_inputs:
            raise ValueError(f"a leaf has {len(inputs)} inputs, expected {n_inputs}")
        sums = [s + p for s, p in zip(sums, inputs, strict=True)]
    return len(new_leaves), sums


def new_loan_totals(
    lanes: LaneSet, new_loans: Iterable[tuple[Sequence[int], Sequence[int]]]
) -> tuple[int, list[int], list[int]]:
    """The prover's parts of the entries row from the new loans' openings ``(lane values, input
    blindings)``: their number, per-lane totals and per-input blinding sums (mod r)."""
    count, totals, blindings = 0, [0] * len(lanes.lanes), [0] * len(lanes.inputs)
    for values, blinds in new_loans:
        count += 1
        totals = [t + v for t, v in zip(totals, values, strict=True)]
        blindings = [(b + r) % ORDER for b, r in zip(blindings, blinds, strict=True)]
    return count, totals, blindings


def bound_bits(lanes: LaneSet) -> int:
    """Bits that bound the price's value given the unpacking proof's slot ranges alone."""
    assert lanes.packing is not None
    width = {s.lane: s.width for slots in lanes.packing for s in slots}
    terms = lanes.metric(PRICE_METRIC)
    top = sum(abs(c) * ((1 << width[lane]) - 1) for lane, c in terms)
    return top.bit_length()


@dataclass(frozen=True)
class Purchases:
    """Checked purchase evidence of one snapshot: the entries row and its per-lane aggregates."""

    count: int
    sums: tuple[Point, ...]
    aggregates: dict[str, Point]

    def value_bits(self, header: Header) -> int:
        """Bits that bound the price of ``count`` honest leaves (each leaf's range proofs)."""
        return header.metric_bound_bits(PRICE_METRIC, leaf_count=self.count)

    def commitment(self, header: Header) -> Point:
        """The commitment to the period's purchase price (:data:`PRICE_METRIC` over the new loans)."""
        terms = header.lanes.metric(PRICE_METRIC)
        group = next(iter(self.aggregates.values())).group
        return group.msm([self.aggregates[lane] for lane, _ in terms], [c % ORDER for _, c in terms])


def prove_purchases(
    group: Group,
    header: Header,
    count: int,
    lane_totals: Sequence[int],
    input_blinding_sums: Sequence[int],
    aggregate_blindings: Sequence[int],
    rng: ScalarSource,
) -> dict[str, Any]:
    """The purchase evidence of ``header``'s period (the gateway side).

    ``count`` is the number of loans new in the snapshot, ``lane_totals`` their per-lane totals,
    ``input_blinding_sums`` the sums of their leaves' input blindings, ``aggregate_blindings`` fresh
    blindings of the aggregates (keep them: with ``lane_totals`` they open the price,
    :func:`price_opening`).

    Raises:
        ProvingError: the totals do not fit the lane set's slots (nothing is produced).
    """
    proof, aggregates, sums = unpacking.prove_unpacking(
        group,
        header.lanes,
        count,
        lane_totals,
        aggregate_blindings,
        input_blinding_sums,
        _transcript(header),
        rng,
    )
    return {
        "count": count,
        "sums": [s.to_bytes().hex() for s in sums],
        "aggregates": b"".join(a.to_bytes() for a in aggregates).hex(),
        "proof": proof.hex(),
    }


def price_opening(header: Header, lane_totals: Sequence[int], aggregate_blindings: Sequence[int]) -> Opening:
    """The opening of :meth:`Purchases.commitment` from the new loans' lane totals and the blindings."""
    index = {lane: i for i, lane in enumerate(header.lanes.lanes)}
    return combine_openings(
        [
            (coeff, Opening(lane_totals[index[lane]], aggregate_blindings[index[lane]]))
            for lane, coeff in header.lanes.metric(PRICE_METRIC)
        ]
    )


def verify_purchases(group: Group, header: Header, doc: object, where: str = "purchases") -> Purchases:
    """Check one period's purchase evidence against its snapshot header.

    Raises:
        EncodingError: malformed evidence (names the path).
        VerificationError: ``purchases.lane_set`` (the header's lane set is not packed),
            ``unpacking.*`` (the aggregates are not the unpacking of the row).
    """
    lanes = header.lanes
    if lanes.packing is None:
        raise VerificationError("purchases.lane_set", f"lane set {lanes.name} has no packed inputs to unpack")
    n_inputs, n_lanes = len(lanes.packing), len(lanes.lanes)
    _schema(n_inputs, n_lanes).check(doc, where)
    assert isinstance(doc, dict)
    try:
        sums = [group.decode_point(bytes.fromhex(s), allow_identity=True) for s in doc["sums"]]
        blob = bytes.fromhex(doc["aggregates"])
        points = [
            group.decode_point(blob[j * POINT_BYTES : (j + 1) * POINT_BYTES], allow_identity=True)
            for j in range(n_lanes)
        ]
    except EncodingError as exc:
        raise EncodingError(f"{where}: {exc}") from None
    try:
        unpacking.verify_unpacking(
            group, lanes, doc["count"], points, sums, bytes.fromhex(doc["proof"]), _transcript(header)
        )
    except EncodingError as exc:
        raise EncodingError(f"{where}.proof: {exc}") from None
    return Purchases(doc["count"], tuple(sums), dict(zip(lanes.lanes, points, strict=True)))


def check_entries_row(
    purchases: Purchases, count: int, sums: Sequence[Point], where: str = "purchases"
) -> None:
    """The evidence's row is the entries row recomputed from the two snapshots' leaves.

    Raises:
        VerificationError: ``purchases.row`` naming what differs.
    """
    if purchases.count != count:
        raise VerificationError(
            "purchases.row",
            f"{where}: the evidence counts {purchases.count} new loans, the snapshots {count}",
        )
    if list(purchases.sums) != list(sums):
        raise VerificationError(
            "purchases.row", f"{where}: the evidence's sums are not the new loans' leaf commitments"
        )
