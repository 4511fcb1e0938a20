"""One Bulletproofs arithmetic-circuit argument over many copies of a per-loan template (internal).

Internal means: the interface between this module and the per-loan circuits built on it
(:mod:`proofs.lanecircuit` for the ``dpd5`` lane sets, :mod:`proofs.poolcircuit` for the pool
statement v2) inside this package, with no stability promise to anyone else.

The protocol is §5.1 Protocol 3 of Bünz, Bootle, Boneh, Poelstra, Wuille, Maxwell, "Bulletproofs"
(IEEE S&P 2018, eprint 2017/1066): circuits ``a_L ∘ a_R = a_O`` with linear constraints
``W_L·a_L + W_R·a_R + W_O·a_O = W_V·v + c`` over committed inputs ``v``, compressed with the §3
inner-product argument (:mod:`proofs._ipa`, cut short after any number of rounds), non-interactive
by Fiat–Shamir and verified in one multi-scalar multiplication (§6.2). What this module adds is the
structure of a pool: every loan has the same :class:`Template` (``gates`` multiplication gates,
``inputs`` committed inputs, the same linear constraints), so the ``z``-weighted constraint rows
are one template evaluated once and scaled per loan by ``ζ_i = z^(i·Q)`` (``Q`` = rows per loan),
and ``δ(y, z) = Σ_i ζ_i²·y^(−i·gates)·Σ_g y^(−g)·tR_g·tL_g``. Loan ``i`` owns gates
``i·gates .. i·gates + gates − 1``; gates beyond ``loans·gates`` up to the power of two ``N`` are
dummy gates ``0·0 = 0`` that no constraint touches (the prover's blinding there is zero: ``l`` and
``r`` are then the public ``0`` and ``−y^i``).

Shared blinding on bit gates. A template may list *shared* gates: gates whose constraints fix
``a_O = 0`` and ``a_L − a_R = 1`` (the bit gates ``p·(p − 1) = 0`` of a range check). On them the
prover draws one blinding ``s`` and uses it for both ``s_L`` and ``s_R``, so ``S`` carries one MSM
term ``s·(G_i + H_i)`` there instead of two. This changes nothing the verifier does, so soundness
is that of the protocol; zero knowledge is kept because on such a gate
``r_i = y^i·(l_i − c_i·x) − y^i·x + d_i`` with public ``c_i, d_i``: ``r_i`` is a public function of
``l_i``, and ``l_i = (a_L + s·x²)·x + c_i·x`` is uniform because ``s`` is. A simulator picks ``l``
uniformly, derives ``r`` on shared gates and picks it uniformly elsewhere, as in the unshared proof.

The proof object and its byte layout are :class:`proofs.lanecircuit.LaneCircuitProof`'s
(``A_I | A_O | S | T1 | T3..T6 | tau_x | mu | t_hat | L, R per round | a | b``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar

from proofs import _parallel
from proofs._ipa import (
    InnerProductProver,
    ProofTerms,
    TermAccumulator,
    clear_length,
    inner_product,
    os_scalars,
    powers,
    raw_of,
    raw_vector,
    replay_rounds,
    round_terms,
)
from proofs.errors import VerificationError
from proofs.generators import generator, pedersen_bases
from proofs.group import ORDER, Group, Point, ScalarSource
from proofs.transcript import Transcript

_R: Final = ORDER

Terms = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Constraint:
    """``Σ W_L·a_L + Σ W_R·a_R + Σ W_O·a_O = Σ W_V·v + c`` over one loan's gates and inputs.

    Each ``Terms`` entry is ``(local gate or input index, coefficient mod r)``.
    """

    left: Terms = ()
    right: Terms = ()
    out: Terms = ()
    inputs: Terms = ()
    const: int = 0


@dataclass(frozen=True)
class Template:
    """The per-loan circuit: gate and input counts, linear constraints, and the shared-blinding gates."""

    gates: int
    inputs: int
    rows: tuple[Constraint, ...]
    #: Local gates whose rows fix ``a_O = 0`` and ``a_L − a_R = 1`` (module docstring).
    shared: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Labels:
    """Generator labels of the circuit's vectors ``G``, ``H`` and inner-product base ``Q``."""

    g: str
    h: str
    q: str


