"""The mapping language's parts: the expression whitelist, cell parsing, rounding, date formats, loading."""

from __future__ import annotations

import operator
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.importers.cells import CellError, DateFormatError, parse_date_format, parse_decimal, to_units
from gateway.importers.expressions import EvaluationError, ExpressionError, parse_expression
from gateway.importers.mapped_csv import read_mapped_csv
from gateway.importers.mapping import MappingError, load_mapping
from gateway.importers.report import ImportReport

# --- expressions ----------------------------------------------------------------------------------------


def test_an_expression_reads_columns_by_name_or_by_col() -> None:
    e = parse_expression('max(loan_amount - col("Principal Repaid"), 0) + round(合同金额 / 3, 2)')
    assert e.columns == ("loan_amount", "Principal Repaid", "合同金额")
    row = {"loan_amount": Decimal("100.50"), "Principal Repaid": Decimal("120"), "合同金额": Decimal("10")}
    assert e.evaluate(row) == Decimal("3.33")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('__import__("os").system("true")', "Call|allowed"),
        ("a.b", "Attribute is not allowed"),
        ("a[0]", "Subscript is not allowed"),
        ('"text"', "only numbers"),
        ("1 if a else 2", "IfExp is not allowed"),
        ("a < b", "Compare is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("a ** 2", "BinOp is not allowed|Pow"),
        ("a % 2", "BinOp is not allowed"),
        ("1e3", "plain digits"),
        ("abs(a)", "Call is not allowed"),
        ("round(a)", "two arguments"),
        ("round(a, b)", "places must be a whole number"),
        ("round(a, 13)", "places must be a whole number"),
        ("col(a)", "one quoted column name"),
        ("min(a, b, key=c)", "keyword"),
        ("min()", "at least one"),
        ("a +", "not a valid expression"),
        ("True", "only numbers"),
        ("+" * 2000 + "1", "longer than"),
    ],
)
def test_anything_outside_the_whitelist_is_refused(text: str, match: str) -> None:
    with pytest.raises(ExpressionError, match=match):
        parse_expression(text)


def test_division_by_zero_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="division by zero"):
        parse_expression("a / (b - b)").evaluate({"a": Decimal(1), "b": Decimal(2)})


def test_a_missing_input_makes_the_value_missing() -> None:
    e = parse_expression("min(a, b) + 1")
    assert e.evaluate({"a": None, "b": Decimal(1)}) is None


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@st.composite
def _trees(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """A random expression over + - * and integer literals or columns, with its value in plain ints."""
    if depth > 3 or draw(st.booleans()):
        if draw(st.booleans()):
            n = draw(st.integers(0, 10**6))
            return str(n), n
        name = draw(st.sampled_from(["a", "b", "c"]))
        return name, {"a": 7, "b": -3, "c": 1000}[name]
    op = draw(st.sampled_from(sorted(_OPS)))
    (lt, lv), (rt, rv) = draw(_trees(depth + 1)), draw(_trees(depth + 1))
    return f"({lt} {op} {rt})", _OPS[op](lv, rv)


@given(_trees())
def test_integer_arithmetic_is_exact(tree: tuple[str, int]) -> None:
    text, value = tree
    row = {"a": Decimal(7), "b": Decimal(-3), "c": Decimal(1000)}
    assert parse_expression(text).evaluate(row) == value


# --- cells -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1,000.00", "1e4", "0x10", " 12", "12 ", "", ".5", "1.", "+3", "NaN", "1" * 16]
)
def test_only_plain_decimals_are_numbers(text: str) -> None:
    with pytest.raises(CellError) as e:
        parse_decimal(text)
    assert e.value.rule == "number_format"
    assert str(e.value).startswith("expected an unsigned decimal number like 1234.56")  # never the cell


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_rounding_rules_bracket_the_exact_value(d: Decimal) -> None:
    exact = d.scaleb(2)
    down, rounded_down = to_units(d, 2, "floor")
    up, rounded_up = to_units(d, 2, "ceiling")
    even, _ = to_units(d, 2, "half_even")
    half_up, _ = to_units(d, 2, "half_up")
    assert down <= exact <= up
    assert up - down == (0 if exact == exact.to_integral_value() else 1)
    assert rounded_down == rounded_up == (up != down)
    assert down <= even <= up
    assert down <= half_up <= up
    if exact - down != Decimal("0.5"):
        assert even == half_up  # they differ only on exact halves


