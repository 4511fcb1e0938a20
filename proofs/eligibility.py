"""Eligibility of a revolving period's purchases, proven on the leaves' own commitments.

The loans a period's tape adds (the exposures new in snapshot ``t``) must meet the deal's
purchase criteria, and their price (the sum of their balances) may not exceed the period's
principal collections. :func:`prove_eligibility` builds a ``poolproof/eligibility/v1`` bundle, signed
by the gateway key, that either **holds** (every proof below verifies) or **does not hold** (it names
the failed criteria; the trustee's part names the loans). :func:`verify_eligibility` checks a bundle
and raises :class:`~proofs.errors.VerificationError` naming the failed check.

What a holding statement proves, for the ``n`` purchased loans with leaf input commitments
``K_{i,g}`` (the pool circuit, :mod:`proofs.poolcircuit`, proves each leaf's inputs are the packing of
one loan's lanes: a unit vector of ten state counts, the whole balance in the counted state):

* **state** (``eligibility.state``): ``Σ_i K_{i,count} = n·2^{s0}·G + ρ·H`` with ``ρ`` disclosed,
  ``K_{i,count}`` the input holding the count lanes (and nothing else) and ``s0`` the shift of
  ``count_M0``. Each loan's count input is ``2^{s_j}`` for its state ``j``; the sum is
  ``Σ_j n_j·2^{s_j}`` with every ``n_j <= n`` below its slot width, so it unpacks uniquely and
  equals ``n·2^{s0}`` only if every loan is in ``M0``. ``M0`` is 0 days past due
  (:mod:`proofs.loan_facts`), so this proves ``days past due = 0 <= max_days_past_due`` — stricter
  than the criterion when ``max_days_past_due > 0`` (a loan 1..max days late is reported as not
  meeting it, never the reverse).
* **balance** (``eligibility.balance``): in ``M0`` every balance lane but ``balance_M0`` is 0, so the
  input holding ``balance_M0`` (required to hold balance lanes only) is ``B_i·2^s·G + γ_i·H``. The
  verifier derives ``max·G − 2^{−s}·K_{i,balance}``, a commitment to ``max − B_i``, and one aggregated
  range proof shows every such value in ``[0, 2^bits(max))``. The circuit bounds ``B_i`` by the lane
  set's cap (below ``2^40``), so ``B_i > max`` would wrap to ``r − (B_i − max)``, far above the range.
* **rates and terms** (``eligibility.<criterion>``): fresh commitments ``V = v·G + r·H`` per loan to
  the nominal rate, APR, original and remaining term (months); one aggregated range proof per
  criterion shows ``v − lo`` and ``hi − v`` both in ``[0, 2^w)`` with ``w = bits(hi − lo)``. Their sum
  is ``hi − lo`` below ``2^{w+1} < r``, so both are non-negative integers: ``lo <= v <= hi``. The deal
  file refuses rate bounds above ``legal_rate_cap_bps`` (``legal_cap``), so the rates are within the
  legal cap too. *What binds them to the loan*: the gateway's signature over the bundle; the trustee's
  part carries each opening and :func:`check_records` compares them with the signed tape's values.
* **region** (``eligibility.region``): the leaves' ``region`` cells (under the Merkle root, checked with
  an inclusion path per loan in the trustee's part) are not excluded.
* **purchase price** (``eligibility.purchase_price``): ``C_coll − C_price`` commits to principal
  collections less the price, ``C_coll`` the header's ``principal_collections`` metric commitment
  (scheduled plus unscheduled principal of the period); a range proof shows it non-negative, so
  neither figure is disclosed. With the period's purchase evidence (``purchase_evidence``,
  :mod:`proofs.purchases`, the payment report's) ``C_price`` is its price commitment — the loans'
  start-of-period principal — and the evidence must be over exactly the statement's loans
  (``eligibility.purchase_evidence``: its count is ``n``, its row's count and balance sums are the
  signed per-loan commitments' sums, and with the trustee part every input's sum is the loans'
  leaves'); without it, ``C_price = Σ_i 2^{−s}·K_{i,balance}``, their balances at the cut-off.
* **completeness** (``eligibility.completeness``): given the exposure ids of snapshots ``t − 1`` and
  ``t`` (from their bundles), the verifier requires the statement to cover exactly the new ones.

* **concentration** (``eligibility.concentration``, with the trustee part): every limit on a
  dimension the snapshot stratifies, for the pool after the purchases (:mod:`proofs.concentration`:
  each cell's outstanding principal from its stratification row, one aggregated range proof of
  every cell's headroom, the cells' counts adding up to the pool's). The proofs sit in the trustee
  part because their rows name every cell's loan count; a limit on a dimension the snapshot does not
  stratify (``obligor``) is listed under ``unchecked`` so no reader takes silence for a proof.

Investors receive the bundle without its ``loans`` member (loan ids, cells, inclusion paths,
openings, failing loans). The signature covers everything else, including ``loans_digest``, the hash
of the ``loans`` member, so the investor checks the signature and every proof, and the trustee
checks the same signed statement plus the loans.

A "does not hold" statement carries no proofs: it is the gateway's signed statement against its own
interest, naming the failed criteria (the trustee's part names the loans).

Transcripts: ``Transcript(b"poolproof/eligibility/v1")``, ``context`` = SHA-256 over the canonical
statement (pool, cut-off, header hash, deal hash, the commitments, ``ρ``), then ``criterion`` and the
range proof (:func:`proofs.bulletproofs.prove_ranges`). A proof does not move to another period, pool,
deal, criterion or set of loans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofs import bundle, concentration, merkle, poolcircuit
from proofs.bulletproofs import decode_ranges, pad_widths, prove_ranges, verify_ranges
from proofs.canonical import document_hash
from proofs.concentration import CellOpenings
from proofs.deal import Bounds, ConcentrationLimit, Deal, check_deal_binding, deal_binding
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, Group, Point, get_group, random_scalar, scalar_from_bytes, scalar_to_bytes
from proofs.lanes import LaneSet
from proofs.pedersen import Opening
from proofs.purchases import Purchases, verify_purchases
from proofs.snapshot._header import Header
from proofs.snapshot._layout import leaf_bytes
from proofs.strata import Table
from proofs.transcript import Transcript

KIND: Final = "eligibility"
VERSION: Final = 1
FORMAT: Final = bundle.format_string(KIND, VERSION)
PROTOCOL: Final = b"poolproof/eligibility/v1"
CONTEXT_DOMAIN: Final = "eligibility-statement/v1"
LOANS_DOMAIN: Final = "eligibility-loans/v1"
#: The loan attributes committed freshly per loan, in bundle order.
ATTRIBUTES: Final = ("nominal_rate_bps", "apr_bps", "original_term_months", "remaining_term_months")
#: Every criterion, in the order they are checked and named.
CONCENTRATION: Final = "concentration"
CRITERIA: Final = ("state", "balance", *ATTRIBUTES, "region", "purchase_price", CONCENTRATION)
REGION: Final = "region"
#: The member carrying the period's purchase evidence (:mod:`proofs.purchases`), when the price is it.
EVIDENCE: Final = "purchase_evidence"
#: A statement covers at most this many purchased loans (one bundle a period).
MAX_LOANS: Final = 1 << 16
_WIDEST: Final = 64


class EligibilityError(ValueError):
    """Inputs the statement cannot be made from (a lane set without the required packing, missing
    attributes, a snapshot without a region dimension while the deal excludes regions)."""


@dataclass(frozen=True)
class PurchasedLoan:
    """What the prover knows of one purchased loan: its leaf and openings, and its tape attributes."""

    exposure_id: str
    leaf_index: int
    cells: tuple[str, ...]
    inputs: tuple[Point, ...]
    input_openings: tuple[Opening, ...]
    #: ``nominal_rate_bps``, ``apr_bps``, ``original_term_months``, ``remaining_term_months`` from the tape.
    attributes: Mapping[str, int]
    inclusion_path: tuple[bytes, ...]


@dataclass(frozen=True)
class Layout:
    """Where the eligibility proof reads a leaf: the count input and the ``balance_M0`` input."""

    count_input: int
    count_shift: int
    count_width: int
    balance_input: int
    balance_shift: int


def purchase_layout(lanes: LaneSet) -> Layout:
    """The inputs the proof uses, checked: one input holds all count lanes and nothing else, and the
    input holding ``balance_M0`` holds balance lanes only.

    Raises:
        EligibilityError: not a pool statement lane set, or a packing that breaks either rule.
    """
    if lanes.circuit is None or lanes.packing is None:
        raise EligibilityError(f"lane set {lanes.name}: eligibility needs a packed pool statement")
    counts = set(poolcircuit.COUNT_LANES)
    balances = set(poolcircuit.BALANCE_LANES)
    count_inputs = [g for g, slots in enumerate(lanes.packing) if any(s.lane in counts for s in slots)]
    if len(count_inputs) != 1 or {s.lane for s in lanes.packing[count_inputs[0]]} != counts:
        raise EligibilityError(
            f"lane set {lanes.name}: the count lanes must sit alone in one input "
            "(the state check opens the sum of those inputs)"
        )
    balance_input = next(
        g for g, slots in enumerate(lanes.packing) if any(s.lane == "balance_M0" for s in slots)
    )
    if not {s.lane for s in lanes.packing[balance_input]} <= balances:
        raise EligibilityError(
            f"lane set {lanes.name}: the input holding balance_M0 must hold balance lanes only"
        )
    count_slots = lanes.packing[count_inputs[0]]
    m0 = next(s for s in count_slots if s.lane == "count_M0")
    bal = next(s for s in lanes.packing[balance_input] if s.lane == "balance_M0")
    return Layout(count_inputs[0], m0.shift, min(s.width for s in count_slots), balance_input, bal.shift)


# -- the criteria in plaintext (the prover's own check) ---------------------------------------------


def _bounds(deal: Deal, attribute: str) -> Bounds:
    c = deal.purchase_criteria
    b: Bounds = getattr(c, attribute)
    return b


def _region_position(header: Header) -> int | None:
    dims = header.params.strata_dimensions
    return dims.index(REGION) if REGION in dims else None


@dataclass(frozen=True)
class StrataOpenings:
    """What the concentration proofs need of the snapshot: its stratification table, each stratified
    dimension's cell openings (lane totals and input blinding sums by cell) and the opening of the
    header's ``outstanding_balance`` commitment."""

    table: Table
    cells: Mapping[str, CellOpenings]
    pool: Opening

    def balance(self, header: Header, dimension: str, cell: str) -> int:
        totals = self.cells[dimension][cell][0]
        index = {lane: i for i, lane in enumerate(header.lanes.lanes)}
        return sum(c * totals[index[lane]] for lane, c in header.lanes.metric(concentration.METRIC))