@dataclass(frozen=True)
class Weights:
    """The template's rows weighted by ``z^(q+1)`` and summed (``tL``, ``tR``, ``tO``, ``tV``, ``tc``)."""

    left: list[int]
    right: list[int]
    out: list[int]
    inputs: list[int]
    const: int
    per_loan: int  # z^Q: the factor from one loan's constraints to the next


def weights(template: Template, z: int) -> Weights:
    """The ``z``-weighted sums of the template's rows."""
    left, right, out = [0] * template.gates, [0] * template.gates, [0] * template.gates
    inputs = [0] * template.inputs
    const = 0
    zq = 1
    for row in template.rows:
        zq = zq * z % _R
        for vec, terms in ((left, row.left), (right, row.right), (out, row.out), (inputs, row.inputs)):
            for index, coeff in terms:
                vec[index] = (vec[index] + zq * coeff) % _R
        const = (const + zq * row.const) % _R
    return Weights(left, right, out, inputs, const, pow(z, len(template.rows), _R))


def loan_factors(z_step: int, y_inv_step: int, loans: int) -> tuple[list[int], list[int]]:
    """``ζ_i = z^(i·Q)`` and ``ζ_i·y^(−i·gates)`` for every loan."""
    zeta = [1] * loans
    zy = [1] * loans
    for i in range(1, loans):
        zeta[i] = zeta[i - 1] * z_step % _R
        zy[i] = zy[i - 1] * z_step % _R * y_inv_step % _R
    return zeta, zy


def signed(k: int) -> int:
    """``k mod r`` as the integer of least absolute value (cheap MSM scalars for small negatives)."""
    k %= _R
    return k - _R if k > _R // 2 else k


def small_msm(group: Group, raws: Sequence[Any], scalars: Sequence[int]) -> Point:
    """``Σ k_i·P_i`` for scalars of small absolute value: one MSM for positives, one for negatives."""
    pos_p: list[Any] = []
    pos_k: list[int] = []
    neg_p: list[Any] = []
    neg_k: list[int] = []
    for p, k in zip(raws, scalars, strict=True):
        s = signed(k)
        if s > 0:
            pos_p.append(p)
            pos_k.append(s)
        elif s < 0:
            neg_p.append(p)
            neg_k.append(-s)
    return _parallel.msm(group, pos_p, pos_k) - _parallel.msm(group, neg_p, neg_k)


_sum_cache: dict[tuple[str, str, str], list[Any]] = {}


def _raw_sums(group: Group, labels: Labels, n: int) -> list[Any]:
    """``G_i + H_i`` in backend-native form for the first ``n`` gates (cached per backend, grown on need)."""
    key = (group.name, labels.g, labels.h)
    have = _sum_cache.get(key, [])
    if len(have) < n:
        g_raw = raw_vector(group, labels.g, n)
        h_raw = raw_vector(group, labels.h, n)
        have = have + [
            group.add_raw(g, h) for g, h in zip(g_raw[len(have) : n], h_raw[len(have) : n], strict=True)
        ]
        _sum_cache[key] = have
    return have


Wires = tuple[list[int], list[int], list[int]]


def append_one_hot_gates(wires: Wires, counts: Sequence[int], gates: int) -> None:
    """Append the one-hot gates ``c_k·(c_0 + .. + c_k − 1) = 0`` for ``k < gates`` to ``(a_L, a_R, a_O)``."""
    a_l, a_r, a_o = wires
    prefix = 0
    for k in range(gates):
        prefix += counts[k]
        a_l.append(counts[k])
        a_r.append(prefix - 1)
        a_o.append(counts[k] * (prefix - 1) % _R)


def append_product_gates(wires: Wires, counts: Sequence[int], value: int, gates: int) -> None:
    """Append the product gates ``c_s·value = a_O`` for ``s < gates`` to ``(a_L, a_R, a_O)``."""
    a_l, a_r, a_o = wires
    for s in range(gates):
        a_l.append(counts[s])
        a_r.append(value)
        a_o.append(counts[s] * value % _R)


#: Fixed cost of one more proof (its 8 + 2·log N points, transcript, verifier set-up) in gates.
PROOF_OVERHEAD_GATES: Final = 32


