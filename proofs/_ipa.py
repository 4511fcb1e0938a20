"""The inner-product argument shared by the range proofs and the lane circuit (internal).

Internal means: the names below are the documented interface between :mod:`proofs.bulletproofs`
and :mod:`proofs.lanecircuit` inside this package, with no stability promise to anyone else. An
auditor verifies with the public modules; outside ``proofs`` only the benchmarks, which measure
these internals, import this one.

What is here (Bünz et al., "Bulletproofs", IEEE S&P 2018, eprint 2017/1066):

* the prover of the §3 inner-product argument (Protocol 2), :class:`InnerProductProver`, for
  ``P = <a, G> + <b, H'> + <a, b>·Q'`` with ``H'_i = y^-i·H_i`` (§4.2, §5.1) over either
  protocol's generator vectors, cut short after any number of rounds;
* the verifier's side of those rounds: :func:`clear_length` (does a proof's shape fit),
  :func:`replay_rounds` (the ``L``, ``R`` → ``u`` transcript
  steps) and :func:`round_terms` (their contribution to the verification MSM);
* one proof's verification equations as MSM coefficients, :class:`ProofTerms`, and the batch
  check that folds many of them into one multi-scalar multiplication with the generator terms
  shared (§6), :class:`TermAccumulator`;
* the scalar functions both protocols use (:func:`powers`, :func:`powers_from`, :func:`inner_product`,
  :func:`os_scalars`, :func:`batch_weight`) and the backend-native generator cache
  (:func:`raw_vector`, :func:`raw_of`).

Transcript labels (``L``, ``R``, ``u``) are fixed here, so both protocols absorb the rounds the same
way; each protocol absorbs its own statement and messages before the rounds.
"""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from proofs import _parallel
from proofs.generators import generator, generator_vector, pedersen_bases
from proofs.group import ORDER, Group, Point
from proofs.transcript import Transcript

_R: Final = ORDER

#: The prover runs the first rounds of the IPA over the original generators and then folds
#: explicitly (reference/proof-systems.md §7.2). Relative per-term costs of an arkworks MSM by
#: size (1.0 = a 2^16-term MSM), measured on the project machine, drive the switch point.
_SMALL_MSM_COST: Final = {
    1: 25.0,
    2: 13.4,
    4: 9.0,
    8: 6.5,
    16: 5.0,
    32: 4.2,
    64: 3.5,
    128: 2.7,
    256: 2.35,
    512: 2.0,
    1024: 1.7,
    2048: 1.6,
    4096: 1.4,
    8192: 1.27,
    16384: 1.15,
    32768: 1.05,
}


# -------------------------------------------------------------------------------------------------
# Scalars
# -------------------------------------------------------------------------------------------------


def powers(x: int, n: int) -> list[int]:
    """``[1, x, x^2, ..., x^(n-1)]`` mod r."""
    return powers_from(1, x, n)


def powers_from(start: int, x: int, n: int) -> list[int]:
    """``[start, start·x, ..., start·x^(n-1)]`` mod r."""
    out = [start] * n
    for i in range(1, n):
        out[i] = out[i - 1] * x % _R
    return out