def _proven_limits(header: Header, deal: Deal, strata: StrataOpenings | None) -> list[ConcentrationLimit]:
    """The limits the statement proves: those on a dimension the snapshot stratifies, when the
    prover has the snapshot's cell openings (else every limit is left unchecked)."""
    if strata is None:
        return []
    return [x for x in deal.concentration_limits if concentration.provable(header, x)]


def unchecked_limits(deal: Deal, proven: Sequence[ConcentrationLimit]) -> list[str]:
    """The ``unchecked`` entries: every limit the statement does not prove."""
    ids = {x.id for x in proven}
    return [f"concentration:{x.id}" for x in deal.concentration_limits if x.id not in ids]


def failures(
    header: Header,
    deal: Deal,
    loans: Sequence[PurchasedLoan],
    collections: int,
    price: int | None = None,
    strata: StrataOpenings | None = None,
) -> dict[str, list[str]]:
    """The criteria the purchased loans fail, each with the failing loans' exposure ids (empty: all hold).

    ``purchase_price`` lists every purchased loan when the price exceeds ``collections``: ``price``
    (the purchase evidence's, the loans' start-of-period principal) when given, else the sum of
    their balances at the cut-off. ``concentration`` (with ``strata``) lists the purchased loans in
    a cell over a proven limit, or every purchased loan when none is in one.
    """
    purchase_layout(header.lanes)
    lanes = header.lanes
    c = deal.purchase_criteria
    out: dict[str, list[str]] = {}

    def fail(criterion: str, eid: str) -> None:
        out.setdefault(criterion, []).append(eid)

    region_at = _region_position(header)
    price_total = 0
    for loan in loans:
        values = _lane_values(lanes, loan)
        state = next((i for i, n in enumerate(poolcircuit.COUNT_LANES) if values[n] == 1), None)
        if state != 0:
            fail("state", loan.exposure_id)
        balance = sum(values[lane] for lane in poolcircuit.BALANCE_LANES)  # the whole balance, in any state
        price_total += balance
        if balance > c.max_balance_fen:
            fail("balance", loan.exposure_id)
        for attr in ATTRIBUTES:
            if not _bounds(deal, attr).holds(loan.attributes[attr]):
                fail(attr, loan.exposure_id)
        if region_at is not None and loan.cells[region_at] in c.excluded_regions:
            fail(REGION, loan.exposure_id)
    if (price_total if price is None else price) > collections:
        out["purchase_price"] = [loan.exposure_id for loan in loans]
    dims = header.params.strata_dimensions
    for limit in _proven_limits(header, deal, strata):
        assert strata is not None
        cells = {c: strata.balance(header, limit.dimension, c) for c in strata.cells[limit.dimension]}
        over = set(concentration.breaching_cells(limit, cells, strata.pool.value))
        if over:
            at = dims.index(limit.dimension)
            inside = [loan.exposure_id for loan in loans if loan.cells[at] in over]
            named = out.setdefault(CONCENTRATION, [])
            named += [eid for eid in inside or [loan.exposure_id for loan in loans] if eid not in named]
    return {k: out[k] for k in CRITERIA if k in out}


