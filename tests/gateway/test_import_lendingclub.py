"""The mapping-driven CSV importer on the real Lending Club 2018Q1 tape (read from ../shared, not copied)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.importers.lendingclub import (
    LENDINGCLUB_AS_OF,
    import_lendingclub,
    lendingclub_csv_path,
    shared_dir,
)
from gateway.importers.mapped_csv import ImportRowError, MappingError, load_mapping
from gateway.mappings import mapping_path
from tests.gateway.test_synth_rules import tape_rule_violations

SRC = lendingclub_csv_path()
pytestmark = pytest.mark.skipif(not SRC.is_file(), reason=f"shared data not found at {SRC}")

README_STATUS_COUNTS = {
    "Current": 9375,
    "Fully Paid": 447,
    "In Grace Period": 67,
    "Late (31-120 days)": 66,
    "Late (16-30 days)": 38,
    "Charged Off": 7,
}


@pytest.fixture(scope="module")
def source() -> list[dict[str, str]]:
    with SRC.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(import_lendingclub(pool_id="LC1", cutoff=LENDINGCLUB_AS_OF))


def _corrupt(tmp_path: Path, line: int, column: str, value: str) -> Path:
    """A copy of the first 60 lines of the source, in tmp_path, with one cell replaced."""
    with SRC.open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))[:60]
    lines[line - 1][lines[0].index(column)] = value
    out = tmp_path / "lc.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(lines)
    return out


def test_imports_every_row(rows: list[dict]) -> None:
    assert len(rows) == 10_000
    assert len({r["platform_loan_id"] for r in rows}) == 10_000
    assert rows[0]["platform_loan_id"] == "LC1-LC00001"


def test_source_status_counts_match_the_data_readme(source: list[dict[str, str]]) -> None:
    assert Counter(r["loan_status"] for r in source) == README_STATUS_COUNTS


def test_statuses_map_to_tape_statuses(rows: list[dict]) -> None:
    # One "Current" row has balance 0 and its principal repaid: reported PREPAID_IN_FULL (mapping decision).
    assert Counter(r["loan_status"] for r in rows) == {
        "NORMAL": 9374,
        "PREPAID_IN_FULL": 447 + 1,
        "OVERDUE": 67 + 38,
        "DEFAULTED": 66,
        "CHARGED_OFF": 7,
    }


def test_days_past_due_stay_inside_each_status_range(rows: list[dict], source: list[dict[str, str]]) -> None:
    ranges = {
        "Current": (0, 0),
        "In Grace Period": (1, 15),
        "Late (16-30 days)": (16, 30),
        "Late (31-120 days)": (31, 120),
        "Fully Paid": (0, 0),
        "Charged Off": (0, 0),
    }
    seen: dict[str, Counter] = {}
    for r, s in zip(rows, source, strict=True):
        lo, hi = ranges[s["loan_status"]]
        assert lo <= r["days_past_due"] <= hi
        seen.setdefault(s["loan_status"], Counter())[r["days_past_due"]] += 1
    assert set(seen["In Grace Period"]) == {15}
    assert set(seen["Late (16-30 days)"]) == {30}
    # 120 (upper end), or 90 for March loans whose first due date is 90 days before the cut-off.
    assert set(seen["Late (31-120 days)"]) == {90, 120}


def test_money_is_exact_cents_and_rates_exact_bps(rows: list[dict], source: list[dict[str, str]]) -> None:
    assert rows[0]["current_principal_fen"] == 2701586  # "27015.86"
    assert rows[0]["original_principal_fen"] == 2800000
    assert rows[0]["nominal_rate_bps"] == 1407  # "14.07"
    for i in range(0, 10_000, 97):
        s, r = source[i], rows[i]
        assert r["original_principal_fen"] == int(Decimal(s["loan_amount"]) * 100)
        assert r["current_principal_fen"] == int(Decimal(s["balance"]) * 100)
        assert r["nominal_rate_bps"] == int(Decimal(s["interest_rate"]) * 100)
        assert r["term_months"] == int(Decimal(s["term"]))
        for k, v in r.items():
            assert not isinstance(v, float), k


def test_rates_above_24_percent_are_kept_under_the_us_cap(rows: list[dict]) -> None:
    above = [r for r in rows if r["nominal_rate_bps"] > 2400]
    assert len(above) == 307
    assert max(r["nominal_rate_bps"] for r in rows) == 3094


def test_a_lower_pool_rate_cap_rejects_the_first_row_above_it() -> None:
    with pytest.raises(ImportRowError, match=r"column 'interest_rate'.*rule rate_cap") as e:
        list(import_lendingclub(pool_id="LC1", rate_cap_bps=2400))
    assert e.value.rule == "rate_cap"
    assert e.value.line > 1


def test_charged_off_rows_are_written_off_and_exempt_from_the_balance_identity(
    rows: list[dict], source: list[dict[str, str]]
) -> None:
    co = [(r, s) for r, s in zip(rows, source, strict=True) if s["loan_status"] == "Charged Off"]
    assert len(co) == 7
    for r, s in co:
        assert r["current_principal_fen"] == 0
        assert Decimal(s["loan_amount"]) - Decimal(s["paid_principal"]) > 0  # unpaid principal written off
        assert r["days_past_due"] == 0


def test_every_other_row_satisfies_the_balance_identity(source: list[dict[str, str]]) -> None:
    broken = [
        s["loan_status"]
        for s in source
        if Decimal(s["balance"]) != Decimal(s["loan_amount"]) - Decimal(s["paid_principal"])
    ]
    assert broken == ["Charged Off"] * 7


def test_every_row_satisfies_the_tape_rules(rows: list[dict]) -> None:
    problems = Counter(v for r in rows for v in tape_rule_violations(r, LENDINGCLUB_AS_OF, jurisdiction="US"))
    assert problems == Counter()


def test_no_identity_fields_and_no_employer_text(rows: list[dict], source: list[dict[str, str]]) -> None:
    for k in (
        "obligor_name",
        "id_number",
        "mobile",
        "repayment_account",
        "home_address",
        "birth_date",
        "gender",
    ):
        assert k not in rows[0]
    titles = {s["emp_title"].strip() for s in source if s["emp_title"].strip()}
    values = {v for r in rows for v in r.values() if isinstance(v, str)}
    assert not titles & values


def test_monthly_income_is_annual_income_over_twelve_floored(
    rows: list[dict], source: list[dict[str, str]]
) -> None:
    assert rows[0]["income_monthly_fen"] == 750000  # 90000.0 / 12 in cents
    for i in range(0, 10_000, 101):
        assert rows[i]["income_monthly_fen"] == int(Decimal(source[i]["annual_income"]) * 100) // 12


@pytest.mark.parametrize(
    ("line", "column", "value", "rule"),
    [
        (2, "balance", "27,015.86", "number_format"),
        (5, "interest_rate", "abc", "number_format"),
        (7, "loan_amount", "1e4", "number_format"),
        (9, "balance", "100.123", "money_precision"),
        (11, "interest_rate", "12.345", "rate_precision"),
        (13, "term", "36.5", "integer"),
        (15, "loan_status", "Late (121+ days)", "unknown_status"),
        (17, "issue_month", "2018-03", "month_format"),
        (19, "state", "nj", "code_format"),
        (21, "balance", "", "required"),
        (23, "balance", "1.00", "balance_identity"),
        (25, "loan_amount", "-5000", "number_format"),
        (27, "loan_amount", "1234567890123456", "number_format"),
        (29, "balance", "4651.370000000000000", "number_format"),
    ],
)
def test_a_corrupted_cell_names_line_column_and_rule(
    tmp_path: Path, line: int, column: str, value: str, rule: str
) -> None:
    path = _corrupt(tmp_path, line, column, value)
    with pytest.raises(ImportRowError) as e:
        list(import_lendingclub(path, pool_id="LC1"))
    assert (e.value.line, e.value.column, e.value.rule) == (line, column, rule)
    assert f"line {line}, column {column!r}" in str(e.value)
    if value:
        assert value not in str(e.value)  # error text never repeats the cell (level-3 data)


def test_a_row_with_a_missing_cell_is_refused(tmp_path: Path) -> None:
    path = _corrupt(tmp_path, 2, "balance", "")
    text = path.read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0]  # line 4 loses its last cell
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ImportRowError, match=r"line 2, column 'balance'"):
        list(import_lendingclub(path, pool_id="LC1"))
    text[1] = ",".join(next(csv.reader([text[2]])))  # line 2 fixed, line 4 still short
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ImportRowError, match=r"line 4.*rule cell_count"):
        list(import_lendingclub(path, pool_id="LC1"))


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = _corrupt(tmp_path, 1, "balance", "outstanding")
    with pytest.raises(ImportRowError, match=r"line 1, column 'balance'.*missing_column"):
        list(import_lendingclub(path, pool_id="LC1"))


def test_a_cutoff_before_issuance_is_an_error() -> None:
    with pytest.raises(ImportRowError, match=r"column 'issue_month'.*origination_after_cutoff"):
        list(import_lendingclub(pool_id="LC1", cutoff=date(2018, 2, 15)))


def test_a_late_status_before_its_first_due_date_is_an_error() -> None:
    with pytest.raises(ImportRowError, match=r"column 'loan_status'.*status_before_first_due"):
        list(import_lendingclub(pool_id="LC1", cutoff=date(2018, 4, 15)))


def test_a_cutoff_after_maturity_is_an_error() -> None:
    with pytest.raises(ImportRowError, match=r"cutoff_after_maturity"):
        list(import_lendingclub(pool_id="LC1", cutoff=date(2030, 1, 1)))


def test_shared_dir_honours_the_environment_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POOLPROOF_SHARED", str(tmp_path))
    assert shared_dir() == tmp_path
    assert lendingclub_csv_path() == tmp_path / "data" / "lendingclub_2018q1_10k.csv"


def _mapping_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = mapping_path("lendingclub").read_text(encoding="utf-8")
    assert old in text
    out = tmp_path / "m.toml"
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("[fields]\n", '[fields]\noccupation = { column = "emp_title", type = "text" }\n', "denied"),
        ('format = "poolproof/column-mapping/v1"', 'format = "v0"', "key 'format': must be"),
        ('status = { column = "loan_status", type = "status" }', "", "missing roles"),
        ("dpd = 120", "dpd = 150", "dpd_min <= dpd <= dpd_max"),
        ("[pool]\n", "[pool]\ncolour = 1\n", r"\[pool\] key 'colour': unknown key"),
        ("[fields]\n", '[fields]\nid_number = { column = "state", type = "code" }\n', "not a bindable"),
        ('kind = "charged_off"', 'kind = "charged_off"\ndpd = 3', "takes no dpd"),
    ],
)
def test_bad_mapping_files_are_refused_with_file_and_key(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    path = _mapping_variant(tmp_path, old, new)
    with pytest.raises(MappingError, match=match) as e:
        load_mapping(path)
    assert str(e.value).startswith(f"{path}:")
    line = int(str(e.value)[len(str(path)) + 1 :].split(" ", 1)[0].rstrip(":"))
    text = path.read_text(encoding="utf-8").splitlines()
    if new:  # the line named is the changed one (or the binding or table it belongs to)
        changed = next(i for i, t in enumerate(text, start=1) if t.strip() == new.strip().splitlines()[-1])
        assert line == changed


def test_shipped_mapping_keeps_the_status_ranges() -> None:
    m = load_mapping(mapping_path("lendingclub"))
    late = m.statuses["Late (31-120 days)"]
    assert (late.dpd_min, late.dpd_max, late.dpd) == (31, 120, 120)
    assert m.as_of_hint == LENDINGCLUB_AS_OF
    assert "emp_title" in m.denied_columns


def test_all_rows_pass_the_gateway_tape_validator(rows: list[dict]) -> None:
    from gateway.ingest.pool_settings import US_CONSUMER
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    validator = TapeValidator(rules_for(US_CONSUMER), LENDINGCLUB_AS_OF.isoformat())
    for i, row in enumerate(rows, start=1):
        validator.check(i, row)
    assert validator.report.rows_read == 10_000
    assert validator.report.errors == []


def test_a_file_that_is_not_utf8_is_refused_with_a_rule(tmp_path: Path) -> None:
    path = _corrupt(tmp_path, 3, "state", "XX")
    path.write_bytes(path.read_bytes().replace(b",XX,", b",\xff\xfe,", 1))
    with pytest.raises(ImportRowError, match=r"rule encoding"):
        list(import_lendingclub(path, pool_id="LC1"))