def inner_product(a: Sequence[int], b: Sequence[int]) -> int:
    """``<a, b>`` mod r.

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    if len(a) != len(b):
        raise ValueError("inner product of vectors of different lengths")
    total: int = sum(map(operator.mul, a, b))
    return total % _R


def os_scalars(count: int) -> list[int]:
    """``count`` uniform scalars from the OS random source (64 bytes each, reduced mod r)."""
    buf = os.urandom(64 * count)
    return [int.from_bytes(buf[i : i + 64], "big") % _R for i in range(0, 64 * count, 64)]


def batch_weight() -> int:
    """A fresh random weight for one verification equation in a batch (odd, 128 bits).

    128-bit weights from ``os.urandom`` leave a 2^-128 chance that a bad proof cancels out.
    """
    return int.from_bytes(os.urandom(16), "big") | 1


# -------------------------------------------------------------------------------------------------
# Generators in backend-native form
# -------------------------------------------------------------------------------------------------

_raw_cache: dict[tuple[str, str], list[Any]] = {}
_cache_lock = threading.Lock()


def raw_vector(group: Group, label: str, n: int) -> list[Any]:
    """Backend-native points of (at least) the first ``n`` generators of ``label``.

    The list is shared and cached per backend and label: slice it, never mutate it.
    """
    key = (group.name, label)
    with _cache_lock:
        vec = _raw_cache.get(key)
        if vec is None or len(vec) < n:
            vec = [p.raw for p in generator_vector(group, label, n)]
            _raw_cache[key] = vec
        return vec


def raw_of(group: Group, p: Point) -> Any:
    """The backend-native form of ``p`` in ``group`` (re-decoded if it came from another backend)."""
    if p.group.name == group.name:
        return p.raw
    return group.decode_point(p.to_bytes(), allow_identity=True).raw


# -------------------------------------------------------------------------------------------------
# Prover
# -------------------------------------------------------------------------------------------------


def _msm_cost(size: int) -> float:
    return _SMALL_MSM_COST.get(size, 1.0)


def switch_round(n_total: int, rounds: int) -> int:
    """How many IPA rounds to run over the original generators before folding explicitly.

    Cost model in 2^16-MSM-term units: each round over the originals is two MSMs of N terms;
    switching at round k builds the folded generators with 2N terms in MSMs of size 2^k, then folds
    the remaining N/2^k generators per side with 2-term MSMs, with L and R over the folded ones.
    The choice changes speed only, never the proof's bytes.
    """
    per_round = 2.0 * n_total * _msm_cost(n_total)
    best_k, best_cost = rounds, per_round * rounds
    for k in range(rounds):
        rest = n_total >> k
        cost = (
            per_round * k
            + 2.0 * n_total * _msm_cost(1 << k)
            + 2.0 * rest * 2 * _msm_cost(2)
            + 4.0 * rest * _msm_cost(rest)
        )
        if cost < best_cost:
            best_k, best_cost = k, cost
    return best_k


class InnerProductProver:
    """Prover of the §3 inner-product argument for ``P = <a, G> + <b, H'> + <a, b>·Q'``.

    ``H'_i = y^-i · H_i`` (§4.2); ``Q' = w·Q``. The halving follows Protocol 2:
    ``a' = a_lo·u + a_hi·u^-1``, ``b' = b_lo·u^-1 + b_hi·u``, ``G' = G_lo·u^-1 + G_hi·u``,
    ``H' = H_lo·u + H_hi·u^-1``; ``L = <a_lo, G_hi> + <b_hi, H_lo> + <a_lo, b_hi>·Q'`` and ``R``
    symmetrically. Each round appends ``L`` and ``R`` to the transcript and draws ``u``.

    Performance (reference/proof-systems.md §7.2): the first rounds compute ``L`` and ``R`` over the
    *original* generators with challenge-product coefficients (one large MSM each, no folding);
    then the folded generators are built with one small MSM each and the tail rounds fold
    explicitly. The tail keeps generators up to a common scalar factor (``G' = G_lo + u²·G_hi``
    with the factor ``u^-1`` moved onto the scalars), so each fold is one 2-term MSM.

    ``g_raw`` and ``h_raw`` are backend-native generator vectors (at least ``len(a)`` long),
    ``y_inv_pow`` the powers ``y^-i`` (at least ``len(a)``), ``q_raw`` the native ``Q'``; ``a``
    and ``b`` have equal power-of-two length.
    """

    def __init__(
        self,
        group: Group,
        transcript: Transcript,
        g_raw: list[Any],
        h_raw: list[Any],
        y_inv_pow: list[int],
        q_raw: Any,
        a: list[int],
        b: list[int],
    ) -> None:
        self.group = group
        self.transcript = transcript
        self.g_raw = g_raw
        self.h_raw = h_raw
        self.y_inv = y_inv_pow
        self.q_raw = q_raw
        self.a = a
        self.b = b
        self.n_total = len(a)
        # s[t] = prod of u_r^(±1) over the rounds so far (t's bits, most significant = round 0).
        self.s = [1]
        self.s_inv = [1]
        self.lefts: list[Point] = []
        self.rights: list[Point] = []

    def run(self, rounds: int) -> tuple[list[Point], list[Point], list[int], list[int]]:
        """Run ``rounds`` halving rounds and return ``(L, R, a, b)``.

        ``a`` and ``b`` are the folded vectors, of length ``N / 2^rounds``.
        """
        switch = switch_round(self.n_total, rounds)
        for _ in range(min(switch, rounds)):
            self._round_over_originals()
        if switch < rounds:
            self._explicit_rounds(rounds - switch)
        return self.lefts, self.rights, self.a, self.b

    def _challenge(self, left: Point, right: Point) -> tuple[int, int]:
        self.lefts.append(left)
        self.rights.append(right)
        self.transcript.append_point(b"L", left)
        self.transcript.append_point(b"R", right)
        u = self.transcript.challenge_scalar(b"u")
        return u, pow(u, -1, _R)

    def _fold_vectors(self, u: int, u_inv: int) -> None:
        h = len(self.a) // 2
        a, b = self.a, self.b
        self.a = [(a[j] * u + a[h + j] * u_inv) % _R for j in range(h)]
        self.b = [(b[j] * u_inv + b[h + j] * u) % _R for j in range(h)]

    def _round_over_originals(self) -> None:
        a, b, s, s_inv, y_inv = self.a, self.b, self.s, self.s_inv, self.y_inv
        size = len(a)
        h = size // 2
        blocks = range(0, self.n_total, size)
        c_l = sum(x * y for x, y in zip(a[:h], b[h:], strict=True)) % _R
        c_r = sum(x * y for x, y in zip(a[h:], b[:h], strict=True)) % _R
        # Folded generator j of the current level = sum_t s[t]·G[t·size + j] (and s_inv, y^-i for H).
        # H coefficient of original i = t·size + off + j factors as (s_inv[t]·y^-(t·size+off))·(b·y^-j).
        b_hi_y = [x * yj % _R for x, yj in zip(b[h:], y_inv, strict=False)]
        b_lo_y = [x * yj % _R for x, yj in zip(b[:h], y_inv, strict=False)]
        tl = [si * y_inv[t] % _R for si, t in zip(s_inv, blocks, strict=True)]
        tr = [si * y_inv[t + h] % _R for si, t in zip(s_inv, blocks, strict=True)]
        g, hv = self.g_raw, self.h_raw
        l_points = [p for t in blocks for p in g[t + h : t + size]]
        l_points += [p for t in blocks for p in hv[t : t + h]]
        l_points.append(self.q_raw)
        l_scalars = [st * x for st in s for x in a[:h]]
        l_scalars += [st * x for st in tl for x in b_hi_y]
        l_scalars.append(c_l)
        r_points = [p for t in blocks for p in g[t : t + h]]
        r_points += [p for t in blocks for p in hv[t + h : t + size]]
        r_points.append(self.q_raw)
        r_scalars = [st * x for st in s for x in a[h:]]
        r_scalars += [st * x for st in tr for x in b_lo_y]
        r_scalars.append(c_r)
        group = self.group
        left, right = _parallel.run_all(
            group, [partial(group.msm_raw, l_points, l_scalars), partial(group.msm_raw, r_points, r_scalars)]
        )
        u, u_inv = self._challenge(left, right)
        self._fold_vectors(u, u_inv)
        self.s = [x for st in s for x in (st * u_inv % _R, st * u % _R)]
        self.s_inv = [x for st in s_inv for x in (st * u % _R, st * u_inv % _R)]

    def _explicit_rounds(self, rounds: int) -> None:
        group = self.group
        size = len(self.a)
        blocks = range(0, self.n_total, size)
        g, hv, y_inv = self.g_raw, self.h_raw, self.y_inv
        s, s_inv = self.s, self.s_inv
        jobs: list[tuple[list[Any], list[int]]] = []
        for j in range(size):
            jobs.append(([g[t + j] for t in blocks], s))
        for j in range(size):
            jobs.append(
                (
                    [hv[t + j] for t in blocks],
                    [si * y_inv[t + j] for si, t in zip(s_inv, blocks, strict=True)],
                )
            )
        folded = _parallel.msm_many(group, jobs)
        gf = [p.raw for p in folded[:size]]
        hf = [p.raw for p in folded[size:]]
        # True generators are g_scale·gf and h_scale·hf.
        g_scale = h_scale = 1
        for step in range(rounds):
            a, b = self.a, self.b
            h = len(a) // 2
            c_l = sum(x * y for x, y in zip(a[:h], b[h:], strict=True)) % _R
            c_r = sum(x * y for x, y in zip(a[h:], b[:h], strict=True)) % _R
            l_job = (
                gf[h:] + hf[:h] + [self.q_raw],
                [g_scale * x for x in a[:h]] + [h_scale * x for x in b[h:]] + [c_l],
            )
            r_job = (
                gf[:h] + hf[h:] + [self.q_raw],
                [g_scale * x for x in a[h:]] + [h_scale * x for x in b[:h]] + [c_r],
            )
            left, right = _parallel.run_all(
                group, [partial(group.msm_raw, *l_job), partial(group.msm_raw, *r_job)]
            )
            u, u_inv = self._challenge(left, right)
            self._fold_vectors(u, u_inv)
            if step == rounds - 1:
                break
            u_sq = u * u % _R
            u_inv_sq = u_inv * u_inv % _R
            fold_jobs = [([gf[j], gf[h + j]], [1, u_sq]) for j in range(h)]
            fold_jobs += [([hf[j], hf[h + j]], [1, u_inv_sq]) for j in range(h)]
            refolded = _parallel.msm_many(group, fold_jobs)
            gf = [p.raw for p in refolded[:h]]
            hf = [p.raw for p in refolded[h:]]
            g_scale = g_scale * u_inv % _R
            h_scale = h_scale * u % _R


# -------------------------------------------------------------------------------------------------
# Verifier
# -------------------------------------------------------------------------------------------------


def clear_length(
    size: int, lefts: Sequence[Point], rights: Sequence[Point], a: Sequence[int], b: Sequence[int]
) -> int | None:
    """The length ``size / 2^k`` of the clear vectors if the proof's ``k`` rounds fit ``size``, else None.

    A proof over ``size`` (a power of two) generators fits when it has at most ``log2 size`` rounds,
    as many ``R`` as ``L``, and clear vectors ``a`` and ``b`` of exactly ``size / 2^k`` scalars.
    """
    k = len(lefts)
    if k > size.bit_length() - 1:
        return None
    clear = size >> k
    if len(rights) != k or len(a) != clear or len(b) != clear:
        return None
    return clear


def replay_rounds(
    transcript: Transcript, lefts: Sequence[Point], rights: Sequence[Point]
) -> tuple[list[int], list[int]]:
    """Absorb every round's ``L``, ``R`` and draw its ``u``; return the challenges and their inverses.

    Raises:
        ValueError: ``lefts`` and ``rights`` differ in length (callers check the shape first).
    """
    us: list[int] = []
    for left, right in zip(lefts, rights, strict=True):
        transcript.append_point(b"L", left)
        transcript.append_point(b"R", right)
        us.append(transcript.challenge_scalar(b"u"))
    return us, [pow(u, -1, _R) for u in us]


def round_terms(
    group: Group,
    lefts: Sequence[Point],
    rights: Sequence[Point],
    us: Sequence[int],
    u_invs: Sequence[int],
    e_ipa: int,
) -> tuple[list[Any], list[int]]:
    """The rounds' part of the weighted IPA check: ``e_ipa·Σ_k (u_k²·L_k + u_k^-2·R_k)`` as MSM terms."""
    points: list[Any] = []
    scalars: list[int] = []
    for left, right, u, u_inv in zip(lefts, rights, us, u_invs, strict=True):
        points += [raw_of(group, left), raw_of(group, right)]
        scalars += [e_ipa * u % _R * u, e_ipa * u_inv % _R * u_inv]
    return points, scalars


