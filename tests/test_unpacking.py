"""The unpacking proof of packed lane sets (``proofs.unpacking``): honest, cheating, tampered."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import unpacking
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Point, get_group
from proofs.lanes import DPD5_V2, DPD5_V3, LaneSet
from proofs.pedersen import commit
from proofs.transcript import Transcript
from tests.vectors_util import seeded_rng

GROUP = get_group()
LANES = DPD5_V3


def transcript(context: bytes = b"snapshot-1") -> Transcript:
    t = Transcript(b"poolproof/test/unpacking/v1")
    t.append_message(b"context", context)
    return t


def pool(n: int, seed: int = 1) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [LANES.lane_values(rng.randrange(1 << 32), rng.randrange(5)) for _ in range(n)]


def totals_of(rows: list[tuple[int, ...]]) -> list[int]:
    return [sum(row[j] for row in rows) for j in range(len(LANES.lanes))]


def input_sums(rows: list[tuple[int, ...]], gammas: list[int]) -> list[Point]:
    packed = [sum(LANES.input_values(row)[i] for row in rows) % ORDER for i in range(len(LANES.inputs))]
    return [commit(GROUP, v, r) for v, r in zip(packed, gammas, strict=True)]


def prove(
    totals: list[int], leaves: int, rhos: list[int], gammas: list[int], context: bytes = b"snapshot-1"
) -> tuple[bytes, list[Point], list[Point]]:
    return unpacking.prove_unpacking(
        GROUP, LANES, leaves, totals, rhos, gammas, transcript(context), seeded_rng(b"unpacking-test")
    )


RHOS = [(1000003 * (j + 1)) % ORDER for j in range(10)]
GAMMAS = [987654321987654321, 123456789123456789]


def honest(n: int = 50) -> tuple[list[tuple[int, ...]], bytes, list[Point], list[Point]]:
    rows = pool(n)
    proof, aggregates, sums = prove(totals_of(rows), n, RHOS, GAMMAS)
    return rows, proof, aggregates, sums


def verify(aggregates: list[Point], sums: list[Point], proof: bytes, leaves: int = 50) -> None:
    unpacking.verify_unpacking(GROUP, LANES, leaves, aggregates, sums, proof, transcript())


def test_honest_proof_verifies_and_opens_as_claimed() -> None:
    rows, proof, aggregates, sums = honest()
    assert sums == input_sums(rows, GAMMAS)
    for total, rho, agg in zip(totals_of(rows), RHOS, aggregates, strict=True):
        assert agg == commit(GROUP, total, rho)
    assert len(proof) == unpacking.proof_size(LANES)
    verify(aggregates, sums, proof)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 300), st.integers(0, 2**32))
def test_property_any_pool_unpacks(n: int, seed: int) -> None:
    rows = pool(n, seed)
    gammas = [seed % ORDER, (seed * 7 + 1) % ORDER]
    proof, aggregates, sums = prove(totals_of(rows), n, RHOS, gammas)
    assert sums == input_sums(rows, gammas)
    unpacking.verify_unpacking(GROUP, LANES, n, aggregates, sums, proof, transcript())


def test_extreme_totals_fit_their_slots() -> None:
    # The largest totals the slots allow: every count 2^32 - 1, every balance 2^width - 1.
    widths = {s.lane: s.width for slots in LANES.packing or () for s in slots}
    totals = [(1 << widths[lane]) - 1 for lane in LANES.lanes]
    proof, aggregates, sums = prove(totals, 1, RHOS, GAMMAS)
    unpacking.verify_unpacking(GROUP, LANES, 1, aggregates, sums, proof, transcript())


# -- a cheating sealer ---------------------------------------------------------------------------------


def _force(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forging sealer: no refusal of bad totals, and range proofs made over the values reduced
    to 64 bits (the only way ``prove_range`` proves anything) while the statement keeps the real ones."""
    real = unpacking._bp.prove_range

    def masked(group, values, blindings, n_bits, t, **kw):  # type: ignore[no-untyped-def]
        return real(group, [v & ((1 << n_bits) - 1) for v in values], blindings, n_bits, t, **kw)

    monkeypatch.setattr(unpacking, "_check_totals", lambda *args: None)
    monkeypatch.setattr(unpacking._bp, "prove_range", masked)


def test_forcing_machinery_still_proves_honest_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the two tests below: their rejections come from the bad totals, not the machinery.
    _force(monkeypatch)
    _rows, proof, aggregates, sums = honest()
    verify(aggregates, sums, proof)


def test_totals_that_carry_between_slots_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # count_M0 + 2^32 and count_M1 - 1 pack to the same pack_0 total: only the slot ranges stop it.
    rows = pool(40)
    totals = totals_of(rows)
    cheat = list(totals)
    cheat[5] += 1 << 32
    cheat[6] -= 1
    assert cheat[6] >= 0
    _force(monkeypatch)
    proof, aggregates, sums = prove(cheat, 40, RHOS, GAMMAS)
    assert sums == input_sums(rows, GAMMAS)  # the packed sums are the true ones
    with pytest.raises(VerificationError, match=r"unpacking\.range"):
        verify(aggregates, sums, proof, 40)


def test_totals_that_wrap_mod_r_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # balance_M3+ sits at bit 192 with a 62-bit slot: a total of 2^62 or more would wrap mod r.
    rows = pool(40)
    cheat = totals_of(rows)
    cheat[4] += 1 << 62  # outside the 62-bit top slot, still below 2^64
    _force(monkeypatch)
    proof, aggregates, _sums = prove(cheat, 40, RHOS, GAMMAS)
    with pytest.raises(VerificationError, match=r"unpacking\.(range|linear)"):
        verify(aggregates, input_sums(rows, GAMMAS), proof, 40)


