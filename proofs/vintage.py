"""Vintage (static-pool) curves: a cohort's cumulative default and prepayment rates, proven per cut-off.

docs/metrics.md "Vintage curves" defines the figures. A *cohort* is one ``vintage`` cell (origination
quarter ``YYYY-Qn``); a *point* is the cohort at one snapshot of the pool's chain, ``m`` months on
book (:func:`months_on_book`). Per point the verifier computes two commitments itself:

* the numerator ``N(k) = Σ_{i<=k} flow_i(cell)`` (``defaulted_principal`` or
  ``unscheduled_principal``: :data:`RATES`);
* the denominator, the cohort's entered principal
  ``E(k) = Σ_{i<=k} beginning_balance_i(cell) − Σ_{i<k} outstanding_balance_i(cell)``,

each a sum of *cell* commitments: per header, the commitment to a cell metric is formed from the
cell's per-lane aggregates, which the unpacking proof ties to the cohort's row, whose audit path ties
it to the header's stratification root (:mod:`proofs.cell_claims`). This extends the chain sums of
:mod:`proofs.cumulative` from header aggregates to cell terms.

**The chain** (:func:`verify_vintage_chain`): the first header is the pool's first snapshot (no
predecessor), each later one names its predecessor's hash with a higher sequence and cut-off, all of
one pool. Every header carries the cohort's *cell evidence*: the row with its unpacking proof, or, when
the cohort has no loan on that tape, an *absence proof* — the two rows adjacent to where the cell
would sit in the table's canonical order (dimension order, then cell bytes; the auditor's full check
enforces that order, ``strata.root``), or one neighbour at an end of the table. A gateway thus cannot
leave out a month (the hash link breaks), skip the cohort in one month (the absence proof fails) or
stand in another cell's row (``vintage.cell``).

**A point** is exact (a disclosure proof of ``N`` and one of ``E``, :class:`proofs.claims.Disclosure`)
or a threshold claim ``N/E <= p/q`` (``>=``): one :class:`~proofs.claims.BoundClaim` ``x >= 0`` on the
commitment to ``x = p·E − q·N`` (``q·N − p·E``). The cells' leaf counts and range proofs bound the real
value of ``x`` to ``[−neg, pos]`` (as for the deal triggers, :mod:`proofs.triggers`); the claim's
range is the smallest with ``pos < 2^k``, and a form with ``2^128 + neg >= r`` is refused, so an
accepted proof shows ``x >= 0`` over the integers. A disclosed ``N`` or ``E`` above its form's ``pos``
(a negative real value) is rejected. Every proof is bound (transcript context) to the pool, cohort,
rate, point, the header hashes through the point and the requester's nonce.

**The bundle** ``poolproof/vintage-curve/v1`` (:func:`prove_vintage_curve`,
:func:`verify_vintage_curve`) holds the headers, one cell evidence per header and one point per
header from the first that has the cohort's cell, each point's rates exact, threshold or
``suppressed`` (withheld by the gateway's disclosure control; nothing is proven for it).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.canonical import document_hash
from proofs.cell_claims import cell_opening, prove_cell, verify_cells
from proofs.claims import BoundClaim, ClaimProof, Disclosure, prove_claim, verify_claim
from proofs.cumulative import linked_headers
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, Group, Point, ScalarSource, get_group, random_scalar
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.merkle import HASH_SIZE
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header
from proofs.strata import Row, Table, verify_row

KIND: Final = "poolproof/vintage-curve/v1"
POINT_DOMAIN: Final = "vintage-point/v1"
#: The stratification dimension whose cells are origination cohorts.
DIMENSION: Final = "vintage"
COHORT_PATTERN: Final = r"[0-9]{4}-Q[1-4]"
#: Rate → the period flow its numerator sums.
RATES: Final[Mapping[str, str]] = {
    "cumulative_default_rate": "defaulted_principal",
    "cumulative_prepayment_rate": "unscheduled_principal",
}
#: The denominator's metrics: entered principal = Σ beginning balances − Σ earlier outstanding balances.
ENTERED: Final = "beginning_balance"
CARRIED: Final = "outstanding_balance"
NEEDED_METRICS: Final = (*RATES.values(), ENTERED, CARRIED)
MAX_HEADERS: Final = 600
#: Claims prove at most 64-bit values; two 64-bit limbs cover at most 2^128.
_MAX_BITS: Final = 64
_MAX_RANGE: Final = 1 << 128
_COHORT = re.compile(COHORT_PATTERN)

#: ``(header index, metric, coefficient)``: one cell term of a form over the chain.
Term = tuple[int, str, int]
Mode = Literal["exact", "threshold", "suppressed"]


def check_cohort(cohort: object) -> str:
    """A cohort label ``YYYY-Qn``.

    Raises:
        EncodingError: anything else.
    """
    if not isinstance(cohort, str) or not _COHORT.fullmatch(cohort):
        raise EncodingError(f"cohort: {cohort!r} is not an origination quarter ({COHORT_PATTERN})")
    return cohort


def months_on_book(cohort: str, cutoff_date: str) -> int:
    """``12·(Y_c − Y_q) + (M_c − M_q)``, ``M_q`` the quarter's first month (docs/metrics.md)."""
    check_cohort(cohort)
    year, quarter = int(cohort[:4]), int(cohort[-1])
    c = date.fromisoformat(cutoff_date)
    return 12 * (c.year - year) + c.month - (3 * quarter - 2)