def _lane_values(lanes: LaneSet, loan: PurchasedLoan) -> dict[str, int]:
    """The loan's lane values, unpacked from its input openings (the slots do not overlap)."""
    assert lanes.packing is not None
    out: dict[str, int] = {}
    for slots, opening in zip(lanes.packing, loan.input_openings, strict=True):
        for s in slots:
            out[s.lane] = (opening.value >> s.shift) & ((1 << s.width) - 1)
    return out


# -- the statement ------------------------------------------------------------------------------------


def _inv(k: int) -> int:
    return pow(k, -1, ORDER)


def _collections_width(header: Header) -> int:
    circuit = header.lanes.circuit
    assert circuit is not None
    per_loan = circuit.lane_max("flow_scheduled_principal") + circuit.lane_max("flow_unscheduled_principal")
    width = max(1, (header.leaf_count * per_loan).bit_length())
    if width > _WIDEST:  # pragma: no cover - far beyond the lane sets' caps and leaf counts
        raise EligibilityError(f"principal collections may need {width} bits; range proofs take {_WIDEST}")
    return width


def _attribute_width(b: Bounds) -> int:
    return max(1, (b.hi - b.lo).bit_length())


def _context(body: Mapping[str, Any]) -> bytes:
    keys = (
        "pool_id", "cutoff_date", "snapshot_header_hash", "extensions", "purchased", "commitments",
        "count_blinding",
    )  # fmt: skip
    return document_hash(CONTEXT_DOMAIN, {k: body[k] for k in (*keys, EVIDENCE) if k in body})


def _transcript(context: bytes, criterion: str) -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"context", context)
    t.append_message(b"criterion", criterion.encode())
    return t


@dataclass(frozen=True)
class _Derived:
    """Per criterion: the commitments the verifier derives, and their widths."""

    commitments: dict[str, list[Point]] = field(default_factory=dict)
    widths: dict[str, list[int]] = field(default_factory=dict)


def _derive(
    group: Group,
    header: Header,
    deal: Deal,
    layout: Layout,
    rows: Sequence[Mapping[str, Point]],
    price: Point | None = None,
) -> _Derived:
    """The commitments each criterion's range proof is about (prover and verifier alike)."""
    g, _ = pedersen_bases(group)
    c = deal.purchase_criteria
    out = _Derived()
    inv_s = _inv(pow(2, layout.balance_shift, ORDER))
    scaled = [row["balance"] * inv_s for row in rows]  # commitments to B_i
    w_bal = c.max_balance_fen.bit_length()
    out.commitments["balance"] = [g * c.max_balance_fen - k for k in scaled]
    out.widths["balance"] = [w_bal] * len(rows)
    for attr in ATTRIBUTES:
        b = _bounds(deal, attr)
        w = _attribute_width(b)
        items: list[Point] = []
        for row in rows:
            items += [row[attr] - g * b.lo, g * b.hi - row[attr]]
        out.commitments[attr] = items
        out.widths[attr] = [w] * len(items)
    if price is None:  # the balances at the cut-off
        price = group.identity()
        for k in scaled:
            price = price + k
    out.commitments["purchase_price"] = [header.metric_commitment("principal_collections") - price]
    out.widths["purchase_price"] = [_collections_width(header)]
    return out


