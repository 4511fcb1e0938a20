"""Aggregated Bulletproofs range proofs with batch verification.

Implements Bünz, Bootle, Boneh, Poelstra, Wuille, Maxwell, "Bulletproofs: Short Proofs for
Confidential Transactions and More" (IEEE S&P 2018, eprint 2017/1066): the range proof of §4.1–4.2
aggregated over m values as in §4.3, compressed with the inner-product argument of §3 (Protocol 2,
made non-interactive by Fiat–Shamir, §4.4), and verified with a single multi-scalar multiplication
(the multi-exponentiation form of the inner-product check, §3.1, merged with the commitment check
and batched across proofs with random weights as in §6), the way dalek-cryptography's verifier does.

Statement: for Pedersen commitments ``V_j = v_j·G + gamma_j·H`` (``(G, H) = pedersen_bases``) the
prover knows openings with every ``v_j`` in ``[0, 2^n)``. Parameters: ``n`` in {8, 16, 32, 64},
``m`` a power of two (1, 2, 4, ...), so ``N = m·n`` is a power of two. The vector generators are
``G_i = generator("bulletproofs/G", i)``, ``H_i = generator("bulletproofs/H", i)`` for ``i < N`` and the
inner-product base is ``Q = generator("bulletproofs/Q", 0)``; a proof for N uses the first N of each
vector, so proofs of different sizes share generators (which is what batch verification exploits).

Values of different widths (:func:`prove_ranges`, :func:`verify_ranges`): value ``j`` in
``[0, 2^w_j)`` with each ``w_j`` in ``[1, 64]`` and ``Σ w_j = N`` a power of two; the same protocol
with block ``j`` of ``a_L`` holding value ``j``'s bits and the constraint vector ``z^(2+j)·2^k`` on
bit ``k`` of block ``j``. Its transcript has ``dom-sep = "bulletproofs/range-widths/v1"`` and
``widths`` (comma-separated) in place of ``n`` and ``m``; everything else is as below.

Transcript (every item in this order, on the caller's :class:`~proofs.transcript.Transcript`, after
whatever context the caller absorbed):
``dom-sep = "bulletproofs/range/v1"``, ``generators`` = ``generator_set_id`` of
[("pedersen/G", 1), ("pedersen/H", 1), ("bulletproofs/G", N), ("bulletproofs/H", N),
("bulletproofs/Q", 1)], ``n``, ``m``, ``ipa-rounds`` (u64 each), ``V`` (all commitments), then
``A``, ``S`` → challenges ``y``, ``z``; ``T1``, ``T2`` → ``x``; ``tau_x``, ``mu``, ``t_hat`` → ``w``
(the inner-product base is ``w·Q``); per IPA round ``L``, ``R`` → ``u_k``.

Cut inner-product argument (``ipa_rounds = k`` below the full ``log2 N``): after k halving rounds the
prover sends the remaining vectors ``a, b`` (length ``N / 2^k``) in the clear. This stays zero
knowledge: the paper's §4.1 protocol sends the whole ``l = l(x), r = r(x)`` in the clear and is
(honest-verifier) zero knowledge because ``s_L·x`` and ``s_R·x`` mask them; §4.2 notes the inner-product
argument is used only to compress that message and need not itself hide anything. Every value a cut
proof reveals (``L_k``, ``R_k``, the folded vectors) is a public function of ``(l, r)``, the public
generators and the public challenges, so a simulator for the uncut-vector protocol yields one for any
k. Soundness is unchanged: the verifier checks the same relation, with the folded generators
expanded over the original ones.

Serialised layout (:meth:`RangeProof.to_bytes`), ``k`` = IPA rounds, ``M = N / 2^k``::

    A | S | T1 | T2                      4 × 48-byte compressed points
    tau_x | mu | t_hat                   3 × 32-byte big-endian canonical scalars
    L_0 | R_0 | ... | L_{k-1} | R_{k-1}  2k × 48-byte points
    a_0 .. a_{M-1} | b_0 .. b_{M-1}      2M × 32-byte scalars

That is ``(4 + 2k)·48 + (3 + 2M)·32`` bytes: ``(4 + 2·log2 N)·48 + 5·32`` at full compression
(832 B for one 32-bit value). The length does not always determine k (k = log2 N and log2 N − 2
give equal lengths), so the decoder takes k as a parameter like m and n.

Side channels: the prover is not constant-time (Python integers, arkworks variable-time MSMs, the
bit pattern of each value decides which generators enter ``A``). It runs inside the gateway's batch
job, where no per-proof timing is observable by another party.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from proofs import _parallel, _wire
from proofs._ipa import (
    InnerProductProver,
    ProofTerms,
    TermAccumulator,
    batch_weight,
    clear_length,
    os_scalars,
    powers,
    powers_from,
    raw_of,
    raw_vector,
    replay_rounds,
    round_terms,
)
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import generator, generator_set_id, pedersen_bases
from proofs.group import ORDER, POINT_BYTES, SCALAR_BYTES, Group, Point, ScalarSource
from proofs.pedersen import commit_many
from proofs.transcript import Transcript

#: Bit sizes a range proof may use.
VALID_BITS: Final = (8, 16, 32, 64)
#: Domain separator absorbed first by every range proof.
DOMAIN: Final = b"bulletproofs/range/v1"
#: Domain separator of a range proof whose values have their own widths (:func:`prove_ranges`).
DOMAIN_WIDTHS: Final = b"bulletproofs/range-widths/v1"
#: Widest value of :func:`prove_ranges` (2^64 is far below r: nothing wraps).
MAX_WIDTH: Final = 64
LABEL_G: Final = "bulletproofs/G"
LABEL_H: Final = "bulletproofs/H"
LABEL_Q: Final = "bulletproofs/Q"

_R: Final = ORDER


# -------------------------------------------------------------------------------------------------
# Proof object and encoding
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeProof:
    """An aggregated range proof (see the module docstring for the fields and the byte layout).

    ``a`` and ``b`` hold one scalar each at full compression, ``N / 2^k`` after ``k`` rounds.
    """

    A: Point
    S: Point
    T1: Point
    T2: Point
    tau_x: int
    mu: int
    t_hat: int
    L: tuple[Point, ...]
    R: tuple[Point, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]

    @property
    def ipa_rounds(self) -> int:
        """Number of inner-product rounds the proof carries."""
        return len(self.L)

    def to_bytes(self) -> bytes:
        """The canonical encoding (module docstring, "Serialised layout")."""
        return _wire.encode(
            "rangeproof", (self.A, self.S, self.T1, self.T2), (self.tau_x, self.mu, self.t_hat),
            self.L, self.R, self.a, self.b,
        )  # fmt: skip

    @classmethod
    def from_bytes(
        cls, group: Group, data: bytes, *, m: int, n_bits: int, ipa_rounds: int | None = None
    ) -> RangeProof:
        """Decode a proof for ``m`` values of ``n_bits`` bits with ``ipa_rounds`` rounds (default full).

        Every point is decoded with curve and subgroup checks (the identity is refused) and every
        scalar must be canonical.

        Raises:
            EncodingError: wrong length, a malformed or off-subgroup point, a scalar >= r, or
                impossible parameters.
        """
        try:
            n_total = _check_shape(n_bits, m)
            k = _check_rounds(n_total, ipa_rounds)
        except ValueError as exc:
            raise EncodingError(f"rangeproof: {exc}") from exc
        clear = n_total >> k
        expected = proof_size(m, n_bits, k)
        if len(data) != expected:
            raise EncodingError(
                f"rangeproof: expected {expected} bytes for m={m}, n={n_bits}, {k} rounds, got {len(data)}"
            )
        d = _wire.decode(group, data, n_points=4, n_scalars=3, rounds=k, clear=clear)
        (a_pt, s_pt, t1, t2), (tau_x, mu, t_hat) = d.points, d.scalars
        return cls(a_pt, s_pt, t1, t2, tau_x, mu, t_hat, d.lefts, d.rights, d.a, d.b)


def proof_size(m: int, n_bits: int, ipa_rounds: int | None = None) -> int:
    """Encoded size in bytes of a proof for ``m`` values of ``n_bits`` with ``ipa_rounds`` rounds.

    Raises:
        ValueError: invalid ``n_bits``, ``m`` or ``ipa_rounds``.
    """
    n_total = _check_shape(n_bits, m)
    k = _check_rounds(n_total, ipa_rounds)
    return (4 + 2 * k) * POINT_BYTES + (3 + 2 * (n_total >> k)) * SCALAR_BYTES


@dataclass(frozen=True)
class RangeProofItem:
    """One proof to check in :func:`batch_verify`, with the transcript it was made under.

    ``transcript`` must be in the state the prover's was in when it called :func:`prove_range`
    (same protocol label, same context absorbed). :func:`batch_verify` works on a clone.
    """

    commitments: Sequence[Point]
    n_bits: int
    proof: RangeProof
    transcript: Transcript


def _check_shape(n_bits: int, m: int) -> int:
    if n_bits not in VALID_BITS:
        raise ValueError(f"n_bits must be one of {VALID_BITS}, got {n_bits}")
    if m < 1 or m & (m - 1):
        raise ValueError(f"m (number of values) must be a power of two >= 1, got {m}")
    return n_bits * m


def _check_widths(widths: Sequence[int]) -> int:
    """The total bit count of per-value ``widths``: each in ``[1, 64]``, the sum a power of two."""
    if not widths:
        raise ValueError("at least one value")
    for j, w in enumerate(widths):
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WIDTH:
            raise ValueError(f"width {j} must be an integer in [1, {MAX_WIDTH}], got {w!r}")
    n_total = sum(widths)
    if n_total & (n_total - 1):
        raise ValueError(f"the widths must sum to a power of two, got {n_total}")
    return n_total


def pad_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """``widths`` followed by padding widths (at most 64 each) up to the next power-of-two total.

    The padding values are zero with a zero blinding (the identity commitment), as the callers of
    :func:`prove_ranges` add them.
    """
    total = sum(widths)
    rest = (1 << (total - 1).bit_length()) - total
    return (*widths, *([MAX_WIDTH] * (rest // MAX_WIDTH)), *([rest % MAX_WIDTH] if rest % MAX_WIDTH else []))


def _check_rounds(n_total: int, ipa_rounds: int | None) -> int:
    full = n_total.bit_length() - 1
    if ipa_rounds is None:
        return full
    if not 0 <= ipa_rounds <= full:
        raise ValueError(f"ipa_rounds must be in [0, {full}] for N={n_total}, got {ipa_rounds}")
    return ipa_rounds


# -------------------------------------------------------------------------------------------------
# Generators and transcript statement
# -------------------------------------------------------------------------------------------------

_sum_cache: dict[tuple[str, int], Point] = {}
_cache_lock = threading.Lock()


def _sum_h(group: Group, n: int) -> Point:
    key = (group.name, n)
    with _cache_lock:
        cached = _sum_cache.get(key)
    if cached is None:
        cached = group.msm_raw(raw_vector(group, LABEL_H, n)[:n], [1] * n)
        with _cache_lock:
            _sum_cache[key] = cached
    return cached


def _absorb_statement(
    transcript: Transcript, widths: Widths, rounds: int, commitments: Sequence[Point]
) -> None:
    n_total = sum(widths.per_value)
    gens = generator_set_id(
        [("pedersen/G", 1), ("pedersen/H", 1), (LABEL_G, n_total), (LABEL_H, n_total), (LABEL_Q, 1)]
    )
    if widths.uniform:
        transcript.append_message(b"dom-sep", DOMAIN)
        transcript.append_message(b"generators", gens)
        transcript.append_u64(b"n", widths.per_value[0])
        transcript.append_u64(b"m", len(widths.per_value))
    else:
        transcript.append_message(b"dom-sep", DOMAIN_WIDTHS)
        transcript.append_message(b"generators", gens)
        transcript.append_message(b"widths", b",".join(str(w).encode() for w in widths.per_value))
    transcript.append_u64(b"ipa-rounds", rounds)
    transcript.append_points(b"V", commitments)


@dataclass(frozen=True)
class Widths:
    """Each value's bit width, and whether the statement is the uniform one (``n`` and ``m``)."""

    per_value: tuple[int, ...]
    uniform: bool

    @property
    def offsets(self) -> list[int]:
        """The first bit index of each value."""
        out, at = [], 0
        for w in self.per_value:
            out.append(at)
            at += w
        return out


