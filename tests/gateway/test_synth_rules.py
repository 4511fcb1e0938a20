"""An independent self-check of the tape rules (reference notes §6.4) used by the synth and importer tests.

Written from the notes, not from the generator: the ID check character uses the explicit weight table of
GB 11643-1999 (the generator uses the base-13 shortcut), and dates are compared as ``date`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from policies.catalogue import TAPE_SCHEMA_V2_FIELDS

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"  # Y = S mod 11 -> check character
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LOAN_STATUS = {"NORMAL", "OVERDUE", "DEFAULTED", "CHARGED_OFF", "PREPAID_IN_FULL", "MATURED_PAID",
               "REPURCHASED", "RESTRUCTURED"}  # fmt: skip
CLOSED = {"CHARGED_OFF", "PREPAID_IN_FULL", "MATURED_PAID", "REPURCHASED"}
METHODS = {"EQUAL_INSTALMENT", "EQUAL_PRINCIPAL", "INTEREST_ONLY", "BULLET", "ON_DEMAND"}
PRODUCTS = {"INSTALLMENT_PURCHASE", "CASH_LOAN", "REVOLVING_LINE"}
TIERS = {"NORMAL", "SPECIAL_MENTION", "SUBSTANDARD", "DOUBTFUL", "LOSS"}
MONEY = ("original_principal_fen", "current_principal_fen", "overdue_principal_fen", "overdue_interest_fen")


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character by the weight table (GB 11643-1999)."""
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def tape_rule_violations(
    row: Mapping[str, Any], cutoff: date, *, jurisdiction: str = "CN", default_dpd: int = 90
) -> list[str]:
    """Names of the §6.4 rules ``row`` breaks (empty if none)."""
    bad: list[str] = []
    g = row.get
    if set(row) - set(TAPE_SCHEMA_V2_FIELDS):
        bad.append("unknown_fields")
    for k, v in row.items():
        if isinstance(v, float | bool):
            bad.append(f"type:{k}")
    for k in MONEY:
        if not isinstance(g(k), int) or g(k) < 0:
            bad.append(f"money:{k}")
    if bad:
        return bad
    d = {k: date.fromisoformat(g(k)) for k in ("origination_date", "first_due_date", "maturity_date",
                                                "default_date", "charge_off_date", "pool_addition_date",
                                                "birth_date") if g(k) is not None}  # fmt: skip
    o, f, m = d["origination_date"], d["first_due_date"], d["maturity_date"]
    if not o <= f <= m:
        bad.append("date_order")
    if o > cutoff:
        bad.append("origination_after_cutoff")
    if abs(_months_between(o, m) - g("term_months")) > 1:
        bad.append("maturity_vs_term")
    if "pool_addition_date" in d and d["pool_addition_date"] > cutoff:
        bad.append("pool_addition_after_cutoff")
    if "default_date" in d and not f <= d["default_date"] <= cutoff:
        bad.append("default_date")
    co = d.get("charge_off_date")
    if co is not None and (co > cutoff or ("default_date" in d and co < d["default_date"])):
        bad.append("charge_off_date")
    dpd, odp, odi = g("days_past_due"), g("overdue_principal_fen"), g("overdue_interest_fen")
    cur, orig = g("current_principal_fen"), g("original_principal_fen")
    if not isinstance(dpd, int) or dpd < 0:
        bad.append("dpd_type")
    elif (dpd > 0) != (odp + odi > 0):
        bad.append("dpd_coherence")
    if not odp <= cur <= orig or orig < 1:
        bad.append("amount_order")
    if not 0 <= g("installments_paid") <= g("installments_total"):
        bad.append("installments")
    nom, apr = g("nominal_rate_bps"), g("apr_all_in_bps")
    if apr is not None and apr < nom:
        bad.append("apr_below_nominal")
    if jurisdiction == "CN" and max(nom, apr or 0) > 3600:
        bad.append("rate_cap")
    status = g("loan_status")
    if status not in LOAN_STATUS:
        bad.append("status_enum")
    elif status == "NORMAL" and dpd != 0:
        bad.append("status_normal_dpd")
    elif status == "OVERDUE" and not 0 < dpd < default_dpd:
        bad.append("status_overdue_dpd")
    elif status == "DEFAULTED" and (dpd < default_dpd or "default_date" not in d):
        bad.append("status_defaulted_dpd")
    elif status in CLOSED and (cur != 0 or dpd != 0):
        bad.append("closed_with_balance")
    if status == "CHARGED_OFF" and jurisdiction == "CN" and "charge_off_date" not in d:
        bad.append("charge_off_without_date")
    if g("repayment_method") not in METHODS:
        bad.append("method_enum")
    if g("product_type") not in PRODUCTS:
        bad.append("product_enum")
    if g("five_tier_class") is not None and g("five_tier_class") not in TIERS:
        bad.append("tier_enum")
    if jurisdiction == "CN":
        idn = g("id_number")
        if g("id_type") != "RESIDENT_ID" or not re.fullmatch(r"\d{17}[\dX]", idn or ""):
            bad.append("id_format")
        else:
            if id_check_char(idn[:17]) != idn[17]:
                bad.append("id_checksum")
            if idn[6:14] != g("birth_date").replace("-", ""):
                bad.append("id_birth_date")
            if ("M" if int(idn[16]) % 2 else "F") != g("gender"):
                bad.append("id_gender")
            if _age(d["birth_date"], o) < 18:
                bad.append("min_age")
        if not MOBILE.match(g("mobile") or ""):
            bad.append("mobile")
        if not re.fullmatch(r"\d{6}", g("region_code") or ""):
            bad.append("region_code")
    else:
        for k in ("obligor_name", "id_number", "mobile", "repayment_account", "birth_date", "gender"):
            if g(k) is not None:
                bad.append(f"identity_field:{k}")
    return bad