def _padded(points: list[Point], widths: list[int], group: Group) -> tuple[list[Point], tuple[int, ...]]:
    padded = pad_widths(widths)
    return points + [group.identity()] * (len(padded) - len(widths)), padded


def prove_eligibility(
    header: Header,
    deal: Deal,
    loans: Sequence[PurchasedLoan],
    collections: Opening,
    key: Ed25519PrivateKey,
    *,
    group: Group | None = None,
    ipa_rounds: int | None = None,
    purchase_evidence: Mapping[str, Any] | None = None,
    price: Opening | None = None,
    strata: StrataOpenings | None = None,
) -> dict[str, Any]:
    """The signed eligibility bundle of the period ``header`` closes (the gateway side).

    ``loans`` are the exposures new in this snapshot with their leaf openings and tape attributes;
    ``collections`` opens the header's ``principal_collections`` metric commitment. With
    ``purchase_evidence`` (the period's, :func:`proofs.purchases.prove_purchases`, over exactly these
    loans) and ``price`` opening its price, the purchase-price criterion is that price (the loans'
    start-of-period principal) against the collections; without, their balances at the cut-off. With
    ``strata`` the deal's concentration limits on the dimensions the snapshot stratifies are proven
    (:mod:`proofs.concentration`); the others are listed as unchecked. The bundle holds exactly when
    every criterion holds (:func:`failures`); otherwise it is the signed "does not
    hold" statement naming them.

    Raises:
        EligibilityError: inputs the statement cannot be made from (see the class).
        ProvingError: openings that do not open the leaves or the collections commitment.
    """
    group = group or get_group()
    lanes = header.lanes
    layout = purchase_layout(lanes)
    if len(loans) > MAX_LOANS:
        raise EligibilityError(f"at most {MAX_LOANS} purchased loans per statement")
    if len(loans) >= 1 << layout.count_width:
        raise EligibilityError("more purchased loans than the count slots hold")  # pragma: no cover
    if deal.pool_id != header.context.pool_id:
        raise EligibilityError(
            f"the deal governs pool {deal.pool_id}, the snapshot is of {header.context.pool_id}"
        )
    if deal.purchase_criteria.excluded_regions and _region_position(header) is None:
        raise EligibilityError(
            "the deal excludes regions but the snapshot's leaves carry no region cell "
            "(seal with the region stratification dimension)"
        )
    loans = sorted(loans, key=lambda x: x.leaf_index)
    ids = [x.exposure_id for x in loans]
    if len(set(ids)) != len(ids):
        raise EligibilityError("a purchased loan is listed twice")
    for loan in loans:
        missing = [a for a in ATTRIBUTES if a not in loan.attributes]
        if missing:
            raise EligibilityError(f"loan {loan.exposure_id}: no {', '.join(missing)}")
        for k, o in zip(loan.inputs, loan.input_openings, strict=True):
            if group.msm(list(pedersen_bases(group)), [o.value, o.blinding]) != k:
                raise ProvingError(f"loan {loan.exposure_id}: an opening does not open its leaf input")
    if group.msm(list(pedersen_bases(group)), [collections.value, collections.blinding]) != (
        header.metric_commitment("principal_collections")
    ):
        raise ProvingError("the collections opening does not open principal_collections")
    price_point: Point | None = None
    if purchase_evidence is not None:
        if price is None:
            raise ValueError("purchase evidence needs the opening of its price")
        checked = verify_purchases(group, header, purchase_evidence, EVIDENCE)
        price_point = checked.commitment(header)
        if group.msm(list(pedersen_bases(group)), [price.value % ORDER, price.blinding]) != price_point:
            raise ProvingError("the price opening does not open the purchase evidence's price")
        _check_evidence_loans(checked, layout, [list(loan.inputs) for loan in loans], ProvingError)
    if strata is not None and group.msm(
        list(pedersen_bases(group)), [strata.pool.value, strata.pool.blinding]
    ) != header.metric_commitment(concentration.METRIC):
        raise ProvingError("the pool opening does not open outstanding_balance")
    proven = _proven_limits(header, deal, strata)
    failed = failures(header, deal, loans, collections.value, None if price is None else price.value, strata)
    body: dict[str, Any] = {
        "format": FORMAT,
        "pool_id": header.context.pool_id,
        "cutoff_date": header.context.cutoff_date,
        "snapshot_id": header.context.snapshot_id,
        "snapshot_header_hash": header.hash.hex(),
        "extensions": {"deal": deal_binding(deal)},
        "holds": not failed,
        "failed": list(failed),
        "unchecked": unchecked_limits(deal, proven),
        "purchased": len(loans),
    }
    if purchase_evidence is not None:
        body[EVIDENCE] = dict(purchase_evidence)
    trustee: dict[str, Any] = {
        "loans": [
            {
                "exposure_id": loan.exposure_id,
                "leaf_index": loan.leaf_index,
                "cells": list(loan.cells),
                "inputs": [p.to_bytes().hex() for p in loan.inputs],
                "path": [h.hex() for h in loan.inclusion_path],
            }
            for loan in loans
        ],
        "failing": failed,
    }
    if not failed:
        _prove_holding(group, header, deal, layout, loans, collections, body, trustee, ipa_rounds, price)
        if proven:
            assert strata is not None
            context = _context(body)
            trustee[CONCENTRATION] = [
                concentration.prove_limit(
                    group,
                    header,
                    strata.table,
                    limit,
                    strata.cells[limit.dimension],
                    strata.pool,
                    _transcript(context, f"{CONCENTRATION}:{limit.id}"),
                    random_scalar,
                    ipa_rounds=ipa_rounds,
                )
                for limit in proven
            ]
    body["loans_digest"] = document_hash(LOANS_DOMAIN, trustee).hex()
    signed = bundle.sign_document(key, KIND, body)
    return {**signed, "loans": trustee}