# -------------------------------------------------------------------------------------------------
# Prover
# -------------------------------------------------------------------------------------------------


def prove_range(
    group: Group,
    values: Sequence[int],
    blindings: Sequence[int],
    n_bits: int,
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    rng: ScalarSource | None = None,
) -> tuple[RangeProof, list[Point]]:
    """Prove that each ``values[j]`` lies in ``[0, 2^n_bits)``; return the proof and ``V_j``.

    ``V_j = values[j]·G + blindings[j]·H``. ``m = len(values)`` must be a power of two and
    ``n_bits`` one of 8, 16, 32, 64. ``ipa_rounds`` (default: full ``log2(m·n_bits)``) cuts the
    inner-product argument short: fewer rounds prove faster and give a bigger proof.

    ``rng`` exists for tests only: it supplies the prover's blinding scalars (in the order alpha,
    rho, tau_1, tau_2, s_L[0..N), s_R[0..N)) so frozen vectors can be regenerated. Left as None,
    all of them come from ``os.urandom``. Never pass a deterministic source in production: reused
    prover randomness reveals the values.

    The transcript is advanced past the proof (the verifier's ends in the same state).

    Raises:
        ValueError: invalid ``n_bits``, ``m``, ``ipa_rounds`` or mismatched lengths.
        ProvingError: a value outside ``[0, 2^n_bits)`` or a blinding outside ``[0, r)``.
    """
    m = len(values)
    if len(blindings) != m:
        raise ValueError("values and blindings differ in length")
    n_total = _check_shape(n_bits, m)
    rounds = _check_rounds(n_total, ipa_rounds)
    bound = 1 << n_bits
    for j, v in enumerate(values):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < bound:
            raise ProvingError(f"value {j} out of range [0, 2^{n_bits})")
    for j, gamma in enumerate(blindings):
        if not isinstance(gamma, int) or not 0 <= gamma < _R:
            raise ProvingError(f"blinding {j} not in [0, r)")

    return _prove(group, values, blindings, Widths((n_bits,) * m, True), rounds, transcript, rng)


