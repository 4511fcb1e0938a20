"""Reading and writing snapshot bundles as a stream, one chunk document per line.

A snapshot bundle is one JSON document laid out one chunk per line so that it can be written and
verified as a stream (a 1M-loan pool is over a gigabyte)::

    {"format":"poolproof/snapshot/v1","header":{...},"chunks":[
    {"index":0,"leaves":[[exposure_id, hex(C_1..C_L)], ...],"proofs":[hex, ...]},
    ...
    ]}

A pool statement v2 leaf also carries its stratification cells, ``[exposure_id, hex, [cell, ...]]``
(in the header's dimension order), and the bundle carries the stratification table
(:mod:`proofs.strata`) between the header and the chunks: ``...,"header":{...},"strata":{...},
"chunks":[``.

Any JSON parser reads it whole; :func:`read_snapshot_bundle` reads it a line at a time and falls
back to a whole-document parse when the layout differs (e.g. re-indented by another tool).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, Final

from proofs import bundle, merkle
from proofs.canonical import MAX_NESTING, canonical_json, nesting_exceeds, parse_json
from proofs.errors import EncodingError, VerificationError
from proofs.group import Group, Point
from proofs.snapshot._layout import leaf_bytes
from proofs.snapshot._tasks import ChunkResult
from proofs.strata import check_cell

SNAPSHOT_KIND: Final = "snapshot"
SNAPSHOT_VERSION: Final = 1
_OPEN = '{"format":"poolproof/snapshot/v1","header":'
_CHUNKS = ',"chunks":['
_STRATA = ',"strata":'


def chunk_document(result: ChunkResult) -> dict[str, Any]:
    """The bundle form of one sealed chunk."""
    leaves: list[list[Any]] = [
        [eid, b"".join(c).hex()] for eid, c in zip(result.exposure_ids, result.commitments, strict=True)
    ]
    for leaf, cells in zip(leaves, result.cells, strict=False):
        leaf.append(list(cells))
    return {"index": result.chunk_index, "leaves": leaves, "proofs": [p.proof.hex() for p in result.proofs]}


def write_snapshot_bundle(
    out: IO[str],
    header: dict[str, Any],
    chunks: Iterable[dict[str, Any]],
    strata: dict[str, Any] | None = None,
) -> None:
    """Write a snapshot bundle, one chunk document per line, without holding the pool in memory.

    ``strata`` is the stratification table's bundle form (:meth:`proofs.strata.Table.to_dict`),
    required for a pool statement v2 header and refused otherwise.
    """
    if ("strata" in header) != (strata is not None):
        raise EncodingError(
            "a snapshot bundle carries a stratification table exactly when its header has one"
        )
    middle = "" if strata is None else _STRATA + canonical_json(strata).decode()
    out.write(_OPEN + canonical_json(header).decode() + middle + _CHUNKS + "\n")
    first = True
    for chunk in chunks:
        if not first:
            out.write(",\n")
        out.write(canonical_json(chunk).decode())
        first = False
    out.write("\n]}\n")


def read_snapshot_bundle(source: IO[str]) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The header and a lazy iterator over the chunk documents of a snapshot bundle.

    Raises:
        EncodingError: not a snapshot bundle, or a malformed line (raised while iterating).
    """
    header, _strata, chunks = read_snapshot_parts(source)
    return header, chunks


def read_snapshot_parts(
    source: IO[str],
) -> tuple[dict[str, Any], Any, Iterator[dict[str, Any]]]:
    """The header, the stratification table's JSON (``None`` if the bundle has none) and a lazy
    iterator over the chunk documents of a snapshot bundle.

    Raises:
        EncodingError: not a snapshot bundle, or a malformed line (raised while iterating).
    """
    first = source.readline()
    if first.startswith(_OPEN) and first.rstrip("\n").endswith(_CHUNKS):
        text = first.rstrip("\n")[len(_OPEN) : -len(_CHUNKS)]
        # Bounded before any decoder recurses into it (py_ecc raises the recursion limit past the stack).
        if nesting_exceeds(text, MAX_NESTING):
            raise EncodingError(f"JSON nesting is too deep (more than {MAX_NESTING} levels)")
        try:
            _, header_end = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError:
            header_end = len(text)
        rest = text[header_end:]
        if not rest or rest.startswith(_STRATA):
            header = parse_json(text[:header_end])
            strata = parse_json(rest[len(_STRATA) :]) if rest else None
            return _checked_header_object(header), strata, _stream_chunks(source)
    doc = parse_json(first + source.read())
    if not isinstance(doc, dict):
        raise EncodingError("(document): expected a JSON object")
    bundle.require_format(doc, SNAPSHOT_KIND, {SNAPSHOT_VERSION})
    if set(doc) - {"strata"} != {"format", "header", "chunks"} or not isinstance(doc["chunks"], list):
        raise EncodingError("(document): a snapshot bundle has exactly format, header, chunks and a table")
    return _checked_header_object(doc["header"]), doc.get("strata"), iter(doc["chunks"])