def split_loans(loans: int, per_loan: int, max_gates: int) -> list[int]:
    """Loan counts of consecutive proofs covering ``loans`` loans with little padding, largest first.

    Minimises the total padded gate count plus a small per-proof overhead over splits where each
    proof but the last fills the largest power of two of gates (at most ``max_gates``) that the
    remaining loans reach, for a template of ``per_loan`` gates.
    """

    def padded(n: int) -> int:
        return 1 << (n * per_loan - 1).bit_length()

    def plan(rest: int) -> tuple[int, list[int]]:
        whole: tuple[int, list[int]] | None = None
        if rest * per_loan <= max_gates:
            whole = (padded(rest) + PROOF_OVERHEAD_GATES, [rest])
        k = min((rest * per_loan).bit_length() - 1, max_gates.bit_length() - 1)
        fill = (1 << k) // per_loan
        if whole is not None and (fill == 0 or fill >= rest):
            return whole
        cost, tail = plan(rest - fill)
        split = (padded(fill) + PROOF_OVERHEAD_GATES + cost, [fill, *tail])
        return split if whole is None or split[0] < whole[0] else whole

    return plan(loans)[1]


Absorb = Callable[[Transcript], None]
_Item = TypeVar("_Item")


def check_shape(
    check: str, n_gates: int, commitments: Sequence[Sequence[Point]], inputs: int, proof: Messages, what: str
) -> None:
    """Refuse a proof or commitments that do not fit a statement of ``n_gates`` gates (``what`` names it).

    Every loan must have ``inputs`` commitments, the inner-product vectors must fit ``n_gates`` and
    every scalar must be canonical.

    Raises:
        VerificationError: ``check`` (the caller's ``<protocol>.shape``).
    """
    for i, loan in enumerate(commitments):
        if len(loan) != inputs:
            raise VerificationError(check, f"loan {i}: expected {inputs} commitments")
    if clear_length(n_gates, proof.lefts, proof.rights, proof.a, proof.b) is None:
        raise VerificationError(
            check,
            f"proof does not fit {what}: {len(proof.lefts)} L, {len(proof.rights)} R, "
            f"{len(proof.a)} a, {len(proof.b)} b",
        )
    for value in (proof.tau_x, proof.mu, proof.t_hat, *proof.a, *proof.b):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _R:
            raise VerificationError(check, "scalar out of range [0, r)")


def batch_check(
    group: Group,
    labels: Labels,
    items: Sequence[_Item],
    terms_of: Callable[[_Item], ProofTerms],
    verify_alone: Callable[[_Item], None],
    check: str,
) -> None:
    """Check many proofs in one multi-scalar multiplication; on failure name the first bad item.

    ``terms_of`` gives an item's verification equations with fresh random weights (raising
    ``VerificationError`` for a malformed item, re-raised naming its index); ``verify_alone`` checks
    one item by itself, to find the bad one when the batch equation fails.

    Raises:
        VerificationError: the item's own check for a malformed item, ``check`` when the batch fails.
    """
    if not items:
        return
    batch = TermAccumulator(labels.g, labels.h, labels.q)
    for index, item in enumerate(items):
        try:
            batch.add(terms_of(item))
        except VerificationError as exc:
            raise VerificationError(exc.check, f"item {index}: {exc}") from exc
    if batch.holds(group):
        return
    for index, item in enumerate(items):
        try:
            verify_alone(item)
        except VerificationError as exc:
            raise VerificationError(check, f"batch failed: item {index} is invalid") from exc
    raise VerificationError(check, "batch failed")


@dataclass(frozen=True)
class Messages:
    """A proof's messages in protocol order (the fields of ``LaneCircuitProof``)."""

    points: tuple[Point, ...]  # A_I, A_O, S, T1, T3, T4, T5, T6
    tau_x: int
    mu: int
    t_hat: int
    lefts: Sequence[Point]
    rights: Sequence[Point]
    a: Sequence[int]
    b: Sequence[int]


@dataclass(frozen=True)
class PieceRows:
    """Commitments of a whole piece: row ``k`` is the sum, over the piece's loans, of the output wire of
    local gate ``gates[k]``, committed once as ``W_k = (Σ a_O)·G + blindings[k]·H``.

    Its constraint ``Σ_loans a_O[gates[k]] − W_k = 0`` has weight ``weights(z, per_loan, loans)[k]``
    (after every per-loan row); the verifier adds the same weights to ``w_O`` and on the ``W_k``.
    """

    gates: tuple[int, ...]
    blindings: tuple[int, ...]
    weights: Callable[[int, int, int], list[int]]