def prove_ranges(
    group: Group,
    values: Sequence[int],
    blindings: Sequence[int],
    widths: Sequence[int],
    transcript: Transcript,
    *,
    ipa_rounds: int | None = None,
    rng: ScalarSource | None = None,
) -> tuple[RangeProof, list[Point]]:
    """Prove that each ``values[j]`` lies in ``[0, 2^widths[j])``: one aggregated proof of values of
    different widths (§4.3 with block ``j`` of ``a_L`` holding value ``j``'s ``widths[j]`` bits).

    The widths (each in ``[1, 64]``) must sum to a power of two; :func:`pad_widths` pads a list with
    zero values. The constraint vector is ``z^(2+j)·2^k`` on bit ``k`` of block ``j`` and
    ``δ(y, z) = (z − z²)·<1, y^N> − Σ_j z^(3+j)·(2^(widths[j]) − 1)``; the soundness argument is the
    aggregated one (each block's inner product with the powers of two is its value, the bits are 0
    or 1), and the widths are absorbed under their own domain (module docstring, "Transcript";
    ``dom-sep = "bulletproofs/range-widths/v1"`` and ``widths`` in place of ``n`` and ``m``).
    Returns the proof and ``V_j``; ``rng`` as in :func:`prove_range` (tests only).

    Raises:
        ValueError: bad widths, ``ipa_rounds`` or mismatched lengths.
        ProvingError: a value outside its range or a blinding outside ``[0, r)``.
    """
    if len(blindings) != len(values) or len(widths) != len(values):
        raise ValueError("values, blindings and widths differ in length")
    n_total = _check_widths(widths)
    rounds = _check_rounds(n_total, ipa_rounds)
    for j, (v, w) in enumerate(zip(values, widths, strict=True)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << w:
            raise ProvingError(f"value {j} out of range [0, 2^{w})")
    for j, gamma in enumerate(blindings):
        if not isinstance(gamma, int) or not 0 <= gamma < _R:
            raise ProvingError(f"blinding {j} not in [0, r)")
    return _prove(group, values, blindings, Widths(tuple(widths), False), rounds, transcript, rng)


def _prove(
    group: Group,
    values: Sequence[int],
    blindings: Sequence[int],
    widths: Widths,
    rounds: int,
    transcript: Transcript,
    rng: ScalarSource | None,
) -> tuple[RangeProof, list[Point]]:
    m = len(values)
    n_total = sum(widths.per_value)
    count = 4 + 2 * n_total
    randomness = os_scalars(count) if rng is None else [rng() % _R for _ in range(count)]
    alpha, rho, tau1, tau2 = randomness[:4]
    s_l = randomness[4 : 4 + n_total]
    s_r = randomness[4 + n_total :]

    g_raw = raw_vector(group, LABEL_G, n_total)
    h_raw = raw_vector(group, LABEL_H, n_total)
    ped_h_raw = raw_of(group, pedersen_bases(group)[1])

    commitments = commit_many(group, values, blindings)
    _absorb_statement(transcript, widths, rounds, commitments)

    # a_L: the bits of every value, least significant first; a_R = a_L - 1.
    a_l = [(v >> i) & 1 for v, n_bits in zip(values, widths.per_value, strict=True) for i in range(n_bits)]
    ones = [i for i in range(n_total) if a_l[i]]
    # A = alpha·H + <a_L, G> + <a_L - 1, H> = alpha·H + sum_{bit=1} (G_i + H_i) - sum_i H_i.
    a_commit = group.msm_raw(
        [ped_h_raw, *(g_raw[i] for i in ones), *(h_raw[i] for i in ones)], [alpha] + [1] * (2 * len(ones))
    ) - _sum_h(group, n_total)
    s_commit = _parallel.msm(group, [ped_h_raw, *g_raw[:n_total], *h_raw[:n_total]], [rho, *s_l, *s_r])
    transcript.append_point(b"A", a_commit)
    transcript.append_point(b"S", s_commit)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")

    # l(X) = (a_L - z) + s_L·X;  r(X) = y^N ∘ (a_R + z + s_R·X) + z^2·(z^j 2^k)  (§4.3).
    y_pow = powers(y, n_total)
    z_sq = z * z % _R
    zs2 = [zj * tk for zj, n_bits in zip(powers_from(z_sq, z, m), widths.per_value, strict=True)
           for tk in _twos(n_bits)]  # fmt: skip
    l0 = [bit - z for bit in a_l]
    r0 = [(yi * (bit - 1 + z) + w2) % _R for yi, bit, w2 in zip(y_pow, a_l, zs2, strict=True)]
    r1 = [yi * sr % _R for yi, sr in zip(y_pow, s_r, strict=True)]
    t1 = (
        sum(a * b for a, b in zip(l0, r1, strict=True)) + sum(a * b for a, b in zip(s_l, r0, strict=True))
    ) % _R
    t2 = sum(a * b for a, b in zip(s_l, r1, strict=True)) % _R
    t1_commit, t2_commit = commit_many(group, [t1, t2], [tau1, tau2])
    transcript.append_point(b"T1", t1_commit)
    transcript.append_point(b"T2", t2_commit)
    x = transcript.challenge_scalar(b"x")

    l_vec = [(a + sl * x) % _R for a, sl in zip(l0, s_l, strict=True)]
    r_vec = [(a + b * x) % _R for a, b in zip(r0, r1, strict=True)]
    t_hat = sum(a * b for a, b in zip(l_vec, r_vec, strict=True)) % _R
    z_pow = powers_from(z_sq, z, m)
    tau_x = (tau2 * x % _R * x + tau1 * x + sum(zj * g for zj, g in zip(z_pow, blindings, strict=True))) % _R
    mu = (alpha + rho * x) % _R
    transcript.append_scalar(b"tau_x", tau_x)
    transcript.append_scalar(b"mu", mu)
    transcript.append_scalar(b"t_hat", t_hat)
    w = transcript.challenge_scalar(b"w")
    q_point = generator(group, LABEL_Q) * w

    y_inv_pow = powers(pow(y, -1, _R), n_total)
    lefts, rights, a_fin, b_fin = InnerProductProver(
        group, transcript, g_raw, h_raw, y_inv_pow, raw_of(group, q_point), l_vec, r_vec
    ).run(rounds)
    proof = RangeProof(
        a_commit,
        s_commit,
        t1_commit,
        t2_commit,
        tau_x,
        mu,
        t_hat,
        tuple(lefts),
        tuple(rights),
        tuple(a_fin),
        tuple(b_fin),
    )
    return proof, commitments


def _twos(n_bits: int) -> list[int]:
    return [1 << k for k in range(n_bits)]


# -------------------------------------------------------------------------------------------------
# Verifier
# -------------------------------------------------------------------------------------------------


def _proof_terms(
    group: Group,
    commitments: Sequence[Point],
    n_bits: int,
    proof: RangeProof,
    transcript: Transcript,
    e_commit: int,
    e_ipa: int,
) -> ProofTerms:
    """The uniform statement's terms (:func:`_width_terms` with every width ``n_bits``).

    Raises:
        VerificationError: ``rangeproof.shape`` when the proof does not fit the statement.
    """
    m = len(commitments)
    try:
        _check_shape(n_bits, m)
    except ValueError as exc:
        raise VerificationError("rangeproof.shape", str(exc)) from exc
    widths = Widths((n_bits,) * m, True)
    return _width_terms(group, commitments, widths, proof, transcript, e_commit, e_ipa)


def _width_terms(
    group: Group,
    commitments: Sequence[Point],
    widths: Widths,
    proof: RangeProof,
    transcript: Transcript,
    e_commit: int,
    e_ipa: int,
) -> ProofTerms:
    """Replay the transcript and express both verification equations as MSM coefficients.

    With weights ``e_commit`` (commitment equation, §4.3) and ``e_ipa`` (inner-product
    relation, §4.2 with the §3.1 verifier expanded over the original generators), the
    proof is valid iff (with overwhelming probability over the weights) the weighted sum is the
    identity:

    * ``e_commit·(t_hat·G + tau_x·H - sum_j z^(j+2)·V_j - delta(y,z)·G - x·T1 - x^2·T2)``
    * ``e_ipa·(A + x·S - mu·H + sum_i (-z - a_j·s_t)·G_i + sum_i (z + y^-i(z^(2+j)2^k - b_j/s_t))·H_i
      + sum_k (u_k^2·L_k + u_k^-2·R_k) + w·(t_hat - <a,b>)·Q)``

    where original index ``i = t·M + j`` (``M`` = clear-vector length) and ``s_t`` is the challenge
    product selected by the bits of ``t``.

    Raises:
        VerificationError: ``rangeproof.shape`` when the proof does not fit the statement.
    """
    m = len(commitments)
    n_total = sum(widths.per_value)
    k = len(proof.L)
    clear = clear_length(n_total, proof.L, proof.R, proof.a, proof.b)
    if clear is None:
        what = f"m={m}, n={widths.per_value[0]}" if widths.uniform else f"{m} values of {n_total} bits"
        raise VerificationError(
            "rangeproof.shape",
            f"proof does not fit {what}: {k} L, {len(proof.R)} R, {len(proof.a)} a, {len(proof.b)} b",
        )
    for value in (proof.tau_x, proof.mu, proof.t_hat, *proof.a, *proof.b):
        if not 0 <= value < _R:
            raise VerificationError("rangeproof.shape", "scalar out of range [0, r)")

    _absorb_statement(transcript, widths, k, commitments)
    transcript.append_point(b"A", proof.A)
    transcript.append_point(b"S", proof.S)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")
    transcript.append_point(b"T1", proof.T1)
    transcript.append_point(b"T2", proof.T2)
    x = transcript.challenge_scalar(b"x")
    transcript.append_scalar(b"tau_x", proof.tau_x)
    transcript.append_scalar(b"mu", proof.mu)
    transcript.append_scalar(b"t_hat", proof.t_hat)
    w = transcript.challenge_scalar(b"w")
    us, u_invs = replay_rounds(transcript, proof.L, proof.R)

    z_sq = z * z % _R
    z_pow = powers_from(z_sq, z, m)  # z^(2+j)
    y_inv = pow(y, -1, _R)
    y_sum = n_total if y == 1 else (pow(y, n_total, _R) - 1) * pow(y - 1, -1, _R) % _R
    ranges = sum(zj * ((1 << w) - 1) for zj, w in zip(z_pow, widths.per_value, strict=True))
    delta = ((z - z_sq) * y_sum - z * ranges) % _R
    a_vec, b_vec = proof.a, proof.b
    ab = sum(p * q for p, q in zip(a_vec, b_vec, strict=True)) % _R

    # Original index i = t·clear + j. G_i's IPA coefficient is a_j·s_t and H_i's is
    # y^-i·b_j/s_t = (y^-(t·clear)/s_t)·(y^-j·b_j), where s_t is the product over rounds r of
    # u_r (bit of t for round r set; round 0 is the most significant bit) or u_r^-1 (clear). Both
    # t-vectors are tensor products over the bits of t, built by doubling (one product per entry).
    prod_u = prod_u_inv = 1
    for u, u_inv in zip(us, u_invs, strict=True):
        prod_u = prod_u * u % _R
        prod_u_inv = prod_u_inv * u_inv % _R
    # The IPA terms enter G_i and H_i with a minus sign: fold it into the weights.
    ea = [-e_ipa * v % _R for v in a_vec]
    wb = [-e_ipa * v % _R * yj % _R for v, yj in zip(b_vec, powers(y_inv, clear), strict=True)]
    s_seed, ws_seed = prod_u_inv, prod_u
    if clear == 1:  # full compression: fold the single a, b into the seeds
        s_seed, ws_seed = s_seed * ea[0] % _R, ws_seed * wb[0] % _R
    s_vec = [s_seed]
    ws_vec = [ws_seed]
    for r in range(k - 1, -1, -1):
        bit_weight = clear << (k - 1 - r)  # y^-(t·clear) contributes y^-bit_weight for this bit
        up = us[r] * us[r] % _R
        down = u_invs[r] * u_invs[r] % _R * pow(y_inv, bit_weight, _R) % _R
        s_vec += [v * up % _R for v in s_vec]
        ws_vec += [v * down % _R for v in ws_vec]
    if clear == 1:
        g_ipa, h_ipa = s_vec, ws_vec
    else:
        g_ipa = [st * v for st in s_vec for v in ea]
        h_ipa = [wt * v for wt in ws_vec for v in wb]
    # z-terms of H_i for bit k of value j at offset o_j: y^-i·z^(2+j)·2^k = (z^(2+j)·y^-o_j)·(2^k·y^-k).
    if widths.uniform:
        n_bits = widths.per_value[0]
        fz = [
            e_ipa * zj % _R * yj % _R for zj, yj in zip(z_pow, powers(pow(y_inv, n_bits, _R), m), strict=True)
        ]
        gk = [(1 << kb) * yk % _R for kb, yk in enumerate(powers(y_inv, n_bits))]
        h_z = [f * g for f in fz for g in gk]
    else:
        widest = max(widths.per_value)
        gk = [(1 << kb) * yk % _R for kb, yk in enumerate(powers(y_inv, widest))]
        h_z = []
        for zj, offset, width in zip(z_pow, widths.offsets, widths.per_value, strict=True):
            f = e_ipa * zj % _R * pow(y_inv, offset, _R) % _R
            h_z += [f * g for g in gk[:width]]

    points = [raw_of(group, p) for p in (proof.A, proof.S, proof.T1, proof.T2)]
    scalars = [e_ipa, e_ipa * x, -e_commit * x, -e_commit * x % _R * x]
    round_points, round_scalars = round_terms(group, proof.L, proof.R, us, u_invs, e_ipa)
    points += round_points
    scalars += round_scalars
    for commitment, zj in zip(commitments, z_pow, strict=True):
        points.append(raw_of(group, commitment))
        scalars.append(-e_commit * zj)
    return ProofTerms(
        size=n_total,
        g_const=-e_ipa * z,
        h_const=e_ipa * z,
        g_coeffs=g_ipa,
        h_coeffs=[hz + hi for hz, hi in zip(h_z, h_ipa, strict=True)],
        points=points,
        scalars=scalars,
        ped_g=e_commit * (proof.t_hat - delta),
        ped_h=e_commit * proof.tau_x - e_ipa * proof.mu,
        q=e_ipa * w % _R * (proof.t_hat - ab),
    )


def verify_range(
    group: Group, commitments: Sequence[Point], n_bits: int, proof: RangeProof, transcript: Transcript
) -> None:
    """Check that every commitment opens to a value in ``[0, 2^n_bits)``; return None or raise.

    One multi-scalar multiplication checks both the commitment equation and the inner-product
    relation, combined with fresh random weights from ``os.urandom``. The transcript must be in the
    prover's starting state; it is advanced past the proof.

    Raises:
        VerificationError: ``rangeproof.shape`` (proof does not fit m = len(commitments) values of
            n_bits, or a scalar is not canonical), ``rangeproof.equation`` (the proof is invalid).
    """
    batch = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    batch.add(_proof_terms(group, commitments, n_bits, proof, transcript, batch_weight(), batch_weight()))
    if not batch.holds(group):
        raise VerificationError("rangeproof.equation", "range proof verification equation does not hold")


def verify_ranges(
    group: Group,
    commitments: Sequence[Point],
    widths: Sequence[int],
    proof: RangeProof,
    transcript: Transcript,
) -> None:
    """Check that commitment ``j`` opens to a value in ``[0, 2^widths[j])`` (:func:`prove_ranges`).

    One multi-scalar multiplication, as :func:`verify_range`; the transcript must be in the prover's
    starting state and is advanced past the proof.

    Raises:
        VerificationError: ``rangeproof.shape`` (bad widths, or a proof that does not fit them),
            ``rangeproof.equation`` (the proof is invalid).
    """
    try:
        _check_widths(widths)
    except ValueError as exc:
        raise VerificationError("rangeproof.shape", str(exc)) from exc
    if len(widths) != len(commitments):
        raise VerificationError("rangeproof.shape", "one width per commitment")
    batch = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    terms = _width_terms(
        group, commitments, Widths(tuple(widths), False), proof, transcript, batch_weight(), batch_weight()
    )
    batch.add(terms)
    if not batch.holds(group):
        raise VerificationError("rangeproof.equation", "range proof verification equation does not hold")


def ranges_proof_size(widths: Sequence[int], ipa_rounds: int | None = None) -> int:
    """Encoded size in bytes of a :func:`prove_ranges` proof for ``widths``.

    Raises:
        ValueError: bad widths or ``ipa_rounds``.
    """
    n_total = _check_widths(widths)
    k = _check_rounds(n_total, ipa_rounds)
    return (4 + 2 * k) * POINT_BYTES + (3 + 2 * (n_total >> k)) * SCALAR_BYTES


def decode_ranges(
    group: Group, data: bytes, widths: Sequence[int], ipa_rounds: int | None = None
) -> RangeProof:
    """Decode a :func:`prove_ranges` proof for ``widths`` (checks as :meth:`RangeProof.from_bytes`).

    Raises:
        EncodingError: wrong length, a malformed point or scalar, or impossible parameters.
    """
    try:
        n_total = _check_widths(widths)
        k = _check_rounds(n_total, ipa_rounds)
        expected = ranges_proof_size(widths, k)
    except ValueError as exc:
        raise EncodingError(f"rangeproof: {exc}") from exc
    if len(data) != expected:
        raise EncodingError(
            f"rangeproof: expected {expected} bytes for {n_total} bits, {k} rounds, got {len(data)}"
        )
    d = _wire.decode(group, data, n_points=4, n_scalars=3, rounds=k, clear=n_total >> k)
    (a_pt, s_pt, t1, t2), (tau_x, mu, t_hat) = d.points, d.scalars
    return RangeProof(a_pt, s_pt, t1, t2, tau_x, mu, t_hat, d.lefts, d.rights, d.a, d.b)


def batch_verify(group: Group, items: Sequence[RangeProofItem]) -> None:
    """Check many range proofs (any mix of m and n) in one multi-scalar multiplication.

    Each proof's two equations get independent 128-bit random weights from ``os.urandom``, so a
    batch containing an invalid proof passes with probability about 2^-127. The generator terms
    ``G_i``, ``H_i``, ``G``, ``H``, ``Q`` are shared by all proofs, which is what makes this cheaper
    than separate checks. Item transcripts are cloned, not consumed. On failure each item is
    re-checked alone to name the first bad one.

    Raises:
        VerificationError: ``rangeproof.shape`` for a malformed item (named by index),
            ``rangeproof.batch`` when the batch equation fails (naming the first bad index).
    """
    if not items:
        return
    batch = TermAccumulator(LABEL_G, LABEL_H, LABEL_Q)
    for index, item in enumerate(items):
        try:
            batch.add(
                _proof_terms(
                    group,
                    item.commitments,
                    item.n_bits,
                    item.proof,
                    item.transcript.clone(),
                    batch_weight(),
                    batch_weight(),
                )
            )
        except VerificationError as exc:
            raise VerificationError(exc.check, f"item {index}: {exc}") from exc
    if batch.holds(group):
        return
    for index, item in enumerate(items):
        try:
            verify_range(group, item.commitments, item.n_bits, item.proof, item.transcript.clone())
        except VerificationError as exc:
            raise VerificationError("rangeproof.batch", f"batch failed: item {index} is invalid") from exc
    raise VerificationError("rangeproof.batch", "batch failed")
