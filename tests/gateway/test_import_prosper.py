"""The shipped Prosper mapping on a small sample written from Prosper's published variable definitions.

The sample (``tests/gateway/data/prosper_sample.csv``) has one loan per status of the definitions, a
"Current" loan 52 days delinquent, fractional rates with five decimals, ISO date-times, income stated
to six decimals, "NA" and "N/A" cells, and no balance column.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.importers.mapped_csv import read_mapped_csv
from gateway.importers.mapping import MappingError, load_mapping
from gateway.importers.report import ImportReport
from gateway.mappings import mapping_path

SAMPLE = Path(__file__).parent / "data" / "prosper_sample.csv"
CUTOFF = date(2014, 3, 31)


def _import(mapping_file: Path | None = None) -> tuple[dict[str, dict], ImportReport]:
    m = load_mapping(mapping_file or mapping_path("prosper"))
    report = ImportReport()
    rows = {
        r["platform_loan_id"]: r
        for _, r in read_mapped_csv(SAMPLE, m, pool_id="PR1", cutoff=CUTOFF, report=report)
    }
    return rows, report


@pytest.fixture(scope="module")
def imported() -> tuple[dict[str, dict], ImportReport]:
    return _import()


def test_every_loan_but_the_cancelled_listing_is_imported(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, report = imported
    assert report.ok
    assert (report.rows_read, report.rows_imported, report.rows_excluded) == (11, 10, 1)
    assert "PR-88009" not in rows  # Cancelled: kind 'excluded'
    assert sorted(rows) == [f"PR-880{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 11)]


def test_loan_ids_come_from_the_loan_number_not_the_row(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, _ = imported
    assert rows["PR-88010"]["original_principal_fen"] == 250_000


def test_balance_is_computed_from_original_less_repaid_less_written_off(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, _ = imported
    assert rows["PR-88001"]["current_principal_fen"] == 1_000_000 - 246_631
    assert rows["PR-88010"]["current_principal_fen"] == 250_000 - 228_336
    assert rows["PR-88007"]["current_principal_fen"] == 0  # 6000 - 1480.22 - 4519.78


def test_the_days_past_due_column_takes_precedence_over_a_current_status(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, report = imported
    late = rows["PR-88002"]  # LoanStatus "Current", LoanCurrentDaysDelinquent 52
    assert (late["days_past_due"], late["loan_status"]) == (52, "OVERDUE")
    assert late["overdue_principal_fen"] > 0
    notice = report.notices[("status_dpd_disagree", "LoanCurrentDaysDelinquent")]
    assert (notice.count, notice.first_line) == (1, 3)


def test_past_due_buckets_take_the_column_value(imported: tuple[dict[str, dict], ImportReport]) -> None:
    rows, _ = imported
    assert [rows[k]["days_past_due"] for k in ("PR-88003", "PR-88004", "PR-88005", "PR-88011")] == [
        9,
        45,
        100,
        130,
    ]
    assert rows["PR-88005"]["loan_status"] == "DEFAULTED"
    assert rows["PR-88005"]["default_date"] == (CUTOFF - timedelta(days=100 - 90)).isoformat()


def test_closed_statuses_decide_on_their_own(imported: tuple[dict[str, dict], ImportReport]) -> None:
    rows, _ = imported
    assert rows["PR-88006"]["loan_status"] == "MATURED_PAID"
    # Chargedoff with 148 days in the column, and Defaulted: both written off, 0 days past due.
    for key in ("PR-88007", "PR-88008"):
        assert (rows[key]["loan_status"], rows[key]["days_past_due"]) == ("CHARGED_OFF", 0)


def test_fractional_rates_are_exact_or_rounded_by_the_stated_rule(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, report = imported
    assert rows["PR-88001"]["nominal_rate_bps"] == 1580  # 0.1580: exact
    assert rows["PR-88001"]["apr_all_in_bps"] == 1873  # 0.18725 = 1872.5 bps, rounded up (ceiling)
    assert rows["PR-88007"]["apr_all_in_bps"] == 3580  # 0.35797 = 3579.7 bps
    assert report.notices[("rounded", "BorrowerAPR")].count == 10
    assert ("rounded", "BorrowerRate") not in report.notices


def test_monthly_income_is_floored_to_the_cent_and_missing_tokens_are_missing(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, report = imported
    assert rows["PR-88001"]["income_monthly_fen"] == 541_666  # 5416.666667
    assert rows["PR-88011"]["income_monthly_fen"] is None  # "N/A"
    assert report.notices[("rounded", "StatedMonthlyIncome")].count == 3


def test_origination_date_is_the_date_of_the_iso_date_time(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    rows, _ = imported
    assert rows["PR-88001"]["origination_date"] == "2013-04-12"
    assert rows["PR-88001"]["first_due_date"] == "2013-05-12"
    assert rows["PR-88001"]["maturity_date"] == "2016-04-12"


def test_rows_pass_the_gateway_validator_for_a_us_pool(
    imported: tuple[dict[str, dict], ImportReport],
) -> None:
    from gateway.ingest.pool_settings import US_CONSUMER
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    rows, _ = imported
    validator = TapeValidator(rules_for(US_CONSUMER), CUTOFF.isoformat())
    for i, row in enumerate(rows.values(), start=1):
        validator.check(i, row)
    assert validator.report.errors == []


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = mapping_path("prosper").read_text(encoding="utf-8")
    assert old in text
    out = tmp_path / "prosper-variant.toml"
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


def test_a_stricter_rule_rejects_the_late_current_loan(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'when_status_disagrees = "column"', 'when_status_disagrees = "error"')
    rows, report = _import(path)
    assert [(p.line, p.column, p.rule) for p in report.problems] == [
        (3, "LoanCurrentDaysDelinquent", "status_dpd_disagree")
    ]
    assert "PR-88002" not in rows


def test_exact_rounding_rejects_sub_basis_point_rates(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'rounding = "ceiling"', 'rounding = "exact"')
    _, report = _import(path)
    assert report.problem_count == 10
    assert {(p.column, p.rule) for p in report.problems} == {("BorrowerAPR", "rate_precision")}


def test_a_rate_without_a_stated_scale_is_refused_on_load(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'type = "rate", scale = "fraction", rounding = "half_even"', 'type = "rate"')
    with pytest.raises(MappingError, match=r"prosper-variant.toml:\d+ \[roles.nominal_rate\] key 'scale'"):
        load_mapping(path)


def test_the_balance_expression_agrees_with_decimal_arithmetic() -> None:
    import csv

    rows, _ = _import()
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        for src in csv.DictReader(f):
            if src["LoanStatus"] == "Cancelled":
                continue
            bal = Decimal(src["LoanOriginalAmount"]) - Decimal(src["LP_CustomerPrincipalPayments"])
            bal -= Decimal(src["LP_GrossPrincipalLoss"])
            assert rows[f"PR-{src['LoanNumber']}"]["current_principal_fen"] == int(bal * 100)


def test_the_same_loans_in_two_files_keep_their_ids(tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    later = tmp_path / "later.csv"  # a later export: other order, some loans gone
    later.write_text("\n".join([lines[0], *reversed(lines[3:9])]) + "\n", encoding="utf-8")
    first, _ = _import()
    m = load_mapping(mapping_path("prosper"))
    report = ImportReport()
    second = {
        r["platform_loan_id"]: r
        for _, r in read_mapped_csv(later, m, pool_id="PR1", cutoff=CUTOFF, report=report)
    }
    assert report.ok
    assert set(second) < set(first)
    for loan_id, row in second.items():
        assert row["original_principal_fen"] == first[loan_id]["original_principal_fen"]
        assert row["origination_date"] == first[loan_id]["origination_date"]
