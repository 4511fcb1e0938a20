"""Leaves and layout of a snapshot: leaf encoding, blinding derivation, chunk pieces and proof parts.

Both the prover and the verifier take the order of pieces and parts, and of the entries within a
part, from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, TypeVar

from proofs import lanecircuit
from proofs.errors import EncodingError
from proofs.group import ORDER
from proofs.lanes import LaneSet
from proofs.pedersen import derive_blinding
from proofs.strata import cells_bytes

_T = TypeVar("_T")


LEAF_VERSION: Final = b"\x01"
#: Leaves of the pool statement v2 also carry the loan's stratification cells (:mod:`proofs.strata`).
LABELLED_LEAF_VERSION: Final = b"\x02"


#: The loan key of the aggregates' blindings (``#`` is not an exposure-id character).
AGGREGATE_KEY: Final = b"#aggregate"
_EXPOSURE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: Parts of a piece: (label, lane kind, first lane offset, lanes in the part).
_PARTS: Final = (
    ("balance/0-3", "balance", 0, 4),
    ("balance/4", "balance", 4, 1),
    ("count/0-3", "count", 0, 4),
    ("count/4", "count", 4, 1),
)


def aggregate_blindings(seed: bytes, lanes: LaneSet) -> list[int]:
    """The per-lane aggregates' blindings of a packed snapshot, derived from the snapshot seed."""
    return [derive_blinding(seed, AGGREGATE_KEY, lane) for lane in lanes.lanes]


def check_exposure_id(exposure_id: str) -> bytes:
    """The ASCII bytes of a well-formed exposure id.

    Raises:
        EncodingError: not 1–64 characters of ``[A-Za-z0-9_-]``.
    """
    if not isinstance(exposure_id, str) or not _EXPOSURE_ID.fullmatch(exposure_id):
        raise EncodingError("exposure_id: expected 1-64 characters of [A-Za-z0-9_-]")
    return exposure_id.encode("ascii")


def leaf_bytes(exposure_id: str, commitments: Sequence[bytes], cells: Sequence[str] | None = None) -> bytes:
    """The leaf encoding (see :mod:`proofs.snapshot`).

    Without ``cells``: ``0x01 || u8 len(id) || id || C_1 .. C_k``. With the loan's stratification
    cells (pool statement v2): ``0x02 || u8 len(id) || id || cells || C_1 .. C_k``, the cells
    encoded by :func:`proofs.strata.cells_bytes` in the header's dimension order.
    """
    eid = check_exposure_id(exposure_id)
    if cells is None:
        return LEAF_VERSION + bytes([len(eid)]) + eid + b"".join(commitments)
    return LABELLED_LEAF_VERSION + bytes([len(eid)]) + eid + cells_bytes(cells) + b"".join(commitments)


def labelled(lanes: LaneSet) -> bool:
    """Whether leaves under ``lanes`` may carry stratification cells: the pool statement's lane sets
    may (they do when the snapshot names stratification dimensions), the dpd5 lane sets never."""
    return lanes.circuit is not None


def pieces(n: int) -> list[tuple[int, int]]:
    """Split ``n`` consecutive items into power-of-two pieces: ``[(offset, size), ...]``, largest first."""
    out: list[tuple[int, int]] = []
    offset = 0
    for bit in reversed(range(n.bit_length())):
        size = 1 << bit
        if n & size:
            out.append((offset, size))
            offset += size
    return out


def loan_blindings(seed: bytes, exposure_id: str, lanes: LaneSet) -> list[int]:
    """Blindings of one loan's commitments, derived from the snapshot seed (so openings can be regenerated).

    One per lane (count-lane blindings sum to zero, which makes ``sum(count commitments) == G``
    checkable by anyone), or one per packed input for a packed lane set.
    """
    key = check_exposure_id(exposure_id)
    if lanes.packing is not None:
        return [derive_blinding(seed, key, name) for name in lanes.inputs]
    blindings = [derive_blinding(seed, key, lane) for lane in lanes.lanes[:-1]]
    n_bal = len(lanes.balance_lanes)
    last_count = -sum(blindings[n_bal:]) % ORDER
    return [*blindings, last_count]


def part_entries(rows: Sequence[Sequence[_T]], lanes: LaneSet, offset: int, size: int, part: str) -> list[_T]:
    """The per-lane entries (values, blindings or commitments) a range-proof part is about.

    Lane-major: every loan of the piece for the part's first lane, then the next lane, ...; the
    prover and the verifier both take this order.
    """
    spec = next((p for p in _PARTS if p[0] == part), None)
    if spec is None:
        raise EncodingError(f"unknown proof part {part!r}")
    _, kind, first, count = spec
    lane_offset = first + (0 if kind == "balance" else len(lanes.balance_lanes))
    return [
        rows[i][lane]
        for lane in range(lane_offset, lane_offset + count)
        for i in range(offset, offset + size)
    ]


def circuit_rounds(
    ipa_rounds: int | None, loans: int, n_bits: int, lanes: LaneSet | None = None
) -> int | None:
    """The IPA rounds of a circuit piece: the snapshot's setting, capped at the piece's maximum."""
    if ipa_rounds is None:
        return None
    if lanes is not None and lanes.circuit is not None:
        return min(ipa_rounds, lanes.circuit.gate_count(loans).bit_length() - 1)
    return min(ipa_rounds, lanecircuit.gate_count(loans, n_bits).bit_length() - 1)


def expected_parts(lanes: LaneSet, n_loans: int) -> list[tuple[int, str, int, int, int, int]]:
    """Every (piece, part, offset, size, m, n_bits) a chunk of ``n_loans`` must carry, in order.

    For a range-proof lane set ``m`` is the number of values in the part; for the lane circuit and
    the pool circuit it is the number of loans in the piece.
    """
    if lanes.circuit is not None:
        sizes = lanes.circuit.split_loans(n_loans) if n_loans else []
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        return [
            (piece, "poolcircuit", offset, size, size, lanes.circuit.balance_bits)
            for piece, (offset, size) in enumerate(zip(offsets, sizes, strict=True))
        ]
    if lanes.proof == "lanecircuit":
        sizes = lanecircuit.split_loans(n_loans, lanes.balance_bits) if n_loans else []
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        return [
            (piece, "lanecircuit", offset, size, size, lanes.balance_bits)
            for piece, (offset, size) in enumerate(zip(offsets, sizes, strict=True))
        ]
    out = []
    for piece_index, (offset, size) in enumerate(pieces(n_loans)):
        for part, kind, _first, count in _PARTS:
            n_bits = lanes.balance_bits if kind == "balance" else lanes.count_bits
            out.append((piece_index, part, offset, size, count * size, n_bits))
    return out
