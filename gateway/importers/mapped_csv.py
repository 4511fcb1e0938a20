"""A CSV importer driven by a column-mapping file: real loan tapes in, tape schema v1 rows out.

The mapping (TOML; language in ``docs/importing.md``, loader :mod:`gateway.importers.mapping`) says which
source or computed column feeds which *role* (original principal, balance, rate, term, origination,
days past due, status, ...), which columns are copied into tape fields, which constants apply, how each
source status maps to a kind and a days-past-due range, and which columns may never be read. The importer
derives the rest of the tape from the roles, always the same way:

* dates: origination (the date, or the first day of the origination month), first due date (bound, or
  origination + offset months), maturity (bound, or origination + term months), instalments due = due
  dates strictly before the cut-off;
* delinquency: for a live status (kind ``open`` or ``defaulted``) days past due come from the
  ``days_past_due`` column when the mapping binds one and the cell is not missing (an optional binding
  lets closed loans leave it empty). The column takes precedence over the status; when the value lies
  outside the status's range the mapping's ``when_status_disagrees`` rule applies (keep the column and
  count a notice, or reject the row). Without a value, days past due are the status's representative
  value, capped by
  the days from the first due date to the cut-off. A closed status (``paid``, ``charged_off``) decides on
  its own: the loan is closed and 0 days past due whatever the column says; ``excluded`` rows (a loan
  cancelled before funding) are not loans of the pool and are counted, not imported. Loan status NORMAL /
  OVERDUE / DEFAULTED from ``default_dpd`` (kind ``defaulted`` needs days past due of at least that);
  default date = the day the loan reached ``default_dpd``; instalments in arrears = due dates in the last
  ``dpd`` days (at least one); arrears interest = balance x monthly rate x arrears instalments, arrears
  principal = arrears instalments x instalment - arrears interest, capped by the balance (estimates, as
  the sources have no arrears amounts; see docs/decisions.md);
* closed loans: PREPAID_IN_FULL (repaid before maturity) or MATURED_PAID, CHARGED_OFF; balance 0;
* period flows (tape schema v2, when the mapping has ``[flows] period = "since_origination"``): the
  source's paid amounts are cumulative, so the period is the loan's life to the cut-off. Principal
  received splits into scheduled (at most what the amortisation schedule asks for through the
  instalments due, :mod:`gateway.importers.amortisation`) and unscheduled (the rest); interest, fees and
  recoveries are the paid amounts; a charged-off loan's unpaid principal (original less principal
  received) is both newly defaulted and written off; a DEFAULTED loan's balance is newly defaulted.

A tape field bound in ``[fields]`` is copied from the source and never derived. Every value is parsed
exactly (``Decimal``); a rounding happens only where the mapping states a rule, and each one is counted
in the report. All problems of a file are found in one pass (:func:`read_mapped_csv`); messages never
repeat the cell's text (loan data is level 3 under JR/T 0197-2020, and error text ends up in logs).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.importers.amortisation import scheduled_principal
from gateway.importers.cells import CellError, parse_decimal, to_units
from gateway.importers.expressions import EvaluationError
from gateway.importers.mapping import (
    IDENTITY_FIELDS,
    MAPPING_FORMAT,
    Binding,
    ColumnMapping,
    MappingError,
    StatusRule,
    load_mapping,
)
from gateway.importers.report import ImportReport, Problem
from gateway.importers.tape_v1 import Row
from policies.catalogue import PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V1_FIELDS

__all__ = [
    "MAPPING_FORMAT",
    "Binding",
    "ColumnMapping",
    "ImportRowError",
    "MappingError",
    "StatusRule",
    "import_mapped_csv",
    "load_mapping",
    "read_mapped_csv",
]

Progress = Callable[[int, int], None]  # (bytes read so far, rows read so far)


class ImportRowError(ValueError):
    """A source row breaks a rule. ``line`` is the source file's physical line (the header is line 1)."""

    def __init__(self, line: int, column: str, rule: str, message: str) -> None:
        self.line, self.column, self.rule, self.message = line, column, rule, message
        super().__init__(f"line {line}, column {column!r}: {message} (rule {rule})")