def _claimed(criterion: str, values: list[int], widths: Sequence[int]) -> list[int]:
    """The values the prover claims for a criterion: the true ones (a seam for forgery tests)."""
    return values


def _prove_holding(
    group: Group,
    header: Header,
    deal: Deal,
    layout: Layout,
    loans: Sequence[PurchasedLoan],
    collections: Opening,
    body: dict[str, Any],
    trustee: dict[str, Any],
    ipa_rounds: int | None,
    price: Opening | None,
) -> None:
    g, h = pedersen_bases(group)
    attr_openings = [{a: Opening(loan.attributes[a], random_scalar()) for a in ATTRIBUTES} for loan in loans]
    rows: list[dict[str, Point]] = []
    for loan, ops in zip(loans, attr_openings, strict=True):
        row = {"count": loan.inputs[layout.count_input], "balance": loan.inputs[layout.balance_input]}
        for a in ATTRIBUTES:
            row[a] = g * ops[a].value + h * ops[a].blinding
        rows.append(row)
    rho = sum(loan.input_openings[layout.count_input].blinding for loan in loans) % ORDER
    body["commitments"] = [{k: p.to_bytes().hex() for k, p in row.items()} for row in rows]
    body["count_blinding"] = scalar_to_bytes(rho).hex()
    body["ipa_rounds"] = ipa_rounds
    for loan, ops in zip(trustee["loans"], attr_openings, strict=True):
        loan["openings"] = {a: [o.value, scalar_to_bytes(o.blinding).hex()] for a, o in ops.items()}
    price_point = None
    if price is not None:
        price_point = verify_purchases(group, header, body[EVIDENCE], EVIDENCE).commitment(header)
    derived = _derive(group, header, deal, layout, rows, price_point)
    inv_s = _inv(pow(2, layout.balance_shift, ORDER))
    c = deal.purchase_criteria
    balances = [
        (o.value * inv_s % ORDER, o.blinding * inv_s % ORDER)
        for o in (loan.input_openings[layout.balance_input] for loan in loans)
    ]
    openings: dict[str, list[tuple[int, int]]] = {
        "balance": [((c.max_balance_fen - v) % ORDER, -r % ORDER) for v, r in balances]
    }
    for a in ATTRIBUTES:
        b = _bounds(deal, a)
        items: list[tuple[int, int]] = []
        for ops in attr_openings:
            o = ops[a]
            items += [((o.value - b.lo) % ORDER, o.blinding), ((b.hi - o.value) % ORDER, -o.blinding % ORDER)]
        openings[a] = items
    price_v = sum(v for v, _ in balances) if price is None else price.value
    price_r = sum(r for _, r in balances) if price is None else price.blinding
    openings["purchase_price"] = [
        ((collections.value - price_v) % ORDER, (collections.blinding - price_r) % ORDER)
    ]
    context = _context(body)
    proofs: dict[str, str] = {}
    for criterion in ("balance", *ATTRIBUTES, "purchase_price"):
        pairs = openings[criterion]
        widths = pad_widths(derived.widths[criterion])
        values = _claimed(criterion, [v for v, _ in pairs], widths)
        blindings = [r for _, r in pairs]
        extra = len(widths) - len(values)
        if not pairs:
            continue
        proof, _ = prove_ranges(
            group, values + [0] * extra, blindings + [0] * extra, widths, _transcript(context, criterion),
            ipa_rounds=_rounds(widths, ipa_rounds),
        )  # fmt: skip
        proofs[criterion] = proof.to_bytes().hex()
    body["proofs"] = proofs


def _check_evidence_loans(
    evidence: Purchases, layout: Layout, inputs: Sequence[Sequence[Point]] | None, failure: type[Exception],
    rows: Sequence[Mapping[str, Point]] | None = None,
) -> None:  # fmt: skip
    """The purchase evidence is over exactly the statement's loans: its count is theirs, and its row's
    sums are the sums of their leaf inputs (every input, given the trustee part's ``inputs``; the
    count and balance inputs from the signed per-loan commitments ``rows``)."""

    def fail(message: str) -> Exception:
        if failure is VerificationError:
            return VerificationError("eligibility.purchase_evidence", message)
        return failure(message)

    n = len(inputs) if inputs is not None else len(rows or ())
    if evidence.count != n:
        raise fail(f"the purchase evidence counts {evidence.count} loans, the statement {n}")
    group = evidence.sums[0].group if evidence.sums else None
    if group is None:
        return
    if rows is not None:
        for key, at in (("count", layout.count_input), ("balance", layout.balance_input)):
            total = group.identity()
            for row in rows:
                total = total + row[key]
            if total != evidence.sums[at]:
                raise fail(f"the purchase evidence's {key} sum is not the statement's loans'")
    if inputs is not None:
        for g_index, expected in enumerate(evidence.sums):
            total = group.identity()
            for loan in inputs:
                total = total + loan[g_index]
            if total != expected:
                raise fail(f"the purchase evidence's input {g_index} sum is not the statement's loans'")


def _rounds(widths: Sequence[int], ipa_rounds: int | None) -> int | None:
    if ipa_rounds is None:
        return None
    return min(ipa_rounds, sum(widths).bit_length() - 1)


# -- verification ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A checked eligibility statement."""

    holds: bool
    failed: tuple[str, ...]
    purchased: int
    #: The checks that ran (``eligibility.state``, ``eligibility.inclusion``, ...).
    checked: tuple[str, ...]
    unchecked: tuple[str, ...]
    #: Trustee part: each failed criterion's loans (empty without the ``loans`` member).
    failing: Mapping[str, tuple[str, ...]]
    exposure_ids: tuple[str, ...]


