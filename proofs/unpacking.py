"""The unpacking proof: per-lane aggregates from the sums of packed leaf commitments.

With a packed lane set (:class:`proofs.lanes.LaneSet` ``packing``, e.g. ``dpd5-v3``) a leaf holds
one commitment per *input*, ``K_{i,g} = (Σ_{slot ∈ g} v_{i,lane} · 2^shift)·G + γ_{i,g}·H``. Summed
over the leaves, ``K_g = Σ_i K_{i,g}`` commits to ``Σ_{slot} 2^shift · T_lane`` where ``T_lane`` is
the lane's total. Claims need each lane's total on its own, so the header publishes per-lane
aggregates ``A_lane = T_lane·G + ρ_lane·H`` (fresh blindings) and this proof that they are the
unpacking of the ``K_g``:

1. **Linear part** (Schnorr proof of knowledge of a discrete logarithm base ``H``, one per input,
   with one Fiat–Shamir challenge): ``D_g = Σ_{slot ∈ g} 2^shift·A_lane − K_g = δ_g·H``. By the
   binding of Pedersen commitments (nobody knows ``log_G H``) this means
   ``Σ 2^shift·T'_lane ≡ Σ_i v_{i,g} (mod r)`` for the openings ``T'`` of the published aggregates.
2. **Range part** (one aggregated Bulletproofs range proof, :mod:`proofs.bulletproofs`, 64-bit):
   every ``T'_lane < 2^width``. A slot of width ``w < 64`` is proven with two values, ``A_lane`` and
   ``2^(64−w)·A_lane``: if ``T' < 2^64`` then ``2^(64−w)·T' < r`` does not wrap, so
   ``2^(64−w)·T' < 2^64`` gives ``T' < 2^w``. The list is padded with commitments to 0 (the
   identity) up to a power of two. For the ``pool-v3`` and ``pool-v4`` lane sets (domain
   :data:`DOMAIN_V2`) the
   range part is instead one range proof of values of different widths
   (:func:`proofs.bulletproofs.prove_ranges`): each ``A_lane`` proven below ``2^width`` of its
   slot directly (every width is at most 64, far below r, so nothing wraps), padded with zero
   values to a power-of-two bit total: the same conclusion ``T' < 2^w`` with one value per lane
   instead of two of 64 bits (969 bits instead of 4,096 at a 20,000,000 cap).

Why this pins ``T' = T``: slots of one input do not overlap and end below bit 254 (checked when
the lane set is defined), so with every ``T'_lane < 2^width`` the packed sum is below ``2^254 < r``
and equal, as an integer, to the true packed total — itself below ``r`` and uniquely decomposable,
because the lane circuit proves every leaf's lanes in range and the verifier refuses more than
``lanes.max_leaves`` leaves (so no true slot total overflows its width). Equal integers with the
same non-overlapping base-2 slots have the same digits: ``T'_lane = T_lane`` for every lane.

Transcript (on the caller's transcript, after its context): ``dom-sep`` = :data:`DOMAIN`,
``lane_set``, ``leaves`` (u64), ``A`` (the aggregates, lane order), ``K`` (the input sums); then
``R_g`` for every input → ``c``; ``s_g`` for every input; then the range proof's own transcript.

Serialised layout: ``R_0 .. R_{k-1}`` (48-byte points) ``| s_0 .. s_{k-1}`` (32-byte scalars)
``|`` the range proof (:meth:`proofs.bulletproofs.RangeProof.to_bytes`, full compression).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from proofs import _wire
from proofs import bulletproofs as _bp
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, ScalarSource
from proofs.lanes import POOL_V3, POOL_V4, LaneSet
from proofs.transcript import Transcript

DOMAIN: Final = b"poolproof/unpacking/v1"
#: The ``pool-v3`` and ``pool-v4`` lane sets' unpacking proof: one range-proven value per lane, at its
#: slot width.
DOMAIN_V2: Final = b"poolproof/unpacking/v2"
RANGE_BITS: Final = 64
_R: Final = ORDER


def _slots(lanes: LaneSet) -> list[tuple[int, int]]:
    """``(lane index, multiplier)`` of every range-proven value, padded entries as ``(-1, 0)``."""
    if lanes.packing is None:
        raise ValueError(f"lane set {lanes.name} is not packed")
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    width = {s.lane: s.width for slots in lanes.packing for s in slots}
    out: list[tuple[int, int]] = []
    for lane in lanes.lanes:
        out.append((index[lane], 1))
        if width[lane] < RANGE_BITS:
            out.append((index[lane], 1 << (RANGE_BITS - width[lane])))
    m = 1
    while m < len(out):
        m *= 2
    return out + [(-1, 0)] * (m - len(out))


def _slot_widths(lanes: LaneSet) -> tuple[int, ...] | None:
    """Per-lane range widths (padded) for the ``pool-v3`` / ``pool-v4`` form, or None for the 64-bit form.

    In the ``pool-v3`` form the range part is one :func:`proofs.bulletproofs.prove_ranges` proof
    with every aggregate proven below ``2^width`` of its slot directly (widths <= 64, so nothing
    wraps mod r): the same statement as the two-value 64-bit form, with about a quarter of the bits.
    """
    if lanes.family not in (POOL_V3, POOL_V4):
        return None
    assert lanes.packing is not None
    width = {s.lane: s.width for slots in lanes.packing for s in slots}
    return _bp.pad_widths([width[lane] for lane in lanes.lanes])


def proof_size(lanes: LaneSet) -> int:
    """Encoded size in bytes of an unpacking proof for ``lanes``."""
    if lanes.packing is None:
        raise ValueError(f"lane set {lanes.name} is not packed")
    k = len(lanes.packing)
    widths = _slot_widths(lanes)
    if widths is not None:
        return k * (POINT_BYTES + SCALAR_BYTES) + _bp.ranges_proof_size(widths)
    return k * (POINT_BYTES + SCALAR_BYTES) + _bp.proof_size(len(_slots(lanes)), RANGE_BITS)


def _absorb(
    transcript: Transcript, lanes: LaneSet, leaves: int, aggregates: Sequence[Point], sums: Sequence[Point]
) -> None:
    transcript.append_message(b"dom-sep", DOMAIN if _slot_widths(lanes) is None else DOMAIN_V2)
    transcript.append_message(b"lane_set", lanes.name.encode())
    transcript.append_u64(b"leaves", leaves)
    transcript.append_points(b"A", aggregates)
    transcript.append_points(b"K", sums)


def _differences(
    group: Group, lanes: LaneSet, aggregates: Sequence[Point], sums: Sequence[Point]
) -> list[Point]:
    """``D_g = Σ_{slot ∈ g} 2^shift·A_lane − K_g`` for every input ``g``."""
    assert lanes.packing is not None
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    out = []
    for slots, k_g in zip(lanes.packing, sums, strict=True):
        packed = group.msm([aggregates[index[s.lane]] for s in slots], [(1 << s.shift) % _R for s in slots])
        out.append(packed - k_g)
    return out


def _range_commitments(group: Group, lanes: LaneSet, aggregates: Sequence[Point]) -> list[Point]:
    return [group.identity() if i < 0 else aggregates[i] * f for i, f in _slots(lanes)]


def _check_totals(lanes: LaneSet, leaves: int, totals: Sequence[int]) -> None:
    """The prover's refusal: too many loans, or a lane total outside its slot."""
    assert lanes.packing is not None
    if leaves > lanes.max_leaves:
        raise ProvingError(f"{lanes.name} holds at most {lanes.max_leaves} loans")
    width = {s.lane: s.width for slots in lanes.packing for s in slots}
    for lane, total in zip(lanes.lanes, totals, strict=True):
        if not 0 <= total < 1 << width[lane]:
            raise ProvingError(f"the total of lane {lane} does not fit its {width[lane]}-bit slot")


