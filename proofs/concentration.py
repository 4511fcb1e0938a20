"""Concentration limits at purchase, proven on the stratification rows of the period's snapshot.

A deal's ``[[concentration_limits]]`` bound the share of the pool one cell of a dimension may hold
once the period's purchases are in: for a limit on dimension ``d`` at ``L`` basis points, every cell
``c`` of ``d`` in snapshot ``t`` must have ``10000·B_c <= L·B`` with ``B`` the pool's outstanding
principal (:data:`METRIC`, docs/metrics.md) and ``B_c`` the cell's. The proof reads only what the
snapshot already commits to:

* ``B``'s commitment is the header's ``outstanding_balance`` metric commitment;
* each cell's is formed from the cell's per-lane aggregates, which the cell evidence of
  :mod:`proofs.cell_claims` ties to the cell's row in the header's table (RFC 9162 audit path, and
  the unpacking proof over the row's count);
* the verifier derives ``X_c = L·C_B − 10000·C_c`` and one aggregated Bulletproofs range proof shows
  every ``X_c`` in ``[0, 2^64)``. Every committed balance is range-bounded (below ``2^70`` for any
  pool a lane set holds), so a negative ``X_c`` would be ``r − |X_c|`` modulo ``r``, far above
  ``2^64``: no proof exists for a cell over its limit;
* **every cell is covered**: the rows given are distinct cells of ``d`` and their loan counts add up
  to the header's leaf count. Each leaf is in exactly one cell of each dimension (the auditor's full
  check, ``strata.leaf_cells``) and every row counts at least one loan, so a cell left out would
  leave the counts short (``concentration.cells``).

The transcript is the caller's (the eligibility statement's context, then the limit), so a proof
does not move to another statement or limit. A limit on a dimension the snapshot does not stratify
(``obligor``: loans are not grouped by obligor) cannot be proven here; the statement lists it as
unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from proofs import bundle
from proofs.bulletproofs import decode_ranges, pad_widths, prove_ranges, verify_ranges
from proofs.cell_claims import cell_opening, prove_cell, verify_cell
from proofs.deal import ConcentrationLimit
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, Group, Point, ScalarSource
from proofs.pedersen import Opening
from proofs.snapshot import Header
from proofs.strata import Table
from proofs.transcript import Transcript

#: The balance a share is measured on (outstanding principal: every state that still owes).
METRIC: Final = "outstanding_balance"
BPS: Final = 10_000
#: Width of each cell's headroom ``L·B − 10000·B_c`` (the prover refuses a pool too large for it).
WIDTH: Final = 64

#: Cell totals by cell label: (per-lane totals, per-input blinding sums) of the cell's loans.
CellOpenings = Mapping[str, tuple[Sequence[int], Sequence[int]]]


def provable(header: Header, limit: ConcentrationLimit) -> bool:
    """Whether the snapshot stratifies the limit's dimension (its rows can prove the limit)."""
    return header.strata is not None and limit.dimension in header.params.strata_dimensions


def cells_of(table: Table, dimension: str) -> list[str]:
    """The cells of one dimension, in table order."""
    return [r.cell for r in table.rows if r.dimension == dimension]


def breaching_cells(limit: ConcentrationLimit, cells: Mapping[str, int], pool: int) -> list[str]:
    """The cells over the limit, from plaintext balances (``cells``: balance by cell)."""
    return [c for c, b in cells.items() if BPS * b > limit.max_share_bps * pool]


def _schema() -> bundle.Object:
    return bundle.Object(
        {
            "id": bundle.Str(64),
            "dimension": bundle.Str(32),
            "cells": bundle.ListOf(bundle.AnyJson(), 1, 4096),
            "proof": bundle.Bytes(max_length=1 << 20),
        }
    )