def test_exact_rounding_refuses_a_finer_value() -> None:
    assert to_units(Decimal("14.07"), 2, "exact") == (1407, False)
    with pytest.raises(CellError):
        to_units(Decimal("14.075"), 2, "exact")


@pytest.mark.parametrize(
    ("fmt", "pivot", "month_only", "text", "expected"),
    [
        ("%b-%Y", None, True, "Jan-2018", date(2018, 1, 1)),
        ("%b-%y", 2000, True, "Jan-18", date(2018, 1, 1)),
        ("%b-%y", 1950, True, "Dec-49", date(2049, 12, 1)),
        ("%b-%y", 1950, True, "Dec-50", date(1950, 12, 1)),
        ("%Y-%m-%d", None, False, "2024-02-29", date(2024, 2, 29)),
        ("%m/%d/%Y", None, False, "1/5/2018", date(2018, 1, 5)),
        ("%Y-%m-%d %H:%M:%S", None, False, "2013-04-12 00:00:00", date(2013, 4, 12)),
        ("%Y-%m-%d %H:%M:%S.%f", None, False, "2007-08-26 19:09:29.263000000", date(2007, 8, 26)),
        ("%Y-%m-%dT%H:%M:%S%z", None, False, "2024-01-01T23:30:00+08:00", date(2024, 1, 1)),
        ("%Y-%m-%dT%H:%M:%S%z", None, False, "2024-01-01T23:30:00Z", date(2024, 1, 1)),
    ],
)
def test_date_formats(fmt: str, pivot: int | None, month_only: bool, text: str, expected: date) -> None:
    assert parse_date_format(fmt, pivot, month_only=month_only).parse(text) == expected


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("%Y-%m-%d", "2023-02-29"),
        ("%Y-%m-%d", "2023-13-01"),
        ("%Y-%m-%d", "2023-01-01 00:00:00"),
        ("%Y-%m-%d %H:%M:%S", "2023-01-01 24:00:00"),
        ("%Y-%m-%d", "jan-2023"),
    ],
)
def test_a_date_that_does_not_fit_its_format_is_refused(fmt: str, text: str) -> None:
    with pytest.raises(CellError) as e:
        parse_date_format(fmt, None, month_only=False).parse(text)
    assert e.value.rule == "date_format"
    assert text not in str(e.value)


@pytest.mark.parametrize(
    ("fmt", "pivot", "month_only", "match"),
    [
        ("%b-%y", None, True, "two_digit_years_from"),
        ("%b-%Y", 2000, True, "applies only to a %y"),
        ("%Y-%m-%d", None, True, "a month format has no day"),
        ("%Y-%m", None, False, "a date format needs a day"),
        ("%Y-%q", None, True, "unknown directive %q"),
        ("%d-%m", None, False, "one year"),
        ("%Y-%m-%d%", None, False, "lone %"),
    ],
)
def test_bad_date_formats_are_refused(fmt: str, pivot: int | None, month_only: bool, match: str) -> None:
    with pytest.raises(DateFormatError, match=match):
        parse_date_format(fmt, pivot, month_only=month_only)


# --- loading and reading ----------------------------------------------------------------------------------