def prove_unpacking(
    group: Group,
    lanes: LaneSet,
    leaves: int,
    totals: Sequence[int],
    aggregate_blindings: Sequence[int],
    input_blindings: Sequence[int],
    transcript: Transcript,
    rng: ScalarSource,
) -> tuple[bytes, list[Point], list[Point]]:
    """Prove that the aggregates ``(totals[j], aggregate_blindings[j])`` unpack the input sums.

    ``totals`` are the per-lane totals over the ``leaves`` loans (lane order),
    ``aggregate_blindings`` the aggregates' blindings, ``input_blindings`` the sums of the leaves'
    input blindings (one per input). ``rng`` supplies the prover's random scalars (the snapshot's
    seed-derived nonce stream, :func:`proofs.snapshot.prover_nonces`). Returns the proof bytes, the
    aggregates ``A`` and the input sums ``K`` it is about.

    Raises:
        ValueError: the lane set is not packed, or the lengths do not match it.
        ProvingError: more loans than the lane set allows, or a total outside its slot.
    """
    if lanes.packing is None or len(totals) != len(lanes.lanes):
        raise ValueError("totals must give one value per lane of a packed lane set")
    if len(aggregate_blindings) != len(totals) or len(input_blindings) != len(lanes.packing):
        raise ValueError("one aggregate blinding per lane and one input blinding per input")
    _check_totals(lanes, leaves, totals)
    g_base, h_base = pedersen_bases(group)
    aggregates = [g_base * t + h_base * r for t, r in zip(totals, aggregate_blindings, strict=True)]
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    packed = [sum(totals[index[s.lane]] << s.shift for s in slots) for slots in lanes.packing]
    sums = [g_base * v + h_base * r for v, r in zip(packed, input_blindings, strict=True)]
    deltas = [
        (sum(aggregate_blindings[index[s.lane]] << s.shift for s in slots) - gamma) % _R
        for slots, gamma in zip(lanes.packing, input_blindings, strict=True)
    ]
    _absorb(transcript, lanes, leaves, aggregates, sums)
    nonces = [rng() % _R for _ in deltas]
    commitments = [h_base * k for k in nonces]
    transcript.append_points(b"R", commitments)
    c = transcript.challenge_scalar(b"c")
    responses = [(k + c * d) % _R for k, d in zip(nonces, deltas, strict=True)]
    for s in responses:
        transcript.append_scalar(b"s", s)
    widths = _slot_widths(lanes)
    if widths is not None:
        pad = len(widths) - len(totals)
        values, blindings = [*totals, *[0] * pad], [*aggregate_blindings, *[0] * pad]
        proof, _ = _bp.prove_ranges(group, values, blindings, widths, transcript, rng=rng)
    else:
        slots = _slots(lanes)
        values = [0 if i < 0 else totals[i] * f for i, f in slots]
        blindings = [0 if i < 0 else aggregate_blindings[i] * f % _R for i, f in slots]
        proof, _ = _bp.prove_range(group, values, blindings, RANGE_BITS, transcript, rng=rng)
    data = b"".join(p.to_bytes() for p in commitments)
    data += b"".join(_wire.scalar_bytes(s, "unpacking") for s in responses)
    return data + proof.to_bytes(), aggregates, sums


