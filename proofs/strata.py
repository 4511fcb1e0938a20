"""Stratification tables of the pool statement v2: per dimension, each cell's loan count and committed sums.

A pool statement v2 leaf carries the loan's generalised *cell* in every stratification dimension
the header names (for example ``rate_band = "1200-1799"``, ``region = "CA"``), in the header's
dimension order, under the Merkle root (leaf version 2, :func:`proofs.snapshot.leaf_bytes`). The
table has one *row* per (dimension, cell): the number of leaves in the cell and, per packed input,
the sum of those leaves' input commitments. Sums of Pedersen commitments commit to the sums of the
openings, so a row commits to every lane total of its cell (count, balance by state, each flow)
without a new circuit or commitment per loan; a claim about a cell unpacks the row's sums with the
unpacking proof (:mod:`proofs.unpacking`) exactly as the header's aggregates unpack the pool's.

What the auditor's full check proves (:func:`check_table` and the leaf checks of
:func:`proofs.snapshot.verify_snapshot`):

* every leaf names exactly one cell in every dimension (``strata.leaf_cells``);
* the table is the one the header commits to (``strata.root``: an RFC 9162 root over the rows);
* in every dimension the cells add up to the pool: counts to the leaf count, sums to the header's
  packed sums (``strata.dimension_total``);
* every row is the sum over exactly the leaves in its cell, and every cell a leaf names has a row
  (``strata.cell_sum``).

Why labels rather than zero-knowledge membership: cells are generalised values (bands, province,
quarter, product) the classification policy already lets auditors see, and which the snapshot
bundle's holders (the gateway, auditors, witnesses) are entitled to. Proving membership in zero
knowledge would add, per loan and dimension, a one-hot vector of cell bits and a band range proof
to the circuit — about 2·(cells + band bits) gates per dimension, a third more gates a loan for
seven dimensions — to hide what those parties may already see. Investors never hold the bundle:
they receive cell figures only as claims (a row and its audit path) through the gateway's
disclosure control, where small cells are suppressed.

Row encoding (hashed as an RFC 9162 leaf): ``ROW_DOMAIN || u8 len(dimension) || dimension ||
u8 len(cell) || cell || u64be(count) || K_1 .. K_k`` (48-byte compressed points). Rows are ordered
by the header's dimension order, then by cell (byte order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proofs import bundle, merkle
from proofs.errors import EncodingError, VerificationError
from proofs.group import POINT_BYTES, Group, Point

ROW_DOMAIN: Final = b"poolproof/strata-row/v1\x00"
MAX_DIMENSIONS: Final = 16
MAX_CELLS: Final = 4096
DIMENSION_PATTERN: Final = r"[a-z][a-z0-9_]{0,31}"
CELL_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}"
_DIMENSION = re.compile(DIMENSION_PATTERN)
_CELL = re.compile(CELL_PATTERN)


def check_dimensions(dimensions: Sequence[str]) -> tuple[str, ...]:
    """The dimension names, checked: 1-16 distinct names of ``[a-z][a-z0-9_]{0,31}``.

    Raises:
        EncodingError: names the offending dimension.
    """
    dims = tuple(dimensions)
    if not 1 <= len(dims) <= MAX_DIMENSIONS:
        raise EncodingError(f"strata.dimensions: expected 1 to {MAX_DIMENSIONS} dimensions, got {len(dims)}")
    for d in dims:
        if not isinstance(d, str) or not _DIMENSION.fullmatch(d):
            raise EncodingError(f"strata.dimensions: {d!r} is not a dimension name ({DIMENSION_PATTERN})")
    if len(set(dims)) != len(dims):
        raise EncodingError("strata.dimensions: a dimension is named twice")
    return dims


def check_cell(cell: object, where: str) -> str:
    """A well-formed cell label (``[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}``).

    Raises:
        EncodingError: names ``where``.
    """
    if not isinstance(cell, str) or not _CELL.fullmatch(cell):
        raise EncodingError(f"{where}: {cell!r} is not a cell label ({CELL_PATTERN})")
    return cell


def leaf_cells(
    labels: Mapping[str, str], dimensions: Sequence[str], where: str = "labels"
) -> tuple[str, ...]:
    """A loan's cells in ``dimensions`` order from its labels (one cell for every dimension, no other).

    Raises:
        VerificationError: ``strata.leaf_cells`` — a dimension without a cell, or a label for a
            dimension the header does not name.
        EncodingError: a malformed cell label.
    """
    missing = [d for d in dimensions if d not in labels]
    extra = sorted(set(labels) - set(dimensions))
    if missing or extra:
        raise VerificationError(
            "strata.leaf_cells",
            f"{where}: each loan is in exactly one cell of each dimension "
            f"({', '.join(dimensions)}); "
            + (f"no cell for {', '.join(missing)}" if missing else f"unknown dimension {', '.join(extra)}"),
        )
    return tuple(check_cell(labels[d], f"{where}.{d}") for d in dimensions)


def cells_bytes(cells: Sequence[str]) -> bytes:
    """The cells' encoding inside a leaf: ``u8 count`` then ``u8 len || cell`` for each."""
    out = bytearray([len(cells)])
    for cell in cells:
        raw = cell.encode("ascii")
        out += bytes([len(raw)]) + raw
    return bytes(out)


