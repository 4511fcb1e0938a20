"""``poolproof import``: the command's promises (help, cut-off, one-pass report, exit codes, ingest)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli import cli
from gateway.ingest.pool_settings import US_CONSUMER
from gateway.storage.records import create_pool
from proofs.exit_codes import ExitCode

from .helpers import Instance

DATA = Path(__file__).parent / "data"
PROSPER = DATA / "prosper_sample.csv"
LOANSTATS = DATA / "lendingclub_loanstats_sample.csv"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["import", *map(str, args)], catch_exceptions=False)


def _bad_prosper(tmp_path: Path, edits: dict[tuple[int, str], str]) -> Path:
    with PROSPER.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    for (line, column), value in edits.items():
        table[line - 1][table[0].index(column)] = value
    out = tmp_path / "prosper.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    return out


def test_help_says_what_the_command_does() -> None:
    res = CliRunner().invoke(cli, ["import", "--help"])
    assert res.exit_code == 0
    assert "through a column mapping" in res.output
    assert "Lending Club CSV" not in res.output
    assert "--cutoff" in res.output
    assert "--report" in res.output


def test_top_level_help_lists_the_command_by_what_it_does() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    line = next(t for t in res.output.splitlines() if t.strip().startswith("import "))
    assert line.split(None, 1)[1] == "Import a platform's CSV export through a column mapping."


def test_a_mapping_without_a_cutoff_hint_needs_cutoff(tmp_path: Path) -> None:
    res = _invoke(PROSPER, "--mapping", "prosper", "--out", tmp_path / "t.jsonl")
    assert res.exit_code == ExitCode.UNUSABLE
    assert "give --cutoff YYYY-MM-DD: the mapping 'prosper' has no as_of_hint" in res.stderr
    assert not (tmp_path / "t.jsonl").exists()
    assert "Traceback" not in res.output


def test_the_cutoff_is_used_for_the_days_counted(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    res = _invoke(PROSPER, "--mapping", "prosper", "--out", out, "--cutoff", "2014-03-31", "--pool", "PR1")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("10 rows written to")
    assert "1 excluded by status" in res.stdout
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["pool_addition_date"] for r in rows} == {"2014-03-31"}
    assert rows[0]["platform_loan_id"] == "PR-88001"
    balance = sum(r["current_principal_fen"] for r in rows)
    lent = sum(r["original_principal_fen"] for r in rows)
    assert (balance, lent) == (3_851_915, 6_700_000)
    assert "current principal USD 38,519.15 of USD 67,000.00 lent" in res.stdout  # amounts carry their unit
    assert "note: 10 x rounded in BorrowerAPR" in res.stderr  # roundings are never silent


def test_every_problem_is_reported_in_one_pass_with_a_json_report(tmp_path: Path) -> None:
    src = _bad_prosper(
        tmp_path,
        {
            (2, "BorrowerRate"): "15.8%",
            (4, "LoanOriginationDate"): "12/01/2013",
            (7, "LoanStatus"): "Late",
            (12, "Term"): "NA",
        },
    )
    out, report = tmp_path / "t.jsonl", tmp_path / "report.json"
    res = _invoke(src, "--mapping", "prosper", "--cutoff", "2014-03-31", "--out", out, "--report", report)
    assert res.exit_code == ExitCode.UNUSABLE
    assert not out.exists()  # nothing is written unless the whole tape is good
    doc = json.loads(report.read_text(encoding="utf-8"))
    got = [(p["line"], p["column"], p["rule"], p["value"]) for p in doc["problems"]]
    assert got == [
        (2, "BorrowerRate", "number_format", "<masked>"),
        (4, "LoanOriginationDate", "date_format", "<masked>"),
        (7, "LoanStatus", "unknown_status", "<masked>"),
        (12, "Term", "required", "<masked>"),
    ]
    assert doc["summary"]["rows_rejected"] == 4
    assert doc["line_numbering"].startswith("physical line")
    assert "4 problems" in res.stderr  # the terminal table
    assert "tape rejected: 4 problems in 4 rows" in res.stderr
    for text in ("15.8%", "12/01/2013", "Late,"):
        assert text not in res.output
    assert "Traceback" not in res.output


def test_the_listed_problems_are_capped_and_the_rest_counted(tmp_path: Path) -> None:
    src = _bad_prosper(tmp_path, {(n, "Term"): "x" for n in range(2, 13) if n != 10})
    report = tmp_path / "report.csv"
    res = _invoke(
        src,
        "--mapping",
        "prosper",
        "--cutoff",
        "2014-03-31",
        "--out",
        tmp_path / "t",
        "--report",
        report,
        "--max-errors",
        "3",
    )
    assert res.exit_code == ExitCode.UNUSABLE
    with report.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["line"] for r in table[:3]] == ["2", "3", "4"]
    assert table[3]["rule"] == "not_listed"
    assert table[3]["message"] == "7 more problems not listed"
    assert {r["value"] for r in table} == {"<masked>"}
    assert "and 7 more problems not listed" in res.stderr


def test_a_bad_mapping_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text(
        Path(__file__)
        .parents[2]
        .joinpath("gateway/mappings/prosper.toml")
        .read_text()
        .replace('scale = "fraction", rounding = "half_even"', 'scale = "basis"')
    )
    res = _invoke(PROSPER, "--mapping", bad, "--cutoff", "2014-03-31", "--out", tmp_path / "t")
    assert res.exit_code == ExitCode.UNUSABLE
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}:")
    assert "[roles.nominal_rate] key 'scale': must be one of percent, fraction" in lines[0]


def test_an_unknown_mapping_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    res = _invoke(PROSPER, "--mapping", "zopa", "--out", tmp_path / "t")
    assert res.exit_code == ExitCode.UNUSABLE
    assert "cn-platform-export, lendingclub, lendingclub-loanstats, prosper" in res.stderr


def test_json_prints_the_result_and_the_report(tmp_path: Path) -> None:
    res = _invoke(
        LOANSTATS,
        "--mapping",
        "lendingclub-loanstats",
        "--cutoff",
        "2016-06-30",
        "--out",
        tmp_path / "t.csv",
        "--format",
        "csv",
        "--json",
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["rows_imported"], doc["report"]["ok"]) == (10, True)
    assert (doc["currency"], doc["money_unit"]) == ("USD", "minor units of USD (1/100)")
    with (tmp_path / "t.csv").open(encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.reader(f)) == 11


def test_progress_can_be_forced_on(tmp_path: Path) -> None:
    res = _invoke(
        LOANSTATS,
        "--mapping",
        "lendingclub-loanstats",
        "--cutoff",
        "2016-06-30",
        "--out",
        tmp_path / "t",
        "--progress",
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("10 rows written")


@pytest.fixture
def us_pool(inst: Instance) -> Instance:
    inst.add_platform("lc-plat")
    db = inst.db()
    try:
        create_pool(db, inst.master(), "LS1", "lc-plat", US_CONSUMER)
    finally:
        db.conn.close()
    return inst


def _ingest(inst: Instance, source: Path, *extra: str) -> Result:
    return _invoke(
        source, "--mapping", "lendingclub-loanstats", "--cutoff", "2016-06-30", "--pool", "LS1",
        "--db", inst.db_path, "--master-key-file", inst.key_path, *extra,
    )  # fmt: skip


def test_ingest_into_a_pool_goes_through_the_gateway_validation(us_pool: Instance) -> None:
    res = _ingest(us_pool, LOANSTATS)
    assert res.exit_code == 0, res.output
    assert "10 rows ingested into pool LS1 at cut-off 2016-06-30" in res.stdout
    db = us_pool.db()
    try:
        (n,) = db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()
    finally:
        db.conn.close()
    assert n == 10


def test_gateway_rejections_are_numbered_by_source_line(us_pool: Instance, tmp_path: Path) -> None:
    # "ZZ" passes the mapping's two-letter pattern but is no US state: the gateway's validator refuses it.
    src = tmp_path / "LoanStats.csv"
    src.write_text(LOANSTATS.read_text(encoding="utf-8").replace('"IL"', '"ZZ"', 1), encoding="utf-8")
    report = tmp_path / "r.json"
    res = _ingest(us_pool, src, "--report", str(report))
    assert res.exit_code == ExitCode.UNUSABLE
    problems = json.loads(report.read_text())["problems"]
    assert [(p["line"], p["column"], p["value"]) for p in problems] == [(5, "region_code", "<masked>")]
    db = us_pool.db()
    try:
        (n,) = db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()
    finally:
        db.conn.close()
    assert n == 0


def test_an_unknown_pool_is_one_line(us_pool: Instance) -> None:
    res = _invoke(
        LOANSTATS, "--mapping", "lendingclub-loanstats", "--cutoff", "2016-06-30", "--pool", "NOPE",
        "--db", us_pool.db_path, "--master-key-file", us_pool.key_path,
    )  # fmt: skip
    assert res.exit_code == ExitCode.UNUSABLE
    assert res.stderr.strip().splitlines() == [f"error: no pool 'NOPE' in {us_pool.db_path}"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty_file"),
        (b"\xff\xfe\x00\x01", "not UTF-8"),
        (PROSPER.read_bytes().split(b"\n", 1)[0] + b"\n", "no loans in"),
        (PROSPER.read_bytes().replace(b"BorrowerRate", b"Borrower Rate", 1), "missing_column"),
    ],
)
def test_unusable_sources_exit_2_without_a_traceback(tmp_path: Path, content: bytes, message: str) -> None:
    src = tmp_path / "src.csv"
    src.write_bytes(content)
    res = _invoke(src, "--mapping", "prosper", "--cutoff", "2014-03-31", "--out", tmp_path / "t.jsonl")
    assert res.exit_code == ExitCode.UNUSABLE
    assert message in res.stderr
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == [src]  # no tape, no temporary file left behind


@pytest.mark.parametrize(
    ("source", "name", "cutoff"),
    [(PROSPER, "prosper", "2014-03-31"), (LOANSTATS, "lendingclub-loanstats", "2016-06-30")],
)
def test_without_mapping_the_one_shipped_mapping_that_fits_the_header_is_used(
    tmp_path: Path, source: Path, name: str, cutoff: str
) -> None:
    res = _invoke(source, "--cutoff", cutoff, "--out", tmp_path / "t.jsonl", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["mapping"], doc["mapping_chosen"]) == (
        name,
        "by the header (the one shipped mapping that fits)",
    )


def test_without_mapping_a_header_no_shipped_mapping_fits_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "other.csv"
    src.write_text("loan,amount\n1,100\n", encoding="utf-8")
    res = _invoke(src, "--cutoff", "2016-06-30", "--out", tmp_path / "t.jsonl")
    assert res.exit_code == ExitCode.UNUSABLE
    assert res.stderr.startswith(
        "error: give --mapping NAME|FILE: the shipped mappings whose columns are all in"
    )
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_database_that_is_not_one_exits_6(us_pool: Instance, tmp_path: Path) -> None:
    fake = tmp_path / "not-a.db"
    fake.write_bytes(b"this is not an SQLite database" * 100)
    res = _invoke(
        LOANSTATS, "--mapping", "lendingclub-loanstats", "--cutoff", "2016-06-30", "--pool", "LS1",
        "--db", fake, "--master-key-file", us_pool.key_path,
    )  # fmt: skip
    assert res.exit_code == ExitCode.SERVER
    assert res.stderr.startswith(f"error: database error in {fake}, nothing stored:")
    assert "Traceback" not in res.output