class _Stop(Exception):
    """Raised inside the reader to end a fail-fast import at its first problem."""


def import_mapped_csv(
    csv_path: str | os.PathLike[str],
    mapping: ColumnMapping | str | os.PathLike[str],
    *,
    pool_id: str,
    cutoff: date,
    rate_cap_bps: int | None = None,
) -> Iterator[Row]:
    """Stream tape schema v1 rows from a CSV file according to a column mapping; stop at the first problem.

    ``rate_cap_bps`` (from the pool's configuration) overrides the mapping's cap. The file is read lazily;
    the first bad row raises :class:`ImportRowError` (line, column, rule), a bad mapping
    :class:`MappingError`, an unreadable file ``OSError``. Rows already yielded before an error are the
    caller's to discard. :func:`read_mapped_csv` finds every problem in one pass instead.
    """
    m = mapping if isinstance(mapping, ColumnMapping) else load_mapping(mapping)
    if not isinstance(cutoff, date):
        raise TypeError("cutoff must be a datetime.date")
    return _first_error(_Importer(m, pool_id, cutoff, rate_cap_bps), Path(csv_path))


def _first_error(imp: _Importer, path: Path) -> Iterator[Row]:
    imp.fail_fast = True
    try:
        for _line, row in imp.rows(path):
            yield row
    except _Stop:
        raise imp.first_error() from None


def read_mapped_csv(
    csv_path: str | os.PathLike[str],
    mapping: ColumnMapping,
    *,
    pool_id: str,
    cutoff: date,
    report: ImportReport,
    rate_cap_bps: int | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[int, Row]]:
    """Stream ``(source line, row)`` for every good row and record every problem in ``report``.

    A row with problems is not yielded; its problems (every bad cell, then the first broken rule) go to
    ``report``, as do duplicate loan ids and problems of the file as a whole (no header, a missing column,
    not UTF-8, malformed CSV: these end the import, ``report.fatal``). The caller keeps the tape only if
    ``report.ok`` at the end. Raises ``OSError`` for an unreadable file. ``progress`` is called about
    every thousand rows with the bytes and rows read.
    """
    imp = _Importer(mapping, pool_id, cutoff, rate_cap_bps)
    imp.report = report
    imp.progress = progress
    return imp.rows(Path(csv_path))