_HEX48: Final = bundle.Bytes(48)
_ROW: Final = bundle.Object({k: _HEX48 for k in ("count", "balance", *ATTRIBUTES)})
_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Const(FORMAT),
        "pool_id": bundle.Str(128, r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"),
        "cutoff_date": bundle.Date(),
        "snapshot_id": bundle.Str(128, r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"),
        "snapshot_header_hash": bundle.Bytes(32),
        "extensions": bundle.AnyJson(),
        "holds": bundle.Bool(),
        "failed": bundle.ListOf(bundle.Str(40, r"[a-z_]{1,40}"), 0, len(CRITERIA)),
        "unchecked": bundle.ListOf(bundle.Str(80), 0, 1000),
        "purchased": bundle.Int(0, MAX_LOANS),
        "commitments": bundle.ListOf(_ROW, 0, MAX_LOANS),
        "count_blinding": bundle.Bytes(32),
        "ipa_rounds": bundle.Nullable(bundle.Int(0, 32)),
        "proofs": bundle.AnyJson(),
        "loans_digest": bundle.Bytes(32),
        EVIDENCE: bundle.AnyJson(),
        "loans": bundle.AnyJson(),
        "signatures": bundle.SIGNATURES_SPEC,
    },
    optional=frozenset(
        {"commitments", "count_blinding", "ipa_rounds", "proofs", EVIDENCE, "loans", "signatures"}
    ),
)


