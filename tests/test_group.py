"""BLS12-381 G1 behind ``proofs.group``: published vectors, encodings, and the two backends agreeing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.errors import EncodingError
from proofs.group import (
    BACKENDS,
    FIELD_MODULUS,
    ORDER,
    Group,
    Point,
    get_group,
    random_scalar,
    scalar_from_bytes,
    scalar_to_bytes,
)

VECTORS = Path(__file__).parent / "vectors" / "rfc9380"
RFC9380_G1 = json.loads((VECTORS / "BLS12381G1_XMD_SHA-256_SSWU_RO_.json").read_text())
INFINITY = bytes([0xC0]) + bytes(47)


@pytest.fixture(params=BACKENDS)
def group(request: pytest.FixtureRequest) -> Group:
    return get_group(request.param)


def affine_xy(p: Point) -> tuple[int, int]:
    """Affine (x, y) straight from each backend's own representation, not from our encoder."""
    if p.group.name == "arkworks":
        xy = bytes(p.raw.to_xy_bytes_be())
        return int.from_bytes(xy[:48], "big"), int.from_bytes(xy[48:], "big")
    from py_ecc.optimized_bls12_381 import normalize

    x, y = normalize(p.raw)
    return int(x), int(y)


def legendre(a: int) -> int:
    """Euler's criterion mod p: 1 for a non-zero square, p-1 for a non-square, 0 for zero."""
    return pow(a % FIELD_MODULUS, (FIELD_MODULUS - 1) // 2, FIELD_MODULUS)


def compressed_x(x: int, *, sign: bool = False) -> bytes:
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= 0x80 | (0x20 if sign else 0)
    return bytes(data)


def base_point(group: Group) -> Point:
    return group.hash_to_curve(b"test base point", b"POOLPROOF-TEST-GROUP")


# -- RFC 9380 Appendix J.9.1 -------------------------------------------------------------------


@pytest.mark.parametrize("case", RFC9380_G1["vectors"], ids=lambda c: c["msg"][:16] or "empty")
def test_hash_to_curve_matches_rfc9380_j91(group: Group, case: dict[str, Any]) -> None:
    point = group.hash_to_curve(case["msg"].encode(), RFC9380_G1["dst"].encode())
    assert affine_xy(point) == (int(case["P"]["x"], 16), int(case["P"]["y"], 16))


def test_rfc9380_vector_file_covers_the_five_published_messages() -> None:
    msgs = [c["msg"] for c in RFC9380_G1["vectors"]]
    assert msgs == ["", "abc", "abcdef0123456789", "q128_" + "q" * 128, "a512_" + "a" * 512]
    assert RFC9380_G1["dst"] == "QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"


def test_hash_to_curve_rejects_empty_and_overlong_dst(group: Group) -> None:
    with pytest.raises(ValueError, match="DST"):
        group.hash_to_curve(b"m", b"")
    with pytest.raises(ValueError, match="DST"):
        group.hash_to_curve(b"m", b"x" * 256)


# -- point encoding ----------------------------------------------------------------------------


def test_point_round_trip(group: Group) -> None:
    p = base_point(group)
    data = p.to_bytes()
    assert len(data) == 48
    assert data[0] & 0x80
    assert group.decode_point(data) == p
    assert affine_xy(group.decode_point(data)) == affine_xy(p)


def test_sign_flag_selects_the_negated_point(group: Group) -> None:
    p = base_point(group)
    data = bytearray(p.to_bytes())
    data[0] ^= 0x20
    assert group.decode_point(bytes(data)) == -p


@pytest.mark.parametrize("length", [0, 1, 47, 49, 96])
def test_decode_rejects_wrong_length(group: Group, length: int) -> None:
    with pytest.raises(EncodingError, match="expected 48 bytes"):
        group.decode_point(bytes([0x80]) + bytes(length - 1) if length else b"")


def test_decode_rejects_missing_compression_flag(group: Group) -> None:
    data = bytearray(base_point(group).to_bytes())
    data[0] &= 0x7F
    with pytest.raises(EncodingError, match="compression flag"):
        group.decode_point(bytes(data))


@pytest.mark.parametrize(
    "data",
    [
        bytes([0xC0]) + bytes(46) + b"\x01",  # infinity flag with a non-zero x
        bytes([0xE0]) + bytes(47),  # infinity flag with the sign bit set
        bytes([0xC1]) + bytes(47),  # infinity flag with stray high x bits
    ],
)
def test_decode_rejects_non_canonical_infinity(group: Group, data: bytes) -> None:
    with pytest.raises(EncodingError, match="non-canonical encoding of the identity"):
        group.decode_point(data, allow_identity=True)


def test_identity_only_where_allowed(group: Group) -> None:
    with pytest.raises(EncodingError, match="identity not allowed"):
        group.decode_point(INFINITY)
    ident = group.decode_point(INFINITY, allow_identity=True)
    assert ident.is_identity()
    assert ident == group.identity()
    assert group.identity().to_bytes() == INFINITY


@pytest.mark.parametrize("x", [FIELD_MODULUS, FIELD_MODULUS + 1, 2**381 - 1])
def test_decode_rejects_x_not_below_p(group: Group, x: int) -> None:
    with pytest.raises(EncodingError, match="field modulus"):
        group.decode_point(compressed_x(x))


def test_decode_rejects_x_off_the_curve(group: Group) -> None:
    # The first x for which x^3 + 4 is not a square: no point of E has that x.
    x = next(x for x in range(1, 100) if legendre(x**3 + 4) == FIELD_MODULUS - 1)
    with pytest.raises(EncodingError, match="curve"):
        group.decode_point(compressed_x(x))


@pytest.mark.parametrize("sign", [False, True])
def test_decode_rejects_curve_point_outside_the_subgroup(group: Group, sign: bool) -> None:
    x = 4
    assert legendre(x**3 + 4) == 1, "precondition: x = 4 lies on E(F_p)"
    with pytest.raises(EncodingError, match="subgroup"):
        group.decode_point(compressed_x(x, sign=sign))


# -- scalars -----------------------------------------------------------------------------------


def test_scalar_boundaries() -> None:
    assert scalar_from_bytes(scalar_to_bytes(ORDER - 1)) == ORDER - 1
    assert scalar_from_bytes(bytes(32)) == 0
    with pytest.raises(EncodingError, match="non-canonical"):
        scalar_from_bytes(ORDER.to_bytes(32, "big"))
    with pytest.raises(EncodingError, match="non-canonical"):
        scalar_from_bytes(b"\xff" * 32)
    with pytest.raises(EncodingError, match="zero"):
        scalar_from_bytes(bytes(32), allow_zero=False)


@pytest.mark.parametrize("length", [0, 31, 33, 48])
def test_scalar_rejects_wrong_length(length: int) -> None:
    with pytest.raises(EncodingError, match="expected 32 bytes"):
        scalar_from_bytes(bytes(length))


@pytest.mark.parametrize("k", [-1, ORDER, ORDER + 5, 2**256])
def test_scalar_to_bytes_refuses_out_of_range(k: int) -> None:
    with pytest.raises(EncodingError, match="out of range"):
        scalar_to_bytes(k)


def test_random_scalar_is_canonical_and_non_zero() -> None:
    seen = {random_scalar() for _ in range(64)}
    assert len(seen) == 64
    assert all(0 < k < ORDER for k in seen)


@given(st.integers(min_value=0, max_value=ORDER - 1))
def test_scalar_encoding_round_trips(k: int) -> None:
    data = scalar_to_bytes(k)
    assert len(data) == 32
    assert scalar_from_bytes(data) == k


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=ORDER - 1))
def test_point_encoding_round_trips_arkworks(k: int) -> None:
    g = get_group("arkworks")
    p = k * base_point(g)
    assert g.decode_point(p.to_bytes()) == p


