"""Trigger status, proven: for each trigger of a deal, breached or not, against committed figures.

Every trigger of docs/deal.md is a *linear form* over the figures a chain of snapshots commits to
(:class:`TriggerForm`): its **margin** ``m = Σ c_i·F_i + d`` with public integer coefficients, and
the trigger is breached exactly when ``m >= 1`` (``m > 0`` over the integers):

* ``cumulative_default_rate`` above ``L`` bps: ``m = 10000·Σ_t defaulted_principal_t −
  L·(initial pool balance + Σ_t purchased_principal_t)`` over every period since closing;
* ``delinquency_31plus_3m`` above ``L`` bps: ``m = 10000·Σ delinquent_31plus_balance − L·Σ
  pool_balance`` over the last three cut-offs (the ratio of the sums, see docs/deal.md: a mean of
  three ratios is not linear in the commitments and could only be proven by disclosing the
  denominators);
* ``excess_spread`` below zero: ``m = E − (interest + fees + recoveries)`` of the period, where
  ``E`` (senior fees and note interest due) is public: the waterfall computes it from the deal and
  the previous period's published state (:func:`proofs.waterfall.expenses_due`).

**The proof.** The verifier computes the commitment ``D = Σ c_i·C_i + d·G`` to ``m`` itself from the
chain's aggregate commitments (:meth:`proofs.cumulative.Chain.commitment`). "Breached" is the
claim ``m − 1 >= 0`` on ``D``; "not breached" is ``−m >= 0`` on ``−D``. Each is a one-sided
:class:`~proofs.claims.BoundClaim` proven by one Bulletproofs range proof that ``x mod r`` lies in
``[0, 2^k)`` for ``x`` the claimed non-negative quantity.

*Why a false status cannot be proven.* The leaves' range proofs bound every committed figure, so
the real value of ``x`` lies in ``[−neg, pos]`` (:meth:`~proofs.cumulative.Chain.extremes`). The
statement declares ``value_bits`` with ``pos < 2^value_bits``, so an honest proof exists, and this
module refuses any form with ``2^128 + neg + 1 >= r``. If ``x`` were negative, ``x mod r = r + x >=
r − neg − 1 > 2^k`` (``k <= 128``), and no range proof for it exists (Bulletproofs soundness). So an
accepted "not breached" proves ``m <= 0`` and an accepted "breached" proves ``m >= 1``: the two are
exclusive, and a breached trigger cannot be reported as not breached.

**Binding.** The proof's transcript context is a hash of the deal hash, the trigger (id, kind,
level), the chain's header hashes, the form and the claimed status, so a proof made for one period,
trigger or deal does not verify for another.

**Cure.** :func:`next_trigger_state` applies the deal's cure rule: a breach puts the trigger in
effect; a trigger in effect with ``cure_periods = n`` stops being in effect after ``n`` consecutive
periods without a breach; without a cure rule it stays in effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proofs.canonical import document_hash
from proofs.claims import BoundClaim, ClaimProof, prove_claim, verify_claim
from proofs.cumulative import Chain, Term, opening_of
from proofs.deal import Deal, Trigger, deal_hash
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, Group, ScalarSource
from proofs.pedersen import Opening

TRIGGER_CONTEXT_DOMAIN: Final = "trigger-status/v1"
#: The level of a ratio trigger is in basis points of the ratio.
BPS: Final = 10_000
#: Cut-offs the delinquency trigger averages over.
DELINQUENCY_WINDOW: Final = 3
#: Claims prove at most 64-bit values (:data:`proofs.claims.MAX_VALUE_BITS`).
_MAX_BITS: Final = 64
#: The largest range a claim proof covers (two 64-bit limbs); see the module docstring.
_MAX_RANGE: Final = 1 << 128


@dataclass(frozen=True)
class TriggerForm:
    """The margin ``Σ coeff·figure + constant`` of one trigger; breached iff the margin is >= 1."""

    trigger: Trigger
    terms: tuple[Term, ...]
    constant: int

    def value(self, figures: Callable[[int, str], int]) -> int:
        """The margin from plaintext figures (``figures(header index, metric)``)."""
        return sum(c * figures(i, m) for i, m, c in self.terms) + self.constant

    def negated(self) -> TriggerForm:
        """``−margin``: the quantity "not breached" proves non-negative."""
        return TriggerForm(self.trigger, tuple((i, m, -c) for i, m, c in self.terms), -self.constant)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what the proof context hashes)."""
        return {"terms": [[i, m, c] for i, m, c in self.terms], "constant": self.constant}