# --- The self-check itself must be able to fail ---------------------------------------------------------


def _good_row() -> dict[str, Any]:
    return {
        "platform_loan_id": "T-1", "obligor_name": "张三", "id_type": "RESIDENT_ID",
        "id_number": "11010519491231002X", "mobile": "13800138000",
        "repayment_account": "6222020000000000000",
        "home_address": "北京市东城区", "region_code": "110101", "region_code_version": 2020,
        "birth_date": "1949-12-31", "gender": "F", "income_monthly_fen": 100000, "occupation": "RETIRED",
        "internal_score": 600, "consent_basis": "SEPARATE_CONSENT", "consent_version": "v1",
        "consent_time": "2024-01-05T10:00:00+08:00", "product_type": "INSTALLMENT_PURCHASE",
        "merchant_category": "ELECTRONICS", "origination_channel": "APP", "origination_date": "2024-01-05",
        "first_due_date": "2024-02-05", "maturity_date": "2024-07-05", "term_months": 6,
        "installments_total": 6, "installments_paid": 2, "repayment_method": "EQUAL_INSTALMENT",
        "original_principal_fen": 600000, "nominal_rate_bps": 1500, "apr_all_in_bps": 1800,
        "current_principal_fen": 400000, "days_past_due": 0, "overdue_principal_fen": 0,
        "overdue_interest_fen": 0, "loan_status": "NORMAL", "five_tier_class": "NORMAL", "default_date": None,
        "charge_off_date": None, "pool_addition_date": "2024-03-31",
    }  # fmt: skip


def test_published_id_example_has_check_character_x() -> None:
    assert id_check_char("11010519491231002") == "X"


def test_self_check_accepts_a_good_row() -> None:
    assert tape_rule_violations(_good_row(), date(2024, 3, 31)) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"id_number": "110105194912310021"}, "id_checksum"),
        ({"gender": "M"}, "id_gender"),
        ({"days_past_due": 5}, "dpd_coherence"),
        ({"overdue_principal_fen": 500000, "days_past_due": 3, "loan_status": "OVERDUE"}, "amount_order"),
        ({"apr_all_in_bps": 1400}, "apr_below_nominal"),
        ({"apr_all_in_bps": 3700}, "rate_cap"),
        ({"first_due_date": "2024-01-01"}, "date_order"),
        ({"loan_status": "DEFAULTED"}, "status_defaulted_dpd"),
        ({"loan_status": "PREPAID_IN_FULL"}, "closed_with_balance"),
        ({"mobile": "12800138000"}, "mobile"),
        ({"installments_paid": 7}, "installments"),
        ({"current_principal_fen": 400000.0}, "type:current_principal_fen"),
        ({"origination_date": "2024-04-05"}, "origination_after_cutoff"),
    ],
)
def test_self_check_rejects_each_broken_rule(change: dict[str, Any], rule: str) -> None:
    row = _good_row() | change
    assert rule in tape_rule_violations(row, date(2024, 3, 31))