def test_range_part_checks_every_slot_at_its_width() -> None:
    # Counts (32-bit slots) and the top balance slot (62 bits) are proven twice: A and 2^(64-w)·A.
    _, _, aggregates, _ = honest()
    derived = unpacking._range_commitments(GROUP, LANES, aggregates)
    expected = []
    for j, lane in enumerate(LANES.lanes):
        expected.append(aggregates[j])
        width = 32 if lane.startswith("count") else 62 if lane == "balance_M3+" else 64
        if width < 64:
            expected.append(aggregates[j] * (1 << (64 - width)))
    assert derived == expected
    assert len(derived) == 16


def test_prover_refuses_totals_outside_their_slots_and_too_many_loans() -> None:
    totals = totals_of(pool(3))
    bad = list(totals)
    bad[5] = 1 << 32
    with pytest.raises(ProvingError, match="count_M0"):
        prove(bad, 3, RHOS, GAMMAS)
    with pytest.raises(ProvingError, match="at most"):
        prove(totals, LANES.max_leaves + 1, RHOS, GAMMAS)
    with pytest.raises(ValueError, match="packed"):
        unpacking.prove_unpacking(GROUP, DPD5_V2, 3, totals, RHOS, GAMMAS, transcript(), seeded_rng(b"x"))
    with pytest.raises(ValueError, match="one value per lane"):
        prove(totals[:9], 3, RHOS, GAMMAS)


def test_verifier_refuses_more_loans_than_the_packing_allows() -> None:
    _, proof, aggregates, sums = honest()
    with pytest.raises(VerificationError, match=r"unpacking\.leaves"):
        verify(aggregates, sums, proof, LANES.max_leaves + 1)


def test_max_leaves_is_where_a_balance_slot_could_overflow() -> None:
    assert LANES.max_leaves == 2**30
    top = 2**30 * ((1 << 32) - 1)
    assert top < 1 << 62 <= (2**30 + 1) * ((1 << 32) - 1)


# -- tampering -------------------------------------------------------------------------------------


def test_every_byte_region_of_the_proof_is_checked() -> None:
    _, proof, aggregates, sums = honest()
    k = len(LANES.inputs)
    head = k * (POINT_BYTES + SCALAR_BYTES)
    positions = [0, POINT_BYTES + 5, k * POINT_BYTES + 3, k * POINT_BYTES + SCALAR_BYTES + 7]
    positions += [*range(head, len(proof), 97), len(proof) - 1]
    for pos in positions:
        bad = bytearray(proof)
        bad[pos] ^= 0x01
        with pytest.raises((VerificationError, EncodingError)):
            verify(aggregates, sums, bytes(bad))
    with pytest.raises(EncodingError):
        verify(aggregates, sums, proof[:-1])
    with pytest.raises(EncodingError):
        verify(aggregates, sums, proof + b"\x00")


def test_every_aggregate_and_sum_tampered_or_swapped_is_rejected() -> None:
    _, proof, aggregates, sums = honest()
    _, h = pedersen_bases(GROUP)
    for j in range(len(aggregates)):
        bad = list(aggregates)
        bad[j] = bad[j] + h  # same value, other blinding: the linear part fails
        with pytest.raises(VerificationError):
            verify(bad, sums, proof)
    for i in range(len(sums)):
        bad_sums = list(sums)
        bad_sums[i] = bad_sums[i] + h
        with pytest.raises(VerificationError):
            verify(aggregates, bad_sums, proof)
    swapped = list(aggregates)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(VerificationError):
        verify(swapped, sums, proof)
    with pytest.raises(VerificationError):
        verify(aggregates, sums[::-1], proof)
    with pytest.raises(VerificationError, match=r"unpacking\.shape"):
        verify(aggregates[:9], sums, proof)


def test_other_context_or_leaf_count_is_rejected() -> None:
    _, proof, aggregates, sums = honest()
    with pytest.raises(VerificationError):
        unpacking.verify_unpacking(GROUP, LANES, 50, aggregates, sums, proof, transcript(b"snapshot-2"))
    with pytest.raises(VerificationError):
        verify(aggregates, sums, proof, 51)


def test_an_unpacked_lane_set_has_no_unpacking_proof() -> None:
    with pytest.raises(ValueError, match="not packed"):
        unpacking.proof_size(DPD5_V2)


def test_packings_that_cannot_be_unpacked_are_refused_at_definition() -> None:
    from proofs.lanes import Slot

    base = dict(
        name="t",
        balance_lanes=LANES.balance_lanes,
        count_lanes=LANES.count_lanes,
        balance_bits=32,
        count_bits=1,
        metrics=LANES.metrics,
        proof="lanecircuit",
    )
    assert LANES.packing is not None
    overlapping = (LANES.packing[0], (*LANES.packing[1][:3], Slot("balance_M3+", 150, 62)))
    too_high = (LANES.packing[0], (*LANES.packing[1][:3], Slot("balance_M3+", 193, 62)))
    missing = (LANES.packing[0], LANES.packing[1][:3])
    too_wide = (LANES.packing[0], (*LANES.packing[1][:3], Slot("balance_M3+", 192, 65)))
    for packing in (overlapping, too_high, missing, too_wide):
        with pytest.raises(ValueError, match="t: "):
            LaneSet(**base, packing=packing)  # type: ignore[arg-type]
