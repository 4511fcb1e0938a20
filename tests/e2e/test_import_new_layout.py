"""A layout the project ships no mapping for, imported with one new TOML file and no code.

The tape of a fictional lender ("Northwind Credit") is generated here with every feature the mapping
language has: a two-digit-year month (``Jan-23``), ISO dates and ISO date-times with a zone, missing-value
tokens (``NA``, ``N/A``, empty), fractional rates with five decimals and percent rates with three (each
with its stated rounding), computed columns over names with spaces (balance = amount - principal repaid
- written off; monthly income = annual income / 12), a days-past-due column that outranks the status,
ids from a template over a source column, statuses Cancelled / Completed / Chargedoff / Defaulted /
"Past Due (1-15 days)", and the cut-off from the mapping's hint. ``poolproof import`` turns it into a
tape; the tape goes to a real gateway over HTTP, is sealed, and the trustee's metrics must equal a plain
pandas computation over the source CSV; an investor's claim on it verifies offline with poolproof-audit.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.snapshots.demo import expect, request_claim
from proofs import bundle
from proofs.claim_bundle import ExpectedClaim, verify_claim_bundle
from proofs.claims import RatioClaim
from proofs.witness import WitnessPolicy

from .conftest import Gateway, audit

POOL = "E2E-NW"
CUTOFF = date(2024, 3, 31)
N_LOANS = 120

MAPPING = """
format = "poolproof/column-mapping/v1"
name = "northwind-credit"

[pool]
jurisdiction = "US"
currency = "USD"
minor_per_major = 100
rate_cap_bps = 3600
default_dpd = 90
as_of_hint = 2024-03-31

[missing]
tokens = ["", "NA", "N/A"]

[id]
format = "{pool_id}-{Loan Ref}"

[computed]
balance = 'max(Amount - col("Principal Repaid") - col("Written Off"), 0)'
monthly_income = 'round(col("Annual Income") / 12, 2)'

[roles]
original_principal = { column = "Amount", type = "money" }
current_principal = { column = "balance", type = "money" }
paid_principal = { column = "Principal Repaid", type = "money" }
instalment = { column = "Monthly Payment", type = "money" }
nominal_rate = { column = "Rate", type = "rate", scale = "fraction", rounding = "half_up" }
apr = { column = "APR", type = "rate", scale = "percent", rounding = "ceiling" }
term_months = { column = "Term", type = "integer" }
origination_month = { column = "Vintage", type = "month", format = "%b-%y", two_digit_years_from = 2000 }
first_due_date = { column = "First Due", type = "date", format = "%Y-%m-%d" }
maturity_date = { column = "Maturity", type = "date", format = "%Y-%m-%dT%H:%M:%S%z" }
days_past_due = { column = "Days Late", type = "integer", optional = true }
monthly_income = { column = "monthly_income", type = "money", optional = true }
status = { column = "Status", type = "status" }

[fields]
region_code = { column = "State", type = "code", pattern = "^[A-Z]{2}$" }

[constants]
product_type = "CASH_LOAN"
repayment_method = "EQUAL_INSTALMENT"

[derive]
apr_all_in = "column"

[delinquency]
when_status_disagrees = "column"

[status."Current"]
kind = "open"
dpd_min = 0
dpd_max = 0
dpd = 0

[status."Past Due (1-15 days)"]
kind = "open"
dpd_min = 1
dpd_max = 15
dpd = 15

[status."Past Due (16-30 days)"]
kind = "open"
dpd_min = 16
dpd_max = 30
dpd = 30

[status."Past Due (31-90 days)"]
kind = "open"
dpd_min = 31
dpd_max = 90
dpd = 90

[status."Defaulted"]
kind = "defaulted"
dpd_min = 91
dpd_max = 365
dpd = 365

[status."Completed"]
kind = "paid"

[status."Chargedoff"]
kind = "charged_off"

