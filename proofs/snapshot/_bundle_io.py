"""Reading and writing snapshot bundles as a stream, one chunk document per line.

A snapshot bundle is one JSON document laid out one chunk per line so that it can be written and
verified as a stream (a 1M-loan pool is over a gigabyte)::

    {"format":"poolproof/snapshot/v1","header":{...},"chunks":[
    {"index":0,"leaves":[[exposure_id, hex(C_1..C_L)], ...],"proofs":[hex, ...]},
    ...
    ]}

Any JSON parser reads it whole; :func:`read_snapshot_bundle` reads it a line at a time and falls
back to a whole-document parse when the layout differs (e.g. re-indented by another tool).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

from proofs import bundle, merkle
from proofs.canonical import canonical_json, parse_json
from proofs.errors import EncodingError, VerificationError
from proofs.group import Group, Point
from proofs.snapshot._layout import leaf_bytes
from proofs.snapshot._tasks import ChunkResult

SNAPSHOT_KIND: Final = "snapshot"
SNAPSHOT_VERSION: Final = 1
_OPEN = '{"format":"poolproof/snapshot/v1","header":'
_CHUNKS = ',"chunks":['


def chunk_document(result: ChunkResult) -> dict[str, Any]:
    """The bundle form of one sealed chunk."""
    return {
        "index": result.chunk_index,
        "leaves": [
            [eid, b"".join(c).hex()] for eid, c in zip(result.exposure_ids, result.commitments, strict=True)
        ],
        "proofs": [p.proof.hex() for p in result.proofs],
    }


def write_snapshot_bundle(out: IO[str], header: dict[str, Any], chunks: Iterable[dict[str, Any]]) -> None:
    """Write a snapshot bundle, one chunk document per line, without holding the pool in memory."""
    out.write(_OPEN + canonical_json(header).decode() + _CHUNKS + "\n")
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
    first = source.readline()
    if first.startswith(_OPEN) and first.rstrip("\n").endswith(_CHUNKS):
        header = parse_json(first.rstrip("\n")[len(_OPEN) : -len(_CHUNKS)])
        return _checked_header_object(header), _stream_chunks(source)
    doc = parse_json(first + source.read())
    if not isinstance(doc, dict):
        raise EncodingError("(document): expected a JSON object")
    bundle.require_format(doc, SNAPSHOT_KIND, {SNAPSHOT_VERSION})
    if set(doc) != {"format", "header", "chunks"} or not isinstance(doc["chunks"], list):
        raise EncodingError("(document): a snapshot bundle has exactly format, header and chunks")
    return _checked_header_object(doc["header"]), iter(doc["chunks"])


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
        "leaves": bundle.ListOf(bundle.ListOf(bundle.AnyJson(), 2, 2), 1, 1 << 16),
        "proofs": bundle.ListOf(bundle.Bytes(max_length=1 << 24), 1, 64),
    }
)


def decode_chunk(
    group: Group, n_lanes: int, chunk: dict[str, Any], index: int, size: int
) -> tuple[list[list[Point]], list[bytes], list[bytes]]:
    """Decode chunk document ``index`` of ``size`` leaves: its commitments, leaf hashes and proof bytes.

    Every commitment is decoded with curve and subgroup checks; proofs are not checked here.

    Raises:
        EncodingError: the chunk does not fit the schema, or a leaf is malformed (names the path).
        VerificationError: ``snapshot.chunk_order`` (the chunk's index is not ``index``),
            ``snapshot.leaf_count`` (it does not hold ``size`` leaves).
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
    for i, (eid, blob_hex) in enumerate(chunk["leaves"]):
        leaf_path = f"{path}.leaves[{i}]"
        if not isinstance(eid, str):
            raise EncodingError(f"{leaf_path}[0]: expected an exposure id string")
        blob = bundle.decode_bytes(blob_hex, f"{leaf_path}[1]", 48 * n_lanes)
        commitments = [blob[j * 48 : (j + 1) * 48] for j in range(n_lanes)]
        try:
            points.append([group.decode_point(c, allow_identity=True) for c in commitments])
        except EncodingError as exc:
            raise EncodingError(f"{leaf_path}: {exc}") from None
        leaf_hashes.append(merkle.leaf_hash(leaf_bytes(eid, commitments)))
    proofs = [bytes.fromhex(p) for p in chunk["proofs"]]
    return points, leaf_hashes, proofs