BASE = """format = "poolproof/column-mapping/v1"
name = "t"

[pool]
jurisdiction = "US"
currency = "USD"
minor_per_major = 100
rate_cap_bps = 3600

[csv]
delimiter = "\\t"

[id]
column = "ref"

[computed]
balance = "amount - repaid"

[roles]
original_principal = { column = "amount", type = "money" }
current_principal = { column = "balance", type = "money" }
instalment = { column = "pay", type = "money" }
nominal_rate = { column = "rate", type = "rate", scale = "percent" }
term_months = { column = "term", type = "integer" }
origination_date = { column = "opened", type = "date" }
status = { column = "status", type = "status" }

[fields]
region_code = { column = "state", type = "code" }

[derive]
apr_all_in = "nominal"

[status."C"]
kind = "open"
dpd_min = 0
dpd_max = 0
dpd = 0
"""


def _mapping(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in BASE
    p = tmp_path / "t.toml"
    p.write_text(BASE.replace(old, new, 1) if old else BASE, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("old", "new", "at", "where"),
    [
        (
            'balance = "amount - repaid"',
            'balance = "amount ** 2"',
            "balance =",
            "[computed] key 'balance': bad expression",
        ),
        (
            'balance = "amount - repaid"',
            'balance = "later - 1"\nlater = "amount"',
            "balance =",
            "defined at or after it",
        ),
        (
            'column = "ref"',
            'column = "ref"\nformat = "{row}"',
            "[id]",
            "key 'id': give exactly one of format",
        ),
        (
            'type = "date" }',
            'type = "date", format = "%d.%m.%y" }',
            "origination_date =",
            "two_digit_years_from",
        ),
        ('kind = "open"', 'kind = "later"', "kind =", "[status.C] key 'kind': must be one of"),
        ('delimiter = "\\t"', 'delimiter = "::"', "delimiter =", "[csv] key 'delimiter'"),
        (
            'type = "money" }\ncurrent',
            'type = "money", scale = "percent" }\ncurrent',
            "original_principal =",
            "only a 'rate' binding",
        ),
        (
            'column = "pay", type = "money" }',
            'column = "pay", type = "money", optional = true }',
            "instalment =",
            "[roles.instalment] key 'optional': this role cannot be optional",
        ),
        (
            'column = "status", type = "status" }',
            'column = "balance", type = "status" }',
            "status =",
            "[roles.status] key 'column': a computed column is a number",
        ),
    ],
)
def test_loading_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, at: str, where: str
) -> None:
    p = _mapping(tmp_path, old, new)
    line = next(i for i, t in enumerate(p.read_text().splitlines(), start=1) if t.startswith(at))
    with pytest.raises(MappingError) as e:
        load_mapping(p)
    assert str(e.value).startswith(f"{p}:{line} "), str(e.value)
    assert where in str(e.value)


def test_a_tab_separated_file_with_a_computed_balance(tmp_path: Path) -> None:
    src = tmp_path / "t.tsv"
    src.write_text(
        "ref\tamount\trepaid\tpay\trate\tterm\topened\tstatus\tstate\n"
        "A1\t1000.00\t250.25\t90.00\t12.50\t12\t2024-01-15\tC\tCA\n"
        "A1\t500.00\t600.00\t45.00\t12.50\t12\t2024-01-15\tC\tCA\n",
        encoding="utf-8",
    )
    report = ImportReport()
    rows = list(
        read_mapped_csv(
            src, load_mapping(_mapping(tmp_path)), pool_id="P", cutoff=date(2024, 3, 31), report=report
        )
    )
    assert [r["current_principal_fen"] for _, r in rows] == [74975]
    # The second row repeats the id and its balance is negative: both are named, on line 3.
    assert [(p.line, p.column, p.rule) for p in report.problems] == [(3, "balance", "negative")]


def test_a_repeated_loan_id_names_the_first_line(tmp_path: Path) -> None:
    src = tmp_path / "t.tsv"
    line = "A1\t1000.00\t250.25\t90.00\t12.50\t12\t2024-01-15\tC\tCA\n"
    src.write_text(
        "ref\tamount\trepaid\tpay\trate\tterm\topened\tstatus\tstate\n" + line * 3, encoding="utf-8"
    )
    report = ImportReport()
    rows = list(
        read_mapped_csv(
            src, load_mapping(_mapping(tmp_path)), pool_id="P", cutoff=date(2024, 3, 31), report=report
        )
    )
    assert len(rows) == 1
    assert [(p.line, p.rule, p.message) for p in report.problems] == [
        (3, "duplicate_loan_id", "the same loan id as line 2"),
        (4, "duplicate_loan_id", "the same loan id as line 2"),
    ]


