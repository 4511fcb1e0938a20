"""Every figure of docs/metrics.md, computed with pandas from a raw tape by the written definitions.

Independent of the gateway on purpose: this module imports only pandas, numpy and the standard library,
and follows the text of ``docs/metrics.md`` (states, flows, ratios, strata, concentration) and of
``docs/importing.md`` ("Period flows", "Statuses") for the Lending Club file. A test compares the
gateway's per-loan facts with it; the proof side compares the proven figures with it. The output is a
plain ``{metric_name: int}`` whose names are the metric ids of docs/metrics.md.

Two inputs:

* :func:`lendingclub_loans`: the Lending Club 2018Q1 CSV as shipped (``../shared/data/``);
* :func:`tape_loans`: a tape schema v2 JSONL file (the synthetic platform's tapes).

Both give one row per loan with the columns of :data:`LOAN_COLUMNS`; :func:`abs_metrics` turns that
into the figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

STATES = ("M0", "M1", "M2", "M3", "M3+", "DEFAULTED", "WRITTEN_OFF", "PREPAID", "MATURED", "REPURCHASED")
PERFORMING = STATES[:5]
OUTSTANDING = STATES[:6]
FLOWS = (
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "fees",
    "defaulted_principal",
    "recoveries",
    "written_off",
)
DIMENSIONS = (
    "rate_band",
    "original_term",
    "remaining_term",
    "balance_band",
    "region",
    "vintage",
    "product_type",
)
LOAN_COLUMNS = ("state", "balance", *FLOWS, *DIMENSIONS, "obligor")

# The default pool settings of docs/metrics.md ("Pool settings the figures use").
DPD_EDGES = (0, 30, 60, 90)
DEFAULT_DAYS = 90
RATE_EDGES_BPS = (600, 1200, 1800, 2400)
REMAINING_TERM_EDGES = (6, 12, 24, 36)
USD_BALANCE_EDGES = (500_000, 1_000_000, 2_000_000, 3_000_000)
CNY_BALANCE_EDGES = (100_000, 500_000, 1_000_000, 5_000_000)

# --- the definitions ----------------------------------------------------------------------------------


def band(edges: Sequence[int], value: int) -> str:
    """The band of ``value``: each edge is the inclusive lower bound of the next band."""
    i = int(np.searchsorted(np.asarray(edges), value, side="right"))
    lo = 0 if i == 0 else edges[i - 1]
    return f"{lo}+" if i == len(edges) else f"{lo}-{edges[i] - 1}"


def performing_state(dpd: int) -> str:
    """M0 at 0 days past due, then one bucket per edge, M3+ beyond the last edge."""
    for name, edge in zip(PERFORMING, DPD_EDGES, strict=False):
        if dpd <= edge:
            return name
    return "M3+"


def state_of(status: str, dpd: int) -> str:
    """The loan state of a tape status and days past due (docs/metrics.md, "Loan states")."""
    terminal = {"CHARGED_OFF": "WRITTEN_OFF", "PREPAID_IN_FULL": "PREPAID", "MATURED_PAID": "MATURED",
                "REPURCHASED": "REPURCHASED"}  # fmt: skip
    if status in terminal:
        return terminal[status]
    if status == "DEFAULTED" or dpd >= DEFAULT_DAYS:
        return "DEFAULTED"
    return performing_state(dpd)


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 if ``end`` is not later)."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day))


def add_months(d: date, k: int) -> date:
    """``d`` moved by ``k`` months, the day clipped to the month's end."""
    y, m = divmod(d.year * 12 + d.month - 1 + k, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, m + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def quarter(d: date) -> str:
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def schedule_principal(principal: int, instalment: int, rate_bps: int, term: int, k: int) -> int:
    """docs/importing.md "The amortisation schedule": principal due in the first ``k`` instalments."""
    balance = principal
    for j in range(1, min(k, term) + 1):
        interest = Fraction(balance * rate_bps, 120_000)
        interest_cents = int(interest + Fraction(1, 2))  # half up (interest is never negative)
        part = balance if j == term else min(balance, max(0, instalment - interest_cents))
        balance -= part
    return principal - balance


def cents(text: str) -> int:
    """A decimal dollar amount as whole cents, rounded half to even (the one float artefact)."""
    return int((Decimal(text) * 100).to_integral_value(rounding="ROUND_HALF_EVEN"))


# --- Lending Club CSV -----------------------------------------------------------------------------------
LC_DPD = {"Current": 0, "In Grace Period": 15, "Late (16-30 days)": 30, "Late (31-120 days)": 120}


def lendingclub_loans(csv_path: str | Path, cutoff: date = date(2018, 6, 30)) -> pd.DataFrame:
    """One row per loan of the Lending Club 2018Q1 sample with state, balance, flows and cells."""
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    out: list[dict[str, object]] = []
    for i, r in enumerate(raw.itertuples(index=False), start=1):
        orig, bal = cents(r.loan_amount), cents(r.balance)
        paid_p, paid_i, fees = cents(r.paid_principal), cents(r.paid_interest), cents(r.paid_late_fees)
        rate = int(Decimal(r.interest_rate) * 100)
        term = int(Decimal(r.term))
        inst = cents(r.installment)
        issued = datetime.strptime(r.issue_month, "%b-%Y").date()  # the first day of the month
        first_due = add_months(issued, 1)
        maturity = add_months(issued, term)
        due = sum(1 for j in range(term) if add_months(first_due, j) < cutoff)
        status = r.loan_status
        if status == "Fully Paid" or (status == "Current" and bal == 0):
            state = "PREPAID" if cutoff < maturity else "MATURED"
        elif status == "Charged Off":
            state = "WRITTEN_OFF"
        else:
            dpd = min(LC_DPD[status], max(0, (cutoff - first_due).days))
            state = state_of("OPEN", dpd)
        scheduled = min(paid_p, schedule_principal(orig, inst, rate, term, due))
        written_off = orig - paid_p if state == "WRITTEN_OFF" else 0
        defaulted = written_off if state == "WRITTEN_OFF" else bal if state == "DEFAULTED" else 0
        out.append(
            {
                "state": state,
                "balance": bal,
                "scheduled_principal": scheduled,
                "unscheduled_principal": paid_p - scheduled,
                "interest": paid_i,
                "fees": fees,
                "defaulted_principal": defaulted,
                "recoveries": 0,
                "written_off": written_off,
                "rate_band": band(RATE_EDGES_BPS, rate),
                "original_term": str(term),
                "remaining_term": band(REMAINING_TERM_EDGES, months_between(cutoff, maturity)),
                "balance_band": band(USD_BALANCE_EDGES, bal),
                "region": r.state,
                "vintage": quarter(issued),
                "product_type": "CASH_LOAN",
                "obligor": f"row{i}",  # no borrower id in the source: each loan is its own obligor
            }
        )
    return pd.DataFrame(out, columns=list(LOAN_COLUMNS))


# --- a tape schema v2 JSONL file ----------------------------------------------------------------------


def tape_loans(jsonl_path: str | Path, cutoff: date, *, region_scheme: str = "GB/T 2260") -> pd.DataFrame:
    """One row per loan of a tape schema v2 JSONL file (money in fen)."""
    with open(jsonl_path, encoding="utf-8") as f:
        t = pd.DataFrame([json.loads(line) for line in f if line.strip()])
    balance_edges = CNY_BALANCE_EDGES if region_scheme == "GB/T 2260" else USD_BALANCE_EDGES
    dpd = t["days_past_due"].fillna(0).astype(int)
    df = pd.DataFrame(
        {
            "state": [state_of(s, d) for s, d in zip(t["loan_status"], dpd, strict=True)],
            "balance": t["current_principal_fen"].astype("int64"),
        }
    )
    for name in FLOWS:
        df[name] = t[f"period_{name}_fen"].astype("int64")
    maturity = [date.fromisoformat(m) for m in t["maturity_date"]]
    df["rate_band"] = [band(RATE_EDGES_BPS, int(x)) for x in t["nominal_rate_bps"]]
    df["original_term"] = t["term_months"].astype(int).astype(str)
    df["remaining_term"] = [band(REMAINING_TERM_EDGES, months_between(cutoff, m)) for m in maturity]
    df["balance_band"] = [band(balance_edges, int(b)) for b in df["balance"]]
    region = t["region_code"].astype(str)
    df["region"] = region.str[:2] if region_scheme == "GB/T 2260" else region
    df["vintage"] = [quarter(date.fromisoformat(o)) for o in t["origination_date"]]
    df["product_type"] = t["product_type"].astype(str)
    df["obligor"] = (
        (t["id_type"].astype(str) + ":" + t["id_number"].astype(str))
        if "id_number" in t
        else t["platform_loan_id"]
    )
    return df[list(LOAN_COLUMNS)]


# --- the figures -------------------------------------------------------------------------------------------


def ppm(num: int, den: int) -> int:
    """``num / den`` in parts per million, rounded half away from zero; 0 when ``den`` is 0."""
    if den == 0:
        return 0
    sign = -1 if num < 0 else 1
    return sign * int(Fraction(abs(num) * 1_000_000, den) + Fraction(1, 2))


def annualised_ppm(num: int, den: int) -> int:
    """``1 - (1 - num/den)^12`` in parts per million, rounded half up (exact arithmetic)."""
    if den == 0:
        return 0
    rate = 1 - (1 - Fraction(num, den)) ** 12
    return int(rate * 1_000_000 + Fraction(1, 2))


def abs_metrics(loans: pd.DataFrame, *, balance_cap: int | None = None) -> dict[str, int]:
    """Every docs/metrics.md figure of one tape, by its metric id (money in minor units)."""
    m: dict[str, int] = {}
    by_state = loans.groupby("state")["balance"].agg(["size", "sum"])
    for s in STATES:
        m[f"count_{s}"] = int(by_state["size"].get(s, 0))
        if s in OUTSTANDING:
            m[f"balance_{s}"] = int(by_state["sum"].get(s, 0))
    m["loan_count"] = len(loans)
    m["active_loan_count"] = sum(m[f"count_{s}"] for s in OUTSTANDING)
    m["performing_loan_count"] = sum(m[f"count_{s}"] for s in PERFORMING)
    m["pool_balance"] = sum(m[f"balance_{s}"] for s in PERFORMING)
    m["outstanding_balance"] = m["pool_balance"] + m["balance_DEFAULTED"]
    m["delinquent_1plus_balance"] = sum(m[f"balance_{s}"] for s in ("M1", "M2", "M3", "M3+"))
    m["delinquent_31plus_balance"] = sum(m[f"balance_{s}"] for s in ("M2", "M3", "M3+"))
    m["delinquent_61plus_balance"] = sum(m[f"balance_{s}"] for s in ("M3", "M3+"))
    m["delinquent_90plus_balance"] = m["balance_M3+"]
    m["delinquent_90plus_or_defaulted_balance"] = m["balance_M3+"] + m["balance_DEFAULTED"]
    for k in ("1plus", "31plus", "61plus", "90plus"):
        m[f"delinquency_{k}_ratio_ppm"] = ppm(m[f"delinquent_{k}_balance"], m["pool_balance"])
    m["delinquency_90plus_or_defaulted_ratio_ppm"] = ppm(
        m["delinquent_90plus_or_defaulted_balance"], m["outstanding_balance"]
    )
    for f in FLOWS:
        m[f] = int(loans[f].sum())
    m["principal_collections"] = m["scheduled_principal"] + m["unscheduled_principal"]
    m["collections"] = m["principal_collections"] + m["interest"] + m["fees"] + m["recoveries"]
    m["beginning_balance"] = (
        m["outstanding_balance"] + m["scheduled_principal"] + m["unscheduled_principal"] + m["written_off"]
    )
    base = m["beginning_balance"] - m["scheduled_principal"]
    m["smm_ppm"] = ppm(m["unscheduled_principal"], base)
    m["cpr_ppm"] = annualised_ppm(m["unscheduled_principal"], base)
    m["mdr_ppm"] = ppm(m["defaulted_principal"], base)
    m["cdr_ppm"] = annualised_ppm(m["defaulted_principal"], base)
    m["net_loss"] = m["written_off"] - m["recoveries"]
    m["loss_severity_ppm"] = ppm(m["net_loss"], m["written_off"])
    m["portfolio_yield_ppm"] = ppm(12 * (m["interest"] + m["fees"]), m["beginning_balance"])
    active = loans[loans["state"].isin(OUTSTANDING)]
    for dim in DIMENSIONS:
        cells = active.groupby(dim)["balance"].agg(["size", "sum"])
        for cell, row in cells.iterrows():
            m[f"strat.{dim}.{cell}.count"] = int(row["size"])
            m[f"strat.{dim}.{cell}.balance"] = int(row["sum"])
    m["largest_balance"] = int(active["balance"].max()) if len(active) else 0
    if balance_cap is not None:
        m["balance_cap"] = balance_cap
    regions = active.groupby("region")["balance"].sum()
    m["top_region_balance"] = int(regions.max()) if len(regions) else 0
    m["top_region_share_ppm"] = ppm(m["top_region_balance"], m["outstanding_balance"])
    obligors = active.groupby("obligor")["balance"].sum()
    m["largest_obligor_balance"] = int(obligors.max()) if len(obligors) else 0
    m["active_obligor_count"] = int(active["obligor"].nunique())
    return m