@dataclass(frozen=True)
class Row:
    """One cell of one dimension: its loan count and the sums of its leaves' input commitments."""

    dimension: str
    cell: str
    count: int
    sums: tuple[Point, ...]

    def to_bytes(self) -> bytes:
        """The row encoding (module docstring)."""
        d, c = self.dimension.encode("ascii"), self.cell.encode("ascii")
        return (
            ROW_DOMAIN
            + bytes([len(d)])
            + d
            + bytes([len(c)])
            + c
            + self.count.to_bytes(8, "big")
            + b"".join(p.to_bytes() for p in self.sums)
        )

    def leaf_hash(self) -> bytes:
        """The row's RFC 9162 leaf hash in the table's tree."""
        return merkle.leaf_hash(self.to_bytes())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"dimension", "cell", "count", "sums": hex}``."""
        return {
            "dimension": self.dimension,
            "cell": self.cell,
            "count": self.count,
            "sums": b"".join(p.to_bytes() for p in self.sums).hex(),
        }

    @classmethod
    def from_dict(cls, group: Group, doc: object, n_inputs: int, where: str = "row") -> Row:
        """Decode a row's JSON form (curve and subgroup checks on every sum).

        Raises:
            EncodingError: malformed row (names ``where`` and the field).
        """
        _row_schema(n_inputs).check(doc, where)
        assert isinstance(doc, dict)
        blob = bytes.fromhex(doc["sums"])
        try:
            sums = tuple(
                group.decode_point(blob[j * POINT_BYTES : (j + 1) * POINT_BYTES], allow_identity=True)
                for j in range(n_inputs)
            )
        except EncodingError as exc:
            raise EncodingError(f"{where}.sums: {exc}") from None
        return cls(doc["dimension"], doc["cell"], doc["count"], sums)


def _row_schema(n_inputs: int) -> bundle.Object:
    return bundle.Object(
        {
            "dimension": bundle.Str(32, DIMENSION_PATTERN),
            "cell": bundle.Str(48, CELL_PATTERN),
            "count": bundle.Int(1, 2**40),
            "sums": bundle.Bytes(POINT_BYTES * n_inputs),
        }
    )


def header_field_spec() -> bundle.Object:
    """The schema of the header's ``strata`` field: the dimensions, row count and table root."""
    return bundle.Object(
        {
            "dimensions": bundle.ListOf(bundle.Str(32, DIMENSION_PATTERN), 1, MAX_DIMENSIONS),
            "rows": bundle.Int(0, MAX_DIMENSIONS * MAX_CELLS),
            "root": bundle.Bytes(32),
        }
    )


