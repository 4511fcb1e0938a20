"""Figures since closing: homomorphic sums of the per-period aggregates of a chain of snapshots.

A deal's cumulative figures (docs/deal.md "Cumulative figures") add one period flow of every
snapshot sealed after closing: cumulative defaulted principal (the numerator of the cumulative
default rate), write-offs and recoveries (cumulative losses are their difference) and unscheduled
principal (cumulative prepayments). Each snapshot header commits to its period's flow as a
public linear combination of lane aggregates (:meth:`~proofs.snapshot.Header.metric_commitment`),
so the verifier computes the commitment to the cumulative figure itself, as the sum of those
commitments (Pedersen commitments are additively homomorphic), and the prover opens it with the
sum of the period openings.

**The chain.** :func:`verify_chain` checks a list of signed headers: the first is the *anchor*,
the snapshot at the deal's closing date (its flows are the pre-closing period and are not counted);
each later header names its predecessor's hash and a higher sequence, for the deal's pool, with
increasing cut-offs. A gateway therefore cannot leave out a month (the hash link breaks) or add
one of another pool.

**The denominator.** The cumulative default rate is over the initial pool balance (a deal figure,
public) plus the principal of every loan purchased during the revolving period. A lane set that
commits to purchased principal names it as the metric :data:`PURCHASES_METRIC`; the statement v2
lane sets do not yet, and then no purchase is counted, which can only *raise* the rate (the
conservative side for investors); :attr:`Chain.purchases_committed` says which applies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.deal import Deal
from proofs.errors import EncodingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import Group, Point
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header, verify_header

#: Cumulative figure → the period flow (metric id of docs/metrics.md) it sums.
CUMULATIVE_FIGURES: Final[Mapping[str, str]] = {
    "cumulative_defaulted_principal": "defaulted_principal",
    "cumulative_written_off": "written_off",
    "cumulative_recoveries": "recoveries",
    "cumulative_prepayments": "unscheduled_principal",
}
#: The metric a lane set defines when it commits to the principal of the period's purchases.
PURCHASES_METRIC: Final = "purchased_principal"

#: Metrics the deal's figures read from every header (triggers, cumulative figures, the waterfall).
DEAL_METRICS: Final = (
    "defaulted_principal",
    "written_off",
    "recoveries",
    "unscheduled_principal",
    "scheduled_principal",
    "interest",
    "fees",
    "delinquent_31plus_balance",
    "pool_balance",
)

#: A linear form over the chain: ``(header index, metric, coefficient)`` terms and a constant.
Term = tuple[int, str, int]


@dataclass(frozen=True)
class Chain:
    """A verified chain of headers: ``headers[0]`` the closing anchor, then one per period."""

    headers: tuple[Header, ...]
    deal: Deal
    #: The commitment to each period's purchase price (``headers[1:]`` order) and the bits that bound
    #: its value, when the chain carries checked purchase evidence (:mod:`proofs.purchases`).
    purchases: tuple[Point, ...] | None = None
    purchase_bits: tuple[int, ...] = ()

    @property
    def periods(self) -> int:
        """Periods since closing (headers after the anchor)."""
        return len(self.headers) - 1

    @property
    def purchases_committed(self) -> bool:
        """True iff every period's purchase price is committed: by checked purchase evidence, or by
        every period's lane set defining :data:`PURCHASES_METRIC` (else none is counted)."""
        if self.purchases is not None:
            return True
        return all(PURCHASES_METRIC in h.lanes.metrics for h in self.headers[1:])

    def with_purchases(self, commitments: Sequence[Point], bits: Sequence[int]) -> Chain:
        """This chain with each period's purchase price committed (one commitment per period)."""
        if len(commitments) != self.periods or len(bits) != self.periods:
            raise ValueError(f"expected one purchase commitment per period ({self.periods})")
        return replace(self, purchases=tuple(commitments), purchase_bits=tuple(bits))

    def _commitment_of(self, index: int, metric: str) -> Point:
        if metric == PURCHASES_METRIC and self.purchases is not None:
            if index < 1:
                raise ValueError("the closing snapshot has no purchases")
            return self.purchases[index - 1]
        return self.headers[index].metric_commitment(metric)

    def _bound_bits(self, index: int, metric: str) -> int:
        if metric == PURCHASES_METRIC and self.purchases is not None:
            return self.purchase_bits[index - 1]
        return self.headers[index].metric_bound_bits(metric)

    def period_terms(self, metric: str, coefficient: int = 1) -> list[Term]:
        """``metric`` of every period after the anchor, each with ``coefficient``."""
        return [(i, metric, coefficient) for i in range(1, len(self.headers))]

    def cumulative_terms(self, figure: str) -> list[Term]:
        """The terms of a cumulative figure (:data:`CUMULATIVE_FIGURES`). Raises ``KeyError``."""
        return self.period_terms(CUMULATIVE_FIGURES[figure])

    def purchases_terms(self) -> list[Term]:
        """The terms of the purchased principal since closing (none when not committed)."""
        return self.period_terms(PURCHASES_METRIC) if self.purchases_committed else []

    def commitment(self, group: Group, terms: Sequence[Term], constant: int = 0) -> Point:
        """``Σ coeff·C(header, metric) + constant·G``: the verifier's own commitment to the form."""
        g, _ = pedersen_bases(group)
        points = [self._commitment_of(i, m) for i, m, _ in terms] + [g]
        return group.msm(points, [c for _, _, c in terms] + [constant])

    def extremes(self, terms: Sequence[Term], constant: int = 0) -> tuple[int, int]:
        """``(pos, neg)``: the form's real value lies in ``[−neg, pos]`` given every leaf's range proofs."""
        pos = max(constant, 0)
        neg = max(-constant, 0)
        for i, m, c in terms:
            top = (1 << self._bound_bits(i, m)) - 1
            if c > 0:
                pos += c * top
            else:
                neg += -c * top
        return pos, neg

    def hashes(self) -> list[str]:
        """The header hashes of the chain, in order (hex)."""
        return [h.hash.hex() for h in self.headers]