def prove_limit(
    group: Group,
    header: Header,
    table: Table,
    limit: ConcentrationLimit,
    openings: CellOpenings,
    pool: Opening,
    transcript: Transcript,
    rng: ScalarSource,
    *,
    ipa_rounds: int | None = None,
) -> dict[str, Any]:
    """The proof that every cell of ``limit``'s dimension is within it (the gateway side).

    ``openings`` gives each cell's lane totals and input blinding sums; ``pool`` opens the header's
    :data:`METRIC` commitment.

    Raises:
        ProvingError: a cell over its limit (nothing false is proven), a headroom wider than
            :data:`WIDTH`, or openings that do not fit the table.
    """
    d, level = limit.dimension, limit.max_share_bps
    cells = cells_of(table, d)
    if sorted(cells) != sorted(openings):
        raise ProvingError(f"concentration {limit.id}: the openings are not those of {d}'s cells")
    evidence, values, blindings = [], [], []
    for cell in cells:
        totals, sums = openings[cell]
        aggregate = [rng() % ORDER for _ in header.lanes.lanes]
        try:
            evidence.append(prove_cell(group, header, table, d, cell, totals, sums, aggregate, rng))
        except ValueError as exc:
            raise ProvingError(f"concentration {limit.id}: {exc}") from None
        c = cell_opening(header, METRIC, totals, aggregate)
        headroom = level * pool.value - BPS * c.value
        _check_headroom(limit, cell, headroom)
        values.append(headroom)
        blindings.append((level * pool.blinding - BPS * c.blinding) % ORDER)
    values = _claimed(values)
    widths = pad_widths([WIDTH] * len(values))
    extra = len(widths) - len(values)
    rounds = None if ipa_rounds is None else min(ipa_rounds, sum(widths).bit_length() - 1)
    proof, _ = prove_ranges(
        group, values + [0] * extra, blindings + [0] * extra, widths, transcript, rng=rng, ipa_rounds=rounds
    )
    return {"id": limit.id, "dimension": d, "cells": evidence, "proof": proof.to_bytes().hex()}


def _check_headroom(limit: ConcentrationLimit, cell: str, headroom: int) -> None:
    """The prover's refusal: a cell over its limit, or a headroom wider than :data:`WIDTH`."""
    if not 0 <= headroom < 1 << WIDTH:
        raise ProvingError(
            f"concentration {limit.id}: cell {limit.dimension}={cell} is over its limit or too large"
        )


def _claimed(values: list[int]) -> list[int]:
    """The headrooms the prover claims: the true ones (a seam for forgery tests)."""
    return values


def verify_limit(
    group: Group,
    header: Header,
    limit: ConcentrationLimit,
    doc: object,
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    where: str = "concentration",
) -> None:
    """Check one limit's proof against the header.

    Raises:
        EncodingError: a malformed proof (names ``where``).
        VerificationError: ``concentration.limit`` (another limit or dimension), ``strata.row`` /
            ``unpacking.*`` (a cell's evidence), ``concentration.cells`` (a cell given twice, of
            another dimension, or a cell left out), ``concentration.range`` (a cell over its limit).
    """
    if not provable(header, limit):
        raise VerificationError(
            "concentration.limit", f"{limit.id}: the snapshot does not stratify {limit.dimension}"
        )
    _schema().check(doc, where)
    assert isinstance(doc, dict)
    if doc["id"] != limit.id or doc["dimension"] != limit.dimension:
        raise VerificationError("concentration.limit", f"{where}: the proof is for another limit")
    pool = header.metric_commitment(METRIC)
    seen: set[str] = set()
    count = 0
    points: list[Point] = []
    for i, cell_doc in enumerate(doc["cells"]):
        evidence = verify_cell(group, header, cell_doc, f"{where}.cells[{i}]")
        row = evidence.row
        if row.dimension != limit.dimension or row.cell in seen:
            raise VerificationError(
                "concentration.cells",
                f"{where}.cells[{i}]: {row.dimension}={row.cell} is not a new cell of {limit.dimension}",
            )
        seen.add(row.cell)
        count += row.count
        points.append(pool * limit.max_share_bps - evidence.metric_commitment(header, METRIC) * BPS)
    if count != header.leaf_count:
        raise VerificationError(
            "concentration.cells",
            f"{where}: the cells count {count} loans, the snapshot {header.leaf_count}: a cell is left out",
        )
    widths = pad_widths([WIDTH] * len(points))
    padded = points + [group.identity()] * (len(widths) - len(points))
    rounds = None if ipa_rounds is None else min(ipa_rounds, sum(widths).bit_length() - 1)
    try:
        proof = decode_ranges(group, bytes.fromhex(doc["proof"]), widths, rounds)
    except (ValueError, EncodingError) as exc:
        raise EncodingError(f"{where}.proof: {exc}") from None
    try:
        verify_ranges(group, padded, widths, proof, transcript)
    except VerificationError as exc:
        raise VerificationError(
            "concentration.range",
            f"{limit.id}: a cell's share is not proven within {limit.max_share_bps} bps ({exc})",
        ) from None