@dataclass(frozen=True)
class Table:
    """A stratification table: the dimensions and their rows, in canonical order."""

    dimensions: tuple[str, ...]
    rows: tuple[Row, ...]

    def root(self) -> bytes:
        """The RFC 9162 root over the rows' leaf hashes (what the header commits to)."""
        return merkle.root([r.leaf_hash() for r in self.rows])

    def header_field(self) -> dict[str, Any]:
        """The header's ``strata`` field."""
        return {"dimensions": list(self.dimensions), "rows": len(self.rows), "root": self.root().hex()}

    def to_dict(self) -> dict[str, Any]:
        """The bundle form: ``{"dimensions": [...], "rows": [row, ...]}``."""
        return {"dimensions": list(self.dimensions), "rows": [r.to_dict() for r in self.rows]}

    def row(self, dimension: str, cell: str) -> tuple[int, Row]:
        """The index and row of one cell.

        Raises:
            KeyError: no such cell; the message lists the dimension's cells.
        """
        for i, r in enumerate(self.rows):
            if r.dimension == dimension and r.cell == cell:
                return i, r
        if dimension not in self.dimensions:
            raise KeyError(f"unknown dimension {dimension!r}; dimensions are {', '.join(self.dimensions)}")
        cells = [r.cell for r in self.rows if r.dimension == dimension]
        raise KeyError(f"no cell {cell!r} in {dimension}; its cells are {', '.join(cells)}")

    def audit_path(self, index: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of row ``index`` in the table's tree."""
        return merkle.inclusion_proof([r.leaf_hash() for r in self.rows], index)

    @classmethod
    def from_dict(cls, group: Group, doc: object, n_inputs: int) -> Table:
        """Decode a table's bundle form.

        Raises:
            EncodingError: malformed table (names the row and field).
        """
        bundle.Object(
            {
                "dimensions": bundle.ListOf(bundle.Str(32, DIMENSION_PATTERN), 1, MAX_DIMENSIONS),
                "rows": bundle.ListOf(bundle.AnyJson(), 0, MAX_DIMENSIONS * MAX_CELLS),
            }
        ).check(doc, "strata")
        assert isinstance(doc, dict)
        dims = check_dimensions(doc["dimensions"])
        rows = tuple(
            Row.from_dict(group, r, n_inputs, f"strata.rows[{i}]") for i, r in enumerate(doc["rows"])
        )
        return cls(dims, rows)


class Accumulator:
    """Sums leaves into cells: per (dimension, cell), the leaf count and per-input commitment sums.

    Feed it chunk by chunk (:meth:`add_chunk`); partial accumulators merge (:meth:`merge`), so
    workers can each sum their share and the caller folds them in any order.
    """

    def __init__(self, group: Group, dimensions: Sequence[str], n_inputs: int) -> None:
        self.group = group
        self.dimensions = tuple(dimensions)
        self.n_inputs = n_inputs
        self.cells: dict[tuple[int, str], tuple[int, list[Point]]] = {}

    def add_chunk(self, cells: Sequence[Sequence[str]], points: Sequence[Sequence[Point]]) -> None:
        """Add leaves: ``cells[i]`` in dimension order, ``points[i]`` the leaf's input commitments."""
        for d in range(len(self.dimensions)):
            members: dict[str, list[int]] = {}
            for i, leaf in enumerate(cells):
                members.setdefault(leaf[d], []).append(i)
            for cell, idx in members.items():
                sums = [
                    self.group.msm([points[i][j] for i in idx], [1] * len(idx)) for j in range(self.n_inputs)
                ]
                self._add((d, cell), len(idx), sums)

    def _add(self, key: tuple[int, str], count: int, sums: Sequence[Point]) -> None:
        old = self.cells.get(key)
        if old is None:
            self.cells[key] = (count, list(sums))
        else:
            self.cells[key] = (old[0] + count, [a + b for a, b in zip(old[1], sums, strict=True)])

    def merge(self, other: Accumulator) -> None:
        """Add another accumulator's cells (same dimensions and inputs)."""
        for key, (count, sums) in other.cells.items():
            self._add(key, count, sums)

    def partial(self) -> list[tuple[int, str, int, bytes]]:
        """A picklable form: ``(dimension index, cell, count, concatenated sums)``."""
        return [
            (d, cell, count, b"".join(p.to_bytes() for p in sums))
            for (d, cell), (count, sums) in self.cells.items()
        ]

    def add_partial(self, partial: Iterable[tuple[int, str, int, bytes]]) -> None:
        """Add a :meth:`partial` made elsewhere."""
        for d, cell, count, blob in partial:
            sums = [
                self.group.decode_point(blob[j * POINT_BYTES : (j + 1) * POINT_BYTES], allow_identity=True)
                for j in range(self.n_inputs)
            ]
            self._add((d, cell), count, sums)

    def table(self) -> Table:
        """The rows in canonical order (dimension order, then cell byte order)."""
        rows = tuple(
            Row(self.dimensions[d], cell, count, tuple(sums))
            for (d, cell), (count, sums) in sorted(
                self.cells.items(), key=lambda kv: (kv[0][0], kv[0][1].encode())
            )
        )
        return Table(self.dimensions, rows)


def check_table(
    table: Table,
    header_field: Mapping[str, Any],
    leaf_count: int,
    packed_sums: Sequence[Point],
    recomputed: Table | None,
) -> None:
    """The table's checks against its header and, when given, against the cells recomputed from the leaves.

    Raises:
        VerificationError: ``strata.root`` (the table is not the one the header commits to, or its
            dimensions differ), ``strata.dimension_total`` (a dimension's cells do not add up to the
            pool's leaf count or packed sums), ``strata.cell_sum`` (a row is not the sum of its
            cell's leaves, or a cell has no row).
    """
    if list(table.dimensions) != list(header_field["dimensions"]) or len(table.rows) != header_field["rows"]:
        raise VerificationError("strata.root", "the table's dimensions or row count differ from the header's")
    order = [
        (table.dimensions.index(r.dimension) if r.dimension in table.dimensions else -1, r.cell.encode())
        for r in table.rows
    ]
    if any(d < 0 for d, _ in order) or order != sorted(set(order)) or len(set(order)) != len(order):
        raise VerificationError("strata.root", "the table's rows are not one per cell in canonical order")
    if table.root() != bytes.fromhex(header_field["root"]):
        raise VerificationError("strata.root", "the table's root differs from the header's")
    for dim in table.dimensions:
        rows = [r for r in table.rows if r.dimension == dim]
        count = sum(r.count for r in rows)
        if count != leaf_count:
            raise VerificationError(
                "strata.dimension_total",
                f"dimension {dim}: its cells hold {count} loans; the pool has {leaf_count}",
            )
        for j, want in enumerate(packed_sums):
            total = want.group.identity()
            for r in rows:
                total = total + r.sums[j]
            if total != want:
                raise VerificationError(
                    "strata.dimension_total",
                    f"dimension {dim}: its cells' sums of input {j} do not add up to the pool's",
                )
    if recomputed is None:
        return
    mine = {(r.dimension, r.cell): r for r in recomputed.rows}
    theirs = {(r.dimension, r.cell): r for r in table.rows}
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if a is None or b is None or a.count != b.count or a.sums != b.sums:
            what = "has no row" if b is None else "is not the sum of its leaves"
            raise VerificationError("strata.cell_sum", f"cell {key[0]}={key[1]} {what}")


def verify_row(row: Row, index: int, header_field: Mapping[str, Any], path: Sequence[bytes]) -> None:
    """Check one row (carried by a claim) is row ``index`` of the table the header commits to.

    Raises:
        VerificationError: ``strata.row`` (the row is not in the header's table).
    """
    if row.dimension not in header_field["dimensions"]:
        raise VerificationError("strata.row", f"the header has no dimension {row.dimension}")
    try:
        merkle.verify_inclusion(
            row.leaf_hash(), index, header_field["rows"], path, bytes.fromhex(header_field["root"])
        )
    except VerificationError as exc:
        raise VerificationError("strata.row", f"{row.dimension}={row.cell}: {exc}") from exc