def prove(
    group: Group,
    template: Template,
    labels: Labels,
    wires: tuple[list[int], list[int], list[int]],
    blindings: Sequence[Sequence[int]],
    n_gates: int,
    rounds: int,
    transcript: Transcript,
    absorb_statement: Absorb,
    rng: ScalarSource | None = None,
    *,
    randomness: Sequence[int] | None = None,
    piece_rows: PieceRows | None = None,
) -> Messages:
    """Run the prover over ``len(blindings)`` loans whose real-gate wires are ``wires``.

    ``wires`` are ``a_L, a_R, a_O`` over the real gates (loan-major, ``template.gates`` a loan);
    ``blindings[i]`` are loan ``i``'s input blindings. ``absorb_statement`` appends the circuit's
    statement (domain, generators, parameters, commitments) to the transcript first. ``piece_rows``
    adds constraints that span the piece's loans (:class:`PieceRows`).

    Randomness: ``alpha, beta, rho, tau_1, tau_3..tau_6``, then ``s_L`` over the real gates, then
    ``s_R`` over the real gates that are not shared; drawn by the caller (``randomness``), or from
    ``rng`` (tests only) or ``os.urandom``.
    """
    loans = len(blindings)
    used = loans * template.gates
    shared = shared_mask(template, loans) if template.shared else []
    unshared = used - sum(shared)
    count = 8 + used + unshared
    if randomness is None:
        randomness = os_scalars(count) if rng is None else [rng() % _R for _ in range(count)]
    elif len(randomness) != count:
        raise ValueError(f"expected {count} random scalars, got {len(randomness)}")
    alpha, beta, rho, tau1, tau3, tau4, tau5, tau6 = randomness[:8]
    s_l = randomness[8 : 8 + used]
    own_r = iter(randomness[8 + used :])
    s_r = [s_l[i] if shared and shared[i] else next(own_r) for i in range(used)]

    ped_g, ped_h = pedersen_bases(group)
    g_raw = raw_vector(group, labels.g, n_gates)
    h_raw = raw_vector(group, labels.h, n_gates)
    ped_g_raw = raw_of(group, ped_g)
    ped_h_raw = raw_of(group, ped_h)
    absorb_statement(transcript)

    a_l, a_r, a_o = wires
    if shared:
        sums = _raw_sums(group, labels, used)
        s_points = [ped_h_raw]
        s_scalars = [rho]
        for i in range(used):
            if shared[i]:
                s_points.append(sums[i])
                s_scalars.append(s_l[i])
            else:
                s_points += (g_raw[i], h_raw[i])
                s_scalars += (s_l[i], s_r[i])
        s_task = partial(_parallel.msm, group, s_points, s_scalars)
    else:
        s_task = partial(_parallel.msm, group, [ped_h_raw, *g_raw[:used], *h_raw[:used]], [rho, *s_l, *s_r])
    a_i_commit, a_o_commit, s_commit = _parallel.run_all(
        group,
        [
            partial(small_msm, group, [ped_h_raw, *g_raw[:used], *h_raw[:used]], [alpha, *a_l, *a_r]),
            partial(small_msm, group, [ped_h_raw, *g_raw[:used]], [beta, *a_o]),
            s_task,
        ],
    )
    for label, point in ((b"A_I", a_i_commit), (b"A_O", a_o_commit), (b"S", s_commit)):
        transcript.append_point(label, point)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")

    w = weights(template, z)
    y_inv = pow(y, -1, _R)
    zeta, _ = loan_factors(w.per_loan, 1, loans)
    g_out = [0] * template.gates
    piece_gamma = 0
    if piece_rows is not None:
        g_in = piece_rows.weights(z, w.per_loan, loans)
        for k, gate in enumerate(piece_rows.gates):
            g_out[gate] = g_in[k]
        piece_gamma = inner_product(g_in, piece_rows.blindings)
    w_l = [zi * t % _R for zi in zeta for t in w.left]
    w_r = [zi * t % _R for zi in zeta for t in w.right]
    w_o = [(zi * t + go) % _R for zi in zeta for t, go in zip(w.out, g_out, strict=True)]
    y_pow = powers(y, n_gates)
    y_inv_pow = powers(y_inv, n_gates)

    # l(X) = l1·X + l2·X^2 + l3·X^3;  r(X) = r0 + r1·X + r3·X^3  (§5.1 Protocol 3, over the real gates).
    l1 = [(a + yi * wr) % _R for a, yi, wr in zip(a_l, y_inv_pow, w_r, strict=False)]
    l2 = a_o
    l3 = s_l
    r0 = [(wo - yi) % _R for wo, yi in zip(w_o, y_pow, strict=False)]
    r1 = [(yi * a + wl) % _R for yi, a, wl in zip(y_pow, a_r, w_l, strict=False)]
    r3 = [yi * s % _R for yi, s in zip(y_pow, s_r, strict=False)]
    t1 = inner_product(l1, r0)
    t3 = (inner_product(l2, r1) + inner_product(l3, r0)) % _R
    t4 = (inner_product(l1, r3) + inner_product(l3, r1)) % _R
    t5 = inner_product(l2, r3)
    t6 = inner_product(l3, r3)
    t_commits = _parallel.run_all(
        group,
        [
            partial(group.msm_raw, [ped_g_raw, ped_h_raw], [t, tau])
            for t, tau in ((t1, tau1), (t3, tau3), (t4, tau4), (t5, tau5), (t6, tau6))
        ],
    )
    for label, point in zip((b"T1", b"T3", b"T4", b"T5", b"T6"), t_commits, strict=True):
        transcript.append_point(label, point)
    x = transcript.challenge_scalar(b"x")

    x2 = x * x % _R
    x3 = x2 * x % _R
    l_vec = [(p * x + q * x2 + s * x3) % _R for p, q, s in zip(l1, l2, l3, strict=True)]
    r_vec = [(p + q * x + s * x3) % _R for p, q, s in zip(r0, r1, r3, strict=True)]
    # Dummy gates: l = 0, r = -y^i.
    l_vec += [0] * (n_gates - used)
    r_vec += [_R - yi for yi in y_pow[used:]]
    t_hat = inner_product(l_vec, r_vec)
    w_v_gamma = sum(zi * inner_product(w.inputs, gammas) for zi, gammas in zip(zeta, blindings, strict=True))
    w_v_gamma += piece_gamma
    x4 = x2 * x2 % _R
    tau_x = (tau1 * x + x2 * w_v_gamma + tau3 * x3 + tau4 * x4 + tau5 * x4 * x + tau6 * x3 * x3) % _R
    mu = (alpha * x + beta * x2 + rho * x3) % _R
    transcript.append_scalar(b"tau_x", tau_x)
    transcript.append_scalar(b"mu", mu)
    transcript.append_scalar(b"t_hat", t_hat)
    w_chal = transcript.challenge_scalar(b"w")
    q_point = generator(group, labels.q) * w_chal

    lefts, rights, a_fin, b_fin = InnerProductProver(
        group, transcript, g_raw, h_raw, y_inv_pow, raw_of(group, q_point), l_vec, r_vec
    ).run(rounds)
    return Messages(
        (a_i_commit, a_o_commit, s_commit, *t_commits),
        tau_x,
        mu,
        t_hat,
        tuple(lefts),
        tuple(rights),
        tuple(a_fin),
        tuple(b_fin),
    )


