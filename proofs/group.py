"""BLS12-381 G1, the prime-order group every PoolProof commitment and proof lives in.

Two interchangeable backends sit behind :class:`Group`:

* ``arkworks`` — ``py_arkworks_bls12381`` (Rust, fast; default). Its ``multiexp_unchecked`` is a
  Pippenger multi-scalar multiplication that releases the GIL.
* ``pyecc`` — ``py_ecc.optimized_bls12_381`` (pure Python reference, ~40x slower), so an auditor
  can re-check results with code they can read line by line.

Both produce byte-identical encodings:

* points: 48-byte compressed form of the ZCash BLS12-381 serialisation (flag bits: 0x80 compressed,
  0x40 infinity, 0x20 sign of y). Decoding rejects wrong lengths, missing compression flag,
  non-canonical infinity, x >= p, points off the curve and points outside the order-r subgroup,
  and the identity unless the caller allows it.
* scalars: 32-byte big-endian integers, canonical (< r). Decoding rejects values >= r.

Scalars are plain Python ``int`` in ``[0, r)`` at this interface; backends convert as needed.
Protocol code (Pedersen, Bulletproofs, claims) is written once against :class:`Group` and
:class:`Point`, and a differential test runs it on both backends.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Final

from py_arkworks_bls12381 import G1Point as _ArkG1
from py_arkworks_bls12381 import Scalar as _ArkScalar

from proofs.errors import EncodingError

#: Order of the BLS12-381 G1 subgroup (r).
ORDER: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
#: Base-field modulus (p).
FIELD_MODULUS: Final = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", 16
)
POINT_BYTES: Final = 48
SCALAR_BYTES: Final = 32
#: Environment variable that selects the default backend ("arkworks" or "pyecc").
BACKEND_ENV: Final = "POOLPROOF_GROUP_BACKEND"

_INFINITY_ENCODING: Final = bytes([0xC0]) + bytes(47)


def scalar_to_bytes(k: int) -> bytes:
    """Encode a scalar in ``[0, r)`` as 32 big-endian bytes.

    Raises:
        EncodingError: ``k`` is negative or not below the group order.
    """
    if not 0 <= k < ORDER:
        raise EncodingError("scalar out of range [0, r)")
    return k.to_bytes(SCALAR_BYTES, "big")


def scalar_from_bytes(data: bytes, *, allow_zero: bool = True) -> int:
    """Decode a canonical 32-byte big-endian scalar.

    Raises:
        EncodingError: wrong length, value >= r (non-canonical), or zero when not allowed.
    """
    if len(data) != SCALAR_BYTES:
        raise EncodingError(f"scalar: expected {SCALAR_BYTES} bytes, got {len(data)}")
    k = int.from_bytes(data, "big")
    if k >= ORDER:
        raise EncodingError("scalar: non-canonical encoding (value >= r)")
    if k == 0 and not allow_zero:
        raise EncodingError("scalar: zero is not allowed here")
    return k


#: A source of scalars, called once per scalar. Provers draw their randomness from ``os.urandom``;
#: a deterministic source is passed only by tests that regenerate frozen vectors.
ScalarSource = Callable[[], int]


def random_scalar() -> int:
    """A uniformly random non-zero scalar from the OS random source (64 bytes reduced mod r)."""
    while True:
        k = int.from_bytes(os.urandom(64), "big") % ORDER
        if k:
            return k


def _check_compressed_header(data: bytes) -> bool:
    """Validate the flag bits and x range of a compressed encoding; return True for infinity."""
    if len(data) != POINT_BYTES:
        raise EncodingError(f"point: expected {POINT_BYTES} bytes, got {len(data)}")
    flags = data[0]
    if not flags & 0x80:
        raise EncodingError("point: compression flag not set")
    if flags & 0x40:
        if data != _INFINITY_ENCODING:
            raise EncodingError("point: non-canonical encoding of the identity")
        return True
    x = int.from_bytes(bytes([flags & 0x1F]) + data[1:], "big")
    if x >= FIELD_MODULUS:
        raise EncodingError("point: x coordinate not below the field modulus")
    return False


class Point:
    """An element of BLS12-381 G1 bound to the backend that made it.

    Supports ``+``, ``-``, unary ``-``, ``int * Point`` and equality. Equality and hashing use
    the canonical encoding, so points from different backends compare by value.
    """

    __slots__ = ("group", "raw")

    def __init__(self, group: Group, raw: Any) -> None:
        self.group = group
        self.raw = raw

    def __add__(self, other: Point) -> Point:
        return Point(self.group, self.group._add(self.raw, self.group._native(other)))

    def __sub__(self, other: Point) -> Point:
        return Point(self.group, self.group._add(self.raw, self.group._neg(self.group._native(other))))

    def __neg__(self) -> Point:
        return Point(self.group, self.group._neg(self.raw))

    def __mul__(self, k: int) -> Point:
        return Point(self.group, self.group._mul(self.raw, k % ORDER))

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"Point({self.to_bytes().hex()[:16]}..., {self.group.name})"

    def to_bytes(self) -> bytes:
        """The 48-byte compressed encoding."""
        return self.group._encode(self.raw)

    def is_identity(self) -> bool:
        """True for the group identity (point at infinity)."""
        return self.to_bytes() == _INFINITY_ENCODING


class Group:
    """BLS12-381 G1 through one backend. Use :func:`get_group` to obtain one."""

    name: str = "abstract"

    # -- public API ---------------------------------------------------------------------------
    def identity(self) -> Point:
        """The identity element."""
        return Point(self, self._identity())

    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        """RFC 9380 ``hash_to_curve`` with suite ``BLS12381G1_XMD:SHA-256_SSWU_RO_`` (§8.8.1)."""
        if not 0 < len(dst) <= 255:
            raise ValueError("RFC 9380 §5.3.3: DST must be 1..255 bytes")
        return Point(self, self._hash_to_curve(msg, dst))

    def decode_point(self, data: bytes, *, allow_identity: bool = False) -> Point:
        """Decode a compressed point, checking the curve equation and subgroup membership.

        Raises:
            EncodingError: malformed bytes, off-curve or off-subgroup point, or the identity
                when ``allow_identity`` is false.
        """
        if _check_compressed_header(bytes(data)):
            if not allow_identity:
                raise EncodingError("point: identity not allowed here")
            return self.identity()
        return Point(self, self._decode(bytes(data)))

    def decode_checked_point(self, data: bytes) -> Point:
        """Decode a compressed point that this verifier (or prover) already decoded with every check
        and only moved between its own processes: the curve check stays, the subgroup check is not
        repeated (it is the costly part). Anything received from another party goes through
        :meth:`decode_point`.

        Raises:
            EncodingError: malformed bytes or an off-curve point.
        """
        if _check_compressed_header(bytes(data)):
            return self.identity()
        return Point(self, self._decode_checked(bytes(data)))

    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        """Multi-scalar multiplication ``sum(k_i * P_i)``; scalars are reduced mod r."""
        if len(points) != len(scalars):
            raise ValueError("msm: points and scalars differ in length")
        if not points:
            return self.identity()
        return Point(self, self._msm([self._native(p) for p in points], [k % ORDER for k in scalars]))

    def msm_raw(self, raws: Sequence[Any], scalars: Sequence[int]) -> Point:
        """Like :meth:`msm` over backend-native points (``Point.raw``): the hot path of batch verifiers."""
        if len(raws) != len(scalars):
            raise ValueError("msm: points and scalars differ in length")
        if not raws:
            return self.identity()
        return Point(self, self._msm(list(raws), [k % ORDER for k in scalars]))

    # -- backend hooks --------------------------------------------------------------------------
    def add_raw(self, a: Any, b: Any) -> Any:
        """The sum of two backend-native points (``Point.raw``), backend-native."""
        return self._add(a, b)

    def _native(self, p: Point) -> Any:
        if p.group is self:
            return p.raw
        return self._decode_any(p.to_bytes())

    def _decode_any(self, data: bytes) -> Any:
        if data == _INFINITY_ENCODING:
            return self._identity()
        return self._decode(data)

    def _identity(self) -> Any:
        raise NotImplementedError

    def _hash_to_curve(self, msg: bytes, dst: bytes) -> Any:
        raise NotImplementedError

    def _decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def _decode_checked(self, data: bytes) -> Any:
        # A backend without a cheaper path repeats every check.
        return self._decode(data)

    def _encode(self, raw: Any) -> bytes:
        raise NotImplementedError

    def _add(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def _neg(self, a: Any) -> Any:
        raise NotImplementedError

    def _mul(self, a: Any, k: int) -> Any:
        raise NotImplementedError

    def _msm(self, raws: list[Any], scalars: list[int]) -> Any:
        raise NotImplementedError


def _ark_scalar(k: int) -> Any:
    # from_le_bytes is ~27x faster than Scalar(int) (reference/proof-systems.md §6.1).
    return _ArkScalar.from_le_bytes(k.to_bytes(SCALAR_BYTES, "little"))


class ArkworksGroup(Group):
    """G1 via ``py_arkworks_bls12381`` (arkworks 0.4 through PyO3)."""

    name = "arkworks"

    def _identity(self) -> Any:
        return _ArkG1.identity()

    def _hash_to_curve(self, msg: bytes, dst: bytes) -> Any:
        return _ArkG1.hash_to_curve(msg, dst)  # note: message first, DST second

    def _decode(self, data: bytes) -> Any:
        try:
            # The checked decoder verifies the curve equation and subgroup membership.
            return _ArkG1.from_compressed_bytes(data)
        except ValueError as exc:
            raise EncodingError("point: not on the curve or not in the prime-order subgroup") from exc

    def _decode_checked(self, data: bytes) -> Any:
        try:
            return _ArkG1.from_compressed_bytes_unchecked(data)
        except ValueError as exc:
            raise EncodingError("point: not on the curve") from exc

    def _encode(self, raw: Any) -> bytes:
        return bytes(raw.to_compressed_bytes())

    def _add(self, a: Any, b: Any) -> Any:
        return a + b

    def _neg(self, a: Any) -> Any:
        return -a

    def _mul(self, a: Any, k: int) -> Any:
        return a * _ark_scalar(k)

    def _msm(self, raws: list[Any], scalars: list[int]) -> Any:
        # "unchecked" skips subgroup checks of the *inputs*; every Point here was produced by a
        # checked decode, hash-to-curve or group operation, so they are all in the subgroup.
        # The conversion is inlined (no call per scalar): it is the hot loop around every MSM.
        from_le = _ArkScalar.from_le_bytes
        return _ArkG1.multiexp_unchecked(raws, [from_le(k.to_bytes(SCALAR_BYTES, "little")) for k in scalars])


class PyEccGroup(Group):
    """G1 via ``py_ecc.optimized_bls12_381`` (pure Python; the readable reference backend)."""

    name = "pyecc"

    def __init__(self) -> None:
        from py_ecc import optimized_bls12_381 as curve
        from py_ecc.bls.g2_primitives import G1_to_pubkey, pubkey_to_G1
        from py_ecc.bls.hash_to_curve import hash_to_G1

        # py_ecc's own annotations are narrower than how we use it (plain bytes, hashlib
        # constructors), so keep its objects as Any at this boundary.
        self._c: Any = curve
        self._to_bytes: Any = G1_to_pubkey
        self._from_bytes: Any = pubkey_to_G1
        self._h2c: Any = hash_to_G1

    def _identity(self) -> Any:
        return self._c.Z1

    def _hash_to_curve(self, msg: bytes, dst: bytes) -> Any:
        return self._h2c(msg, dst, hashlib.sha256)

    def _decode(self, data: bytes) -> Any:
        try:
            pt = self._from_bytes(data)
        except (ValueError, AssertionError) as exc:
            raise EncodingError("point: not on the curve") from exc
        if not self._c.is_on_curve(pt, self._c.b):
            raise EncodingError("point: not on the curve")
        # py_ecc's decompression does not check the subgroup: do it here (r * P == O).
        if not self._c.is_inf(self._c.multiply(pt, ORDER)):
            raise EncodingError("point: not in the prime-order subgroup")
        return pt

    def _encode(self, raw: Any) -> bytes:
        return bytes(self._to_bytes(raw))

    def _add(self, a: Any, b: Any) -> Any:
        return self._c.add(a, b)

    def _neg(self, a: Any) -> Any:
        return self._c.neg(a)

    def _mul(self, a: Any, k: int) -> Any:
        if k == 0:
            return self._c.Z1
        return self._c.multiply(a, k)

    def _msm(self, raws: list[Any], scalars: list[int]) -> Any:
        acc = self._c.Z1
        for p, k in zip(raws, scalars, strict=True):
            if k:
                acc = self._c.add(acc, self._c.multiply(p, k))
        return acc


BACKENDS: Final = ("arkworks", "pyecc")


@cache
def get_group(name: str | None = None) -> Group:
    """The G1 group through backend ``name`` (default: ``$POOLPROOF_GROUP_BACKEND`` or arkworks).

    Raises:
        ValueError: unknown backend name.
    """
    name = name or os.environ.get(BACKEND_ENV, "arkworks")
    if name == "arkworks":
        return ArkworksGroup()
    if name == "pyecc":
        return PyEccGroup()
    raise ValueError(f"unknown group backend {name!r}; expected one of {BACKENDS}")