def trigger_form(
    chain: Chain, trigger: Trigger, *, expenses: int, purchases_declared: int = 0
) -> TriggerForm:
    """The margin of ``trigger`` at the chain's last cut-off.

    ``expenses`` is the period's senior fees and note interest due (used by ``excess_spread`` only).
    ``purchases_declared`` is the purchase price of every loan bought since closing as the gateway
    declares it; the cumulative default rate's denominator uses it only when the chain's lane sets
    do not commit to purchased principal (:attr:`~proofs.cumulative.Chain.purchases_committed`).

    Raises:
        ValueError: an ``excess_spread`` trigger on a chain with no period yet, or negative expenses.
    """
    deal = chain.deal
    last = len(chain.headers) - 1
    if trigger.kind == "cumulative_default_rate":
        terms = chain.period_terms("defaulted_principal", BPS) + [
            (i, m, -trigger.level_bps) for i, m, _ in chain.purchases_terms()
        ]
        base = deal.initial_pool_balance_fen + (0 if chain.purchases_committed else purchases_declared)
        return TriggerForm(trigger, tuple(terms), -trigger.level_bps * base)
    if trigger.kind == "delinquency_31plus_3m":
        window = range(max(0, last - DELINQUENCY_WINDOW + 1), last + 1)
        terms = [(i, "delinquent_31plus_balance", BPS) for i in window]
        terms += [(i, "pool_balance", -trigger.level_bps) for i in window]
        return TriggerForm(trigger, tuple(terms), 0)
    if trigger.kind == "excess_spread":
        if last < 1:
            raise ValueError("excess spread needs a period after closing")
        if expenses < 0:
            raise ValueError("expenses must be non-negative")
        terms = [(last, "interest", -1), (last, "fees", -1), (last, "recoveries", -1)]
        return TriggerForm(trigger, tuple(terms), expenses)
    raise ValueError(
        f"unknown trigger kind {trigger.kind!r}"
    )  # pragma: no cover - the deal file checks kinds


def _statement(chain: Chain, form: TriggerForm, breached: bool) -> tuple[BoundClaim, TriggerForm]:
    """The claim and the form it is about: ``margin − 1 >= 0`` or ``−margin >= 0``."""
    claimed = form if breached else form.negated()
    lo = 1 if breached else 0
    pos, neg = chain.extremes(claimed.terms, claimed.constant)
    if _MAX_RANGE + neg + lo >= ORDER:  # pragma: no cover - far beyond any pool the lane sets hold
        raise ValueError(f"trigger {form.trigger.id}: the form could wrap modulo r")
    bits = max(1, pos.bit_length())
    if bits > _MAX_BITS:
        raise ValueError(
            f"trigger {form.trigger.id}: the form needs {bits}-bit values; claims take {_MAX_BITS}"
        )
    return BoundClaim(f"trigger.{form.trigger.id}", lo=lo, hi=None, value_bits=bits), claimed


def trigger_context(deal: Deal, chain: Chain, form: TriggerForm, breached: bool) -> bytes:
    """The bytes every trigger proof is bound to (see the module docstring)."""
    t = form.trigger
    return document_hash(
        TRIGGER_CONTEXT_DOMAIN,
        {
            "deal_hash": deal_hash(deal).hex(),
            "trigger": {"id": t.id, "kind": t.kind, "level_bps": t.level_bps},
            "headers": chain.hashes(),
            "form": form.to_dict(),
            "breached": breached,
        },
    )


@dataclass(frozen=True)
class TriggerStatus:
    """A trigger's proven status at one cut-off."""

    trigger_id: str
    breached: bool
    proof: ClaimProof

    def to_dict(self) -> dict[str, Any]:
        """The JSON form inside a payment report."""
        return {"id": self.trigger_id, "breached": self.breached, "proof": self.proof.to_dict()}


def prove_trigger(
    group: Group,
    chain: Chain,
    form: TriggerForm,
    openings: Callable[[int, str], Opening],
    *,
    rng: ScalarSource | None = None,
) -> TriggerStatus:
    """Prove the true status of one trigger (the gateway side): breached iff the margin is >= 1.

    ``openings(index, metric)`` opens each header's metric commitment.

    Raises:
        ProvingError: the openings do not give an integer margin in the form's range (a prover bug
            or openings of other commitments).
    """
    margin = opening_of(form.terms, form.constant, openings).value
    real = margin if margin < ORDER // 2 else margin - ORDER
    breached = real >= 1
    statement, claimed = _statement(chain, form, breached)
    opening = opening_of(claimed.terms, claimed.constant, openings)
    proof = prove_claim(
        group,
        statement,
        {statement.metric: opening},
        context=trigger_context(chain.deal, chain, form, breached),
        rng=rng,
    )
    return TriggerStatus(form.trigger.id, breached, proof)