def proof_terms(
    group: Group,
    template: Template,
    commitments: Sequence[Sequence[Point]],
    proof: Messages,
    n_gates: int,
    transcript: Transcript,
    absorb_statement: Absorb,
    e_commit: int,
    e_ipa: int,
    *,
    compact: bool = False,
    piece_rows: tuple[Sequence[Point], tuple[int, ...], Callable[[int, int, int], list[int]]] | None = None,
) -> ProofTerms:
    """Replay the transcript and express both verification equations as MSM coefficients.

    ``piece_rows`` is ``(W, gates, weights)`` for a circuit with :class:`PieceRows`: the piece's row
    commitments, the local gates they sum and their constraint weights (not with ``compact``).

    ``compact``: a proof with no inner-product rounds in compact form (:func:`compact_clear`): ``a``
    holds ``l`` on the real gates and ``b`` holds ``r`` on the real gates that are not shared; the
    rest of ``l`` and ``r`` is recomputed here (:func:`expand_clear`).

    With weights ``e_commit`` and ``e_ipa`` the proof is valid iff (with overwhelming probability over
    the weights) the weighted sum of these is the identity (§5.1 Protocol 3, the checks of ``t_hat``
    and of ``P``, with the §3 inner-product check expanded over the original generators):

    * ``e_commit·(t_hat·G + tau_x·H − x²·(δ + <z^Q, c>)·G − x²·Σ w_V·V − Σ_{i≠2} x^i·T_i)``
    * ``e_ipa·(x·A_I + x²·A_O + x³·S − mu·H + Σ_i (x·y^-i·w_R,i − a_j·s_t)·G_i
      + Σ_i (y^-i·(x·w_L,i + w_O,i − b_j/s_t) − 1)·H_i + Σ_k (u_k²·L_k + u_k^-2·R_k)
      + w·(t_hat − <a, b>)·Q)``

    where gate ``i = t·M + j`` (``M`` = clear-vector length) and ``s_t`` is the product of the
    round challenges selected by the bits of ``t``. The caller has checked the proof's shape.
    """
    loans = len(commitments)
    absorb_statement(transcript)
    a_i, a_o, s_pt, *t_points = proof.points
    for label, point in ((b"A_I", a_i), (b"A_O", a_o), (b"S", s_pt)):
        transcript.append_point(label, point)
    y = transcript.challenge_scalar(b"y")
    z = transcript.challenge_scalar(b"z")
    for label, point in zip((b"T1", b"T3", b"T4", b"T5", b"T6"), t_points, strict=True):
        transcript.append_point(label, point)
    x = transcript.challenge_scalar(b"x")
    transcript.append_scalar(b"tau_x", proof.tau_x)
    transcript.append_scalar(b"mu", proof.mu)
    transcript.append_scalar(b"t_hat", proof.t_hat)
    w_chal = transcript.challenge_scalar(b"w")
    us, u_invs = replay_rounds(transcript, proof.lefts, proof.rights)

    # s[t]: product over rounds of u^-1 (left half) or u (right half); 1/s[t] = s[2^k - 1 - t].
    s = [1]
    for u, u_inv in zip(us, u_invs, strict=True):
        s = [v for st in s for v in (st * u_inv % _R, st * u % _R)]
    s_inv = s[::-1]

    per_loan = template.gates
    used = loans * per_loan
    w = weights(template, z)
    y_inv = pow(y, -1, _R)
    y_inv_pow = powers(y_inv, n_gates)
    zeta, zeta_y = loan_factors(w.per_loan, pow(y_inv, per_loan, _R), loans)
    x2 = x * x % _R

    # δ(y, z) = <y^-N ∘ w_R, w_L> = Σ_i ζ_i²·y^(-i·G)·Σ_g y^-g·tR_g·tL_g.
    u_r = [yi * t % _R for yi, t in zip(y_inv_pow, w.right, strict=False)]
    v_t = [yi * (x * tl + to) % _R for yi, tl, to in zip(y_inv_pow, w.left, w.out, strict=False)]
    d_tmpl = inner_product(u_r, w.left)
    delta = d_tmpl * sum(zi * zy for zi, zy in zip(zeta, zeta_y, strict=True)) % _R
    k_const = (delta + w.const * sum(zeta)) % _R

    a_vec, b_vec = proof.a, proof.b
    if compact:
        a_vec, b_vec = expand_clear(template, proof.a, proof.b, loans, n_gates, x, y, w, zeta)
    ea = [e_ipa * v % _R for v in a_vec]
    eb = [e_ipa * v % _R for v in b_vec]
    as_vec = [st * v for st in s for v in ea]
    bs_vec = [st * v for st in s_inv for v in eb]
    g_coeffs: list[int] = []
    h_tmpl: list[int] = []
    ex = e_ipa * x % _R
    for zy in zeta_y:
        fg = ex * zy % _R
        g_coeffs += [fg * t for t in u_r]
        fh = e_ipa * zy % _R
        h_tmpl += [fh * t for t in v_t]
    g_coeffs = [c - p for c, p in zip(g_coeffs, as_vec, strict=False)] + [-p for p in as_vec[used:]]
    h_tmpl += [0] * (n_gates - used)
    g_in: list[int] = []
    if piece_rows is not None:
        if compact:
            raise ValueError("piece rows need inner-product rounds (no compact form)")
        _, row_gates, row_weights = piece_rows
        g_in = row_weights(z, w.per_loan, loans)
        for i in range(loans):
            for k, gate in enumerate(row_gates):
                idx = i * per_loan + gate
                h_tmpl[idx] = (h_tmpl[idx] + e_ipa * y_inv_pow[idx] % _R * g_in[k]) % _R
    h_coeffs = [t - yi * q - e_ipa for t, yi, q in zip(h_tmpl, y_inv_pow, bs_vec, strict=True)]

    points = [raw_of(group, p) for p in proof.points]
    x3 = x2 * x % _R
    ec = e_commit
    x4 = x2 * x2 % _R
    scalars = [e_ipa * x, e_ipa * x2, e_ipa * x3]
    # T_i carries x^i for i in {1, 3, 4, 5, 6}: t_2 is not committed (it is fixed by the statement).
    scalars += [-ec * xi for xi in (x, x3, x4, x4 * x % _R, x3 * x3 % _R)]
    round_points, round_scalars = round_terms(group, proof.lefts, proof.rights, us, u_invs, e_ipa)
    points += round_points
    scalars += round_scalars
    ecx2 = ec * x2 % _R
    for zi, loan in zip(zeta, commitments, strict=True):
        f = ecx2 * zi % _R
        for tv, commitment in zip(w.inputs, loan, strict=True):
            if tv:
                points.append(raw_of(group, commitment))
                scalars.append(-f * tv)
    if piece_rows is not None:
        for gw, row in zip(g_in, piece_rows[0], strict=True):
            points.append(raw_of(group, row))
            scalars.append(-ecx2 * gw)
    ab = inner_product(a_vec, b_vec)
    return ProofTerms(
        size=n_gates,
        g_coeffs=g_coeffs,
        h_coeffs=h_coeffs,
        points=points,
        scalars=scalars,
        ped_g=ec * (proof.t_hat - x2 * k_const),
        ped_h=ec * proof.tau_x - e_ipa * proof.mu,
        q=e_ipa * w_chal % _R * (proof.t_hat - ab),
    )