def investor_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The bundle without its trustee part (loan ids, cells, paths, openings, failing loans)."""
    return {k: v for k, v in doc.items() if k != "loans"}


def _points(group: Group, items: Sequence[str], where: str) -> list[Point]:
    try:
        return [group.decode_point(bytes.fromhex(x), allow_identity=False) for x in items]
    except (ValueError, EncodingError) as exc:
        raise EncodingError(f"{where}: {exc}") from None


def verify_eligibility(
    doc: object,
    gateway_key: Ed25519PublicKey,
    header: Header,
    deal: Deal,
    *,
    group: Group | None = None,
    previous_exposures: Sequence[str] | None = None,
    snapshot_exposures: Sequence[str] | None = None,
) -> Verified:
    """Check an eligibility bundle (full, or the investor view) for the period ``header`` closes.

    ``header`` is the verified snapshot header of that cut-off (:func:`proofs.snapshot.verify_header`),
    ``deal`` the deal file. With ``previous_exposures`` and ``snapshot_exposures`` (every exposure id of
    snapshots ``t − 1`` and ``t``) and the trustee part, the statement must cover exactly the new loans.

    Raises:
        EncodingError: a malformed bundle (names the JSON path).
        VerificationError: the failed check — ``eligibility.signature``, ``eligibility.pool``,
            ``eligibility.period``, ``deal.binding``, ``eligibility.statement``, ``eligibility.state``,
            ``eligibility.balance``, ``eligibility.<attribute>``, ``eligibility.purchase_price``,
            ``eligibility.loans_digest``, ``eligibility.loans``, ``eligibility.inclusion``,
            ``eligibility.region``, ``eligibility.openings``, ``eligibility.completeness``.
    """
    group = group or get_group()
    if not isinstance(doc, dict):
        raise EncodingError("eligibility: expected an object")
    bundle.require_format(doc, KIND, {VERSION})
    _SCHEMA.check(doc, "eligibility")
    try:
        bundle.verify_document(investor_view(doc), KIND, gateway_key)
    except VerificationError as exc:
        raise VerificationError("eligibility.signature", str(exc)) from None
    checked = ["eligibility.signature"]
    if doc["pool_id"] != header.context.pool_id or deal.pool_id != header.context.pool_id:
        raise VerificationError(
            "eligibility.pool",
            f"the statement is for pool {doc['pool_id']!r}; the snapshot is of {header.context.pool_id!r}, "
            f"the deal governs {deal.pool_id!r}",
        )
    if (
        doc["snapshot_header_hash"] != header.hash.hex()
        or doc["cutoff_date"] != header.context.cutoff_date
        or doc["snapshot_id"] != header.context.snapshot_id
    ):
        raise VerificationError(
            "eligibility.period",
            f"the statement is for the snapshot of {doc['cutoff_date']} "
            f"({doc['snapshot_header_hash'][:16]}…), not the one given "
            f"({header.context.cutoff_date}, {header.hash.hex()[:16]}…)",
        )
    check_deal_binding(doc, deal)
    checked += ["eligibility.pool", "eligibility.period", "deal.binding"]
    failed = tuple(doc["failed"])
    n = doc["purchased"]
    if any(f not in CRITERIA for f in failed) or len(set(failed)) != len(failed):
        raise VerificationError("eligibility.statement", f"unknown or repeated criteria in failed: {failed}")
    provable = [x for x in deal.concentration_limits if concentration.provable(header, x)]
    proven: list[ConcentrationLimit] = []
    if doc["unchecked"] == unchecked_limits(deal, provable):
        proven = provable
    elif doc["unchecked"] != unchecked_limits(deal, []):
        raise VerificationError(
            "eligibility.statement",
            "the unchecked list is neither every limit nor those the snapshot's dimensions cannot prove",
        )
    if CONCENTRATION in failed and not proven:
        raise VerificationError("eligibility.statement", "a concentration failure names no proven limit")
    holding = ("commitments", "count_blinding", "proofs")
    if doc["holds"] != (not failed) or any((k in doc) != doc["holds"] for k in holding):
        raise VerificationError(
            "eligibility.statement",
            "a holding statement names no failed criterion and carries its proofs; "
            "a statement that does not hold names one and carries none",
        )
    layout = purchase_layout(header.lanes)
    if n >= 1 << layout.count_width:
        raise VerificationError("eligibility.statement", "more purchased loans than the count slots hold")
    rows: list[dict[str, Point]] = []
    if doc["holds"]:
        if len(doc["commitments"]) != n:
            raise VerificationError("eligibility.statement", f"{len(doc['commitments'])} loans, not {n}")
        rows = [
            dict(zip(row, _points(group, list(row.values()), f"eligibility.commitments[{i}]"), strict=True))
            for i, row in enumerate(doc["commitments"])
        ]
    evidence = None
    if EVIDENCE in doc:
        evidence = verify_purchases(group, header, doc[EVIDENCE], f"eligibility.{EVIDENCE}")
        if evidence.count != n:
            raise VerificationError(
                "eligibility.purchase_evidence",
                f"the purchase evidence counts {evidence.count} loans, not {n}",
            )
        if doc["holds"]:
            _check_evidence_loans(evidence, layout, None, VerificationError, rows)
        checked.append("eligibility.purchase_evidence")
    if doc["holds"]:
        _verify_proofs(
            group, header, deal, layout, rows, doc, None if evidence is None else evidence.commitment(header)
        )
        checked += [f"eligibility.{c}" for c in CRITERIA if c not in (REGION, CONCENTRATION)]
    failing: dict[str, tuple[str, ...]] = {}
    ids: tuple[str, ...] = ()
    if "loans" in doc:
        ids, failing = _verify_loans(group, header, deal, doc, rows)
        checked += ["eligibility.loans", "eligibility.inclusion"]
        limits = doc["loans"].get(CONCENTRATION)
        if doc["holds"] and proven:
            if not isinstance(limits, list) or len(limits) != len(proven):
                raise VerificationError(
                    "eligibility.concentration", "expected one concentration proof per proven limit"
                )
            context = _context(doc)
            for k, (limit, limit_doc) in enumerate(zip(proven, limits, strict=True)):
                concentration.verify_limit(
                    group, header, limit, limit_doc, _transcript(context, f"{CONCENTRATION}:{limit.id}"),
                    ipa_rounds=doc["ipa_rounds"], where=f"eligibility.loans.{CONCENTRATION}[{k}]",
                )  # fmt: skip
            checked.append("eligibility.concentration")
        elif limits is not None:
            raise VerificationError(
                "eligibility.concentration",
                "concentration proofs belong to a holding statement's proven limits",
            )
        if evidence is not None:  # every input of the trustee part's leaves, summed
            leaves = [
                _points(group, loan["inputs"], f"eligibility.loans.loans[{i}].inputs")
                for i, loan in enumerate(doc["loans"]["loans"])
            ]
            _check_evidence_loans(evidence, layout, leaves, VerificationError)
        if doc["holds"]:
            checked += ["eligibility.region", "eligibility.openings"]
        if previous_exposures is not None and snapshot_exposures is not None:
            before = set(previous_exposures)
            new = {e for e in snapshot_exposures if e not in before}
            if new != set(ids):
                missing = sorted(new - set(ids))[:5]
                extra = sorted(set(ids) - new)[:5]
                raise VerificationError(
                    "eligibility.completeness",
                    "the statement does not cover exactly the loans new in the snapshot"
                    + (f"; left out: {', '.join(missing)}" if missing else "")
                    + (f"; not new: {', '.join(extra)}" if extra else ""),
                )
            checked.append("eligibility.completeness")
    return Verified(doc["holds"], failed, n, tuple(checked), tuple(doc["unchecked"]), failing, ids)


def _verify_proofs(
    group: Group,
    header: Header,
    deal: Deal,
    layout: Layout,
    rows: list[dict[str, Point]],
    doc: Mapping[str, Any],
    price: Point | None = None,
) -> None:
    g, h = pedersen_bases(group)
    n = len(rows)
    try:
        rho = scalar_from_bytes(bytes.fromhex(doc["count_blinding"]))
    except (ValueError, EncodingError) as exc:
        raise EncodingError(f"eligibility.count_blinding: {exc}") from None
    total = group.identity()
    for row in rows:
        total = total + row["count"]
    if total != g * (n * (1 << layout.count_shift) % ORDER) + h * rho:
        raise VerificationError(
            "eligibility.state", "the purchased loans' state counts do not open to every loan in M0"
        )
    derived = _derive(group, header, deal, layout, rows, price)
    proofs = doc["proofs"]
    expected = [c for c in ("balance", *ATTRIBUTES, "purchase_price") if derived.commitments[c]]
    if not isinstance(proofs, dict) or sorted(proofs) != sorted(expected):
        raise VerificationError(
            "eligibility.statement", f"expected one proof for each of {', '.join(expected)}"
        )
    context = _context(doc)
    for criterion in expected:
        points, widths = _padded(derived.commitments[criterion], derived.widths[criterion], group)
        data = proofs[criterion]
        try:
            if not isinstance(data, str):
                raise ValueError("expected hex")
            proof = decode_ranges(group, bytes.fromhex(data), widths, _rounds(widths, doc["ipa_rounds"]))
        except (ValueError, EncodingError) as exc:
            raise VerificationError(f"eligibility.{criterion}", f"malformed proof: {exc}") from None
        try:
            verify_ranges(group, points, widths, proof, _transcript(context, criterion))
        except VerificationError as exc:
            raise VerificationError(
                f"eligibility.{criterion}", f"the {criterion} range proof does not verify ({exc})"
            ) from None


_LOAN: Final = bundle.Object(
    {
        "exposure_id": bundle.Str(64, r"[A-Za-z0-9_-]{1,64}"),
        "leaf_index": bundle.Int(0, 2**40),
        "cells": bundle.ListOf(bundle.Str(48), 0, 16),
        "inputs": bundle.ListOf(_HEX48, 1, 16),
        "path": bundle.ListOf(bundle.Bytes(32), 0, 64),
        "openings": bundle.AnyJson(),
    },
    optional=frozenset({"openings"}),
)


def _verify_loans(
    group: Group, header: Header, deal: Deal, doc: Mapping[str, Any], rows: list[dict[str, Point]]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    part = doc["loans"]
    if document_hash(LOANS_DOMAIN, part).hex() != doc["loans_digest"]:
        raise VerificationError(
            "eligibility.loans_digest", "the loans are not the ones the signed statement names"
        )
    if not isinstance(part, dict) or not {"loans", "failing"} <= set(part) <= {
        "loans",
        "failing",
        CONCENTRATION,
    }:
        raise EncodingError("eligibility.loans: expected {loans, failing} and the concentration proofs")
    loans = part["loans"]
    bundle.ListOf(_LOAN, 0, MAX_LOANS).check(loans, "eligibility.loans.loans")
    if len(loans) != doc["purchased"]:
        raise VerificationError(
            "eligibility.loans", f"{len(loans)} loans, the statement says {doc['purchased']}"
        )
    ids = tuple(x["exposure_id"] for x in loans)
    if len(set(ids)) != len(ids):
        raise VerificationError("eligibility.loans", "a loan is listed twice")
    layout = purchase_layout(header.lanes)
    region_at = _region_position(header)
    excluded = set(deal.purchase_criteria.excluded_regions)
    g, h = pedersen_bases(group)
    for i, loan in enumerate(loans):
        inputs = _points(group, loan["inputs"], f"eligibility.loans.loans[{i}].inputs")
        if len(inputs) != len(header.lanes.inputs) or len(loan["cells"]) != len(
            header.params.strata_dimensions
        ):
            raise VerificationError("eligibility.loans", f"loan {i}: not a leaf of this snapshot's layout")
        try:
            leaf = leaf_bytes(loan["exposure_id"], [p.to_bytes() for p in inputs], loan["cells"] or None)
        except EncodingError as exc:
            raise VerificationError("eligibility.loans", f"loan {i}: {exc}") from None
        merkle.verify_inclusion(
            merkle.leaf_hash(leaf), loan["leaf_index"], header.leaf_count,
            [bytes.fromhex(p) for p in loan["path"]], header.merkle_root,
        )  # fmt: skip
        if not doc["holds"]:
            continue
        row = rows[i]
        if inputs[layout.count_input] != row["count"] or inputs[layout.balance_input] != row["balance"]:
            raise VerificationError("eligibility.loans", f"loan {i}: its commitments are not its leaf's")
        if region_at is not None and loan["cells"][region_at] in excluded:
            raise VerificationError(
                "eligibility.region",
                f"loan {loan['exposure_id']} is in excluded region {loan['cells'][region_at]}",
            )
        if excluded and region_at is None:
            raise VerificationError("eligibility.region", "the snapshot's leaves carry no region cell")
        ops = loan.get("openings")
        if not isinstance(ops, dict) or sorted(ops) != sorted(ATTRIBUTES):
            raise EncodingError(f"eligibility.loans.loans[{i}].openings: one opening per attribute")
        for a in ATTRIBUTES:
            value, blinding = _opening(ops[a], f"eligibility.loans.loans[{i}].openings.{a}")
            if g * value + h * blinding != row[a]:
                raise VerificationError(
                    "eligibility.openings", f"loan {loan['exposure_id']}: {a} does not open"
                )
    failing = part["failing"]
    # (JSON object order is not significant: a reader may sort the keys)
    if not isinstance(failing, dict) or sorted(failing) != sorted(doc["failed"]):
        raise VerificationError("eligibility.loans", "the failing loans do not name the failed criteria")
    out: dict[str, tuple[str, ...]] = {}
    for criterion in doc["failed"]:
        names = failing[criterion]
        # (a concentration breach in a period that bought nothing names no loan)
        empty_ok = criterion == CONCENTRATION and not ids
        if not isinstance(names, list) or not (names or empty_ok) or not set(names) <= set(ids):
            raise VerificationError(
                "eligibility.loans", f"{criterion}: failing loans must be purchased loans"
            )
        out[criterion] = tuple(names)
    return ids, out


def _opening(item: object, where: str) -> tuple[int, int]:
    if (
        not isinstance(item, list)
        or len(item) != 2
        or isinstance(item[0], bool)
        or not isinstance(item[0], int)
        or not 0 <= item[0] < ORDER
        or not isinstance(item[1], str)
    ):
        raise EncodingError(f"{where}: expected [value, blinding hex]")
    try:
        return item[0], scalar_from_bytes(bytes.fromhex(item[1]))
    except (ValueError, EncodingError) as exc:
        raise EncodingError(f"{where}: {exc}") from None


def check_records(doc: Mapping[str, Any], records: Mapping[str, Mapping[str, int]]) -> None:
    """The trustee's re-check against the signed tape: every purchased loan's committed attribute
    is the tape's (``records`` maps exposure id to the tape's ``nominal_rate_bps``, ``apr_bps``,
    ``original_term_months``, ``remaining_term_months``). Run after :func:`verify_eligibility`.

    Raises:
        VerificationError: ``eligibility.records`` — a loan the tape lacks or a committed value that
            differs from the tape's.
    """
    part = doc.get("loans")
    if not isinstance(part, Mapping) or not doc.get("holds"):
        raise VerificationError("eligibility.records", "only a holding statement's trustee part has openings")
    for loan in part["loans"]:
        eid = loan["exposure_id"]
        tape = records.get(eid)
        if tape is None:
            raise VerificationError("eligibility.records", f"loan {eid} is not on the tape")
        for a in ATTRIBUTES:
            if loan["openings"][a][0] != tape[a]:
                raise VerificationError(
                    "eligibility.records",
                    f"loan {eid}: the committed {a} is {loan['openings'][a][0]}, the tape says {tape[a]}",
                )
