"""Range proofs of values of different widths (``proofs.bulletproofs.prove_ranges``) and the
``pool-v3`` unpacking proof built on them: completeness, a malicious prover one past each width,
tampering, and separation from the uniform statement."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import bulletproofs as bp
from proofs import unpacking
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, Point, get_group
from proofs.lanes import LaneSet, pool_v2, pool_v3
from proofs.loan_facts import FLOWS, STATES, TERMINAL_STATES, LoanFacts
from proofs.pedersen import commit
from proofs.transcript import Transcript
from tests.tampering import tampered_proofs
from tests.vectors_util import seeded_rng

GROUP = get_group()
WIDTHS = (5, 1, 17, 64, 9, 32)  # 128 bits


def transcript(context: bytes = b"ctx") -> Transcript:
    t = Transcript(b"poolproof/test/range-widths/v1")
    t.append_message(b"context", context)
    return t


def blindings(n: int) -> list[int]:
    draw = seeded_rng(b"widths-blindings")
    return [draw() for _ in range(n)]


def prove(
    values: list[int], widths: tuple[int, ...] = WIDTHS, rounds: int | None = None
) -> tuple[bp.RangeProof, list[Point]]:
    return bp.prove_ranges(GROUP, values, blindings(len(values)), widths, transcript(), ipa_rounds=rounds)


TOPS = [(1 << w) - 1 for w in WIDTHS]


# ---------------------------------------------------------------------------------------------
# Widths
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("widths", [(1,), (3,), (64, 64, 1), (28, 53, 53), tuple([53] * 13 + [28] * 10)])
def test_pad_widths_reaches_the_next_power_of_two_with_widths_up_to_64(widths: tuple[int, ...]) -> None:
    padded = bp.pad_widths(widths)
    total = sum(padded)
    assert padded[: len(widths)] == widths
    assert total & (total - 1) == 0
    assert total < 2 * sum(widths) or sum(widths) == 1
    assert all(1 <= w <= 64 for w in padded)


@pytest.mark.parametrize(
    ("widths", "match"),
    [
        ((), "at least one"),
        ((3, 4), "power of two"),
        ((65, 63), r"width 0"),
        ((0, 8), "width 0"),
        ((True, 1), "width 0"),
    ],
)
def test_bad_widths_are_refused(widths: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bp.prove_ranges(GROUP, [0] * len(widths), [1] * len(widths), widths, transcript())


# ---------------------------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [None, 3, 0])
def test_values_at_both_ends_of_their_widths_prove_and_round_trip(rounds: int | None) -> None:
    for values in (TOPS, [0] * len(WIDTHS)):
        proof, commitments = prove(values, rounds=rounds)
        bp.verify_ranges(GROUP, commitments, WIDTHS, proof, transcript())
        data = proof.to_bytes()
        assert len(data) == bp.ranges_proof_size(WIDTHS, rounds)
        assert bp.decode_ranges(GROUP, data, WIDTHS, rounds) == proof


def test_commitments_are_the_pedersen_commitments() -> None:
    _, commitments = prove(TOPS)
    assert commitments == [commit(GROUP, v, r) for v, r in zip(TOPS, blindings(len(TOPS)), strict=True)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_random_widths_and_values_prove(data: st.DataObject) -> None:
    widths = bp.pad_widths(data.draw(st.lists(st.integers(1, 64), min_size=1, max_size=6)))
    values = [data.draw(st.integers(0, (1 << w) - 1)) for w in widths]
    proof, commitments = prove(values, widths)
    bp.verify_ranges(GROUP, commitments, widths, proof, transcript())


def test_uniform_widths_keep_the_uniform_statement() -> None:
    # prove_range is unchanged (its frozen vectors say so); a proof of the same values under
    # prove_ranges is a different statement (its own domain) and does not verify as the other.
    values = [1, 2, 3, 4]
    uniform, commitments = bp.prove_range(GROUP, values, blindings(4), 32, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        bp.verify_ranges(GROUP, commitments, (32,) * 4, uniform, transcript())
    widths, commitments2 = prove(values, (32,) * 4)
    assert commitments2 == commitments
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        bp.verify_range(GROUP, commitments, 32, widths, transcript())


# ---------------------------------------------------------------------------------------------
# Soundness: a prover that skips its own range check
# ---------------------------------------------------------------------------------------------


def _forced(values: list[int], widths: tuple[int, ...] = WIDTHS) -> tuple[bp.RangeProof, list[Point]]:
    """The prover's core without its refusal: it commits to ``values`` and proves their low bits."""
    return bp._prove(
        GROUP,
        values,
        blindings(len(values)),
        bp.Widths(widths, False),
        len(bin(sum(widths))) - 3,
        transcript(),
        None,
    )