@settings(max_examples=5, deadline=None)
@given(st.integers(min_value=1, max_value=ORDER - 1))
def test_point_encoding_round_trips_pyecc(k: int) -> None:
    g = get_group("pyecc")
    p = k * base_point(g)
    assert g.decode_point(p.to_bytes()) == p


# -- group law ---------------------------------------------------------------------------------


def test_group_law_basics(group: Group) -> None:
    p = base_point(group)
    assert 0 * p == group.identity()
    assert ORDER * p == group.identity()
    assert (ORDER - 1) * p == -p
    assert p + (-p) == group.identity()
    assert p - p == group.identity()
    assert 3 * p == p + p + p
    assert (-5) * p == -(5 * p)
    assert group.msm([], []) == group.identity()
    with pytest.raises(ValueError, match="differ in length"):
        group.msm([p], [1, 2])


def test_get_group_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown group backend"):
        get_group("openssl")


# -- differential: both backends byte for byte ------------------------------------------------


def test_backends_agree_on_every_operation() -> None:
    ark, ref = get_group("arkworks"), get_group("pyecc")
    rng = random.Random(20260511)  # fixed test randomness
    for i in range(3):
        msg = rng.randbytes(rng.randrange(0, 40))
        dst = b"POOLPROOF-TEST-DIFF-%d" % i
        pa, pr = ark.hash_to_curve(msg, dst), ref.hash_to_curve(msg, dst)
        qa, qr = ark.hash_to_curve(msg + b"q", dst), ref.hash_to_curve(msg + b"q", dst)
        assert pa.to_bytes() == pr.to_bytes()
        k = rng.randrange(ORDER)
        ks = [rng.randrange(ORDER) for _ in range(2)] + [0, 1, ORDER - 1]
        pts_a = [pa, qa, pa + qa, pa, qa]
        pts_r = [pr, qr, pr + qr, pr, qr]
        pairs = [
            ((pa + qa), (pr + qr)),
            ((pa - qa), (pr - qr)),
            ((-pa), (-pr)),
            ((k * pa), (k * pr)),
            (ark.msm(pts_a, ks), ref.msm(pts_r, ks)),
            (ark.msm_raw([p.raw for p in pts_a], ks), ref.msm_raw([p.raw for p in pts_r], ks)),
        ]
        for a, r in pairs:
            assert a.to_bytes() == r.to_bytes()
        # decoding through the other backend gives the same point
        assert ref.decode_point(pa.to_bytes()).to_bytes() == pa.to_bytes()
        assert ark.decode_point(pr.to_bytes()).to_bytes() == pr.to_bytes()


def test_points_from_different_backends_combine_by_value() -> None:
    ark, ref = get_group("arkworks"), get_group("pyecc")
    pa, pr = base_point(ark), base_point(ref)
    assert pa == pr
    assert hash(pa) == hash(pr)
    assert (pa + pr).to_bytes() == (2 * pa).to_bytes()


def _off_curve_encoding() -> bytes:
    """A compressed encoding whose x has no y on E: y² = x³ + 4 (x³ + 4 not a square mod p)."""
    x = 1
    while pow(x**3 + 4, (FIELD_MODULUS - 1) // 2, FIELD_MODULUS) == 1:
        x += 1
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= 0x80
    return bytes(data)


def test_decode_checked_point_round_trips_points_already_checked(group: Group) -> None:
    p = base_point(group)
    for point in (p, -p, 7 * p, group.identity()):
        assert group.decode_checked_point(point.to_bytes()) == point


def test_decode_checked_point_still_rejects_a_point_off_the_curve(group: Group) -> None:
    data = _off_curve_encoding()
    with pytest.raises(EncodingError):
        group.decode_point(data)
    with pytest.raises(EncodingError):
        group.decode_checked_point(data)
