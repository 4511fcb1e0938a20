"""Registered figure definitions: every figure released exactly carries its definition's name and unit.

A figure id is a pool statement v2 metric id of docs/metrics.md (``pool_balance``,
``delinquent_31plus_balance``, ``unscheduled_principal``, ...) or a stratification cell
``strata/<dimension>/<cell>/<active_loan_count|outstanding_balance>`` (the claim metric naming the
cell's figure, :mod:`proofs.cell_claims`). The names below are those of docs/metrics.md, where
each definition's sums, loans counted and sources (NAFMII servicer reports, ESMA Annex VI/XII) are
stated; the tests check that every servicer-report figure of the default policy has one.

Ratios (SMM, CPR, MDR, CDR, loss severity, portfolio yield, delinquency ratios) are not released as
figures of their own: they are exact fractions of two released figures (:data:`RATIOS`), computed
by whoever holds the two proven values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: The figures of a stratification cell a servicer report publishes: its active loans and balance.
CELL_FIGURES: Final = ("active_loan_count", "outstanding_balance")

#: Unit kinds: ``money`` is integer minor units of the pool currency, ``loans`` a count of loans.
MONEY: Final = "money"
LOANS: Final = "loans"
FRACTION: Final = "fraction"


@dataclass(frozen=True)
class FigureDefinition:
    """A registered figure: its id, the definition's name (docs/metrics.md) and its unit kind."""

    id: str
    name: str
    unit: str


_STATE_NAMES: Final = {
    "M0": "current (0 days past due)",
    "M1": "1-30 days past due (M1)",
    "M2": "31-60 days past due (M2)",
    "M3": "61-90 days past due (M3)",
    "M3+": "beyond the last DPD edge, not defaulted (M3+)",
    "DEFAULTED": "defaulted, not written off",
    "WRITTEN_OFF": "written off",
    "PREPAID": "prepaid in full",
    "MATURED": "matured and paid",
    "REPURCHASED": "repurchased",
}

_NAMED: Final = {
    "loan_count": ("loans on the tape", LOANS),
    "active_loan_count": ("active loans (outstanding states)", LOANS),
    "performing_loan_count": ("performing loans (M0 to M3+)", LOANS),
    "pool_balance": ("pool balance: outstanding principal of performing loans", MONEY),
    "outstanding_balance": ("outstanding balance: performing and defaulted principal", MONEY),
    "beginning_balance": ("balance at the start of the period", MONEY),
    "rate_base_balance": ("beginning balance less scheduled principal (SMM and MDR base)", MONEY),
    "delinquent_1plus_balance": ("1+ days delinquent balance", MONEY),
    "delinquent_31plus_balance": ("31+ days delinquent balance", MONEY),
    "delinquent_61plus_balance": ("61+ days delinquent balance", MONEY),
    "delinquent_90plus_balance": ("90+ days delinquent balance (performing)", MONEY),
    "delinquent_90plus_or_defaulted_balance": ("90+ days delinquent or defaulted balance", MONEY),
    "delinquent_1plus_count": ("1+ days delinquent loans", LOANS),
    "delinquent_31plus_count": ("31+ days delinquent loans", LOANS),
    "delinquent_61plus_count": ("61+ days delinquent loans", LOANS),
    "delinquent_90plus_count": ("90+ days delinquent loans (performing)", LOANS),
    "scheduled_principal": ("scheduled principal received in the period", MONEY),
    "unscheduled_principal": ("unscheduled principal (prepayments) in the period", MONEY),
    "interest": ("interest received in the period", MONEY),
    "fees": ("fees received in the period", MONEY),
    "defaulted_principal": ("principal newly defaulted in the period", MONEY),
    "recoveries": ("recoveries on defaulted principal in the period", MONEY),
    "written_off": ("principal written off in the period", MONEY),
    "principal_collections": ("principal collections", MONEY),
    "collections": ("collections: principal, interest, fees and recoveries", MONEY),
    "interest_and_fees": ("interest and fees received", MONEY),
}


def figure_definition(figure_id: str) -> FigureDefinition | None:
    """The registered definition of ``figure_id``, or ``None`` if none is registered."""
    named = _NAMED.get(figure_id)
    if named is not None:
        return FigureDefinition(figure_id, named[0], named[1])
    for prefix, unit in (("count_", LOANS), ("balance_", MONEY)):
        if figure_id.startswith(prefix) and figure_id[len(prefix) :] in _STATE_NAMES:
            what = "loans" if unit == LOANS else "outstanding principal"
            return FigureDefinition(figure_id, f"{what}: {_STATE_NAMES[figure_id[len(prefix) :]]}", unit)
    for prefix, unit in (("count_dpd_", LOANS), ("balance_dpd_", MONEY)):
        if figure_id.startswith(prefix):
            what = "loans" if unit == LOANS else "outstanding principal"
            label = figure_id[len(prefix) :].replace("plus", "+")
            return FigureDefinition(figure_id, f"{what} {label} days past due (DPD buckets)", unit)
    parts = figure_id.split("/")
    if len(parts) == 4 and parts[0] == "strata" and parts[3] in CELL_FIGURES and all(parts[1:3]):
        what = "active loans" if parts[3] == "active_loan_count" else "outstanding principal"
        unit = LOANS if parts[3] == "active_loan_count" else MONEY
        return FigureDefinition(figure_id, f"{what} in stratification cell {parts[1]} = {parts[2]}", unit)
    return None


@dataclass(frozen=True)
class RatioDefinition:
    """A ratio of two released figures (docs/metrics.md): ``scale x numerator / denominator``;
    ``annualised`` ratios are ``1 - (1 - x)^12`` of the monthly fraction ``x``."""

    id: str
    name: str
    numerator: str
    denominator: str
    scale: int = 1
    annualised: bool = False


RATIOS: Final = (
    RatioDefinition(
        "delinquency_31plus_ratio", "31+ delinquency ratio", "delinquent_31plus_balance", "pool_balance"
    ),
    RatioDefinition(
        "delinquency_90plus_or_defaulted_ratio",
        "90+ or defaulted ratio",
        "delinquent_90plus_or_defaulted_balance",
        "outstanding_balance",
    ),
    RatioDefinition("smm", "single monthly mortality (SMM)", "unscheduled_principal", "rate_base_balance"),
    RatioDefinition(
        "cpr", "constant prepayment rate (CPR)", "unscheduled_principal", "rate_base_balance", annualised=True
    ),
    RatioDefinition("mdr", "monthly default rate (MDR)", "defaulted_principal", "rate_base_balance"),
    RatioDefinition(
        "cdr", "constant default rate (CDR)", "defaulted_principal", "rate_base_balance", annualised=True
    ),
    RatioDefinition(
        "portfolio_yield", "portfolio yield (annualised)", "interest_and_fees", "beginning_balance", scale=12
    ),
)
"""The ratios a servicer report prints, each from two servicer-report figures. Loss severity,
``(written_off - recoveries) / written_off``, is a difference over a figure and is computed apart."""
