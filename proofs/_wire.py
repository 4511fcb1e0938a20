"""Byte layout shared by the inner-product-based proofs (range proofs and the lane circuit).

Both serialise as: fixed points (48 bytes each, compressed), three scalars ``tau_x, mu, t_hat``
(32 bytes each, big-endian, canonical), ``k`` pairs ``L_i || R_i``, then the clear vectors ``a`` and
``b`` (``N / 2^k`` scalars each). Decoding checks every point (curve, subgroup, not the identity)
and every scalar (``< r``); the caller checks the total length first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proofs.errors import EncodingError
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, scalar_from_bytes


def scalar_bytes(k: int, what: str) -> bytes:
    """A canonical 32-byte scalar; ``what`` names the proof kind in the error."""
    if not 0 <= k < ORDER:
        raise EncodingError(f"{what}: scalar out of range [0, r)")
    return k.to_bytes(SCALAR_BYTES, "big")


def encode(
    what: str,
    points: Sequence[Point],
    scalars: Sequence[int],
    lefts: Sequence[Point],
    rights: Sequence[Point],
    a: Sequence[int],
    b: Sequence[int],
) -> bytes:
    """The canonical encoding (module docstring)."""
    parts = [p.to_bytes() for p in points]
    parts += [scalar_bytes(k, what) for k in scalars]
    for left, right in zip(lefts, rights, strict=True):
        parts += [left.to_bytes(), right.to_bytes()]
    parts += [scalar_bytes(k, what) for k in a]
    parts += [scalar_bytes(k, what) for k in b]
    return b"".join(parts)


@dataclass(frozen=True)
class Decoded:
    """The fields of a decoded proof, in encoding order."""

    points: tuple[Point, ...]
    scalars: tuple[int, ...]
    lefts: tuple[Point, ...]
    rights: tuple[Point, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]


def decode(
    group: Group,
    data: bytes,
    *,
    n_points: int,
    n_scalars: int,
    rounds: int,
    clear: int,
    clear_b: int | None = None,
) -> Decoded:
    """Decode the layout with checked points and canonical scalars (``clear_b``: ``b``'s own length).

    Raises:
        EncodingError: a malformed or off-subgroup point, the identity, or a scalar >= r.
    """
    view = bytes(data)
    pos = 0

    def point() -> Point:
        nonlocal pos
        p = group.decode_point(view[pos : pos + POINT_BYTES])
        pos += POINT_BYTES
        return p

    def scalar() -> int:
        nonlocal pos
        s = scalar_from_bytes(view[pos : pos + SCALAR_BYTES])
        pos += SCALAR_BYTES
        return s

    points = tuple(point() for _ in range(n_points))
    scalars = tuple(scalar() for _ in range(n_scalars))
    lefts: list[Point] = []
    rights: list[Point] = []
    for _ in range(rounds):
        lefts.append(point())
        rights.append(point())
    a = tuple(scalar() for _ in range(clear))
    b = tuple(scalar() for _ in range(clear if clear_b is None else clear_b))
    return Decoded(points, scalars, tuple(lefts), tuple(rights), a, b)