# --- the chain -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VintageChain:
    """A verified chain of one pool's headers from its first snapshot."""

    headers: tuple[Header, ...]
    pool_id: str

    def hashes(self, upto: int | None = None) -> list[str]:
        """The header hashes (hex) through index ``upto`` (default all)."""
        end = len(self.headers) if upto is None else upto + 1
        return [h.hash.hex() for h in self.headers[:end]]


def verify_vintage_chain(
    header_docs: Sequence[Mapping[str, Any]],
    gateway_key: Ed25519PublicKey,
    pool_id: str,
    *,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> VintageChain:
    """Verify every header and the links between them, from the pool's first snapshot.

    Raises:
        EncodingError: a malformed header.
        VerificationError: ``header.*`` (:func:`verify_header`), ``chain.anchor`` (no header, or the
            first has a predecessor: earlier periods would be left out), ``chain.pool`` (a header of
            another pool), ``chain.link`` (a header does not name its predecessor, or its sequence or
            cut-off does not increase), ``chain.lane_set`` (a lane set without the figures, or a
            header without a ``vintage`` stratification dimension).
    """
    if not header_docs:
        raise VerificationError(
            "chain.anchor", "no headers: a vintage curve starts at the pool's first snapshot"
        )
    if len(header_docs) > MAX_HEADERS:
        raise EncodingError(f"headers: at most {MAX_HEADERS} snapshots")
    headers = linked_headers(
        header_docs, gateway_key, pool_id, NEEDED_METRICS, group=group, lane_sets=lane_sets
    )
    for i, h in enumerate(headers):
        if h.strata is None or DIMENSION not in h.strata["dimensions"]:
            raise VerificationError(
                "chain.lane_set", f"headers[{i}] has no {DIMENSION} stratification dimension"
            )
    if headers[0].doc["previous_header_hash"] is not None:
        raise VerificationError(
            "chain.anchor",
            f"headers[0] (the {headers[0].context.cutoff_date} snapshot) has a predecessor: "
            "the chain must start at the pool's first snapshot",
        )
    return VintageChain(headers, pool_id)


# --- the cohort's cell in one header ----------------------------------------------------------------------
@dataclass(frozen=True)
class CohortCell:
    """The checked cohort cell of one header: its row and lane aggregates, or ``None`` if absent."""

    row: Row | None
    aggregates: Mapping[str, Point] = field(default_factory=dict)

    def commitment(self, group: Group, header: Header, metric: str) -> Point:
        """The commitment to ``metric`` over the cohort's loans of this header (0 when absent)."""
        if self.row is None:
            return group.identity()
        terms = header.lanes.metric(metric)
        return group.msm([self.aggregates[lane] for lane, _ in terms], [c for _, c in terms])

    def top(self, header: Header, metric: str) -> int:
        """The largest value ``metric`` can have over the cell given its leaves' range proofs."""
        if self.row is None:
            return 0
        return (1 << header.metric_bound_bits(metric, self.row.count)) - 1


def _order_key(dimensions: Sequence[str], row: Row) -> tuple[int, bytes]:
    return dimensions.index(row.dimension), row.cell.encode()


def _neighbour_schema() -> bundle.Object:
    return bundle.Object(
        {
            "row": bundle.AnyJson(),
            "index": bundle.Int(0, 2**20),
            "path": bundle.ListOf(bundle.Bytes(HASH_SIZE), 0, 32),
        }
    )


def _neighbour(table: Table, index: int) -> dict[str, Any]:
    return {
        "row": table.rows[index].to_dict(),
        "index": index,
        "path": [h.hex() for h in table.audit_path(index)],
    }


def absence_evidence(table: Table, cohort: str) -> dict[str, Any]:
    """The absence proof of a cohort cell the table has no row for: its neighbours in canonical order.

    Raises:
        ValueError: the table has the cell (prove it present instead).
    """
    dims = list(table.dimensions)
    target = (dims.index(DIMENSION), cohort.encode())
    below = [i for i, r in enumerate(table.rows) if _order_key(dims, r) < target]
    lower = below[-1] if below else -1
    if lower + 1 < len(table.rows) and _order_key(dims, table.rows[lower + 1]) == target:
        raise ValueError(f"the table has cell {DIMENSION}={cohort}")
    upper = lower + 1
    return {
        "absent": {
            "lower": _neighbour(table, lower) if lower >= 0 else None,
            "upper": _neighbour(table, upper) if upper < len(table.rows) else None,
        }
    }


def verify_absence(
    group: Group, header_field: Mapping[str, Any], n_inputs: int, cohort: str, doc: object, where: str
) -> None:
    """Check an absence proof of ``cohort`` against a header's ``strata`` field.

    Raises:
        EncodingError: a malformed proof.
        VerificationError: ``strata.row`` (a neighbour not in the table), ``vintage.absence`` (the
            neighbours are not adjacent, or do not bracket the cell, in the canonical order).
    """
    bundle.Object(
        {
            "absent": bundle.Object(
                {"lower": bundle.Nullable(_neighbour_schema()), "upper": bundle.Nullable(_neighbour_schema())}
            )
        }
    ).check(doc, where)
    assert isinstance(doc, dict)
    dims = list(header_field["dimensions"])
    target = (dims.index(DIMENSION), cohort.encode())
    found: dict[str, tuple[int, tuple[int, bytes]]] = {}
    for side in ("lower", "upper"):
        nb = doc["absent"][side]
        if nb is None:
            continue
        row = Row.from_dict(group, nb["row"], n_inputs, f"{where}.absent.{side}.row")
        verify_row(row, nb["index"], header_field, [bytes.fromhex(h) for h in nb["path"]])
        found[side] = (nb["index"], _order_key(dims, row))
    lo, hi = found.get("lower"), found.get("upper")
    lo_index = -1 if lo is None else lo[0]
    hi_index = header_field["rows"] if hi is None else hi[0]
    ok = hi_index == lo_index + 1 and (lo is None or lo[1] < target) and (hi is None or target < hi[1])
    if not ok:
        raise VerificationError(
            "vintage.absence",
            f"{where}: the rows given are not the neighbours of cell {DIMENSION}={cohort} "
            "in the table's canonical order",
        )


def cohort_evidence(
    group: Group,
    header: Header,
    table: Table,
    cohort: str,
    opening: tuple[Sequence[int], Sequence[int]] | None,
    aggregate_blindings: Sequence[int],
    rng: ScalarSource,
) -> dict[str, Any]:
    """One header's cell evidence (the gateway side): the cell's row and unpacking proof from its
    ``(lane totals, input blinding sums)``, or the absence proof when the table has no such cell."""
    try:
        table.row(DIMENSION, cohort)
    except KeyError:
        return absence_evidence(table, cohort)
    if opening is None:
        raise ValueError(f"cell {DIMENSION}={cohort} is in the table: its openings are needed")
    totals, input_blindings = opening
    return prove_cell(
        group, header, table, DIMENSION, cohort, totals, input_blindings, aggregate_blindings, rng
    )


def verify_cohort_cell(group: Group, header: Header, cohort: str, doc: object, where: str) -> CohortCell:
    """Check one header's cell evidence for ``cohort``.

    Raises:
        EncodingError: malformed evidence.
        VerificationError: ``vintage.cell`` (a row of another cell), ``strata.row`` (a row not in the
            header's table: a wrong audit path or index), ``unpacking.*`` (aggregates that are not the
            row's unpacking), ``vintage.absence`` (an absence proof whose rows do not bracket the cell).
    """
    if isinstance(doc, dict) and "absent" in doc:
        assert header.strata is not None  # verify_vintage_chain requires the table
        verify_absence(group, header.strata, len(header.lanes.inputs), cohort, doc, where)
        return CohortCell(None)
    if isinstance(doc, dict) and isinstance(doc.get("row"), dict):
        row_doc = doc["row"]
        if (row_doc.get("dimension"), row_doc.get("cell")) != (DIMENSION, cohort):
            raise VerificationError(
                "vintage.cell",
                f"{where}: the row is cell {str(row_doc.get('dimension'))[:32]}="
                f"{str(row_doc.get('cell'))[:48]}, not {DIMENSION}={cohort}",
            )
    try:
        checked = verify_cells(group, header, [doc])
    except EncodingError as exc:
        raise EncodingError(f"{where}: {exc}") from None
    evidence = checked[(DIMENSION, cohort)]
    return CohortCell(evidence.row, evidence.aggregates)


# --- forms over the chain ---------------------------------------------------------------------------------
def numerator_terms(rate: str, k: int) -> list[Term]:
    """``N(k)``: the rate's flow of every header through ``k``. Raises ``KeyError`` for an unknown rate."""
    return [(i, RATES[rate], 1) for i in range(k + 1)]


def denominator_terms(k: int) -> list[Term]:
    """``E(k)``: beginning balances through ``k`` less outstanding balances before ``k``."""
    return [(i, ENTERED, 1) for i in range(k + 1)] + [(i, CARRIED, -1) for i in range(k)]


def scaled(terms: Sequence[Term], c: int) -> list[Term]:
    """Every term's coefficient times ``c``."""
    return [(i, m, c * k) for i, m, k in terms]


@dataclass(frozen=True)
class Curve:
    """A verified chain with the cohort's checked cell in every header."""

    chain: VintageChain
    cohort: str
    cells: tuple[CohortCell, ...]

    @property
    def first(self) -> int | None:
        """The first header index whose table has the cohort's cell (``None``: never)."""
        return next((i for i, c in enumerate(self.cells) if c.row is not None), None)

    def point_indices(self) -> list[int]:
        """The header indices with a point: from :attr:`first` to the last header."""
        first = self.first
        return [] if first is None else list(range(first, len(self.cells)))

    def commitment(self, group: Group, terms: Sequence[Term]) -> Point:
        """``Σ coeff·C_cell(header, metric)``: the verifier's own commitment to a form."""
        points = [self.cells[i].commitment(group, self.chain.headers[i], m) for i, m, _ in terms]
        return group.msm(points, [c for _, _, c in terms]) if points else group.identity()

    def extremes(self, terms: Sequence[Term]) -> tuple[int, int]:
        """``(pos, neg)``: the form's real value lies in ``[−neg, pos]``."""
        pos = neg = 0
        for i, m, c in terms:
            top = self.cells[i].top(self.chain.headers[i], m)
            if c > 0:
                pos += c * top
            else:
                neg += -c * top
        return pos, neg


def point_context(curve: Curve, k: int, rate: str, statement: Mapping[str, Any], nonce: bytes) -> bytes:
    """The bytes every proof of one point is bound to."""
    return document_hash(
        POINT_DOMAIN,
        {
            "kind": KIND,
            "pool_id": curve.chain.pool_id,
            "cohort": curve.cohort,
            "header_index": k,
            "rate": rate,
            "headers": curve.chain.hashes(k),
            "statement": dict(statement),
            "nonce": nonce.hex(),
        },
    )


def threshold_terms(rate: str, k: int, op: str, p: int, q: int) -> list[Term]:
    """``p·E − q·N`` for ``<=``, ``q·N − p·E`` for ``>=``."""
    num, den = numerator_terms(rate, k), denominator_terms(k)
    if op == "<=":
        return scaled(den, p) + scaled(num, -q)
    return scaled(num, q) + scaled(den, -p)


def _threshold_claim(curve: Curve, terms: Sequence[Term]) -> BoundClaim:
    pos, neg = curve.extremes(terms)
    if _MAX_RANGE + neg >= ORDER:  # pragma: no cover - far beyond any pool the lane sets hold
        raise ValueError("the threshold form could wrap modulo r")
    bits = max(1, pos.bit_length())
    if bits > _MAX_BITS:
        raise ValueError(
            f"the threshold form needs {bits}-bit values; claims take {_MAX_BITS} (lower p and q)"
        )
    return BoundClaim("vintage.threshold", lo=0, hi=None, value_bits=bits)


# --- the prover --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointRequest:
    """What to prove of one rate at one point: ``exact``, ``threshold`` (``op p/q``) or ``suppressed``."""

    mode: Mode
    op: Literal["<=", ">="] = "<="
    p: int = 0
    q: int = 1

    def statement(self) -> dict[str, Any]:
        """The point's statement (part of its proof context)."""
        if self.mode == "threshold":
            return {"mode": "threshold", "op": self.op, "p": self.p, "q": self.q}
        return {"mode": self.mode}


def _form_opening(terms: Sequence[Term], openings: Sequence[Mapping[str, Opening]]) -> Opening:
    return combine_openings([(c, openings[i][m]) for i, m, c in terms])


def prove_vintage_curve(
    header_docs: Sequence[Mapping[str, Any]],
    gateway_key: Ed25519PublicKey,
    tables: Sequence[Table],
    cohort: str,
    cell_openings: Sequence[tuple[Sequence[int], Sequence[int]] | None],
    requests: Mapping[tuple[int, str], PointRequest],
    nonce: bytes,
    *,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    rng: ScalarSource | None = None,
) -> dict[str, Any]:
    """The ``poolproof/vintage-curve/v1`` bundle of ``cohort`` over a chain (the gateway side).

    ``tables[i]`` is header ``i``'s stratification table, ``cell_openings[i]`` the cohort cell's
    ``(lane totals, input blinding sums)`` (``None`` where the table has no such cell); ``requests``
    maps ``(header index, rate)`` to what to prove (default exact).

    Raises:
        ProvingError: a threshold that does not hold (nothing is produced).
        ValueError: openings missing or not those of the cells.
    """
    check_cohort(cohort)
    group = get_group()
    draw = rng or random_scalar
    pool_id = str(header_docs[0]["pool_id"]) if header_docs else ""
    chain = verify_vintage_chain(header_docs, gateway_key, pool_id, group=group, lane_sets=lane_sets)
    if len(tables) != len(chain.headers) or len(cell_openings) != len(chain.headers):
        raise ValueError("one table and one cell opening (or None) per header")
    _check_thresholds(chain, cell_openings, requests)
    evidence: list[dict[str, Any]] = []
    cells: list[CohortCell] = []
    openings: list[dict[str, Opening]] = []
    for i, (header, table) in enumerate(zip(chain.headers, tables, strict=True)):
        rhos = [draw() % ORDER for _ in header.lanes.lanes]
        doc = cohort_evidence(group, header, table, cohort, cell_openings[i], rhos, draw)
        evidence.append(doc)
        cells.append(verify_cohort_cell(group, header, cohort, doc, f"cells[{i}]"))
        opening = cell_openings[i]
        if "absent" in doc or opening is None:
            openings.append({m: Opening(0, 0) for m in NEEDED_METRICS})
        else:
            openings.append({m: cell_opening(header, m, opening[0], rhos) for m in NEEDED_METRICS})
    curve = Curve(chain, cohort, tuple(cells))
    points = []
    for k in curve.point_indices():
        rates: dict[str, Any] = {}
        for rate in RATES:
            req = requests.get((k, rate), PointRequest("exact"))
            rates[rate] = _prove_rate(group, curve, k, rate, req, openings, nonce, draw)
        cutoff = chain.headers[k].context.cutoff_date
        points.append(
            {"cutoff_date": cutoff, "months_on_book": months_on_book(cohort, cutoff), "rates": rates}
        )
    return {
        "format": KIND,
        "pool_id": pool_id,
        "cohort": cohort,
        "nonce": nonce.hex(),
        "headers": [dict(d) for d in header_docs],
        "cells": evidence,
        "points": points,
    }


def _check_thresholds(
    chain: VintageChain,
    cell_openings: Sequence[tuple[Sequence[int], Sequence[int]] | None],
    requests: Mapping[tuple[int, str], PointRequest],
) -> None:
    """Refuse a false threshold before anything is proven (from the cells' lane totals)."""

    def value(i: int, metric: str) -> int:
        opening = cell_openings[i]
        if opening is None:
            return 0
        lanes = chain.headers[i].lanes
        return lanes.metric_value(metric, dict(zip(lanes.lanes, opening[0], strict=True)))

    for (k, rate), req in requests.items():
        if rate not in RATES or not 0 <= k < len(chain.headers):
            raise ValueError(f"no point ({k}, {rate!r}) in this chain")
        if req.mode == "threshold":
            margin = sum(c * value(i, m) for i, m, c in threshold_terms(rate, k, req.op, req.p, req.q))
            if margin < 0:
                raise ProvingError("claim does not hold")


def _prove_rate(
    group: Group,
    curve: Curve,
    k: int,
    rate: str,
    req: PointRequest,
    openings: Sequence[Mapping[str, Opening]],
    nonce: bytes,
    rng: ScalarSource,
) -> dict[str, Any]:
    statement = req.statement()
    context = point_context(curve, k, rate, statement, nonce)
    if req.mode == "suppressed":
        return statement
    if req.mode == "exact":
        out: dict[str, Any] = dict(statement)
        for side, terms in (("numerator", numerator_terms(rate, k)), ("denominator", denominator_terms(k))):
            o = _form_opening(terms, openings)
            proof = prove_claim(
                group, Disclosure(f"vintage.{side}"), {f"vintage.{side}": o}, context=context, rng=rng
            )
            out[side] = {"value": o.value, "proof": proof.to_dict()}
        return out
    terms = threshold_terms(rate, k, req.op, req.p, req.q)
    claim = _threshold_claim(curve, terms)
    o = _form_opening(terms, openings)
    if o.value >= ORDER // 2:  # a negative margin: the threshold does not hold
        raise ProvingError("claim does not hold")
    proof = prove_claim(group, claim, {claim.metric: o}, context=context, rng=rng)
    return {**statement, "proof": proof.to_dict()}


# --- the verifier ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifiedPoint:
    """One proven rate at one point: exact ``numerator``/``denominator``, or a proven threshold."""

    cutoff_date: str
    months_on_book: int
    rate: str
    mode: Mode
    numerator: int | None = None
    denominator: int | None = None
    op: str | None = None
    p: int | None = None
    q: int | None = None


def _bundle_schema() -> bundle.Object:
    return bundle.Object(
        {
            "format": bundle.Const(KIND),
            "pool_id": bundle.Str(64),
            "cohort": bundle.Str(7, COHORT_PATTERN),
            "nonce": bundle.Bytes(max_length=64),
            "headers": bundle.ListOf(bundle.AnyJson(), 1, MAX_HEADERS),
            "cells": bundle.ListOf(bundle.AnyJson(), 1, MAX_HEADERS),
            "points": bundle.ListOf(bundle.AnyJson(), 0, MAX_HEADERS),
        }
    )


def _point_schema() -> bundle.Object:
    return bundle.Object(
        {
            "cutoff_date": bundle.Date(),
            "months_on_book": bundle.Int(-12, 12 * 200),
            "rates": bundle.AnyJson(),
        }
    )


def verify_vintage_point(
    group: Group, curve: Curve, k: int, rate: str, entry: object, nonce: bytes, where: str = "point"
) -> VerifiedPoint:
    """Check one rate of the point at header ``k``.

    Raises:
        EncodingError: a malformed entry.
        VerificationError: ``vintage.numerator`` / ``vintage.denominator`` (an exact side whose proof
            does not verify, or whose value is outside its form's range), ``vintage.threshold`` (the
            threshold proof does not verify), ``vintage.mode`` (an unknown mode).
    """
    cutoff = curve.chain.headers[k].context.cutoff_date
    mob = months_on_book(curve.cohort, cutoff)
    if not isinstance(entry, dict) or entry.get("mode") not in ("exact", "threshold", "suppressed"):
        raise VerificationError("vintage.mode", f"{where}: mode must be exact, threshold or suppressed")
    mode = entry["mode"]
    if mode == "suppressed":
        bundle.Object({"mode": bundle.Const("suppressed")}).check(entry, where)
        return VerifiedPoint(cutoff, mob, rate, "suppressed")
    if mode == "exact":
        side_schema = bundle.Object({"value": bundle.Int(0, 2**64), "proof": bundle.AnyJson()})
        bundle.Object(
            {"mode": bundle.Const("exact"), "numerator": side_schema, "denominator": side_schema}
        ).check(entry, where)
        context = point_context(curve, k, rate, {"mode": "exact"}, nonce)
        values: dict[str, int] = {}
        for side, terms in (("numerator", numerator_terms(rate, k)), ("denominator", denominator_terms(k))):
            check = f"vintage.{side}"
            value = entry[side]["value"]
            pos, _ = curve.extremes(terms)
            if value > pos:
                raise VerificationError(
                    check, f"{where}.{side}: {value} is above the form's largest value {pos}"
                )
            proof = ClaimProof.from_dict(group, entry[side]["proof"])
            if proof.kind != "disclosure" or proof.value != value:
                raise VerificationError(check, f"{where}.{side}: the proof does not disclose the value given")
            try:
                verify_claim(
                    group, Disclosure(check), {check: curve.commitment(group, terms)}, proof, context=context
                )
            except VerificationError as exc:
                raise VerificationError(check, f"{where}.{side}: {exc}") from None
            values[side] = value
        return VerifiedPoint(cutoff, mob, rate, "exact", values["numerator"], values["denominator"])
    bundle.Object(
        {
            "mode": bundle.Const("threshold"),
            "op": bundle.Str(2, r"<=|>="),
            "p": bundle.Int(0, 2**53),
            "q": bundle.Int(1, 2**53),
            "proof": bundle.AnyJson(),
        }
    ).check(entry, where)
    statement = {"mode": "threshold", "op": entry["op"], "p": entry["p"], "q": entry["q"]}
    terms = threshold_terms(rate, k, entry["op"], entry["p"], entry["q"])
    try:
        claim = _threshold_claim(curve, terms)
    except ValueError as exc:
        raise VerificationError("vintage.threshold", f"{where}: {exc}") from None
    proof = ClaimProof.from_dict(group, entry["proof"])
    try:
        verify_claim(
            group,
            claim,
            {claim.metric: curve.commitment(group, terms)},
            proof,
            context=point_context(curve, k, rate, statement, nonce),
        )
    except VerificationError as exc:
        raise VerificationError("vintage.threshold", f"{where}: {exc}") from None
    return VerifiedPoint(cutoff, mob, rate, "threshold", op=entry["op"], p=entry["p"], q=entry["q"])


def verify_vintage_curve(
    doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    pool_id: str | None = None,
    cohort: str | None = None,
    nonce: bytes | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> list[VerifiedPoint]:
    """Check a ``poolproof/vintage-curve/v1`` bundle; every rate of every point, in order.

    ``pool_id``, ``cohort`` and ``nonce``, when given, must be the bundle's (what the requester asked).

    Raises:
        EncodingError: a malformed bundle (names the field).
        VerificationError: ``vintage.request`` (another pool, cohort or nonce than asked),
            ``chain.*`` (:func:`verify_vintage_chain`), ``vintage.cells`` (not one cell evidence per
            header), the cell checks of :func:`verify_cohort_cell`, ``vintage.points`` (not one point
            per header from the cohort's first), ``vintage.point`` (a point's cut-off, months on book
            or rates differ from the chain's), and each rate's checks (:func:`verify_vintage_point`).
    """
    _bundle_schema().check(doc, "vintage")
    assert isinstance(doc, dict)
    group = get_group()
    try:
        bundle_nonce = bytes.fromhex(doc["nonce"])
    except ValueError:
        raise EncodingError("vintage.nonce: expected hex") from None
    for name, want, got in (("pool", pool_id, doc["pool_id"]), ("cohort", cohort, doc["cohort"])):
        if want is not None and want != got:
            raise VerificationError("vintage.request", f"the bundle is for {name} {got!r}, not {want!r}")
    if nonce is not None and nonce != bundle_nonce:
        raise VerificationError("vintage.request", "the bundle is bound to another nonce")
    chain = verify_vintage_chain(
        doc["headers"], gateway_key, doc["pool_id"], group=group, lane_sets=lane_sets
    )
    if len(doc["cells"]) != len(chain.headers):
        raise VerificationError(
            "vintage.cells", f"{len(doc['cells'])} cell evidences for {len(chain.headers)} headers"
        )
    cells = tuple(
        verify_cohort_cell(group, h, doc["cohort"], c, f"cells[{i}]")
        for i, (h, c) in enumerate(zip(chain.headers, doc["cells"], strict=True))
    )
    curve = Curve(chain, doc["cohort"], cells)
    indices = curve.point_indices()
    if len(doc["points"]) != len(indices):
        raise VerificationError(
            "vintage.points",
            f"{len(doc['points'])} points; the chain has {len(indices)} snapshots from the cohort's first",
        )
    out: list[VerifiedPoint] = []
    for j, (k, point) in enumerate(zip(indices, doc["points"], strict=True)):
        where = f"points[{j}]"
        _point_schema().check(point, where)
        cutoff = chain.headers[k].context.cutoff_date
        if point["cutoff_date"] != cutoff or point["months_on_book"] != months_on_book(doc["cohort"], cutoff):
            raise VerificationError("vintage.point", f"{where}: not the {cutoff} snapshot's point")
        rates = point["rates"]
        if not isinstance(rates, dict) or sorted(rates) != sorted(RATES):
            raise VerificationError("vintage.point", f"{where}.rates: expected {', '.join(RATES)}")
        for rate in RATES:
            out.append(
                verify_vintage_point(group, curve, k, rate, rates[rate], bundle_nonce, f"{where}.{rate}")
            )
    return out
