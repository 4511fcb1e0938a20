"""Claims about one stratification cell: the cell's lane aggregates, unpacked from its committed row.

A claim can name a cell's metric as ``strata/<dimension>/<cell>/<metric>`` (for example
``strata/region/CA/outstanding_balance``). The claim bundle then carries, for each cell it names,
the cell's *evidence*:

1. the row (:class:`proofs.strata.Row`: count and the sums of the cell's leaves' packed input
   commitments) and its RFC 9162 audit path to the header's table root — so the row is the one the
   snapshot commits to, and which the auditor's full check proved to be the sum over exactly the
   cell's leaves;
2. fresh per-lane aggregates ``A_lane`` of the cell and the unpacking proof (:mod:`proofs.unpacking`)
   that they unpack the row's sums, over the row's leaf count — exactly as the header's aggregates
   unpack the pool's.

The verifier then forms the cell metric's commitment from the cell aggregates, bounds its value by
the row's count, and checks the claim proof over it. The unpacking transcript is the snapshot's
unpacking transcript extended with the dimension and cell, so evidence for one cell cannot stand for
another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proofs import bundle, unpacking
from proofs.errors import EncodingError, VerificationError
from proofs.group import POINT_BYTES, Group, Point, ScalarSource
from proofs.merkle import HASH_SIZE
from proofs.pedersen import Opening, combine_openings
from proofs.snapshot import Header
from proofs.strata import Row, Table, verify_row
from proofs.transcript import Transcript

PREFIX: Final = "strata/"
MAX_CELLS_PER_CLAIM: Final = 8


def cell_metric(dimension: str, cell: str, metric: str) -> str:
    """The claim metric name of ``metric`` within one cell."""
    return f"{PREFIX}{dimension}/{cell}/{metric}"


def parse_cell_metric(name: str) -> tuple[str, str, str] | None:
    """``(dimension, cell, metric)`` of a cell metric name; ``None`` for a pool-level metric.

    Raises:
        KeyError: a ``strata/`` name that is not ``strata/<dimension>/<cell>/<metric>``.
    """
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX) :].split("/")
    if len(parts) != 3 or not all(parts):
        raise KeyError(f"{name!r}: a cell metric is strata/<dimension>/<cell>/<metric>")
    return parts[0], parts[1], parts[2]


def _transcript(header: Header, dimension: str, cell: str) -> Transcript:
    t = header.context.unpacking_transcript()
    t.append_message(b"strata-dimension", dimension.encode())
    t.append_message(b"strata-cell", cell.encode())
    return t


@dataclass(frozen=True)
class CellEvidence:
    """A checked cell: its row and its per-lane aggregates (lane order)."""

    row: Row
    aggregates: dict[str, Point]

    def metric_commitment(self, header: Header, metric: str) -> Point:
        """The commitment to ``metric`` over this cell's loans."""
        terms = header.lanes.metric(metric)
        group = next(iter(self.aggregates.values())).group
        return group.msm([self.aggregates[lane] for lane, _ in terms], [c for _, c in terms])


def _evidence_schema(n_lanes: int) -> bundle.Object:
    return bundle.Object(
        {
            "row": bundle.AnyJson(),
            "index": bundle.Int(0, 2**20),
            "path": bundle.ListOf(bundle.Bytes(HASH_SIZE), 0, 32),
            "aggregates": bundle.Bytes(POINT_BYTES * n_lanes),
            "proof": bundle.Bytes(max_length=1 << 16),
        }
    )


def prove_cell(
    group: Group,
    header: Header,
    table: Table,
    dimension: str,
    cell: str,
    lane_totals: Sequence[int],
    input_blinding_sums: Sequence[int],
    aggregate_blindings: Sequence[int],
    rng: ScalarSource,
) -> dict[str, Any]:
    """The evidence of one cell (the gateway side).

    ``lane_totals`` are the cell's per-lane totals, ``input_blinding_sums`` the sums of its leaves'
    input blindings, ``aggregate_blindings`` fresh blindings of the cell's lane aggregates (keep
    them: with ``lane_totals`` they open the aggregates, :func:`cell_opening`).

    Raises:
        KeyError: no such cell (the message lists the valid ones).
        ProvingError: the totals do not fit the lane set (nothing is produced).
    """
    index, row = table.row(dimension, cell)
    proof, aggregates, sums = unpacking.prove_unpacking(
        group,
        header.lanes,
        row.count,
        lane_totals,
        aggregate_blindings,
        input_blinding_sums,
        _transcript(header, dimension, cell),
        rng,
    )
    if tuple(sums) != row.sums:
        raise ValueError(f"the openings given are not those of cell {dimension}={cell}")
    return {
        "row": row.to_dict(),
        "index": index,
        "path": [h.hex() for h in table.audit_path(index)],
        "aggregates": b"".join(a.to_bytes() for a in aggregates).hex(),
        "proof": proof.hex(),
    }