def _checked_header_object(header: object) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise EncodingError("header: expected an object")
    return header


def _stream_chunks(source: IO[str]) -> Iterator[dict[str, Any]]:
    line_no = 1
    for line in source:
        line_no += 1
        text = line.rstrip("\n")
        if text == "]}":
            if source.read().strip():
                raise EncodingError(f"line {line_no + 1}: data after the end of the bundle")
            return
        chunk = parse_json(text[:-1] if text.endswith(",") else text)
        if not isinstance(chunk, dict):
            raise EncodingError(f"line {line_no}: expected a chunk object")
        yield chunk
    raise EncodingError("bundle is truncated: no closing ']}' line")


_CHUNK_SCHEMA: Final = bundle.Object(
    {
        "index": bundle.Int(0, 2**40),
        "leaves": bundle.ListOf(bundle.ListOf(bundle.AnyJson(), 2, 3), 1, 1 << 16),
        "proofs": bundle.ListOf(bundle.Bytes(max_length=1 << 24), 1, 64),
    }
)


def decode_chunk(
    group: Group,
    n_lanes: int,
    chunk: dict[str, Any],
    index: int,
    size: int,
    dimensions: Sequence[str] = (),
    cells_out: list[tuple[str, ...]] | None = None,
) -> tuple[list[list[Point]], list[bytes], list[bytes]]:
    """Decode chunk document ``index`` of ``size`` leaves: its commitments, leaf hashes and proof bytes.

    Every commitment is decoded with curve and subgroup checks; proofs are not checked here. With
    ``dimensions`` (a pool statement v2 snapshot) every leaf must carry one cell per dimension;
    the cells are appended to ``cells_out``.

    Raises:
        EncodingError: the chunk does not fit the schema, or a leaf is malformed (names the path).
        VerificationError: ``snapshot.chunk_order`` (the chunk's index is not ``index``),
            ``snapshot.leaf_count`` (it does not hold ``size`` leaves), ``strata.leaf_cells`` (a
            leaf without exactly one cell per dimension).
    """
    path = f"chunks[{index}]"
    _CHUNK_SCHEMA.check(chunk, path)
    if chunk["index"] != index:
        raise VerificationError(
            "snapshot.chunk_order", f"{path}: expected chunk {index}, got {chunk['index']}"
        )
    if len(chunk["leaves"]) != size:
        raise VerificationError(
            "snapshot.leaf_count", f"{path}: expected {size} leaves, got {len(chunk['leaves'])}"
        )
    points: list[list[Point]] = []
    leaf_hashes: list[bytes] = []
    for i, leaf in enumerate(chunk["leaves"]):
        eid, blob_hex = leaf[0], leaf[1]
        leaf_path = f"{path}.leaves[{i}]"
        cells = _leaf_cells(leaf, dimensions, leaf_path)
        if cells is not None and cells_out is not None:
            cells_out.append(cells)
        if not isinstance(eid, str):
            raise EncodingError(f"{leaf_path}[0]: expected an exposure id string")
        blob = bundle.decode_bytes(blob_hex, f"{leaf_path}[1]", 48 * n_lanes)
        commitments = [blob[j * 48 : (j + 1) * 48] for j in range(n_lanes)]
        try:
            points.append([group.decode_point(c, allow_identity=True) for c in commitments])
        except EncodingError as exc:
            raise EncodingError(f"{leaf_path}: {exc}") from None
        leaf_hashes.append(merkle.leaf_hash(leaf_bytes(eid, commitments, cells)))
    proofs = [bytes.fromhex(p) for p in chunk["proofs"]]
    return points, leaf_hashes, proofs


def _leaf_cells(leaf: list[Any], dimensions: Sequence[str], where: str) -> tuple[str, ...] | None:
    if not dimensions:
        if len(leaf) != 2:
            raise EncodingError(f"{where}: expected [exposure_id, commitments]")
        return None
    if len(leaf) != 3 or not isinstance(leaf[2], list) or len(leaf[2]) != len(dimensions):
        raise VerificationError(
            "strata.leaf_cells",
            f"{where}: each loan is in exactly one cell of each dimension ({', '.join(dimensions)})",
        )
    return tuple(check_cell(c, f"{where}[2][{j}]") for j, c in enumerate(leaf[2]))