[status."Cancelled"]
kind = "excluded"
"""

HEADER = [
    "Loan Ref", "Vintage", "First Due", "Maturity", "Term", "Amount", "Principal Repaid", "Written Off",
    "Monthly Payment", "Rate", "APR", "Annual Income", "Days Late", "Status", "State",
]  # fmt: skip
LIVE = ("Current", "Past Due (1-15 days)", "Past Due (16-30 days)", "Past Due (31-90 days)", "Defaulted")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _add_months(y: int, m: int, k: int) -> tuple[int, int]:
    i = y * 12 + m - 1 + k
    return i // 12, i % 12 + 1


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_northwind_tape(path: Path, n: int, seed: int) -> None:
    """A seeded Northwind tape as of 2024-03-31 (every status, late "Current" loans, NA cells)."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for i in range(n):
            term = rnd.choice((12, 24, 36))
            vy, vm = _add_months(2021, 6, rnd.randrange(0, 30))  # Jun-21 .. Nov-23
            fy, fm = _add_months(vy, vm, 1)
            my, mm = _add_months(vy, vm, term)
            first_due, maturity = date(fy, fm, 1), date(my, mm, 1)
            amount = rnd.randrange(100_000, 2_000_000)
            rate = rnd.randrange(5_000, 28_000)  # 0.05000 .. 0.27999
            apr_milli = rate + rnd.randrange(500, 3_000)  # percent with three decimals
            status = rnd.choices(
                ("Current", "Past Due (1-15 days)", "Past Due (16-30 days)", "Past Due (31-90 days)",
                 "Defaulted", "Completed", "Chargedoff", "Cancelled"),
                weights=(60, 6, 5, 5, 4, 8, 6, 6),
            )[0]  # fmt: skip
            if maturity <= CUTOFF and status in LIVE:
                status = "Completed"
            late_room = (CUTOFF - first_due).days
            days: str = "0"
            repaid = amount * rnd.randrange(5, 90) // 100
            written = 0
            if status == "Current":
                days = str(min(40, late_room)) if rnd.random() < 0.1 else "0"  # late though "Current"
            elif status.startswith("Past Due"):
                lo, hi = {"Past Due (1-15 days)": (1, 15), "Past Due (16-30 days)": (16, 30)}.get(
                    status, (31, 90)
                )
                days = str(min(rnd.randint(lo, hi), late_room))
            elif status == "Defaulted":
                days = str(min(rnd.randint(91, 200), late_room))
            elif status == "Completed":
                repaid, days = amount, rnd.choice(("NA", "", "0"))
            elif status == "Chargedoff":
                written, days = amount - repaid, rnd.choice(("N/A", "NA", "130"))
            else:  # Cancelled: not a loan of the pool
                repaid, days = 0, ""
            income = rnd.choice(("NA", "N/A", "", str(rnd.randrange(20_000, 250_000))))
            w.writerow([
                f"NW{100000 + i}", f"{MONTHS[vm - 1]}-{vy % 100:02d}", first_due.isoformat(),
                f"{maturity.isoformat()}T00:00:00Z", term, _money(amount), _money(repaid), _money(written),
                _money(max(1, amount // term)), f"0.{rate:05d}",
                f"{apr_milli // 1000}.{apr_milli % 1000:03d}", income, days, status,
                rnd.choice(("CA", "NY", "TX", "WA", "IL")),
            ])  # fmt: skip


def pandas_metrics(path: Path) -> dict[str, int]:
    """The dpd5 metrics by a plain pandas computation over the source CSV (no importer code)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[df["Status"] != "Cancelled"]
    cents = {
        c: (pd.to_numeric(df[c]) * 100).round().astype("int64")
        for c in ("Amount", "Principal Repaid", "Written Off")
    }
    balance = (cents["Amount"] - cents["Principal Repaid"] - cents["Written Off"]).clip(lower=0)
    live = df["Status"].isin(LIVE)
    dpd = pd.to_numeric(df["Days Late"].where(live, "0").replace("", "0")).astype("int64")
    bucket = pd.cut(dpd, bins=[-1, 0, 30, 60, 90, 10**9], labels=["M0", "M1", "M2", "M3", "M3+"])
    out = {"pool_balance": int(balance.sum()), "loan_count": len(df)}
    for name in ("M0", "M1", "M2", "M3", "M3+"):
        out[f"balance_{name}"] = int(balance[bucket == name].sum())
        out[f"count_{name}"] = int((bucket == name).sum())
    for label, first in (("1plus", 1), ("31plus", 31), ("61plus", 61), ("90plus", 91)):
        out[f"balance_dpd_{label}"] = int(balance[dpd >= first].sum())
        out[f"count_dpd_{label}"] = int((dpd >= first).sum())
    return out


@pytest.fixture(scope="module")
def northwind(gw: Gateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("northwind")
    source, mapping, tape, report = (
        d / "northwind.csv",
        d / "northwind.toml",
        d / "tape.jsonl",
        d / "report.json",
    )
    write_northwind_tape(source, N_LOANS, seed=20240331)
    mapping.write_text(MAPPING, encoding="utf-8")
    args = ["import", str(source), "--mapping", str(mapping), "--pool", POOL, "--out", str(tape)]
    res = CliRunner().invoke(cli, [*args, "--report", str(report), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in tape.read_text(encoding="utf-8").splitlines()]
    gw.create_pool(POOL, "US_CONSUMER")
    gw.submit(POOL, CUTOFF.isoformat(), rows)
    gw.add("nw-trustee", "nw-trustee", "trustee", "/trustee", pools=[POOL])
    gw.add("nw-investor", "nw-investor", "investor", "/investor", pools=[POOL])
    gw.seal(POOL, CUTOFF.isoformat())
    return {
        "source": source,
        "rows": rows,
        "result": json.loads(res.stdout),
        "report": json.loads(report.read_text()),
    }


def test_the_tape_has_every_feature(northwind: dict[str, Any]) -> None:
    df = pd.read_csv(northwind["source"], dtype=str, keep_default_na=False)
    assert set(df["Status"]) == {*LIVE, "Completed", "Chargedoff", "Cancelled"}
    assert {"NA", "N/A", ""} <= set(df["Annual Income"])
    notices = {(n["rule"], n["column"]): n["count"] for n in northwind["report"]["notices"]}
    assert notices[("status_dpd_disagree", "Days Late")] >= 1  # late "Current" loans: the column wins
    assert notices[("excluded_status", "Status")] == (df["Status"] == "Cancelled").sum()
    assert notices[("rounded", "Rate")] >= 1 and notices[("rounded", "APR")] >= 1  # noqa: PT018


def test_ids_come_from_the_template_over_the_loan_ref(northwind: dict[str, Any]) -> None:
    df = pd.read_csv(northwind["source"], dtype=str, keep_default_na=False)
    expected = [f"{POOL}-{ref}" for ref in df.loc[df["Status"] != "Cancelled", "Loan Ref"]]
    assert [r["platform_loan_id"] for r in northwind["rows"]] == expected


def test_the_cutoff_came_from_the_mapping_hint(northwind: dict[str, Any]) -> None:
    assert northwind["result"]["cutoff"] == CUTOFF.isoformat()
    assert {r["pool_addition_date"] for r in northwind["rows"]} == {CUTOFF.isoformat()}


def test_sealed_metrics_equal_a_plain_pandas_computation_over_the_source(
    gw: Gateway, northwind: dict[str, Any]
) -> None:
    truth = pandas_metrics(northwind["source"])
    assert truth["count_dpd_1plus"] > 10
    assert truth["count_M3+"] > 0
    report = expect(
        gw.clients["nw-trustee"].get(f"/pools/{POOL}/snapshots/{CUTOFF.isoformat()}/metrics"), 200, "metrics"
    )
    assert report["metrics"] == truth


def test_an_investor_claim_on_the_imported_tape_verifies_offline(
    gw: Gateway, northwind: dict[str, Any], tmp_path: Path
) -> None:
    truth = pandas_metrics(northwind["source"])
    assert 2 * truth["balance_dpd_90plus"] <= truth["pool_balance"]  # so the claim below is true
    claim = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 1, 2)
    resp = request_claim(gw.clients["nw-investor"], POOL, CUTOFF.isoformat(), claim)
    assert resp.status_code == 200, resp.text
    asked = ExpectedClaim(pool_id=POOL, cutoff_date=CUTOFF.isoformat(), statement=claim)
    # No witness has cosigned this snapshot: the check names that it rests on the gateway's word.
    answer = verify_claim_bundle(resp.json(), gw.key, expected=asked, witnesses=WitnessPolicy.unwitnessed())
    assert answer == claim
    path = tmp_path / "claim.json"
    path.write_bytes(bundle.dump_bundle(resp.json()))
    code, out = audit("verify-claim", path, "--key", gw.key_file, "--no-witness")
    assert code == 0, out
