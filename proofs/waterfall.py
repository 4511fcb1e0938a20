"""The waterfall as public code: each period's distribution, computed from proven inputs and the deal.

:func:`run_waterfall` is a deterministic pure function in integers (minor units): from the deal,
the previous period's state (:class:`DealState`: tranche balances, unpaid amounts, reserve,
revolving status, trigger states), the period's proven collections (:class:`PeriodInputs`) and
the period's proven trigger statuses, it computes every payment line and the next state. An
investor's tool runs the same function on the same inputs (``poolproof-audit
verify-distribution``) and must get the same lines; docs/deal.md states the rules.

**Available funds** are the period's interest collections (interest + fees + recoveries), its
principal collections (scheduled + unscheduled principal), the principal carried from the previous
period and the reserve account balance. They are paid in the deal's priority of payments:

* ``senior_fees``: ``fixed_fen`` plus ``servicing_bps`` a year on the notes' balance at the start of
  the period, and any fee left unpaid before;
* ``interest:<tranche>``: one month's coupon (30/360: ``balance·coupon_bps/120000``) plus interest
  left unpaid before (without interest on interest);
* ``reserve``: the reserve account is refilled to its target (0 after an event of default);
* ``principal``: the *principal amount* is principal collections plus the period's newly defaulted
  principal plus principal carried, so the notes stay covered by performing loans. During the
  revolving period it buys new loans (at most the declared purchase price) and the rest is carried;
  after it, it pays the notes, pro rata or sequentially (see below), at most their balance;
* ``residual``: what is left goes to the holder of the residual interest.

**Switches.** The revolving period lasts ``revolving_periods`` cut-offs after closing and ends for
good when a trigger with effect ``accelerated_amortisation`` or ``event_of_default`` comes into
effect. Principal is paid sequentially when the deal says so or when any trigger is in effect.

**Rounding.** Every division rounds half up (``(a + b // 2) // b``), except the pro-rata split,
which gives each tranche the floor of its share and the remainder, one unit at a time, to the
tranches in seniority order (so the split adds up exactly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proofs.deal import Deal
from proofs.errors import EncodingError
from proofs.triggers import TriggerState, next_trigger_state

#: The period figures the waterfall reads (metric ids of docs/metrics.md), in report order.
INPUT_FIGURES: Final = (
    "interest",
    "fees",
    "recoveries",
    "scheduled_principal",
    "unscheduled_principal",
    "defaulted_principal",
)
_MONTHS_BPS: Final = 12 * 10_000


def _div_half_up(a: int, b: int) -> int:
    return (a + b // 2) // b


@dataclass(frozen=True)
class PeriodInputs:
    """The period's proven collections (minor units) and the declared purchase price of new loans."""

    interest: int
    fees: int
    recoveries: int
    scheduled_principal: int
    unscheduled_principal: int
    defaulted_principal: int
    purchase_price: int = 0

    def __post_init__(self) -> None:
        for name in (*INPUT_FIGURES, "purchase_price"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected a non-negative integer")

    @property
    def interest_collections(self) -> int:
        """Interest, fees and recoveries received: the revenue side of available funds."""
        return self.interest + self.fees + self.recoveries

    @property
    def principal_collections(self) -> int:
        """Scheduled and unscheduled principal received."""
        return self.scheduled_principal + self.unscheduled_principal


@dataclass(frozen=True)
class DealState:
    """What one period leaves to the next (published in every payment report)."""

    period: int
    tranche_balances: tuple[int, ...]
    interest_unpaid: tuple[int, ...]
    fees_unpaid: int
    reserve: int
    principal_carried: int
    revolving_ended: bool
    triggers: tuple[TriggerState, ...] = field(default=())

    def to_dict(self, deal: Deal) -> dict[str, Any]:
        """The JSON form, with tranches and triggers named."""
        return {
            "period": self.period,
            "tranche_balances": {t.id: b for t, b in zip(deal.tranches, self.tranche_balances, strict=True)},
            "interest_unpaid": {t.id: b for t, b in zip(deal.tranches, self.interest_unpaid, strict=True)},
            "fees_unpaid": self.fees_unpaid,
            "reserve": self.reserve,
            "principal_carried": self.principal_carried,
            "revolving_ended": self.revolving_ended,
            "triggers": {t.id: s.to_dict() for t, s in zip(deal.triggers, self.triggers, strict=True)},
        }

    @classmethod
    def from_dict(cls, deal: Deal, doc: object) -> DealState:
        """Parse :meth:`to_dict` output for ``deal``. Raises :class:`EncodingError` naming the member."""

        def obj(value: object, path: str, keys: Sequence[str]) -> Mapping[str, Any]:
            if not isinstance(value, Mapping) or sorted(value) != sorted(keys):
                raise EncodingError(f"{path}: expected an object with exactly {', '.join(keys)}")
            return value

        def amount(value: object, path: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EncodingError(f"{path}: expected a non-negative integer")
            return value

        d = obj(doc, "state", list(cls._KEYS))
        ids = [t.id for t in deal.tranches]
        balances = obj(d["tranche_balances"], "state.tranche_balances", ids)
        unpaid = obj(d["interest_unpaid"], "state.interest_unpaid", ids)
        trig = obj(d["triggers"], "state.triggers", [t.id for t in deal.triggers])
        states = []
        for t in deal.triggers:
            s = obj(trig[t.id], f"state.triggers.{t.id}", ["in_effect", "clear_periods"])
            if not isinstance(s["in_effect"], bool):
                raise EncodingError(f"state.triggers.{t.id}.in_effect: expected true or false")
            states.append(TriggerState(s["in_effect"], amount(s["clear_periods"], f"state.triggers.{t.id}")))
        if not isinstance(d["revolving_ended"], bool):
            raise EncodingError("state.revolving_ended: expected true or false")
        return cls(
            period=amount(d["period"], "state.period"),
            tranche_balances=tuple(amount(balances[i], f"state.tranche_balances.{i}") for i in ids),
            interest_unpaid=tuple(amount(unpaid[i], f"state.interest_unpaid.{i}") for i in ids),
            fees_unpaid=amount(d["fees_unpaid"], "state.fees_unpaid"),
            reserve=amount(d["reserve"], "state.reserve"),
            principal_carried=amount(d["principal_carried"], "state.principal_carried"),
            revolving_ended=d["revolving_ended"],
            triggers=tuple(states),
        )

    _KEYS = (
        "period",
        "tranche_balances",
        "interest_unpaid",
        "fees_unpaid",
        "reserve",
        "principal_carried",
        "revolving_ended",
        "triggers",
    )


def initial_state(deal: Deal) -> DealState:
    """The state at closing: the tranches' initial balances, the reserve's initial balance."""
    n = len(deal.tranches)
    return DealState(
        period=0,
        tranche_balances=tuple(t.balance_fen for t in deal.tranches),
        interest_unpaid=(0,) * n,
        fees_unpaid=0,
        reserve=deal.reserve.initial_fen,
        principal_carried=0,
        revolving_ended=False,
        triggers=tuple(TriggerState() for _ in deal.triggers),
    )


def senior_fees_due(deal: Deal, state: DealState) -> int:
    """This period's senior fees (without arrears): fixed plus servicing on the notes' balance."""
    return _senior_fees(deal, state.tranche_balances)


def _senior_fees(deal: Deal, balances: Sequence[int]) -> int:
    return deal.fees.fixed_fen + _div_half_up(sum(balances) * deal.fees.servicing_bps, _MONTHS_BPS)


def interest_due(deal: Deal, state: DealState) -> tuple[int, ...]:
    """This period's coupon of each tranche (without arrears), 30/360, rounded half up."""
    return _coupons(deal, state.tranche_balances)


def _coupons(deal: Deal, balances: Sequence[int]) -> tuple[int, ...]:
    return tuple(
        _div_half_up(b * t.coupon_bps, _MONTHS_BPS) for t, b in zip(deal.tranches, balances, strict=True)
    )


def expenses_due(deal: Deal, state: DealState) -> int:
    """Senior fees and note interest of the period: what excess spread is measured against."""
    return expenses_on_notes(deal, state.tranche_balances)


def expenses_on_notes(deal: Deal, balances: Sequence[int]) -> int:
    """:func:`expenses_due` from the notes' outstanding principal at the start of the period alone
    (each tranche's, in deal order): all that the period's expenses depend on."""
    return _senior_fees(deal, balances) + sum(_coupons(deal, balances))


@dataclass(frozen=True)
class Distribution:
    """One period's payment lines (name → amount, in waterfall order), switches and next state."""

    lines: tuple[tuple[str, int], ...]
    revolving: bool
    principal_mode: str
    state: DealState

    def lines_dict(self) -> dict[str, int]:
        """The lines as a mapping (JSON objects keep no order; :data:`lines` does)."""
        return dict(self.lines)


def _pro_rata(amount: int, balances: Sequence[int]) -> list[int]:
    total = sum(balances)
    if total == 0:
        return [0] * len(balances)
    shares = [amount * b // total for b in balances]
    left = amount - sum(shares)
    for i, b in enumerate(balances):
        if left == 0:
            break
        extra = min(left, b - shares[i])
        shares[i] += extra
        left -= extra
    return shares


def _sequential(amount: int, balances: Sequence[int]) -> list[int]:
    out = []
    for b in balances:
        paid = min(amount, b)
        out.append(paid)
        amount -= paid
    return out


def run_waterfall(
    deal: Deal, previous: DealState, inputs: PeriodInputs, breached: Mapping[str, bool]
) -> Distribution:
    """The period's distribution (module docstring); ``breached`` is each trigger's proven status.

    Raises:
        ValueError: ``breached`` does not name exactly the deal's triggers, or ``previous`` does not
            fit the deal (another number of tranches or triggers).
    """
    if set(breached) != {t.id for t in deal.triggers}:
        raise ValueError("breached must give the status of exactly the deal's triggers")
    if len(previous.tranche_balances) != len(deal.tranches) or len(previous.triggers) != len(deal.triggers):
        raise ValueError("the previous state is not of this deal")
    period = previous.period + 1
    triggers = tuple(
        next_trigger_state(t, s, breached[t.id])
        for t, s in zip(deal.triggers, previous.triggers, strict=True)
    )
    in_effect = {t.effect for t, s in zip(deal.triggers, triggers, strict=True) if s.in_effect}
    default = "event_of_default" in in_effect
    revolving_ended = previous.revolving_ended or bool(
        in_effect & {"accelerated_amortisation", "event_of_default"}
    )
    revolving = not revolving_ended and period <= deal.revolving_periods
    mode = "sequential" if deal.principal_mode == "sequential" or in_effect else "pro_rata"

    lines: list[tuple[str, int]] = []
    available = (
        inputs.interest_collections
        + inputs.principal_collections
        + previous.principal_carried
        + previous.reserve
    )
    lines += [
        ("available.interest_collections", inputs.interest_collections),
        ("available.principal_collections", inputs.principal_collections),
        ("available.principal_carried", previous.principal_carried),
        ("available.reserve", previous.reserve),
        ("available.total", available),
    ]
    fees_owed = senior_fees_due(deal, previous) + previous.fees_unpaid
    coupons = interest_due(deal, previous)
    index = {t.id: i for i, t in enumerate(deal.tranches)}
    interest_paid = [0] * len(deal.tranches)
    interest_owed = [c + u for c, u in zip(coupons, previous.interest_unpaid, strict=True)]
    balances = list(previous.tranche_balances)
    fees_paid = reserve = purchases = carried = 0
    principal_paid = [0] * len(deal.tranches)
    for step in deal.priority_of_payments:
        if step == "senior_fees":
            fees_paid = min(available, fees_owed)
            available -= fees_paid
            lines += [("senior_fees.due", fees_owed), ("senior_fees.paid", fees_paid)]
        elif step.startswith("interest:"):
            i = index[step.split(":", 1)[1]]
            interest_paid[i] = min(available, interest_owed[i])
            available -= interest_paid[i]
            lines += [(f"{step}.due", interest_owed[i]), (f"{step}.paid", interest_paid[i])]
        elif step == "reserve":
            target = 0 if default else deal.reserve.target_fen
            reserve = min(available, target)
            available -= reserve
            lines.append(("reserve.balance", reserve))
        elif step == "principal":
            amount = min(
                available,
                inputs.principal_collections + inputs.defaulted_principal + previous.principal_carried,
            )
            if revolving:
                purchases = min(amount, inputs.purchase_price)
                carried = amount - purchases
                available -= amount
                lines += [("principal.purchases", purchases), ("principal.carried", carried)]
            else:
                amount = min(amount, sum(balances))
                split = _sequential if mode == "sequential" else _pro_rata
                principal_paid = split(amount, balances)
                available -= amount
                for t, paid in zip(deal.tranches, principal_paid, strict=True):
                    lines.append((f"principal:{t.id}.paid", paid))
                    balances[index[t.id]] -= paid
        elif step == "residual":
            lines.append(("residual.paid", available))
            available = 0
    state = DealState(
        period=period,
        tranche_balances=tuple(balances),
        interest_unpaid=tuple(o - p for o, p in zip(interest_owed, interest_paid, strict=True)),
        fees_unpaid=fees_owed - fees_paid,
        reserve=reserve,
        principal_carried=carried,
        revolving_ended=revolving_ended,
        triggers=triggers,
    )
    return Distribution(tuple(lines), revolving, mode, state)