def opening_of(terms: Sequence[Term], constant: int, openings: Callable[[int, str], Opening]) -> Opening:
    """The prover's opening of :meth:`Chain.commitment`: ``openings(index, metric)`` gives each period's."""
    return combine_openings([(c, openings(i, m)) for i, m, c in terms] + [(constant, Opening(1, 0))])


def linked_headers(
    header_docs: Sequence[Mapping[str, Any]],
    gateway_key: Ed25519PublicKey,
    pool_id: str,
    metrics: Sequence[str],
    *,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    needs: str = "",
) -> tuple[Header, ...]:
    """Every header verified, all of ``pool_id`` and under lane sets that commit to ``metrics``, each
    naming the one before it (where the chain starts is the caller's check).

    Raises:
        EncodingError: a malformed header.
        VerificationError: ``header.*`` (:func:`proofs.snapshot.verify_header`), ``chain.lane_set``
            (``needs`` says why the figures are needed), ``chain.pool``, ``chain.link`` (a header does
            not name its predecessor's hash, or a sequence or cut-off does not increase).
    """
    for i, doc in enumerate(header_docs):
        if not isinstance(doc, Mapping):
            raise EncodingError(f"headers[{i}]: expected a snapshot header object")
    headers = tuple(
        verify_header(dict(doc), gateway_key, group=group, lane_sets=lane_sets) for doc in header_docs
    )
    for i, h in enumerate(headers):
        missing = [m for m in metrics if m not in h.lanes.metrics]
        if missing:
            raise VerificationError(
                "chain.lane_set",
                f"headers[{i}] is sealed under {h.lanes.name}, which commits to no {missing[0]}"
                + (f" ({needs})" if needs else ""),
            )
        if h.context.pool_id != pool_id:
            raise VerificationError(
                "chain.pool", f"headers[{i}] is of pool {h.context.pool_id!r}, not {pool_id!r}"
            )
    for i in range(1, len(headers)):
        prev, cur = headers[i - 1], headers[i]
        if cur.doc["previous_header_hash"] != prev.hash.hex():
            raise VerificationError(
                "chain.link", f"headers[{i}] does not name headers[{i - 1}] as its predecessor"
            )
        if cur.doc["sequence"] <= prev.doc["sequence"] or cur.context.cutoff_date <= prev.context.cutoff_date:
            raise VerificationError("chain.link", f"headers[{i}] does not come after headers[{i - 1}]")
    return headers


def verify_chain(
    header_docs: Sequence[Mapping[str, Any]],
    gateway_key: Ed25519PublicKey,
    deal: Deal,
    *,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> Chain:
    """Verify every header and the links between them; return the :class:`Chain`.

    Raises:
        EncodingError: a malformed header.
        VerificationError: ``header.signature`` / ``header.lane_set`` (from :func:`verify_header`),
            ``chain.lane_set`` (a lane set without the figures a deal reads),
            ``chain.anchor`` (the first header is not the closing snapshot), ``chain.pool`` (a header
            of another pool), ``chain.link`` (a header does not name its predecessor's hash, or a
            sequence or cut-off does not increase).
    """
    if not header_docs:
        raise VerificationError("chain.anchor", "no headers: the chain starts at the closing snapshot")
    headers = linked_headers(
        header_docs,
        gateway_key,
        deal.pool_id,
        DEAL_METRICS,
        group=group,
        lane_sets=lane_sets,
        needs="a deal needs the pool statement v2: period flows and loan states",
    )
    if headers[0].context.cutoff_date != deal.closing_date:
        raise VerificationError(
            "chain.anchor",
            f"headers[0] is the {headers[0].context.cutoff_date} snapshot, "
            f"not the closing one ({deal.closing_date})",
        )
    return Chain(headers, deal)