class _Importer:
    def __init__(self, m: ColumnMapping, pool_id: str, cutoff: date, rate_cap_bps: int | None) -> None:
        self.m = m
        self.pool_id = pool_id
        self.cutoff = cutoff
        self.cut_ord = cutoff.toordinal()
        self.cutoff_iso = cutoff.isoformat()
        self.cap = m.rate_cap_bps if rate_cap_bps is None else rate_cap_bps
        self.money_places = len(str(m.minor_per_major)) - 1
        self.report = ImportReport()
        self.fail_fast = False
        self.progress: Progress | None = None
        self.emitted = [
            f
            for f in TAPE_SCHEMA_V1_FIELDS
            if f not in IDENTITY_FIELDS or (f in m.fields and m.jurisdiction == "CN")
        ]
        if m.flows_since_origination:
            self.emitted += PERIOD_FLOW_FIELDS
        self.ids: dict[str, int] = {}

    def first_error(self) -> ImportRowError:
        p = self.report.problems[0]
        return ImportRowError(p.line, p.column, p.rule, p.message)

    def problem(self, line: int, column: str, rule: str, message: str) -> None:
        self.report.add(Problem(line, column, rule, message))
        if self.fail_fast:
            raise _Stop

    def fatal(self, line: int, column: str, rule: str, message: str) -> None:
        self.report.fatal = True
        self.problem(line, column, rule, message)

    # --- reading -------------------------------------------------------------------------------------

    def rows(self, path: Path) -> Iterator[tuple[int, Row]]:
        self.report.source = self.report.source or str(path)
        self.report.mapping = self.report.mapping or self.m.source
        with path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.reader(text, strict=True, delimiter=self.m.delimiter)
            try:
                for _ in range(self.m.header_line - 1):  # a preamble the mapping says to pass over
                    next(reader)
                header = next(reader)
            except StopIteration:
                self.fatal(reader.line_num + 1, "", "empty_file", "the file has no header line")
                return
            except csv.Error as e:
                self.fatal(reader.line_num, "", "csv_syntax", f"malformed CSV ({e})")
                return
            except UnicodeDecodeError:
                self.fatal(reader.line_num + 1, "", "encoding", "the file is not UTF-8")
                return
            header_at = reader.line_num
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]  # a spreadsheet's byte-order mark is not part of the name
            index = {name: i for i, name in enumerate(header)}
            repeated = [c for c in self.m.columns_read if header.count(c) > 1]
            for col in repeated:
                self.fatal(header_at, col, "duplicate_column", "the header names this column more than once")
            if repeated:
                return
            missing = [c for c in self.m.columns_read if c not in index]
            for col in missing:
                self.fatal(header_at, col, "missing_column", "the header has no such column")
            if missing:
                return
            width = len(header)
            wanted = [(c, index[c]) for c in self.m.columns_read]
            row_no = 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    if self.progress is not None:
                        self.progress(raw.tell(), self.report.rows_read)
                    return
                except csv.Error as e:
                    self.fatal(reader.line_num, "", "csv_syntax", f"malformed CSV ({e})")
                    return
                except UnicodeDecodeError:
                    # Decoding runs ahead of the parser by a buffer: the line is where reading had got to.
                    self.fatal(reader.line_num + 1, "", "encoding", "not UTF-8 at or after this line")
                    return
                line = reader.line_num
                if not cells:
                    self.report.note("blank_line", "", "blank lines are not rows and were passed over", line)
                    continue
                skip = self.m.skip_rows_matching
                if skip is not None and skip.search(cells[0]):
                    self.report.note(
                        "skipped_row", "", f"rows whose first cell matches {skip.pattern} are not loans", line
                    )
                    continue
                self.report.rows_read += 1
                if self.progress is not None and self.report.rows_read % 1024 == 0:
                    self.progress(raw.tell(), self.report.rows_read)
                if len(cells) != width:
                    self.problem(line, "", "cell_count", f"expected {width} cells, found {len(cells)}")
                    continue
                source = {c: cells[i] for c, i in wanted}
                out = self.row(line, row_no + 1, source)
                if out is not None:
                    row_no += 1
                    self.report.rows_imported += 1
                    yield line, out

    # --- one row -------------------------------------------------------------------------------------

    def row(self, line: int, row_no: int, source: dict[str, str]) -> Row | None:
        errors_before = self.report.problem_count
        values: dict[str, Any] = dict(source)
        # The status first: a row whose status is 'excluded' (a loan cancelled before funding) is not a
        # loan of the pool, and its other cells are not checked.
        status = self.value(line, self.m.roles["status"], values, {})
        if isinstance(status, StatusRule) and status.kind == "excluded":
            self.report.rows_excluded += 1
            self.report.note(
                "excluded_status",
                self.m.roles["status"].column,
                "rows with an 'excluded' status are not loans of the pool and were left out",
                line,
            )
            return None
        computed: dict[str, Decimal | None] = {}
        for name, expr in self.m.computed:
            try:
                inputs = {ref: self._number_input(line, values, computed, ref, name) for ref in expr.columns}
                computed[name] = expr.evaluate(inputs)
            except CellError as e:
                self.problem(line, e.column or name, e.rule, str(e))
                computed[name] = None
            except EvaluationError as e:
                self.problem(line, name, "computed_value", f"computed column {name!r}: {e}")
                computed[name] = None
        v: dict[str, Any] = {"status": status}
        for role, b in self.m.roles.items():
            if role != "status":
                v[role] = self.value(line, b, values, computed)
        out: Row = dict.fromkeys(self.emitted)
        for name, b in self.m.fields.items():
            out[name] = self.value(line, b, values, computed, as_field=True)
        id_values: dict[str, Any] = {"pool_id": self.pool_id, "row": row_no, "line": line}
        for ref in self.m.id_template.columns:
            text = computed[ref] if ref in computed else values[ref]
            if text is None or (isinstance(text, str) and (text in self.m.missing_tokens or text == "")):
                self.problem(line, ref, "required", "the loan id cell is empty")
                text = ""
            id_values[ref] = text
        if self.report.problem_count > errors_before:
            return None
        loan_id = self.m.id_template.render(id_values)
        if not 1 <= len(loan_id) <= 64:
            self.problem(line, "", "loan_id", "the loan id must be 1 to 64 characters")
            return None
        earlier = self.ids.get(loan_id)
        if earlier is not None:
            cols = ", ".join(self.m.id_template.columns) or "id template"
            self.problem(line, cols, "duplicate_loan_id", f"the same loan id as line {earlier}")
            return None
        self.ids[loan_id] = line
        out.update(self.m.constants)
        try:
            derived = self.derive(v, line)
        except ImportRowError as e:
            self.problem(e.line, e.column, e.rule, e.message)
            del self.ids[loan_id]
            return None
        derived["platform_loan_id"] = loan_id
        for k, val in derived.items():
            if k not in self.m.fields:
                out[k] = val
        return out

    def _number_input(
        self, line: int, values: dict[str, Any], computed: dict[str, Decimal | None], ref: str, name: str
    ) -> Decimal | None:
        if ref in computed:
            return computed[ref]
        text = values[ref]
        if text in self.m.missing_tokens:
            return None
        try:
            return parse_decimal(text, signed=True)
        except CellError as e:
            raise CellError(e.rule, f"{e} (read by computed column {name!r})", ref) from None

    def value(
        self,
        line: int,
        b: Binding,
        values: dict[str, Any],
        computed: dict[str, Decimal | None],
        *,
        as_field: bool = False,
    ) -> Any:
        """The typed value of binding ``b`` in this row, or ``None`` after recording a problem or if missing.

        A date is a :class:`datetime.date` for a role and an ISO 8601 string for a tape field.
        """
        try:
            value = self._value(line, b, values, computed)
            return value.isoformat() if as_field and isinstance(value, date) else value
        except CellError as e:
            self.problem(line, b.column, e.rule, str(e))
            return None

    def _value(
        self, line: int, b: Binding, values: dict[str, Any], computed: dict[str, Decimal | None]
    ) -> Any:
        number: Decimal | None = None
        if b.column in computed:
            number = computed[b.column]
            if number is None:
                if b.optional:
                    return None
                raise CellError("required", "the computed value is missing (an input cell is missing)")
            text = str(number)
        else:
            text = values[b.column]
            if text in b.missing:
                if b.optional:
                    return None
                raise CellError("required", "the cell is missing (empty or a missing-value token)")
            if b.extract is not None:
                m = b.extract.fullmatch(text)
                if m is None:
                    raise CellError(
                        "extract", f"does not match the mapping's extract pattern {b.extract.pattern}"
                    )
                text = m.group(1)
        t = b.type
        if t in ("money", "rate", "percent", "integer"):
            d = number if number is not None else parse_decimal(text)
            if d < 0:
                raise CellError("negative", "a negative number where none is allowed")
            if t == "integer":
                if d != d.to_integral_value():
                    raise CellError("integer", "expected a whole number")
                return int(d)
            if t == "money":
                places, what = self.money_places, f"minor units of {self.m.currency}"
            else:
                places, what = (2 if t == "percent" or b.scale == "percent" else 4), "basis points"
            try:
                units, rounded = to_units(d, places, b.rounding)
            except CellError:
                rule = "money_precision" if t == "money" else "rate_precision"
                msg = (
                    f"more than {places} decimal places for a money amount"
                    if t == "money"
                    else "not a whole number of basis points (the mapping states no rounding)"
                )
                raise CellError(rule, msg) from None
            if rounded:
                self.report.note("rounded", b.column, f"rounded to whole {what} by rule {b.rounding}", line)
            return units
        if t in ("month", "date"):
            assert b.date_format is not None
            d8 = b.date_format.parse(text)
            return d8
        if t == "status":
            status = self.m.statuses.get(text)
            if status is None:
                raise CellError(
                    "unknown_status", f"not a status of this mapping ({', '.join(self.m.statuses)})"
                )
            return status
        if t == "code":
            if b.values is not None:
                if text not in b.values:
                    raise CellError(
                        "unknown_code", f"not one of the mapping's values ({', '.join(b.values)})"
                    )
                text = b.values[text]
            if b.pattern is not None and not b.pattern.match(text):
                raise CellError("code_format", f"does not match {b.pattern.pattern}")
            return text
        return text  # "text"

    # --- derivation ----------------------------------------------------------------------------------

    def derive(self, v: dict[str, Any], line: int) -> Row:
        m, cutoff = self.m, self.cutoff
        col = {role: b.column for role, b in m.roles.items()}

        def err(role: str, rule: str, message: str) -> ImportRowError:
            return ImportRowError(line, col.get(role, ""), rule, message)

        status: StatusRule = v["status"]
        n: int = v["term_months"]
        orig: int = v["original_principal"]
        cur: int = v["current_principal"]
        rate: int = v["nominal_rate"]
        if n < 1:
            raise err("term_months", "term", "term must be at least one month")
        if orig < 1:
            raise err("original_principal", "amount_order", "original principal must be positive")
        if cur > orig:
            raise err("current_principal", "amount_order", "balance exceeds original principal")
        if rate > self.cap:
            raise err("nominal_rate", "rate_cap", f"rate above the pool cap of {self.cap} bps")
        apr = rate if m.apr_from_nominal else v["apr"]
        if apr < rate:
            raise err("apr", "apr_below_nominal", "all-in APR below the nominal rate")
        if apr > self.cap:
            raise err("apr", "rate_cap", f"all-in APR above the pool cap of {self.cap} bps")
        if (
            m.paid_principal_identity
            and status.kind not in m.identity_exempt_kinds
            and cur != orig - v["paid_principal"]
        ):
            raise err(
                "current_principal",
                "balance_identity",
                "balance differs from original principal less principal paid",
            )
        o_role = "origination_month" if "origination_month" in v else "origination_date"
        o: date = v[o_role]
        if o > cutoff:
            raise err(o_role, "origination_after_cutoff", "the loan was originated after the cut-off date")
        first_due: date = v.get("first_due_date") or _add_months(o, m.first_due_offset_months)
        maturity: date = v.get("maturity_date") or _add_months(o, n)
        if first_due < o:
            raise err("first_due_date", "date_order", "the first due date is before origination")
        if maturity < first_due:
            raise err("maturity_date", "date_order", "maturity is before the first due date")
        due_dates = [_add_months(first_due, j) for j in range(n)]
        due = sum(1 for d in due_dates if d < cutoff)
        inst: int = v.get("instalment") or 0

        dpd = odp = odi = 0
        default_date = None
        kind = status.kind
        live = kind in ("open", "defaulted")
        if live and cur == 0:
            # A loan reported current whose balance is 0: the status lags the final payment. Reported as
            # repaid only where the mapping says so, and only for a status that means 0 days past due.
            if not (m.current_with_zero_balance_is_paid and kind == "open" and status.dpd_max == 0):
                raise err("status", "status_balance", "a live loan's balance is 0")
            kind, live = "paid", False
        if live:
            latest = self.cut_ord - first_due.toordinal()  # the most days a loan can be late at the cut-off
            if v.get("days_past_due") is not None:
                dpd = v["days_past_due"]
                if dpd > max(latest, 0):
                    raise err(
                        "days_past_due",
                        "dpd_before_first_due",
                        f"more days past due than the {max(latest, 0)} days from the first due date "
                        "to the cut-off",
                    )
                if not status.dpd_min <= dpd <= status.dpd_max:
                    if m.dpd_disagreement == "error":
                        raise err(
                            "days_past_due",
                            "status_dpd_disagree",
                            f"days past due outside the status's range {status.dpd_min}-{status.dpd_max}",
                        )
                    self.report.note(
                        "status_dpd_disagree",
                        col["days_past_due"],
                        "days past due outside the status's range: the column was used (mapping rule "
                        "when_status_disagrees = 'column')",
                        line,
                    )
            else:
                dpd = min(status.dpd, max(latest, 0))
                if dpd < status.dpd_min:
                    raise err(
                        "status",
                        "status_before_first_due",
                        f"status needs at least {status.dpd_min} days past due, but the first due "
                        f"date is only {max(latest, 0)} days before the cut-off",
                    )
            if kind == "defaulted" and dpd < m.default_dpd:
                raise err(
                    "status",
                    "defaulted_dpd",
                    f"a defaulted status needs at least {m.default_dpd} days past due (the default line)",
                )
            if dpd == 0:
                if maturity < cutoff:
                    raise err(
                        "status",
                        "cutoff_after_maturity",
                        "a current loan with a balance is past maturity at this cut-off",
                    )
                paid = due
                loan_status = "NORMAL"
            else:
                oldest_unpaid = cutoff - timedelta(days=dpd)
                arrears = max(1, sum(1 for d in due_dates if oldest_unpaid <= d < cutoff))
                paid = max(0, due - arrears)
                odi = max(1, cur * rate * arrears // 120_000)
                odp = min(cur, max(1, arrears * inst - odi))
                if dpd >= m.default_dpd:
                    loan_status = "DEFAULTED"
                    default_date = (oldest_unpaid + timedelta(days=m.default_dpd)).isoformat()
                else:
                    loan_status = "OVERDUE"
        else:
            if cur != 0:
                raise err("current_principal", "closed_balance", f"a {kind!r} loan must have balance 0")
            if kind == "paid":
                paid = due
                loan_status = status.tape_status or (
                    "PREPAID_IN_FULL" if cutoff < maturity else "MATURED_PAID"
                )
            else:
                loan_status = "CHARGED_OFF"
                received = (v.get("paid_principal") or 0) + (v.get("paid_interest") or 0)
                paid = min(due, received // inst) if inst > 0 else 0

        out: Row = {}
        if m.flows_since_origination:
            out.update(self.flows_since_origination(v, loan_status, due))
        if m.five_tier_class:
            if loan_status == "CHARGED_OFF":
                out["five_tier_class"] = "LOSS"
            elif dpd > m.default_dpd:
                out["five_tier_class"] = "SUBSTANDARD"
            else:
                out["five_tier_class"] = "SPECIAL_MENTION" if dpd > 0 else "NORMAL"
        income = v.get("monthly_income")
        if income is None and v.get("annual_income") is not None:
            income = v["annual_income"] // 12
        out.update(
            {
                "income_monthly_fen": income,
                "origination_date": o.isoformat(),
                "first_due_date": first_due.isoformat(),
                "maturity_date": maturity.isoformat(),
                "term_months": n,
                "installments_total": n,
                "installments_paid": paid,
                "original_principal_fen": orig,
                "nominal_rate_bps": rate,
                "apr_all_in_bps": apr,
                "current_principal_fen": cur,
                "days_past_due": dpd,
                "overdue_principal_fen": odp,
                "overdue_interest_fen": odi,
                "loan_status": loan_status,
                "default_date": default_date,
                "pool_addition_date": self.cutoff_iso,
            }
        )
        return out

    def flows_since_origination(self, v: dict[str, Any], loan_status: str, due: int) -> Row:
        """The seven period flows of a loan whose paid amounts run from origination to the cut-off."""
        orig, received = v["original_principal"], v["paid_principal"] or 0
        inst, rate, term = v.get("instalment") or 0, v["nominal_rate"], v["term_months"]
        schedule = scheduled_principal(orig, inst, rate, term, due)
        scheduled = min(received, schedule)
        defaulted = written_off = 0
        if loan_status == "CHARGED_OFF":
            defaulted = written_off = max(0, orig - received)
        elif loan_status == "DEFAULTED":
            defaulted = v["current_principal"]
        return {
            "period_scheduled_principal_fen": scheduled,
            "period_unscheduled_principal_fen": received - scheduled,
            "period_interest_fen": v.get("paid_interest") or 0,
            "period_fees_fen": v.get("paid_fees") or 0,
            "period_defaulted_principal_fen": defaulted,
            "period_recoveries_fen": v.get("recoveries") or 0,
            "period_written_off_fen": written_off,
        }


def _add_months(d: date, k: int) -> date:
    mi = d.year * 12 + d.month - 1 + k
    y, mo = divmod(mi, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, mo + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
