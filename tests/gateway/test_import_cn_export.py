"""The shipped Chinese-platform mapping on the synthetic platform's tapes exported as a Chinese ledger."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from gateway.importers.mapped_csv import read_mapped_csv
from gateway.importers.mapping import load_mapping
from gateway.importers.report import ImportReport
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.ingest.validation import TapeValidator
from gateway.mappings import mapping_path
from gateway.schemas import rules_for
from gateway.synth import generate_tape, monthly_cutoff

from .cn_export import write_cn_export

FIRST = date(2024, 6, 30)
MAPPING = load_mapping(mapping_path("cn-platform-export"))


def _import(path: Path, cutoff: date) -> tuple[list[tuple[int, dict]], ImportReport]:
    report = ImportReport()
    rows = list(read_mapped_csv(path, MAPPING, pool_id="CN1", cutoff=cutoff, report=report))
    return rows, report


@pytest.mark.parametrize("month", [0, 4, 9])
def test_the_export_imports_back_to_exactly_the_synthetic_rows(tmp_path: Path, month: int) -> None:
    rows = list(generate_tape(1500, seed=5, cutoff=FIRST, pool_id="CN1", month=month))
    path = tmp_path / "ledger.csv"
    write_cn_export(rows, path)
    got, report = _import(path, monthly_cutoff(FIRST, month))
    assert report.ok, report.problems[:3]
    assert [line for line, _ in got] == list(range(2, len(rows) + 2))
    assert [r for _, r in got] == rows


def test_the_months_cover_every_status_of_the_mapping(tmp_path: Path) -> None:
    seen = {
        r["loan_status"]
        for m in (0, 4, 9)
        for r in generate_tape(1500, seed=5, cutoff=FIRST, pool_id="CN1", month=m)
    }
    assert seen == {"NORMAL", "OVERDUE", "DEFAULTED", "PREPAID_IN_FULL", "MATURED_PAID", "CHARGED_OFF"}


def test_imported_rows_pass_the_gateway_validator_for_a_cn_pool(tmp_path: Path) -> None:
    rows = list(generate_tape(800, seed=9, cutoff=FIRST, pool_id="CN1", month=4))
    path = tmp_path / "ledger.csv"
    write_cn_export(rows, path)
    cutoff = monthly_cutoff(FIRST, 4)
    got, report = _import(path, cutoff)
    assert report.ok
    validator = TapeValidator(rules_for(CN_CONSUMER), cutoff.isoformat())
    for i, (_, row) in enumerate(got, start=1):
        validator.check(i, row)
    assert validator.report.errors == []


def _edit(path: Path, line: int, column: str, value: str) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    table[line - 1][table[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)


def test_a_status_that_contradicts_the_days_past_due_column_is_an_error(tmp_path: Path) -> None:
    rows = list(generate_tape(300, seed=5, cutoff=FIRST, pool_id="CN1", month=4))
    path = tmp_path / "ledger.csv"
    write_cn_export(rows, path)
    normal = next(
        i for i, r in enumerate(rows) if r["loan_status"] == "NORMAL" and r["first_due_date"] < "2024-09"
    )
    _edit(path, normal + 2, "逾期天数", "12")
    got, report = _import(path, monthly_cutoff(FIRST, 4))
    assert [(p.line, p.column, p.rule) for p in report.problems] == [
        (normal + 2, "逾期天数", "status_dpd_disagree")
    ]
    assert len(got) == len(rows) - 1


def test_every_bad_cell_of_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    rows = list(generate_tape(300, seed=5, cutoff=FIRST, pool_id="CN1", month=0))
    path = tmp_path / "ledger.csv"
    write_cn_export(rows, path)
    _edit(path, 3, "性别", "未知")
    _edit(path, 3, "合同金额(元)", "1,000.00")
    _edit(path, 40, "放款日期", "2024/01/05")
    _edit(path, 77, "贷款状态", "展期")
    _, report = _import(path, monthly_cutoff(FIRST, 0))
    assert [(p.line, p.column, p.rule) for p in report.problems] == [
        (3, "合同金额(元)", "number_format"),
        (3, "性别", "unknown_code"),
        (40, "放款日期", "date_format"),
        (77, "贷款状态", "unknown_status"),
    ]
    assert report.rows_read == 300
    assert report.rows_imported == 297
    for p in report.problems:
        assert "未知" not in p.message
        assert "1,000.00" not in p.message