def test_a_header_that_repeats_a_column_the_mapping_reads_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "t.tsv"
    src.write_text(
        "ref\tamount\trepaid\tpay\trate\tterm\topened\tstatus\tstate\tamount\n"
        "A1\t1000.00\t250.25\t90.00\t12.50\t12\t2024-01-15\tC\tCA\t1.00\n",
        encoding="utf-8",
    )
    report = ImportReport()
    rows = list(
        read_mapped_csv(
            src, load_mapping(_mapping(tmp_path)), pool_id="P", cutoff=date(2024, 3, 31), report=report
        )
    )
    assert rows == []
    assert [(p.line, p.column, p.rule) for p in report.problems] == [(1, "amount", "duplicate_column")]
    assert report.fatal


_SHIPPED = sorted(Path(__file__).parents[2].joinpath("gateway", "mappings").glob("*.toml"))
_VALUES = ['"x"', "0", "-1", "true", "[]", "{}", '["a", 1]', "2024-01-01", '{ column = "a" }', '"%y"', '"(("']


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_SHIPPED),
    st.lists(
        st.tuples(
            st.integers(0, 10_000), st.sampled_from(["drop", "dup", "value"]), st.sampled_from(_VALUES)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_a_mangled_mapping_loads_or_raises_a_mapping_error(
    shipped: Path, edits: list[tuple[int, str, str]]
) -> None:
    lines = shipped.read_text(encoding="utf-8").splitlines()
    for pos, op, value in edits:
        i = pos % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif "=" in lines[i] and not lines[i].lstrip().startswith("#"):
            lines[i] = lines[i].split("=", 1)[0] + "= " + value
        if not lines:
            lines = ["x = 1"]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"mangled-{shipped.stem}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        message = None
        try:
            load_mapping(path)
        except MappingError as e:  # the only exception a bad mapping may raise
            message = str(e)
    assert message is None or message.startswith(str(path))


_SAMPLES = {
    "prosper": (Path(__file__).parent / "data" / "prosper_sample.csv", date(2014, 3, 31)),
    "lendingclub-loanstats": (
        Path(__file__).parent / "data" / "lendingclub_loanstats_sample.csv",
        date(2016, 6, 30),
    ),
}
_CELLS = [
    "",
    "NA",
    "-1",
    "0",
    "1e5",
    "99999999999999999",
    "0.123456789",
    "Jan-18",
    "2024-02-30",
    "Current",
    '"',
    "\x00",
    "é",
]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(_SAMPLES)),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 100), st.sampled_from(_CELLS)),
        min_size=1,
        max_size=6,
    ),
)
def test_a_mangled_tape_gives_problems_never_an_exception(
    name: str, edits: list[tuple[int, int, str]]
) -> None:
    import csv

    from gateway.mappings import mapping_path

    sample, cutoff = _SAMPLES[name]
    text = sample.read_text(encoding="utf-8")
    preamble, body = ("", text) if name == "prosper" else text.split("\n", 1)
    table = list(csv.reader(body.splitlines(keepends=True)))
    for row, col, value in edits:
        r = table[row % len(table)]
        if r:
            r[col % len(r)] = value
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "tape.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write(preamble + ("\n" if preamble else ""))
            csv.writer(f, lineterminator="\n").writerows(table)
        report = ImportReport()
        rows = list(
            read_mapped_csv(path, load_mapping(mapping_path(name)), pool_id="P", cutoff=cutoff, report=report)
        )
    assert report.rows_imported == len(rows)
    for p in report.problems:
        assert p.line >= 1
        assert p.rule