# -------------------------------------------------------------------------------------------------
# Compact clear vectors (no inner-product rounds)
# -------------------------------------------------------------------------------------------------
#
# With no inner-product rounds the proof sends l and r themselves. On a shared gate r is a public
# function of l (module docstring): r_i = y^i·l_i − x·w_R,i − y^i·x − y^i + x·w_L,i + w_O,i, and on
# a dummy gate l_i = 0, r_i = −y^i. So the proof need only carry l on the real gates and r on the
# real gates that are not shared; the verifier recomputes the rest. Soundness: every accepting
# compact proof expands to an accepting proof of the protocol with the same challenges (the
# verifier's equations are unchanged), so the protocol's knowledge soundness carries over; what the
# prover sends is a function of what the honest prover of the protocol sends, so zero knowledge too.


def shared_mask(template: Template, loans: int) -> list[bool]:
    """Whether each real gate (loan-major) is a shared gate of the template."""
    return [(i % template.gates) in template.shared for i in range(loans * template.gates)]


def compact_clear(
    template: Template, loans: int, l_vec: Sequence[int], r_vec: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The compact form of a zero-round proof's ``l`` and ``r`` (real gates; ``r`` off the shared gates)."""
    shared = shared_mask(template, loans)
    used = len(shared)
    return tuple(l_vec[:used]), tuple(r for r, sh in zip(r_vec[:used], shared, strict=True) if not sh)


def compact_lengths(template: Template, loans: int) -> tuple[int, int]:
    """The lengths of the compact ``l`` and ``r``."""
    used = loans * template.gates
    return used, used - loans * len(template.shared)


def expand_clear(
    template: Template,
    l_part: Sequence[int],
    r_part: Sequence[int],
    loans: int,
    n_gates: int,
    x: int,
    y: int,
    w: Weights,
    zeta: Sequence[int],
) -> tuple[list[int], list[int]]:
    """The full ``l`` and ``r`` of a compact zero-round proof (see above); the lengths were checked."""
    per_loan = template.gates
    used = loans * per_loan
    l_full = [v % _R for v in l_part] + [0] * (n_gates - used)
    own = iter(r_part)
    r_full: list[int] = []
    y_i = 1
    for i in range(n_gates):
        if i >= used:
            r_full.append(-y_i % _R)
        elif (i % per_loan) in template.shared:
            g, zi = i % per_loan, zeta[i // per_loan]
            w_l, w_r, w_o = zi * w.left[g], zi * w.right[g], zi * w.out[g]
            r_full.append((y_i * l_full[i] - x * w_r - y_i * x - y_i + x * w_l + w_o) % _R)
        else:
            r_full.append(next(own))
        y_i = y_i * y % _R
    return l_full, r_full
