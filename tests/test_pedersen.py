"""Pedersen commitments (``proofs.pedersen``): openings, homomorphism, batch path, HKDF blindings."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import pedersen
from proofs.errors import VerificationError
from proofs.generators import pedersen_bases
from proofs.group import BACKENDS, ORDER, Group, get_group, random_scalar
from proofs.pedersen import Opening

scalars = st.integers(min_value=0, max_value=ORDER - 1)
amounts = st.integers(min_value=0, max_value=2**48)


@pytest.fixture(params=BACKENDS)
def group(request: pytest.FixtureRequest) -> Group:
    return get_group(request.param)


# -- definition ----------------------------------------------------------------------------------


def test_commit_is_v_g_plus_r_h(group: Group) -> None:
    g, h = pedersen_bases(group)
    assert pedersen.commit(group, 5, 7) == 5 * g + 7 * h
    assert pedersen.commit(group, 0, 1) == h
    assert pedersen.commit(group, 1, 0) == g
    assert pedersen.commit(group, 0, 0).is_identity()


@pytest.mark.parametrize("value", [-1, -(2**40), ORDER, ORDER + 1])
def test_commit_refuses_values_outside_0_r(value: int) -> None:
    with pytest.raises(ValueError, match=r"value must be in \[0, r\)"):
        pedersen.commit(get_group("arkworks"), value, 1)


@pytest.mark.parametrize("blinding", [-1, ORDER])
def test_commit_refuses_blindings_outside_0_r(blinding: int) -> None:
    with pytest.raises(ValueError, match=r"blinding must be in \[0, r\)"):
        pedersen.commit(get_group("arkworks"), 1, blinding)


@pytest.mark.parametrize("value", [1.0, "1", True, None])
def test_commit_refuses_non_integers(value: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        pedersen.commit(get_group("arkworks"), value, 1)  # type: ignore[arg-type]


def test_backends_commit_byte_identically() -> None:
    rng = random.Random(7)  # fixed test randomness
    for _ in range(4):
        v, r = rng.randrange(2**48), rng.randrange(ORDER)
        a = pedersen.commit(get_group("arkworks"), v, r)
        b = pedersen.commit(get_group("pyecc"), v, r)
        assert a.to_bytes() == b.to_bytes()


# -- openings ------------------------------------------------------------------------------------


def test_verify_opening_accepts_the_opening(group: Group) -> None:
    o = Opening(123_456, random_scalar())
    c = pedersen.commit_opening(group, o)
    assert pedersen.verify_opening(group, c, o) is None


@pytest.mark.parametrize(
    "wrong",
    [Opening(123_457, 99), Opening(123_456, 100), Opening(0, 0), Opening(ORDER - 123_456, ORDER - 99)],
)
def test_verify_opening_rejects_any_other_opening(group: Group, wrong: Opening) -> None:
    c = pedersen.commit(group, 123_456, 99)
    with pytest.raises(VerificationError, match=r"pedersen\.opening") as err:
        pedersen.verify_opening(group, c, wrong)
    assert err.value.check == "pedersen.opening"


def test_opening_rejects_non_canonical_components() -> None:
    with pytest.raises(ValueError, match="opening value"):
        Opening(ORDER + 5, 1)  # would otherwise "open" the same point as value 5
    with pytest.raises(ValueError, match="opening blinding"):
        Opening(5, -1)
    with pytest.raises(TypeError):
        Opening(5, 1.5)  # type: ignore[arg-type]


def test_opening_repr_does_not_reveal_secrets() -> None:
    o = Opening(987_654_321, 123_456_789)
    assert "987654321" not in repr(o)
    assert "123456789" not in repr(o)


# -- homomorphism --------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(amounts, scalars, amounts, scalars, st.integers(min_value=-(2**64), max_value=2**64))
def test_commitment_arithmetic_matches_opening_arithmetic(v1: int, r1: int, v2: int, r2: int, k: int) -> None:
    g = get_group("arkworks")
    o1, o2 = Opening(v1, r1), Opening(v2, r2)
    c1, c2 = pedersen.commit_opening(g, o1), pedersen.commit_opening(g, o2)
    pedersen.verify_opening(g, pedersen.add(c1, c2), o1 + o2)
    pedersen.verify_opening(g, pedersen.sub(c1, c2), o1 - o2)
    pedersen.verify_opening(g, pedersen.scale(c1, k), o1.scale(k))
    pedersen.verify_opening(g, pedersen.sum_commitments(g, [c1, c2, c1]), pedersen.sum_openings([o1, o2, o1]))
    terms = [(k, c1), (-3, c2)]
    pedersen.verify_opening(
        g, pedersen.linear_combination(g, terms), pedersen.combine_openings([(k, o1), (-3, o2)])
    )


def test_subtraction_below_zero_wraps_mod_r(group: Group) -> None:
    o = Opening(5, 10) - Opening(8, 3)
    assert o == Opening(ORDER - 3, 7)
    pedersen.verify_opening(group, pedersen.commit(group, 5, 10) - pedersen.commit(group, 8, 3), o)


def test_sum_of_nothing_is_the_identity(group: Group) -> None:
    assert pedersen.sum_commitments(group, []).is_identity()
    assert pedersen.sum_openings([]) == Opening(0, 0)


def test_sum_accepts_points_from_the_other_backend() -> None:
    ark, ref = get_group("arkworks"), get_group("pyecc")
    total = pedersen.sum_commitments(ark, [pedersen.commit(ref, 2, 3), pedersen.commit(ark, 4, 5)])
    assert total.group is ark
    pedersen.verify_opening(ark, total, Opening(6, 8))


def test_backends_agree_on_homomorphic_helpers() -> None:
    outs = []
    for name in BACKENDS:
        g = get_group(name)
        c1, c2 = pedersen.commit(g, 10, 20), pedersen.commit(g, 30, 40)
        outs.append(
            [
                pedersen.sum_commitments(g, [c1, c2]).to_bytes(),
                pedersen.linear_combination(g, [(7, c1), (-2, c2)]).to_bytes(),
                pedersen.scale(c1, -1).to_bytes(),
            ]
        )
    assert outs[0] == outs[1]


# -- commit_many ---------------------------------------------------------------------------------

EDGE_VALUES = [0, 1, 2**12 - 1, 2**12, 2**40, 2**48 - 1, 2**64 + 3, ORDER - 1]
EDGE_BLINDINGS = [0, 1, 2**12, 2**200 + 17, ORDER - 1, ORDER - 2**12, 5, 2**255 % ORDER]


def test_commit_many_equals_commit_on_edge_cases(group: Group) -> None:
    got = pedersen.commit_many(group, EDGE_VALUES, EDGE_BLINDINGS)
    want = [pedersen.commit(group, v, r) for v, r in zip(EDGE_VALUES, EDGE_BLINDINGS, strict=True)]
    assert [c.to_bytes() for c in got] == [c.to_bytes() for c in want]


def test_commit_many_is_byte_identical_across_backends() -> None:
    rng = random.Random(11)  # fixed test randomness
    values = [rng.randrange(2**40) for _ in range(3)]
    blindings = [rng.randrange(ORDER) for _ in range(3)]
    a = pedersen.commit_many(get_group("arkworks"), values, blindings)
    b = pedersen.commit_many(get_group("pyecc"), values, blindings)
    assert [c.to_bytes() for c in a] == [c.to_bytes() for c in b]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=ORDER - 1), scalars), min_size=1, max_size=6))
def test_commit_many_equals_commit_arkworks(pairs: list[tuple[int, int]]) -> None:
    g = get_group("arkworks")
    values, blindings = [v for v, _ in pairs], [r for _, r in pairs]
    got = pedersen.commit_many(g, values, blindings)
    assert got == [pedersen.commit(g, v, r) for v, r in pairs]


def test_commit_many_validates_inputs(group: Group) -> None:
    assert pedersen.commit_many(group, [], []) == []
    with pytest.raises(ValueError, match="differ in length"):
        pedersen.commit_many(group, [1, 2], [1])
    with pytest.raises(ValueError, match="value must be in"):
        pedersen.commit_many(group, [1, -2], [1, 1])
    with pytest.raises(ValueError, match="blinding must be in"):
        pedersen.commit_many(group, [1, 2], [1, ORDER])


# -- derive_blinding -----------------------------------------------------------------------------

SEED = bytes(range(32))


def _hkdf_sha256_reference(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.2-2.3 written out with the standard library, independent of pyca/cryptography."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def test_derive_blinding_follows_the_documented_hkdf_layout() -> None:
    loan_key, lane = b"LOAN-000042", "principal/dpd_90_plus"
    info = len(loan_key).to_bytes(2, "big") + loan_key
    info += len(lane).to_bytes(2, "big") + lane.encode() + b"\x00"
    okm = _hkdf_sha256_reference(SEED, b"POOLPROOF-V1-PEDERSEN-BLINDING", info, 64)
    assert pedersen.derive_blinding(SEED, loan_key, lane) == int.from_bytes(okm, "big") % ORDER


def test_derive_blinding_is_deterministic_and_separates_inputs() -> None:
    base = pedersen.derive_blinding(SEED, b"L1", "current")
    assert base == pedersen.derive_blinding(SEED, b"L1", "current")
    assert 0 < base < ORDER
    others = {
        pedersen.derive_blinding(bytes(32), b"L1", "current"),
        pedersen.derive_blinding(SEED, b"L2", "current"),
        pedersen.derive_blinding(SEED, b"L1", "dpd_1_30"),
        # length prefixes keep (loan_key, lane) boundaries unambiguous
        pedersen.derive_blinding(SEED, b"L1c", "urrent"),
    }
    assert base not in others
    assert len(others) == 4


def test_derive_blinding_rejects_weak_seeds_and_empty_lanes() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        pedersen.derive_blinding(bytes(31), b"L1", "current")
    with pytest.raises(ValueError, match="lane"):
        pedersen.derive_blinding(SEED, b"L1", "")
    with pytest.raises(ValueError, match="65535"):
        pedersen.derive_blinding(SEED, bytes(70_000), "current")


def test_derived_openings_regenerate_the_commitment(group: Group) -> None:
    r = pedersen.derive_blinding(SEED, b"L7", "current")
    c = pedersen.commit(group, 1_000_000, r)
    pedersen.verify_opening(group, c, Opening(1_000_000, pedersen.derive_blinding(SEED, b"L7", "current")))