def verify_unpacking(
    group: Group,
    lanes: LaneSet,
    leaves: int,
    aggregates: Sequence[Point],
    sums: Sequence[Point],
    proof: bytes,
    transcript: Transcript,
) -> None:
    """Check that ``aggregates`` (lane order) commit to the lane totals packed in ``sums``.

    The transcript must be in the prover's starting state (same context absorbed).

    Raises:
        EncodingError: malformed proof bytes (wrong length, bad point or scalar).
        VerificationError: ``unpacking.leaves`` (more loans than the packing allows),
            ``unpacking.linear`` (the aggregates do not add up to the input sums),
            ``unpacking.range`` (a lane total outside its slot, or a bad range proof).
    """
    if lanes.packing is None:
        raise ValueError(f"lane set {lanes.name} is not packed")
    if len(aggregates) != len(lanes.lanes) or len(sums) != len(lanes.packing):
        raise VerificationError("unpacking.shape", "one aggregate per lane and one sum per input")
    if leaves > lanes.max_leaves:
        raise VerificationError("unpacking.leaves", f"{lanes.name} holds at most {lanes.max_leaves} loans")
    k = len(lanes.packing)
    if len(proof) != proof_size(lanes):
        raise EncodingError(f"unpacking: expected {proof_size(lanes)} bytes, got {len(proof)}")
    head = _wire.decode(
        group, proof[: k * (POINT_BYTES + SCALAR_BYTES)], n_points=k, n_scalars=k, rounds=0, clear=0
    )
    widths = _slot_widths(lanes)
    tail = proof[k * (POINT_BYTES + SCALAR_BYTES) :]
    if widths is not None:
        range_proof = _bp.decode_ranges(group, tail, widths)
    else:
        range_proof = _bp.RangeProof.from_bytes(group, tail, m=len(_slots(lanes)), n_bits=RANGE_BITS)
    _absorb(transcript, lanes, leaves, aggregates, sums)
    transcript.append_points(b"R", head.points)
    c = transcript.challenge_scalar(b"c")
    for s in head.scalars:
        transcript.append_scalar(b"s", s)
    _, h_base = pedersen_bases(group)
    for g, (d, r_g, s_g) in enumerate(
        zip(_differences(group, lanes, aggregates, sums), head.points, head.scalars, strict=True)
    ):
        if h_base * s_g != r_g + d * c:
            raise VerificationError(
                "unpacking.linear", f"the aggregates do not unpack input {lanes.inputs[g]}"
            )
    try:
        if widths is not None:
            padded = [*aggregates, *[group.identity()] * (len(widths) - len(aggregates))]
            _bp.verify_ranges(group, padded, widths, range_proof, transcript)
        else:
            _bp.verify_range(
                group, _range_commitments(group, lanes, aggregates), RANGE_BITS, range_proof, transcript
            )
    except VerificationError as exc:
        raise VerificationError("unpacking.range", f"a lane total is outside its slot: {exc}") from exc
