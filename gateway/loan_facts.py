"""One stored loan as the facts the pool statement v2 commits to: state, balance, period flows, cells.

:func:`loan_facts` is the gateway's half of the contract in :mod:`proofs.loan_facts`: it maps a stored
tape row (a record of :func:`gateway.storage.records.iter_loans`) under the pool's settings to a
:class:`proofs.loan_facts.LoanFacts`. Each rule is a definition of ``docs/metrics.md``:

* state: a terminal status decides alone (CHARGED_OFF is WRITTEN_OFF, PREPAID_IN_FULL is PREPAID,
  MATURED_PAID is MATURED, REPURCHASED is REPURCHASED); otherwise status DEFAULTED, or days past due
  at or beyond the pool's default line (:attr:`PoolConfig.default_days`), is DEFAULTED; otherwise the
  loan is performing, in the DPD bucket of the pool's edges (``M0`` .. ``M3+``);
* balance: ``current_principal_fen`` (0 in a terminal state, which the tape rules require);
* flows: the seven ``period_*_fen`` fields of tape schema v2, in :data:`proofs.loan_facts.FLOWS`
  order; a tape schema v1 row has none, and :class:`TapeSchemaError` says so;
* labels: one cell per :data:`STRATIFICATION_DIMENSIONS` entry, from the pool's band edges.

Pure: no database, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, Final

from policies.catalogue import PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V1, TAPE_SCHEMA_V2
from proofs.lanes import LaneSet, pool_v4
from proofs.loan_facts import FLOWS, PERFORMING_STATES, LoanFacts, state_index

from .errors import GatewayError
from .ingest.pool_settings import PoolConfig, band_label

#: Stratification dimensions, in table order (docs/metrics.md, "Stratification").
STRATIFICATION_DIMENSIONS: Final = (
    "rate_band",
    "original_term",
    "remaining_term",
    "balance_band",
    "region",
    "vintage",
    "product_type",
)
#: The cell of a loan whose tape leaves a dimension's field out (an optional field): each loan is in
#: exactly one cell of every dimension.
UNKNOWN_CELL: Final = "UNKNOWN"

#: Tape statuses that end a loan's life in the pool, and the state each one is.
TERMINAL_STATUS_STATES: Final[Mapping[str, str]] = {
    "CHARGED_OFF": "WRITTEN_OFF",
    "PREPAID_IN_FULL": "PREPAID",
    "MATURED_PAID": "MATURED",
    "REPURCHASED": "REPURCHASED",
}


class TapeSchemaError(GatewayError, ValueError):
    """A stored tape lacks what the statement asked for needs (a v1 tape has no period flows)."""

    http_status: ClassVar[int] = 422


class LoanFactsError(GatewayError, ValueError):
    """A stored row contradicts the loan states (a terminal status with principal left)."""

    http_status: ClassVar[int] = 422


def loan_state(record: Mapping[str, Any], settings: PoolConfig) -> str:
    """The loan's state name in :data:`proofs.loan_facts.STATES` (rules: the module docstring).

    Raises:
        LoanFactsError: no ``loan_status`` and no ``days_past_due`` to decide on.
    """
    status = record.get("loan_status")
    terminal = TERMINAL_STATUS_STATES.get(status) if isinstance(status, str) else None
    if terminal is not None:
        return terminal
    dpd = record.get("days_past_due")
    if dpd is None and status is None:
        raise LoanFactsError("a loan needs a loan_status or days_past_due to have a state")
    dpd = 0 if dpd is None else int(dpd)
    if status == "DEFAULTED" or dpd >= settings.default_days:
        return "DEFAULTED"
    bucket = settings.dpd_labels.index(settings.dpd_bucket(dpd))
    return PERFORMING_STATES[bucket]


def period_flows(record: Mapping[str, Any]) -> tuple[int, ...]:
    """The seven period flows of a tape schema v2 row, in :data:`proofs.loan_facts.FLOWS` order.

    Raises:
        TapeSchemaError: the row has no period flows (tape schema v1), or only some of them.
    """
    values: list[Any] = [record.get(name) for name in PERIOD_FLOW_FIELDS]
    if all(v is None for v in values):
        raise TapeSchemaError(
            f"the tape is {TAPE_SCHEMA_V1}: it carries no period flows, so it can be sealed only under the "
            f"lane sets of the v1 statement (dpd5-v1 .. dpd5-v3); the statement v2 needs a {TAPE_SCHEMA_V2} "
            "tape (every row with the seven period_*_fen fields)"
        )
    missing = [n for n, v in zip(PERIOD_FLOW_FIELDS, values, strict=True) if v is None]
    if missing:
        raise TapeSchemaError(
            f"the row lacks period flows {', '.join(missing)} ({TAPE_SCHEMA_V2} has all seven)"
        )
    return tuple(int(v) for v in values)


def remaining_term_months(maturity: str, cutoff: str) -> int:
    """Whole months from the cut-off to the maturity date (ISO dates); 0 at or after maturity."""
    m, c = date.fromisoformat(maturity), date.fromisoformat(cutoff)
    months = (m.year - c.year) * 12 + m.month - c.month - (1 if m.day < c.day else 0)
    return max(0, months)


def vintage(origination: str) -> str:
    """The origination quarter of an ISO date, ``YYYY-Qn``."""
    d = date.fromisoformat(origination)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def region_cell(region_code: str, settings: PoolConfig) -> str:
    """The region cell: the province (first two digits of a GB/T 2260 code) or the US state."""
    return region_code if settings.region_scheme == "US-STATE" else region_code[:2]


def stratification_labels(record: Mapping[str, Any], settings: PoolConfig, balance: int) -> dict[str, str]:
    """The loan's cell in every :data:`STRATIFICATION_DIMENSIONS` entry (docs/metrics.md).

    ``balance`` is the loan's outstanding principal (0 for a terminal loan). A dimension whose field
    the row leaves out is :data:`UNKNOWN_CELL`.
    """
    g = record.get
    rate, term, mat, cut = g("nominal_rate_bps"), g("term_months"), g("maturity_date"), g("cutoff_date")
    region, orig, product = g("region_code"), g("origination_date"), g("product_type")
    return {
        "rate_band": UNKNOWN_CELL if rate is None else band_label(settings.rate_band_edges_bps, rate),
        "original_term": UNKNOWN_CELL if term is None else str(term),
        "remaining_term": (
            UNKNOWN_CELL
            if mat is None or cut is None
            else band_label(settings.remaining_term_edges_months, remaining_term_months(mat, cut))
        ),
        "balance_band": band_label(settings.balance_band_edges_fen, balance),
        "region": UNKNOWN_CELL if region is None else region_cell(region, settings),
        "vintage": UNKNOWN_CELL if orig is None else vintage(orig),
        "product_type": UNKNOWN_CELL if product is None else str(product),
    }


def loan_facts(record: Mapping[str, Any], settings: PoolConfig) -> LoanFacts:
    """The statement v2 facts of one stored loan under its pool's settings.

    ``record`` is a stored row with ``exposure_id`` and ``cutoff_date`` (as
    :func:`gateway.storage.records.iter_loans` yields it); ``settings`` the pool's configuration.

    Raises:
        TapeSchemaError: the row carries no period flows (a tape schema v1 tape), or only some.
        LoanFactsError: a terminal status with outstanding principal, or no status to decide on.
    """
    state = loan_state(record, settings)
    balance = int(record.get("current_principal_fen") or 0)
    if state in TERMINAL_STATUS_STATES.values() and balance != 0:
        raise LoanFactsError(
            f"a loan with status {record.get('loan_status')} ({state}) has no outstanding principal, "
            "but its current_principal_fen is not 0"
        )
    return LoanFacts(
        exposure_id=str(record["exposure_id"]),
        state=state_index(state),
        balance=balance,
        flows=period_flows(record),
        labels=stratification_labels(record, settings, balance),
    )


#: Widest amount the pool statement v2 takes (its packed slots hold 36-bit amounts for 2^28 loans).
STATEMENT_MAX_BITS: Final = 36


def statement_lane_set(settings: PoolConfig) -> LaneSet:
    """The pool statement lane set a pool's snapshots are sealed under: ``pool-v4``, exact bounds in a
    packing that links consecutive months (:mod:`proofs.link`; the same gates as ``pool-v3``).

    The per-loan cap (``PoolConfig.per_loan_cap``) bounds the balance and, as the tape rules check,
    every period flow; each amount is proven in ``[0, cap]`` exactly, its range as wide as the cap
    needs (the concentration bound is part of every loan's proof). A pool without a cap gets the
    widest amounts the statement takes, ``[0, 2^36 - 1]``. (``pool-v2`` and ``pool-v3`` names, sealed
    before, stay verifiable by name.)

    Raises:
        LoanFactsError: a cap wider than the statement's 36-bit amounts.
    """
    cap = settings.per_loan_cap
    if cap is None:
        cap = (1 << STATEMENT_MAX_BITS) - 1
    bits = max(1, cap.bit_length())
    if bits > STATEMENT_MAX_BITS:
        raise LoanFactsError(f"a per-loan cap of {cap} needs {bits} bits; the statement takes at most 36")
    return pool_v4(cap, (cap,) * len(FLOWS))