@dataclass
class ProofTerms:
    """One proof's weighted verification equations as coefficients of one MSM.

    The proof holds iff (with overwhelming probability over its weights) this is the identity::

        Σ_{i<size} (g_const + g_coeffs[i])·G_i + (h_const + h_coeffs[i])·H_i
          + Σ scalars[j]·points[j] + ped_g·G + ped_h·H + q·Q

    where ``G_i``, ``H_i``, ``Q`` are the protocol's generators and ``(G, H)`` the Pedersen bases.
    ``g_const`` and ``h_const`` let a batch add a per-proof constant once per size, not per entry.
    Coefficients need not be reduced mod r.
    """

    size: int
    g_coeffs: list[int]
    h_coeffs: list[int]
    points: list[Any]
    scalars: list[int]
    ped_g: int
    ped_h: int
    q: int
    g_const: int = 0
    h_const: int = 0


class TermAccumulator:
    """Running sum of proofs' :class:`ProofTerms` over one protocol's generators (§6 batching).

    Proofs are folded in as they come, so a batch holds O(N_max) generator coefficients, not O(N)
    per proof; :meth:`holds` then checks everything with one multi-scalar multiplication.
    """

    def __init__(self, label_g: str, label_h: str, label_q: str) -> None:
        self.labels = (label_g, label_h, label_q)
        self.g_acc: list[int] = []
        self.h_acc: list[int] = []
        self.const_by_size: dict[int, list[int]] = {}
        self.points: list[Any] = []
        self.scalars: list[int] = []
        self.ped_g = self.ped_h = self.q = 0

    def add(self, t: ProofTerms) -> None:
        """Fold one proof's terms into the batch.

        Raises:
            ValueError: ``t``'s coefficient lists are not ``t.size`` long.
        """
        n = t.size
        if len(self.g_acc) < n:
            grow = n - len(self.g_acc)
            self.g_acc += [0] * grow
            self.h_acc += [0] * grow
        if t.g_const or t.h_const:
            consts = self.const_by_size.setdefault(n, [0, 0])
            consts[0] += t.g_const
            consts[1] += t.h_const
        g_new = [acc + v for acc, v in zip(self.g_acc[:n], t.g_coeffs, strict=True)]
        h_new = [acc + v for acc, v in zip(self.h_acc[:n], t.h_coeffs, strict=True)]
        if n == len(self.g_acc):
            self.g_acc, self.h_acc = g_new, h_new
        else:
            self.g_acc[:n], self.h_acc[:n] = g_new, h_new
        self.points += t.points
        self.scalars += t.scalars
        self.ped_g += t.ped_g
        self.ped_h += t.ped_h
        self.q += t.q

    def holds(self, group: Group) -> bool:
        """True iff the weighted sum of every added proof's equations is the identity."""
        label_g, label_h, label_q = self.labels
        n_max = len(self.g_acc)
        g_acc, h_acc = list(self.g_acc), list(self.h_acc)
        # Per-proof constants apply to the prefix of the generators each proof uses.
        for n, (g_c, h_c) in sorted(self.const_by_size.items()):
            g_acc[:n] = [acc + g_c for acc in g_acc[:n]]
            h_acc[:n] = [acc + h_c for acc in h_acc[:n]]
        ped_g_pt, ped_h_pt = pedersen_bases(group)
        fixed = [raw_of(group, ped_g_pt), raw_of(group, ped_h_pt), raw_of(group, generator(group, label_q))]
        bases = raw_vector(group, label_g, n_max)[:n_max] + raw_vector(group, label_h, n_max)[:n_max]
        return _parallel.msm(
            group,
            bases + self.points + fixed,
            g_acc + h_acc + self.scalars + [self.ped_g, self.ped_h, self.q],
        ).is_identity()