def cell_opening(
    header: Header, metric: str, lane_totals: Sequence[int], aggregate_blindings: Sequence[int]
) -> Opening:
    """The opening of a cell metric's commitment from the cell's lane totals and aggregate blindings.

    Raises:
        KeyError: unknown metric.
    """
    index = {lane: i for i, lane in enumerate(header.lanes.lanes)}
    return combine_openings(
        [
            (coeff, Opening(lane_totals[index[lane]], aggregate_blindings[index[lane]]))
            for lane, coeff in header.lanes.metric(metric)
        ]
    )


def verify_cell(group: Group, header: Header, doc: object, where: str = "cell") -> CellEvidence:
    """Check one cell evidence against the header: its row is in the header's table, and its
    aggregates unpack the row's sums over the row's count.

    Raises:
        EncodingError: malformed evidence (names ``where``).
        VerificationError: ``strata.row``, ``unpacking.*``.
    """
    assert header.strata is not None
    lanes = header.lanes
    _evidence_schema(len(lanes.lanes)).check(doc, where)
    assert isinstance(doc, dict)
    row = Row.from_dict(group, doc["row"], len(lanes.inputs), f"{where}.row")
    verify_row(row, doc["index"], header.strata, [bytes.fromhex(h) for h in doc["path"]])
    blob = bytes.fromhex(doc["aggregates"])
    try:
        points = [
            group.decode_point(blob[j * POINT_BYTES : (j + 1) * POINT_BYTES], allow_identity=True)
            for j in range(len(lanes.lanes))
        ]
    except EncodingError as exc:
        raise EncodingError(f"{where}.aggregates: {exc}") from None
    try:
        unpacking.verify_unpacking(
            group,
            lanes,
            row.count,
            points,
            list(row.sums),
            bytes.fromhex(doc["proof"]),
            _transcript(header, row.dimension, row.cell),
        )
    except EncodingError as exc:
        raise EncodingError(f"{where}.proof: {exc}") from None
    return CellEvidence(row, dict(zip(lanes.lanes, points, strict=True)))


def verify_cells(group: Group, header: Header, docs: object) -> dict[tuple[str, str], CellEvidence]:
    """Check every cell evidence a claim bundle carries; the checked cells by (dimension, cell).

    Raises:
        EncodingError: malformed evidence (names the path).
        VerificationError: ``strata.row`` (the row is not in the header's table), ``unpacking.*``
            (the cell's aggregates are not the unpacking of its row), ``claim.cells`` (the header
            has no table, or a cell is given twice).
    """
    if header.strata is None:
        raise VerificationError("claim.cells", "the snapshot has no stratification table")
    if not isinstance(docs, list) or len(docs) > MAX_CELLS_PER_CLAIM:
        raise EncodingError(f"cells: expected a list of at most {MAX_CELLS_PER_CLAIM} cell evidences")
    out: dict[tuple[str, str], CellEvidence] = {}
    for i, doc in enumerate(docs):
        evidence = verify_cell(group, header, doc, f"cells[{i}]")
        key = (evidence.row.dimension, evidence.row.cell)
        if key in out:
            raise VerificationError("claim.cells", f"cells[{i}]: cell {key[0]}={key[1]} is given twice")
        out[key] = evidence
    return out


def cells_named(metrics: Sequence[str]) -> list[tuple[str, str]]:
    """The distinct (dimension, cell) pairs a statement's metrics name, in first-use order.

    Raises:
        KeyError: a malformed ``strata/`` name.
    """
    out: list[tuple[str, str]] = []
    for m in metrics:
        parsed = parse_cell_metric(m)
        if parsed is not None and parsed[:2] not in out:
            out.append(parsed[:2])
    return out


def evidence_by_metric(
    cells: Mapping[tuple[str, str], CellEvidence], metric: str
) -> tuple[CellEvidence, str] | None:
    """The evidence of the cell a cell metric names and the metric within it; ``None`` for a pool metric.

    Raises:
        VerificationError: ``claim.cells`` — the bundle carries no evidence for the cell.
    """
    try:
        parsed = parse_cell_metric(metric)
    except KeyError as exc:
        raise VerificationError("claim.metric", str(exc.args[0])) from None
    if parsed is None:
        return None
    dimension, cell, inner = parsed
    found = cells.get((dimension, cell))
    if found is None:
        raise VerificationError(
            "claim.cells", f"{metric}: the bundle carries no evidence for cell {dimension}={cell}"
        )
    return found, inner