def prove_trigger_status(
    group: Group,
    chain: Chain,
    form: TriggerForm,
    breached: bool,
    openings: Callable[[int, str], Opening],
    *,
    rng: ScalarSource | None = None,
) -> TriggerStatus:
    """Prove a *given* status; refuses a false one (what a dishonest prover would need to forge).

    Raises:
        ProvingError: "claim does not hold" when ``breached`` is not the trigger's true status.
    """
    statement, claimed = _statement(chain, form, breached)
    opening = opening_of(claimed.terms, claimed.constant, openings)
    real = opening.value if opening.value < ORDER // 2 else opening.value - ORDER
    assert statement.lo is not None  # both statements are lower bounds
    if real < statement.lo:
        raise ProvingError("claim does not hold")
    proof = prove_claim(
        group,
        statement,
        {statement.metric: opening},
        context=trigger_context(chain.deal, chain, form, breached),
        rng=rng,
    )
    return TriggerStatus(form.trigger.id, breached, proof)


def verify_trigger(group: Group, chain: Chain, form: TriggerForm, status: Mapping[str, Any]) -> bool:
    """Check one trigger's status entry against the verifier's own form; return the proven status.

    Raises:
        EncodingError: a malformed entry.
        VerificationError: ``trigger.<id>`` (the entry names another trigger, or its proof does not
            verify: the claimed status is not the committed figures' status).
    """
    check = f"trigger.{form.trigger.id}"
    if status.get("id") != form.trigger.id:
        raise VerificationError(check, f"the entry is for trigger {str(status.get('id'))[:40]!r}")
    breached = status.get("breached")
    if not isinstance(breached, bool):
        raise EncodingError(f"triggers.{form.trigger.id}.breached: expected true or false")
    statement, claimed = _statement(chain, form, breached)
    proof = ClaimProof.from_dict(group, status.get("proof"))
    commitment = chain.commitment(group, claimed.terms, claimed.constant)
    try:
        verify_claim(
            group, statement, {statement.metric: commitment}, proof,
            context=trigger_context(chain.deal, chain, form, breached),
        )  # fmt: skip
    except VerificationError as exc:
        said = "breached" if breached else "not breached"
        raise VerificationError(
            check, f"the proof that the trigger is {said} does not verify ({exc})"
        ) from None
    return breached


# -- cure rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerState:
    """Whether a trigger is in effect, and how many consecutive clear periods it has had since."""

    in_effect: bool = False
    clear_periods: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form inside a payment report's state."""
        return {"in_effect": self.in_effect, "clear_periods": self.clear_periods}


def next_trigger_state(trigger: Trigger, previous: TriggerState, breached: bool) -> TriggerState:
    """The state after a period whose proven status is ``breached`` (the deal's cure rule)."""
    if breached:
        return TriggerState(True, 0)
    if not previous.in_effect:
        return TriggerState(False, 0)
    if trigger.cure_periods is None:
        return TriggerState(True, 0)
    clear = previous.clear_periods + 1
    if clear >= trigger.cure_periods:
        return TriggerState(False, 0)
    return TriggerState(True, clear)


def trigger_forms(
    chain: Chain, triggers: Sequence[Trigger], expenses: int, purchases_declared: int = 0
) -> list[TriggerForm]:
    """The forms of ``triggers`` at the chain's last cut-off (see :func:`trigger_form`)."""
    return [
        trigger_form(chain, t, expenses=expenses, purchases_declared=purchases_declared) for t in triggers
    ]


#: The guard's metric name of each trigger kind's level (policies.aggregates registered thresholds).
THRESHOLD_NAMES: Final[Mapping[str, str]] = {
    "cumulative_default_rate": "cumulative_default_rate_bps",
    "delinquency_31plus_3m": "delinquency_31plus_3m_ratio_bps",
    "excess_spread": "excess_spread_fen",
}


def registered_thresholds(deal: Deal) -> dict[str, tuple[int, ...]]:
    """The deal's trigger levels as registered thresholds: answered free, in either direction, to
    every party of the pool (the deal publishes them, so a status leaks nothing a party could not
    ask for again and again)."""
    out: dict[str, set[int]] = {}
    for t in deal.triggers:
        out.setdefault(THRESHOLD_NAMES[t.kind], set()).add(t.level_bps)
    return {k: tuple(sorted(v)) for k, v in sorted(out.items())}
