"""The shipped Lending Club "LoanStats" mapping on a sample written from LC's published data dictionary.

The sample (``tests/gateway/data/lendingclub_loanstats_sample.csv``) has the download's preamble line,
a description cell that spans two lines, every loan status of the dictionary, " 36 months" terms and
"10.65%" rates, blank lines and the "Total amount funded" lines at the end.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.importers.mapped_csv import read_mapped_csv
from gateway.importers.mapping import MappingError, load_mapping
from gateway.importers.report import ImportReport
from gateway.mappings import mapping_path

SAMPLE = Path(__file__).parent / "data" / "lendingclub_loanstats_sample.csv"
CUTOFF = date(2016, 6, 30)


def _import(source: Path = SAMPLE) -> tuple[list[tuple[int, dict]], ImportReport]:
    report = ImportReport()
    m = load_mapping(mapping_path("lendingclub-loanstats"))
    return list(read_mapped_csv(source, m, pool_id="LS1", cutoff=CUTOFF, report=report)), report


@pytest.fixture(scope="module")
def imported() -> tuple[list[tuple[int, dict]], ImportReport]:
    return _import()


def test_every_loan_is_imported_with_lending_clubs_own_id(
    imported: tuple[list[tuple[int, dict]], ImportReport],
) -> None:
    rows, report = imported
    assert report.ok
    assert [r["platform_loan_id"] for _, r in rows] == [str(9000001 + i) for i in range(10)]


def test_rows_are_numbered_by_physical_line_after_preamble_and_multiline_cell(
    imported: tuple[list[tuple[int, dict]], ImportReport],
) -> None:
    rows, report = imported
    # line 1 preamble, line 2 header, the first loan's description spans lines 3-4.
    assert [line for line, _ in rows] == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert (report.notices[("blank_line", "")].count, report.notices[("skipped_row", "")].count) == (2, 2)


def test_a_bad_cell_after_the_multiline_cell_is_named_by_its_line(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace('"Jun-2013"', '"2013-06"', 1)
    bad = tmp_path / "LoanStats.csv"
    bad.write_text(text, encoding="utf-8")
    _, report = _import(bad)
    assert [(p.line, p.column, p.rule) for p in report.problems] == [(5, "issue_d", "month_format")]


def test_terms_and_rates_are_extracted_from_their_text(
    imported: tuple[list[tuple[int, dict]], ImportReport],
) -> None:
    rows, _ = imported
    by_id = {r["platform_loan_id"]: r for _, r in rows}
    assert (by_id["9000001"]["term_months"], by_id["9000001"]["nominal_rate_bps"]) == (36, 1065)
    assert (by_id["9000004"]["term_months"], by_id["9000004"]["nominal_rate_bps"]) == (36, 790)
    assert by_id["9000003"]["term_months"] == 60


def test_statuses_map_to_their_kinds(imported: tuple[list[tuple[int, dict]], ImportReport]) -> None:
    rows, _ = imported
    got = {r["platform_loan_id"]: (r["loan_status"], r["days_past_due"]) for _, r in rows}
    assert got == {
        "9000001": ("NORMAL", 0),
        "9000002": ("MATURED_PAID", 0),
        "9000003": ("CHARGED_OFF", 0),
        "9000004": ("OVERDUE", 15),
        "9000005": ("OVERDUE", 30),
        "9000006": ("DEFAULTED", 120),
        "9000007": ("DEFAULTED", 150),  # "Default": 121-150 days, the upper end
        "9000008": ("MATURED_PAID", 0),  # "Does not meet the credit policy. Status:Fully Paid"
        "9000009": ("NORMAL", 0),  # "Issued": no instalment due yet
        "9000010": ("CHARGED_OFF", 0),
    }


def test_balance_identity_holds_for_every_loan_not_written_off(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace('"3888.60","3888.60"', '"3888.61","3888.60"', 1)
    bad = tmp_path / "LoanStats.csv"
    bad.write_text(text, encoding="utf-8")
    _, report = _import(bad)
    assert [(p.line, p.column, p.rule) for p in report.problems] == [(8, "out_prncp", "balance_identity")]


def test_the_description_column_is_denied(tmp_path: Path) -> None:
    text = mapping_path("lendingclub-loanstats").read_text(encoding="utf-8")
    text = text.replace("[fields]\n", '[fields]\noccupation = { column = "desc", type = "text" }\n', 1)
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        MappingError, match=r"m.toml:\d+ \[fields.occupation\] key 'column': column 'desc' is denied"
    ):
        load_mapping(path)


def test_the_mapping_gives_no_cutoff_hint() -> None:
    assert load_mapping(mapping_path("lendingclub-loanstats")).as_of_hint is None


def test_rows_pass_the_gateway_validator_for_a_us_pool(
    imported: tuple[list[tuple[int, dict]], ImportReport],
) -> None:
    from gateway.ingest.pool_settings import US_CONSUMER
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    rows, _ = imported
    validator = TapeValidator(rules_for(US_CONSUMER), CUTOFF.isoformat())
    for i, (_, row) in enumerate(rows, start=1):
        validator.check(i, row)
    assert validator.report.errors == []