def test_forced_honest_values_still_verify() -> None:
    # Guards the test below: its rejections come from the value, not the machinery.
    proof, commitments = _forced(TOPS)
    bp.verify_ranges(GROUP, commitments, WIDTHS, proof, transcript())


@pytest.mark.parametrize("j", range(len(WIDTHS)))
@pytest.mark.parametrize("kind", ["one past the width", "negative"])
def test_a_value_just_past_its_width_is_rejected(j: int, kind: str) -> None:
    values = list(TOPS)
    values[j] = (1 << WIDTHS[j]) if kind == "one past the width" else ORDER - 1
    with pytest.raises(ProvingError, match=f"value {j} out of range"):
        prove(values)
    proof, commitments = _forced(values)
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        bp.verify_ranges(GROUP, commitments, WIDTHS, proof, transcript())


def test_widths_swapped_or_changed_are_rejected() -> None:
    values = [3, 1, 2, 5, 7, 11]
    proof, commitments = prove(values)
    for other in [(1, 5, 17, 64, 9, 32), (5, 1, 16, 64, 10, 32)]:
        with pytest.raises(VerificationError):
            bp.verify_ranges(GROUP, commitments, other, proof, transcript())


# ---------------------------------------------------------------------------------------------
# Tampering and encoding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [None, 0])
def test_every_proof_element_tampered_is_rejected(rounds: int | None) -> None:
    proof, commitments = prove(TOPS, rounds=rounds)
    tampered = tampered_proofs(GROUP, proof, ("A", "S", "T1", "T2"))
    assert len(tampered) > 7
    for _name, bad in tampered:
        with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
            bp.verify_ranges(GROUP, commitments, WIDTHS, bad, transcript())
    for j in range(len(commitments)):
        changed = list(commitments)
        changed[j] = changed[j] + commitments[0]
        with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
            bp.verify_ranges(GROUP, changed, WIDTHS, proof, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        bp.verify_ranges(GROUP, commitments, WIDTHS, proof, transcript(b"other"))


def test_shape_and_encoding_errors_are_named() -> None:
    proof, commitments = prove(TOPS)
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        bp.verify_ranges(GROUP, commitments[:-1], WIDTHS, proof, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.shape"):
        bp.verify_ranges(GROUP, commitments, WIDTHS, dataclasses.replace(proof, a=(1, 2)), transcript())
    with pytest.raises(EncodingError, match="expected"):
        bp.decode_ranges(GROUP, proof.to_bytes()[:-1], WIDTHS)
    with pytest.raises(EncodingError):
        bp.decode_ranges(GROUP, proof.to_bytes(), (5, 3))


# ---------------------------------------------------------------------------------------------
# The pool-v3 unpacking proof: one value per lane at its slot width
# ---------------------------------------------------------------------------------------------

V3 = pool_v3(20_000_000, (20_000_000, 20_000_000, 300_000, 40_000, 20_000_000, 20_000_000, 20_000_000))


def _pool(lanes: LaneSet, n: int) -> list[tuple[int, ...]]:
    rng = random.Random(5)
    rows = []
    for i in range(n):
        state = rng.randrange(len(STATES))
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(lanes.lane_max("balance_M0") + 1)
        flows = tuple(rng.randrange(lanes.lane_max(f"flow_{f}") + 1) for f in FLOWS)
        rows.append(lanes.facts_values(LoanFacts(f"E{i}", state, balance, flows)))
    return rows


def _unpack(
    lanes: LaneSet, rows: list[tuple[int, ...]], totals: list[int] | None = None
) -> tuple[bytes, list[Point], list[Point]]:
    assert lanes.packing is not None
    totals = totals or [sum(r[j] for r in rows) for j in range(len(lanes.lanes))]
    rhos = [(7919 * (j + 1)) % ORDER for j in range(len(lanes.lanes))]
    gammas = [(104729 * (g + 3)) % ORDER for g in range(len(lanes.packing))]
    return unpacking.prove_unpacking(
        GROUP, lanes, len(rows), totals, rhos, gammas, transcript(), seeded_rng(b"u")
    )


def test_pool_v3_unpacking_is_one_value_per_lane_and_verifies() -> None:
    rows = _pool(V3, 30)
    proof, aggregates, sums = _unpack(V3, rows)
    unpacking.verify_unpacking(GROUP, V3, 30, aggregates, sums, proof, transcript())
    assert len(proof) == unpacking.proof_size(V3)
    widths = unpacking._slot_widths(V3)
    assert widths is not None
    assert V3.packing is not None
    slot = {s.lane: s.width for entries in V3.packing for s in entries}
    assert widths[: len(V3.lanes)] == tuple(slot[lane] for lane in V3.lanes)
    assert sum(widths) == 1024  # 954 bits of slots and two padding values
    # The pool-v2 lane set of the same widths keeps its two-value 64-bit form (4,096 bits).
    v2 = pool_v2(25, (25,) * 7, 20_000_000)
    assert unpacking._slot_widths(v2) is None
    assert len(unpacking._slots(v2)) * unpacking.RANGE_BITS == 4096
    assert unpacking.proof_size(V3) < unpacking.proof_size(v2)


def test_pool_v3_unpacking_tampered_or_under_another_context_is_rejected() -> None:
    rows = _pool(V3, 8)
    proof, aggregates, sums = _unpack(V3, rows)
    with pytest.raises(VerificationError, match=r"unpacking\."):
        unpacking.verify_unpacking(GROUP, V3, 8, aggregates, sums, proof, transcript(b"other"))
    flipped = bytearray(proof)
    flipped[-1] ^= 1
    with pytest.raises((VerificationError, EncodingError)):
        unpacking.verify_unpacking(GROUP, V3, 8, aggregates, sums, bytes(flipped), transcript())
    moved = list(aggregates)
    moved[0], moved[1] = moved[1], moved[0]
    with pytest.raises(VerificationError, match=r"unpacking\."):
        unpacking.verify_unpacking(GROUP, V3, 8, moved, sums, proof, transcript())


def test_pool_v3_totals_that_carry_between_slots_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lane total moved up by 2^width into the next slot of its input, and the next lane's total
    # lowered by one, pack to the same input sum: only the per-slot range stops it.
    assert V3.packing is not None
    rows = _pool(V3, 20)
    totals = [sum(r[j] for r in rows) for j in range(len(V3.lanes))]
    index = {lane: i for i, lane in enumerate(V3.lanes)}
    low, high = next(
        (lo, hi)
        for entries in V3.packing
        for lo, hi in itertools.pairwise(sorted(entries, key=lambda s: s.shift))
        if totals[index[hi.lane]] > 0
    )
    assert low.shift + low.width == high.shift
    cheat = list(totals)
    cheat[index[low.lane]] += 1 << low.width
    cheat[index[high.lane]] -= 1
    assert cheat[index[high.lane]] >= 0
    real = unpacking._bp.prove_ranges

    def masked(group, values, blinds, widths, t, **kw):  # type: ignore[no-untyped-def]
        return real(
            group, [v & ((1 << w) - 1) for v, w in zip(values, widths, strict=True)], blinds, widths, t, **kw
        )

    monkeypatch.setattr(unpacking, "_check_totals", lambda *args: None)
    monkeypatch.setattr(unpacking._bp, "prove_ranges", masked)
    honest_proof, _, honest_sums = _unpack(V3, rows)
    proof, aggregates, sums = _unpack(V3, rows, cheat)
    assert sums == honest_sums  # the packed sums are the true ones
    with pytest.raises(VerificationError, match=r"unpacking\.range"):
        unpacking.verify_unpacking(GROUP, V3, 20, aggregates, sums, proof, transcript())
    assert honest_proof != proof


def test_both_backends_give_byte_identical_proofs_and_verify_each_other() -> None:
    widths = (3, 5, 7, 1)
    values = [5, 17, 100, 1]
    made = {}
    for backend in ("arkworks", "pyecc"):
        group = get_group(backend)
        proof, commitments = bp.prove_ranges(
            group, values, blindings(4), widths, transcript(), rng=seeded_rng(b"widths-prover")
        )
        made[backend] = (proof.to_bytes(), [c.to_bytes() for c in commitments])
    assert made["arkworks"] == made["pyecc"]
    pyecc = get_group("pyecc")
    data, encoded = made["arkworks"]
    commitments = [pyecc.decode_point(c) for c in encoded]
    proof = bp.decode_ranges(pyecc, data, widths)
    bp.verify_ranges(pyecc, commitments, widths, proof, transcript())
    with pytest.raises(VerificationError, match=r"rangeproof\.equation"):
        bp.verify_ranges(pyecc, commitments, (3, 5, 6, 2), proof, transcript())
