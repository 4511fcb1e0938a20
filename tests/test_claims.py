"""Claims on aggregate commitments (``proofs.claims``): completeness, soundness, tampering, encodings."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import claims
from proofs.bulletproofs import RangeProof, prove_range
from proofs.claims import (
    BoundClaim,
    ClaimProof,
    ClaimStatement,
    Disclosure,
    RatioBetweenClaim,
    RatioClaim,
    prove_claim,
    statement_from_dict,
    verify_claim,
)
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, Group, Point, get_group, random_scalar
from proofs.pedersen import Opening, commit_opening
from proofs.transcript import Transcript

VECTORS = Path(__file__).parent / "vectors" / "claims"
ARK = get_group("arkworks")
CTX = bytes.fromhex("11" * 32) + b"nonce-0001"  # snapshot header hash || requester nonce


def seeded(seed: int) -> Callable[[], int]:
    """Fixed test randomness (never used outside tests)."""
    r = random.Random(seed)
    return lambda: r.randrange(1, ORDER)


def openings(**values: int) -> dict[str, Opening]:
    return {name: Opening(v, random_scalar()) for name, v in values.items()}


def commitments_of(group: Group, ops: dict[str, Opening]) -> dict[str, Point]:
    return {name: commit_opening(group, o) for name, o in ops.items()}


def prove_and_verify(statement: ClaimStatement, ops: dict[str, Opening], group: Group = ARK) -> ClaimProof:
    proof = prove_claim(group, statement, ops, context=CTX)
    verify_claim(group, statement, commitments_of(group, ops), proof, context=CTX)
    return proof


# -- completeness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "op", "p", "q"),
    [
        (3, 100, "<=", 3, 100),  # exactly equal ratio
        (2, 100, "<=", 3, 100),
        (0, 100, "<=", 3, 100),  # zero numerator
        (0, 0, "<=", 3, 100),  # empty pool: 0 <= 0
        (29_999, 1_000_000, "<=", 3, 100),
        (3, 100, ">=", 3, 100),  # equal ratio, other direction
        (50, 100, ">=", 1, 2),
        (5, 7, ">=", 0, 1),  # A/B >= 0 always holds
        (2**48 - 1, 2**48 - 1, "<=", 1, 1),  # largest values under the declared bound
        (2**47, 2**48 - 1, "<=", 65_535, 65_535),  # k = 64: p, q < 2^16 with 48-bit values
    ],
)
def test_true_ratio_claims_verify(a: int, b: int, op: str, p: int, q: int) -> None:
    proof = prove_and_verify(RatioClaim("bad", "total", op, p, q), openings(bad=a, total=b))  # type: ignore[arg-type]
    assert proof.kind == "range"
    assert proof.n_bits == 64


@pytest.mark.parametrize(
    ("value", "lo", "hi"),
    [(5, 5, 5), (5, 0, 10), (10, 0, 10), (0, 0, None), (7, None, 7), (2**48 - 1, 1, None)],
)
def test_true_bound_claims_verify(value: int, lo: int | None, hi: int | None) -> None:
    prove_and_verify(BoundClaim("total", lo, hi), openings(total=value))


@pytest.mark.parametrize(("a", "b"), [(1, 100), (5, 100), (3, 100), (0, 0)])
def test_true_ratio_between_claims_verify(a: int, b: int) -> None:
    prove_and_verify(RatioBetweenClaim("bad", "total", 1, 100, 5, 100), openings(bad=a, total=b))


def test_disclosure_reveals_the_value_and_verifies() -> None:
    ops = openings(total=123_456_789)
    proof = prove_and_verify(Disclosure("total"), ops)
    assert proof.value == 123_456_789
    assert proof.response != ops["total"].blinding  # the blinding itself is not handed out


def test_bit_size_follows_declared_bounds() -> None:
    assert prove_and_verify(RatioClaim("a", "b", "<=", 1, 2, value_bits=4), openings(a=1, b=7)).n_bits == 8
    assert prove_and_verify(BoundClaim("a", 3, 9, value_bits=20), openings(a=4)).n_bits == 32
    assert (
        prove_and_verify(RatioClaim("a", "b", "<=", 3, 100, value_bits=24), openings(a=1, b=99)).n_bits == 32
    )


def test_other_metrics_in_the_maps_are_ignored() -> None:
    ops = openings(bad=1, total=100, unrelated=5)
    prove_and_verify(RatioClaim("bad", "total", "<=", 3, 100), ops)


# -- soundness: false claims cannot be produced --------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        RatioClaim("bad", "total", "<=", 3, 100),  # 4/100 > 3/100
        RatioClaim("bad", "total", ">=", 5, 100),
        BoundClaim("bad", 5, None),
        BoundClaim("bad", None, 3),
        BoundClaim("total", 0, 99),
        RatioBetweenClaim("bad", "total", 5, 100, 6, 100),
        RatioBetweenClaim("bad", "total", 1, 100, 3, 100),
    ],
)
def test_false_claims_cannot_be_proven(statement: ClaimStatement) -> None:
    with pytest.raises(ProvingError, match="claim does not hold"):
        prove_claim(ARK, statement, openings(bad=4, total=100), context=CTX)


def test_ratio_just_above_the_threshold_is_refused() -> None:
    with pytest.raises(ProvingError, match="claim does not hold"):
        prove_claim(
            ARK, RatioClaim("bad", "total", "<=", 3, 100), openings(bad=30_001, total=1_000_000), context=CTX
        )


def test_values_above_the_declared_bound_are_refused() -> None:
    with pytest.raises(ProvingError, match="declared bound"):
        prove_claim(ARK, RatioClaim("bad", "total", "<=", 1, 1), openings(bad=1, total=2**48), context=CTX)


def test_missing_opening_is_refused() -> None:
    with pytest.raises(ProvingError, match="no opening for metric 'total'"):
        prove_claim(ARK, RatioClaim("bad", "total", "<=", 1, 1), openings(bad=1), context=CTX)


def test_wrapped_negative_difference_cannot_be_range_proven() -> None:
    # A cheating prover bypassing prove_claim: p·B − q·A = −1 wraps to r − 1, which no 64-bit proof covers.
    ops = openings(bad=4, total=100)
    st_ = RatioClaim("bad", "total", "<=", 3, 100)
    (constraint,) = st_.constraints()
    wrapped = constraint.value({k: o.value for k, o in ops.items()}) % ORDER
    with pytest.raises(ProvingError, match="out of range"):
        prove_range(ARK, [wrapped], [constraint.blinding(ops)], 64, Transcript(b"cheat"))


def test_proof_of_a_true_claim_does_not_verify_a_false_statement() -> None:
    ops = openings(bad=2, total=100)
    proof = prove_claim(ARK, RatioClaim("bad", "total", "<=", 3, 100), ops, context=CTX)
    false_statement = RatioClaim("bad", "total", "<=", 1, 100)
    with pytest.raises(VerificationError, match=r"claim\.range"):
        verify_claim(ARK, false_statement, commitments_of(ARK, ops), proof, context=CTX)


# -- tampering ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ratio_case() -> tuple[RatioClaim, dict[str, Point], ClaimProof]:
    ops = {"bad": Opening(2, 111), "total": Opening(100, 222), "other": Opening(2, 333)}
    statement = RatioClaim("bad", "total", "<=", 3, 100)
    proof = prove_claim(ARK, statement, ops, context=CTX, rng=seeded(1))
    return statement, commitments_of(ARK, ops), proof


def _rejects(
    statement: ClaimStatement, cms: dict[str, Point], proof: ClaimProof, context: bytes = CTX
) -> None:
    with pytest.raises(VerificationError):
        verify_claim(ARK, statement, cms, proof, context=context)


def test_ratio_case_verifies_untampered(ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof]) -> None:
    statement, cms, proof = ratio_case
    verify_claim(ARK, statement, cms, proof, context=CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"p": 4},
        {"p": 30, "q": 1000},  # same ratio, different statement
        {"q": 99},
        {"op": ">="},
        {"metric_num": "other"},  # "other" commits to the same value under another name
        {"value_bits": 40},
    ],
)
def test_tampered_statement_is_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof], change: dict[str, Any]
) -> None:
    statement, cms, proof = ratio_case
    _rejects(dataclasses.replace(statement, **change), cms, proof)


@pytest.mark.parametrize("metric", ["bad", "total"])
def test_tampered_commitment_is_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof], metric: str
) -> None:
    statement, cms, proof = ratio_case
    g, h = pedersen_bases(ARK)
    for delta in (h, -g, g):  # re-randomised, or a commitment to a neighbouring value
        _rejects(statement, {**cms, metric: cms[metric] + delta}, proof)


def test_swapped_commitments_are_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof],
) -> None:
    statement, cms, proof = ratio_case
    _rejects(statement, {**cms, "bad": cms["total"], "total": cms["bad"]}, proof)


def test_missing_commitment_is_rejected(ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof]) -> None:
    statement, cms, proof = ratio_case
    with pytest.raises(VerificationError, match=r"claim\.commitment"):
        verify_claim(ARK, statement, {"bad": cms["bad"]}, proof, context=CTX)


@pytest.mark.parametrize(
    "context", [b"", CTX[:-1], CTX + b"\x00", bytes.fromhex("12" + "11" * 31) + b"nonce-0001"]
)
def test_other_context_is_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof], context: bytes
) -> None:
    statement, cms, proof = ratio_case
    _rejects(statement, cms, proof, context)


def _range_proof_variants(rp: RangeProof) -> Iterator[tuple[str, RangeProof]]:
    g, _ = pedersen_bases(ARK)
    for name in ("A", "S", "T1", "T2"):
        yield name, dataclasses.replace(rp, **{name: getattr(rp, name) + g})
    for name in ("tau_x", "mu", "t_hat"):
        yield name, dataclasses.replace(rp, **{name: (getattr(rp, name) + 1) % ORDER})
    for name in ("L", "R"):
        vec = getattr(rp, name)
        for i in range(len(vec)):
            yield f"{name}[{i}]", dataclasses.replace(rp, **{name: (*vec[:i], vec[i] + g, *vec[i + 1 :])})
    for name in ("a", "b"):
        vec = getattr(rp, name)
        for i in range(len(vec)):
            yield (
                f"{name}[{i}]",
                dataclasses.replace(rp, **{name: (*vec[:i], (vec[i] + 1) % ORDER, *vec[i + 1 :])}),
            )


def test_every_range_proof_element_is_bound(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof],
) -> None:
    statement, cms, proof = ratio_case
    assert proof.range_proof is not None
    rp = RangeProof.from_bytes(ARK, proof.range_proof, m=1, n_bits=64)
    names = []
    for name, bad in _range_proof_variants(rp):
        names.append(name)
        _rejects(statement, cms, dataclasses.replace(proof, range_proof=bad.to_bytes()))
    assert len(names) == 4 + 3 + 2 * 6 + 2  # every point and scalar of a 64-bit proof


def test_every_byte_of_the_range_proof_matters(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof],
) -> None:
    statement, cms, proof = ratio_case
    assert proof.range_proof is not None
    data = proof.range_proof
    for pos in range(0, len(data), 7):  # a spread of positions over every field
        flipped = bytearray(data)
        flipped[pos] ^= 0x01
        _rejects(statement, cms, dataclasses.replace(proof, range_proof=bytes(flipped)))
    _rejects(statement, cms, dataclasses.replace(proof, range_proof=data[:-1]))
    _rejects(statement, cms, dataclasses.replace(proof, range_proof=data + b"\x00"))


def test_wrong_bit_size_and_kind_are_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof],
) -> None:
    statement, cms, proof = ratio_case
    with pytest.raises(VerificationError, match=r"claim\.bits"):
        verify_claim(ARK, statement, cms, dataclasses.replace(proof, n_bits=32), context=CTX)
    disclosure = prove_claim(ARK, Disclosure("bad"), {"bad": Opening(2, 111)}, context=CTX)
    with pytest.raises(VerificationError, match=r"claim\.kind"):
        verify_claim(ARK, statement, cms, disclosure, context=CTX)
    with pytest.raises(VerificationError, match=r"claim\.kind"):
        verify_claim(ARK, Disclosure("bad"), cms, proof, context=CTX)


def test_two_sided_proof_elements_are_bound() -> None:
    ops = openings(bad=3, total=100)
    statement = RatioBetweenClaim("bad", "total", 1, 100, 5, 100)
    proof = prove_claim(ARK, statement, ops, context=CTX)
    cms = commitments_of(ARK, ops)
    verify_claim(ARK, statement, cms, proof, context=CTX)
    assert proof.range_proof is not None
    rp = RangeProof.from_bytes(ARK, proof.range_proof, m=2, n_bits=64)
    for _, bad in _range_proof_variants(rp):
        _rejects(statement, cms, dataclasses.replace(proof, range_proof=bad.to_bytes()))
    _rejects(dataclasses.replace(statement, hi_p=4), cms, proof)
    _rejects(dataclasses.replace(statement, lo_p=2), cms, proof)


def test_every_disclosure_element_is_bound() -> None:
    ops = openings(total=1_000)
    cms = commitments_of(ARK, ops)
    proof = prove_claim(ARK, Disclosure("total"), ops, context=CTX)
    g, _ = pedersen_bases(ARK)
    assert proof.value is not None
    assert proof.response is not None
    assert proof.nonce_commitment is not None
    for bad in (
        dataclasses.replace(proof, value=proof.value + 1),
        dataclasses.replace(proof, value=proof.value - 1),
        dataclasses.replace(proof, response=(proof.response + 1) % ORDER),
        dataclasses.replace(proof, nonce_commitment=proof.nonce_commitment + g),
    ):
        _rejects(Disclosure("total"), cms, bad)
    _rejects(Disclosure("total"), {"total": cms["total"] + g}, proof)
    _rejects(Disclosure("total"), cms, proof, context=CTX + b"x")
    with pytest.raises(VerificationError, match=r"claim\.disclosure"):
        verify_claim(ARK, Disclosure("total"), cms, dataclasses.replace(proof, value=999), context=CTX)


# -- statements -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RatioClaim("a", "a", "<=", 1, 2), "must differ"),
        (lambda: RatioClaim("a", "b", "<", 1, 2), "op must be"),
        (lambda: RatioClaim("a", "b", "<=", 1, 0), "q"),
        (lambda: RatioClaim("a", "b", "<=", -1, 2), "p"),
        (lambda: RatioClaim("a b", "b", "<=", 1, 2), "metric name"),
        (lambda: RatioClaim("", "b", "<=", 1, 2), "metric name"),
        (lambda: RatioClaim("a", "b", "<=", 1, 2, value_bits=0), "value_bits"),
        (lambda: RatioClaim("a", "b", "<=", 1, 2, value_bits=65), "value_bits"),
        (lambda: BoundClaim("a", None, None), "lo, hi or both"),
        (lambda: BoundClaim("a", 5, 4), "lo must not exceed hi"),
        (lambda: BoundClaim("a", -1, 4), "lo"),
        (lambda: RatioBetweenClaim("a", "b", 3, 10, 2, 10), "lower ratio"),
        (lambda: Disclosure("a/b c"), "metric name"),
    ],
)
def test_invalid_statements_are_refused(factory: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


def test_statement_types_are_checked() -> None:
    with pytest.raises(TypeError, match="p: expected an int"):
        RatioClaim("a", "b", "<=", 1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="q: expected an int"):
        RatioClaim("a", "b", "<=", 1, True)


def test_statement_bytes_are_canonical_and_distinct() -> None:
    a = claims.statement_bytes(RatioClaim("bad", "total", "<=", 3, 100))
    assert (
        a
        == b'{"metric_den":"total","metric_num":"bad","op":"<=","p":3,"q":100,"type":"ratio","value_bits":48}'
    )
    others = {
        claims.statement_bytes(s)
        for s in (
            RatioClaim("bad", "total", ">=", 3, 100),
            RatioClaim("total", "bad", "<=", 3, 100),
            BoundClaim("bad", 3, 100),
            Disclosure("bad"),
        )
    }
    assert a not in others
    assert len(others) == 4


statement_strategy = st.one_of(
    st.builds(
        RatioClaim,
        st.just("bad"),
        st.just("total"),
        st.sampled_from(["<=", ">="]),
        st.integers(0, 2**15),
        st.integers(1, 2**15),
        st.integers(1, 48),
    ),
    st.builds(
        BoundClaim, st.just("m"), st.integers(0, 2**20), st.one_of(st.none(), st.integers(2**20, 2**40))
    ),
    st.builds(Disclosure, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+/-]{0,20}", fullmatch=True)),
)


@given(statement_strategy)
def test_statement_dict_round_trips(statement: ClaimStatement) -> None:
    doc = json.loads(claims.statement_bytes(statement))
    assert statement_from_dict(doc) == statement


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "expected an object"),
        ({"type": "nope"}, "unknown claim type"),
        ({"type": "disclosure"}, "metric: missing"),
        ({"type": "disclosure", "metric": "a", "x": 1}, "unknown member"),
        ({"type": "disclosure", "metric": 5}, "wrong type"),
        ({"type": "bound", "metric": "a", "lo": True, "hi": None, "value_bits": 8}, "wrong type"),
        ({"type": "bound", "metric": "a", "lo": 9, "hi": 1, "value_bits": 8}, "lo must not exceed hi"),
    ],
)
def test_malformed_statement_dicts_are_rejected(doc: object, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        statement_from_dict(doc)


def test_metric_value_bits() -> None:
    assert claims.metric_value_bits(1, 32) == 32
    assert claims.metric_value_bits(1_000_000, 32) == 52
    assert claims.metric_value_bits(1_000_000, 8, 5) == 31  # 5 · 10^6 · 255 < 2^31
    assert claims.metric_value_bits(0, 32) == 1


# -- proof encoding -------------------------------------------------------------------------------


def test_range_proof_round_trips(ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof]) -> None:
    _, _, proof = ratio_case
    assert ClaimProof.from_bytes(ARK, proof.to_bytes()) == proof
    assert ClaimProof.from_dict(ARK, proof.to_dict()) == proof
    assert proof.to_dict()["format"] == "poolproof/claim-proof/v1"


@settings(max_examples=20, deadline=None)
@given(st.integers(0, ORDER - 1), st.integers(1, ORDER - 1), st.integers(0, ORDER - 1))
def test_disclosure_proof_round_trips(value: int, k: int, response: int) -> None:
    proof = ClaimProof(
        "disclosure", value=value, nonce_commitment=k * pedersen_bases(ARK)[1], response=response
    )
    assert ClaimProof.from_bytes(ARK, proof.to_bytes()) == proof


def _disclosure_doc() -> dict[str, Any]:
    return prove_claim(ARK, Disclosure("t"), {"t": Opening(5, 6)}, context=CTX).to_dict()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(format="poolproof/claim-proof/v2"), "format"),
        (lambda d: d.update(format="poolproof/claim/v1"), "format"),
        (lambda d: d.update(kind="other"), "kind"),
        (lambda d: d.update(extra=1), "unknown member"),
        (lambda d: d.pop("response"), "response: missing"),
        (lambda d: d.update(response="00" * 31), "expected 32 bytes"),
        (lambda d: d.update(response=ORDER.to_bytes(32, "big").hex()), "non-canonical"),
        (lambda d: d.update(response="AB" * 32), "lowercase hex"),
        (lambda d: d.update(value="05"), "does not match"),
        (lambda d: d.update(value="-5"), "does not match"),
        (lambda d: d.update(value=5), "expected a string"),
        (lambda d: d.update(value=str(ORDER)), "group order"),
        (lambda d: d.update(nonce_commitment="c0" + "00" * 47), "identity"),
        (lambda d: d.update(nonce_commitment=(bytes([0x80]) + bytes(46) + b"\x04").hex()), "subgroup"),
    ],
)
def test_malformed_disclosure_proofs_are_rejected(
    mutate: Callable[[dict[str, Any]], object], match: str
) -> None:
    doc = _disclosure_doc()
    mutate(doc)
    with pytest.raises(EncodingError, match=match):
        ClaimProof.from_dict(ARK, doc)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(n_bits=24), "n_bits"),
        (lambda d: d.update(n_bits=256), "n_bits"),
        (lambda d: d.update(n_bits=128), "high_limbs"),
        (lambda d: d.update(range_proof="abc"), "hex"),
        (lambda d: d.update(value="1"), "unknown member"),
    ],
)
def test_malformed_range_proofs_are_rejected(
    ratio_case: tuple[RatioClaim, dict[str, Point], ClaimProof],
    mutate: Callable[[dict[str, Any]], object],
    match: str,
) -> None:
    doc = ratio_case[2].to_dict()
    mutate(doc)
    with pytest.raises(EncodingError, match=match):
        ClaimProof.from_dict(ARK, doc)


def test_from_bytes_rejects_non_json() -> None:
    with pytest.raises(EncodingError):
        ClaimProof.from_bytes(ARK, b"\xff not json")


def test_claim_proof_requires_consistent_fields() -> None:
    with pytest.raises(ValueError, match="needs exactly"):
        ClaimProof("range", n_bits=64)
    with pytest.raises(ValueError, match="needs exactly"):
        ClaimProof("disclosure", value=1, nonce_commitment=pedersen_bases(ARK)[0], response=1, n_bits=8)


# -- differential: arkworks and py_ecc give the same proof ---------------------------------------


def test_backends_produce_identical_claim_proofs() -> None:
    ref = get_group("pyecc")
    statement = RatioClaim("a", "b", "<=", 1, 2, value_bits=4)  # 8-bit proof: cheap on py_ecc
    ops = {"a": Opening(3, 1234), "b": Opening(7, 5678)}
    proof_ark = prove_claim(ARK, statement, ops, context=CTX, rng=seeded(9))
    proof_ref = prove_claim(ref, statement, ops, context=CTX, rng=seeded(9))
    assert proof_ark.to_bytes() == proof_ref.to_bytes()
    verify_claim(
        ref,
        statement,
        commitments_of(ref, ops),
        ClaimProof.from_bytes(ref, proof_ark.to_bytes()),
        context=CTX,
    )
    disc_ark = prove_claim(ARK, Disclosure("a"), ops, context=CTX, rng=seeded(3))
    disc_ref = prove_claim(ref, Disclosure("a"), ops, context=CTX, rng=seeded(3))
    assert disc_ark.to_bytes() == disc_ref.to_bytes()
    verify_claim(ref, Disclosure("a"), commitments_of(ref, ops), disc_ref, context=CTX)


# -- frozen vectors -------------------------------------------------------------------------------


def _load_vectors() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))]


def _vector_inputs(vec: dict[str, Any]) -> tuple[ClaimStatement, dict[str, Point], ClaimProof, bytes]:
    statement = statement_from_dict(vec["statement"])
    cms = {m: ARK.decode_point(bytes.fromhex(h), allow_identity=True) for m, h in vec["commitments"].items()}
    return statement, cms, ClaimProof.from_dict(ARK, vec["proof"]), bytes.fromhex(vec["context"])


def test_frozen_vectors_exist() -> None:
    kinds = {v["statement"]["type"] for v in _load_vectors()}
    assert kinds == {"ratio", "bound", "ratio_between", "disclosure"}


@pytest.mark.parametrize("vec", _load_vectors(), ids=lambda v: v["name"])
def test_frozen_vectors_keep_verifying(vec: dict[str, Any]) -> None:
    statement, cms, proof, context = _vector_inputs(vec)
    verify_claim(ARK, statement, cms, proof, context=context)
    # and the same vector with another requester nonce must fail
    with pytest.raises(VerificationError):
        verify_claim(ARK, statement, cms, proof, context=context + b"-replayed")


@settings(max_examples=15, deadline=None)
@given(
    st.integers(0, 2**48 - 1),
    st.integers(0, 2**48 - 1),
    st.sampled_from(["<=", ">="]),
    st.integers(0, 2**16 - 1),
    st.integers(1, 2**16 - 1),
)
def test_ratio_claims_prove_exactly_when_true(a: int, b: int, op: str, p: int, q: int) -> None:
    statement = RatioClaim("a", "b", op, p, q)  # type: ignore[arg-type]
    ops = openings(a=a, b=b)
    holds = q * a <= p * b if op == "<=" else q * a >= p * b
    if holds:
        prove_and_verify(statement, ops)
    else:
        with pytest.raises(ProvingError, match="claim does not hold"):
            prove_claim(ARK, statement, ops, context=CTX)


# -- 128-bit claims (two 64-bit limbs) ----------------------------------------------------------------


def _wide_case() -> tuple[RatioClaim, dict[str, Opening]]:
    # 48-bit metrics with a 20-bit p need 68-bit ranges: proven as two 64-bit limbs.
    statement = RatioClaim("bad", "pool", "<=", 600_001, 1_000_000)
    return statement, openings(bad=6 * 10**13, pool=10**14)


def test_claims_wider_than_64_bits_use_two_limbs_and_verify() -> None:
    statement, ops = _wide_case()
    proof = prove_and_verify(statement, ops)
    assert proof.n_bits == 128
    assert proof.high_limbs is not None
    assert len(proof.high_limbs) == 1
    assert ClaimProof.from_dict(ARK, proof.to_dict()) == proof


def test_false_wide_claim_is_refused() -> None:
    statement, ops = _wide_case()
    false = dataclasses.replace(statement, p=599_999)
    with pytest.raises(ProvingError, match="does not hold"):
        prove_claim(ARK, false, ops, context=b"ctx")


def test_tampered_high_limb_is_rejected() -> None:
    statement, ops = _wide_case()
    proof = prove_claim(ARK, statement, ops, context=b"ctx")
    assert proof.high_limbs is not None
    g, _ = pedersen_bases(ARK)
    for bad_limbs in ((proof.high_limbs[0] + g,), (), (proof.high_limbs[0], proof.high_limbs[0])):
        bad = dataclasses.replace(proof, high_limbs=bad_limbs)
        with pytest.raises(VerificationError):
            verify_claim(ARK, statement, commitments_of(ARK, ops), bad, context=b"ctx")
