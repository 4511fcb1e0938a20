"""A CSV importer driven by a column-mapping file: real loan tapes in, tape schema v1 rows out.

The mapping file (TOML, ``format = "poolproof/column-mapping/v1"``; example ``gateway/mappings/
lendingclub.toml``) says which source column feeds which *role* (original principal, balance, rate, term,
origination month, status, ...), which columns are copied into tape fields, which constants apply, how
each source status maps to a days-past-due range and a representative value, and which columns may
never be imported. The importer derives the rest of the tape from the roles, always the same way:

* dates: origination (first day of the issue month), first due date (origination + offset months),
  maturity (origination + term months), instalments due = due dates strictly before the cut-off;
* delinquency: days past due = the status's representative value, capped by the days from the first
  due date to the cut-off; loan status NORMAL / OVERDUE / DEFAULTED (from ``default_dpd``), default date
  = the day the loan reached ``default_dpd``; instalments in arrears = due dates in the last ``dpd`` days
  (at least one); arrears interest = balance x monthly rate x arrears instalments, arrears principal =
  arrears instalments x instalment amount - arrears interest, capped by the balance (the source has no
  arrears amounts, so these are estimates, documented as such in docs/decisions.md);
* closed loans: PREPAID_IN_FULL (repaid before maturity) or MATURED_PAID, CHARGED_OFF; balance 0.

Every source value is parsed exactly (``Decimal``, never ``float``). A row that breaks a rule raises
:class:`ImportRowError` naming the CSV line, the column and the rule; messages never repeat the cell's
value (loan data is level 3 under JR/T 0197-2020, and error text ends up in logs).
"""

from __future__ import annotations

import csv
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway.importers.tape_v1 import TAPE_V1_FIELDS, Row
from gateway.pools import IDENTITY_FIELDS as POOL_IDENTITY_FIELDS

MAPPING_FORMAT = "poolproof/column-mapping/v1"

# Identity fields a mapping cannot bind today (no real tape we import has them); left out of the rows.
IDENTITY_FIELDS = POOL_IDENTITY_FIELDS | {"repayment_account", "home_address"}
ROLE_TYPES: dict[str, str] = {
    "original_principal": "money",
    "current_principal": "money",
    "paid_principal": "money",
    "paid_interest": "money",
    "instalment": "money",
    "nominal_rate": "percent",
    "apr": "percent",
    "term_months": "integer",
    "origination_month": "month",
    "annual_income": "money",
    "status": "status",
}
REQUIRED_ROLES = frozenset(
    {
        "original_principal",
        "current_principal",
        "nominal_rate",
        "term_months",
        "origination_month",
        "status",
        "instalment",
    }
)
FIELD_TYPES = frozenset({"code", "text", "integer", "money"})
STATUS_KINDS = frozenset({"open", "paid", "charged_off"})
_MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_ABBREVIATIONS, start=1)}
_DECIMAL_RE = re.compile(r"^\d{1,15}(\.\d{1,12})?$")  # at most 27 digits: exact in Decimal
_MONTH_RE = re.compile(r"^([A-Z][a-z]{2})-(\d{4})$")


class MappingError(ValueError):
    """A column-mapping file is unusable; the message names the file, the key and the problem."""


class ImportRowError(ValueError):
    """A source row breaks a rule. ``line`` is the CSV line (the header is line 1)."""

    def __init__(self, line: int, column: str, rule: str, message: str) -> None:
        self.line, self.column, self.rule = line, column, rule
        super().__init__(f"line {line}, column {column!r}: {message} (rule {rule})")


@dataclass(frozen=True)
class StatusRule:
    """How one source status maps to delinquency: kind, the days-past-due range and the value reported."""

    label: str
    kind: str
    dpd_min: int = 0
    dpd_max: int = 0
    dpd: int = 0


@dataclass(frozen=True)
class Binding:
    """A source column bound to a role or tape field, with its type and options."""

    column: str
    type: str
    optional: bool = False
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class ColumnMapping:
    """A validated column-mapping file (see the module docstring and ``gateway/mappings/*.toml``)."""

    name: str
    source: str
    jurisdiction: str
    minor_per_major: int
    rate_cap_bps: int
    default_dpd: int
    five_tier_class: bool
    id_format: str
    first_due_offset_months: int
    roles: Mapping[str, Binding]
    fields: Mapping[str, Binding]
    constants: Mapping[str, Any]
    apr_from_nominal: bool
    paid_principal_identity: bool
    identity_exempt_kinds: frozenset[str]
    current_with_zero_balance_is_paid: bool
    denied_columns: frozenset[str]
    statuses: Mapping[str, StatusRule]
    as_of_hint: date | None = None
    columns_read: tuple[str, ...] = field(default=())


def _get(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise MappingError(f"{where}: missing key {key!r}")
        return default
    v = d[key]
    if not isinstance(v, typ) or (isinstance(v, bool) and typ is int):
        raise MappingError(f"{where}: key {key!r} has the wrong type")
    return v


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")


def _binding(raw: Any, where: str, types: frozenset[str] | None, fixed_type: str | None) -> Binding:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a table {{ column = ..., type = ... }}")
    _check_keys(raw, {"column", "type", "optional", "pattern"}, where)
    column = _get(raw, "column", str, where)
    typ = _get(raw, "type", str, where)
    if fixed_type is not None and typ != fixed_type:
        raise MappingError(f"{where}: type must be {fixed_type!r}")
    if types is not None and typ not in types:
        raise MappingError(f"{where}: type must be one of {sorted(types)}")
    pattern = _get(raw, "pattern", str, where, None)
    try:
        rx = re.compile(pattern) if pattern is not None else None
    except re.error as e:
        raise MappingError(f"{where}: pattern does not compile ({e})") from None
    return Binding(column, typ, _get(raw, "optional", bool, where, False), rx)


def load_mapping(path: str | os.PathLike[str]) -> ColumnMapping:
    """Read and validate a column-mapping file. Raises :class:`MappingError` naming the file and key."""
    p = Path(path)
    src = str(p)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MappingError(f"{src}: cannot read the mapping ({e})") from None
    _check_keys(
        doc,
        {
            "format",
            "name",
            "description",
            "pool",
            "id",
            "schedule",
            "roles",
            "fields",
            "constants",
            "derive",
            "balance_check",
            "denied_columns",
            "status",
        },
        src,
    )
    if doc.get("format") != MAPPING_FORMAT:
        raise MappingError(f"{src}: format must be {MAPPING_FORMAT!r}")
    pool = _get(doc, "pool", dict, src)
    w = f"{src} [pool]"
    _check_keys(
        pool,
        {
            "jurisdiction",
            "currency",
            "minor_per_major",
            "rate_cap_bps",
            "default_dpd",
            "five_tier_class",
            "as_of_hint",
        },
        w,
    )
    minor = _get(pool, "minor_per_major", int, w)
    if minor not in (1, 10, 100, 1000):
        raise MappingError(f"{w}: minor_per_major must be 1, 10, 100 or 1000")
    as_of = _get(pool, "as_of_hint", date, w, None)

    roles: dict[str, Binding] = {}
    for role, raw in _get(doc, "roles", dict, src).items():
        if role not in ROLE_TYPES:
            raise MappingError(f"{src} [roles]: unknown role {role!r} (known: {sorted(ROLE_TYPES)})")
        roles[role] = _binding(raw, f"{src} [roles.{role}]", None, ROLE_TYPES[role])
    missing = REQUIRED_ROLES - set(roles)
    if missing:
        raise MappingError(f"{src} [roles]: missing roles {sorted(missing)}")

    fields: dict[str, Binding] = {}
    for name, raw in _get(doc, "fields", dict, src, {}).items():
        if name not in TAPE_V1_FIELDS or name in IDENTITY_FIELDS:
            raise MappingError(f"{src} [fields]: {name!r} is not a bindable tape schema v1 field")
        fields[name] = _binding(raw, f"{src} [fields.{name}]", FIELD_TYPES, None)
    constants = dict(_get(doc, "constants", dict, src, {}))
    for name, v in constants.items():
        if name not in TAPE_V1_FIELDS or name in IDENTITY_FIELDS or name in fields:
            raise MappingError(f"{src} [constants]: {name!r} is not a free tape schema v1 field")
        if not isinstance(v, str | int) or isinstance(v, bool):
            raise MappingError(f"{src} [constants]: {name!r} must be a string or an integer")

    derive = _get(doc, "derive", dict, src, {})
    _check_keys(derive, {"apr_all_in"}, f"{src} [derive]")
    apr_mode = _get(derive, "apr_all_in", str, f"{src} [derive]", "column")
    if apr_mode not in ("nominal", "column"):
        raise MappingError(f"{src} [derive]: apr_all_in must be 'nominal' or 'column'")
    if apr_mode == "column" and "apr" not in roles:
        raise MappingError(f"{src} [derive]: apr_all_in = 'column' needs an 'apr' role")

    bc = _get(doc, "balance_check", dict, src, {})
    _check_keys(
        bc, {"paid_principal_identity", "exempt_kinds", "current_with_zero_balance"}, f"{src} [balance_check]"
    )
    identity = _get(bc, "paid_principal_identity", bool, f"{src} [balance_check]", False)
    zero_current = _get(bc, "current_with_zero_balance", str, f"{src} [balance_check]", "error")
    if zero_current not in ("error", "paid"):
        raise MappingError(f"{src} [balance_check]: current_with_zero_balance must be 'error' or 'paid'")
    if identity and "paid_principal" not in roles:
        raise MappingError(f"{src} [balance_check]: paid_principal_identity needs a 'paid_principal' role")
    exempt = frozenset(_get(bc, "exempt_kinds", list, f"{src} [balance_check]", []))
    if not exempt <= STATUS_KINDS:
        raise MappingError(f"{src} [balance_check]: exempt_kinds must be among {sorted(STATUS_KINDS)}")

    denied_tbl = _get(doc, "denied_columns", dict, src, {})
    _check_keys(denied_tbl, {"columns"}, f"{src} [denied_columns]")
    denied = frozenset(_get(denied_tbl, "columns", list, f"{src} [denied_columns]", []))
    for where, b in [
        *(("roles." + k, v) for k, v in roles.items()),
        *(("fields." + k, v) for k, v in fields.items()),
    ]:
        if b.column in denied:
            raise MappingError(f"{src} [{where}]: column {b.column!r} is denied and may not be imported")

    default_dpd = _get(pool, "default_dpd", int, w, 90)
    statuses: dict[str, StatusRule] = {}
    for label, raw in _get(doc, "status", dict, src).items():
        sw = f"{src} [status.{label!r}]"
        if not isinstance(raw, dict):
            raise MappingError(f"{sw}: expected a table")
        _check_keys(raw, {"kind", "dpd_min", "dpd_max", "dpd"}, sw)
        kind = _get(raw, "kind", str, sw)
        if kind not in STATUS_KINDS:
            raise MappingError(f"{sw}: kind must be one of {sorted(STATUS_KINDS)}")
        if kind == "open":
            lo, hi, rep = (_get(raw, k, int, sw) for k in ("dpd_min", "dpd_max", "dpd"))
            if not 0 <= lo <= rep <= hi:
                raise MappingError(f"{sw}: need 0 <= dpd_min <= dpd <= dpd_max")
            statuses[label] = StatusRule(label, kind, lo, hi, rep)
        else:
            if set(raw) - {"kind"}:
                raise MappingError(f"{sw}: a {kind!r} status takes no dpd values (closed loans are 0)")
            statuses[label] = StatusRule(label, kind)
    if not statuses:
        raise MappingError(f"{src} [status]: no statuses")

    idt = _get(doc, "id", dict, src)
    id_format = _get(idt, "format", str, f"{src} [id]")
    try:
        id_format.format(pool_id="P", row=1)
    except (KeyError, IndexError, ValueError) as e:
        raise MappingError(f"{src} [id]: format may use only {{pool_id}} and {{row}} ({e})") from None
    sched = _get(doc, "schedule", dict, src, {})
    _check_keys(sched, {"first_due_offset_months"}, f"{src} [schedule]")

    jurisdiction = _get(pool, "jurisdiction", str, w)
    if jurisdiction not in ("CN", "US"):
        raise MappingError(f"{w}: jurisdiction must be CN or US")
    columns = tuple(dict.fromkeys([b.column for b in roles.values()] + [b.column for b in fields.values()]))
    return ColumnMapping(
        name=_get(doc, "name", str, src),
        source=src,
        jurisdiction=jurisdiction,
        minor_per_major=minor,
        rate_cap_bps=_get(pool, "rate_cap_bps", int, w),
        default_dpd=default_dpd,
        five_tier_class=_get(pool, "five_tier_class", bool, w, False),
        id_format=id_format,
        first_due_offset_months=_get(sched, "first_due_offset_months", int, f"{src} [schedule]", 1),
        roles=roles,
        fields=fields,
        constants=constants,
        apr_from_nominal=apr_mode == "nominal",
        paid_principal_identity=identity,
        identity_exempt_kinds=exempt,
        current_with_zero_balance_is_paid=zero_current == "paid",
        denied_columns=denied,
        statuses=statuses,
        as_of_hint=as_of,
        columns_read=columns,
    )


# --- Value parsing ------------------------------------------------------------------------------------------


def _add_months(d: date, k: int) -> date:
    mi = d.year * 12 + d.month - 1 + k
    y, m = divmod(mi, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, m + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


class _Parser:
    def __init__(self, mapping: ColumnMapping) -> None:
        self.m = mapping
        self.money_places = len(str(mapping.minor_per_major)) - 1

    def decimal(self, line: int, column: str, text: str) -> Decimal:
        if not _DECIMAL_RE.match(text):
            raise ImportRowError(
                line,
                column,
                "number_format",
                "expected an unsigned decimal number like 1234.56 (at most "
                "15 digits before the point and 12 after)",
            )
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise ImportRowError(line, column, "number_format", "not a decimal number") from None

    def value(self, line: int, b: Binding, text: str) -> Any:
        if text == "":
            if b.optional:
                return None
            raise ImportRowError(line, b.column, "required", "the cell is empty")
        t = b.type
        if t == "money":
            d = self.decimal(line, b.column, text)
            minor = d.scaleb(self.money_places)  # exact: moves the decimal point, never rounds
            if minor != minor.to_integral_value():
                raise ImportRowError(
                    line,
                    b.column,
                    "money_precision",
                    f"more than {self.money_places} decimal places for a money amount",
                )
            return int(minor)
        if t == "percent":
            bps = self.decimal(line, b.column, text).scaleb(2)
            if bps != bps.to_integral_value():
                raise ImportRowError(line, b.column, "rate_precision", "a rate must be a whole number of bps")
            return int(bps)
        if t == "integer":
            d = self.decimal(line, b.column, text)
            if d != d.to_integral_value():
                raise ImportRowError(line, b.column, "integer", "expected a whole number")
            return int(d)
        if t == "month":
            mo = _MONTH_RE.match(text)
            if mo is None or mo.group(1) not in _MONTHS:
                raise ImportRowError(line, b.column, "month_format", "expected a month like Jan-2018")
            return date(int(mo.group(2)), _MONTHS[mo.group(1)], 1)
        if t == "status":
            rule = self.m.statuses.get(text)
            if rule is None:
                known = ", ".join(self.m.statuses)
                raise ImportRowError(
                    line, b.column, "unknown_status", f"not a status of this mapping ({known})"
                )
            return rule
        if t == "code":
            if b.pattern is not None and not b.pattern.match(text):
                raise ImportRowError(line, b.column, "code_format", f"does not match {b.pattern.pattern}")
            return text
        return text  # "text"


# --- Import -------------------------------------------------------------------------------------------------


def import_mapped_csv(
    csv_path: str | os.PathLike[str],
    mapping: ColumnMapping | str | os.PathLike[str],
    *,
    pool_id: str,
    cutoff: date,
    rate_cap_bps: int | None = None,
) -> Iterator[Row]:
    """Stream tape schema v1 rows from a CSV file according to a column mapping.

    ``rate_cap_bps`` (from the pool's configuration) overrides the mapping's cap. The file is read lazily;
    the first bad row raises :class:`ImportRowError` (line, column, rule), a bad mapping
    :class:`MappingError`, an unreadable file ``OSError``. Rows already yielded before an error are
    the caller's to discard: the gateway validates and stores a tape only whole.
    """
    m = mapping if isinstance(mapping, ColumnMapping) else load_mapping(mapping)
    if not isinstance(cutoff, date):
        raise TypeError("cutoff must be a datetime.date")
    cap = m.rate_cap_bps if rate_cap_bps is None else rate_cap_bps
    return _import(Path(csv_path), m, pool_id, cutoff, cap)


def _import(path: Path, m: ColumnMapping, pool_id: str, cutoff: date, cap: int) -> Iterator[Row]:
    parse = _Parser(m)
    emitted = [f for f in TAPE_V1_FIELDS if f not in IDENTITY_FIELDS]
    cut_ord = cutoff.toordinal()
    cutoff_iso = cutoff.isoformat()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportRowError(1, "", "empty_file", "the file has no header line") from None
        except csv.Error as e:
            raise ImportRowError(reader.line_num, "", "csv_syntax", f"malformed CSV ({e})") from None
        except UnicodeDecodeError:
            raise ImportRowError(1, "", "encoding", "the file is not UTF-8") from None
        index = {name: i for i, name in enumerate(header)}
        for col in m.columns_read:
            if col not in index:
                raise ImportRowError(1, col, "missing_column", "the header has no such column")
        roles = [(role, b, index[b.column]) for role, b in m.roles.items()]
        fields = [(name, b, index[b.column]) for name, b in m.fields.items()]
        width = len(header)
        row_no = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise ImportRowError(reader.line_num, "", "csv_syntax", f"malformed CSV ({e})") from None
            except UnicodeDecodeError:
                # Decoding runs ahead of the parser by a buffer: the line is where reading had got to.
                raise ImportRowError(
                    reader.line_num + 1, "", "encoding", "not UTF-8 at or after this line"
                ) from None
            line = reader.line_num
            row_no += 1
            if len(cells) != width:
                raise ImportRowError(line, "", "cell_count", f"expected {width} cells, found {len(cells)}")
            v = {role: parse.value(line, b, cells[i]) for role, b, i in roles}
            out: Row = dict.fromkeys(emitted)
            for name, b, i in fields:
                out[name] = parse.value(line, b, cells[i])
            out.update(m.constants)
            _derive(out, v, m, line, row_no, pool_id, cutoff, cut_ord, cutoff_iso, cap)
            yield out


def _derive(
    out: Row,
    v: dict[str, Any],
    m: ColumnMapping,
    line: int,
    row_no: int,
    pool_id: str,
    cutoff: date,
    cut_ord: int,
    cutoff_iso: str,
    cap: int,
) -> None:
    col = {role: b.column for role, b in m.roles.items()}
    status: StatusRule = v["status"]
    n: int = v["term_months"]
    orig: int = v["original_principal"]
    cur: int = v["current_principal"]
    rate: int = v["nominal_rate"]
    if n < 1:
        raise ImportRowError(line, col["term_months"], "term", "term must be at least one month")
    if orig < 1:
        raise ImportRowError(
            line, col["original_principal"], "amount_order", "original principal must be positive"
        )
    if cur > orig:
        raise ImportRowError(
            line, col["current_principal"], "amount_order", "balance exceeds original principal"
        )
    if rate > cap:
        raise ImportRowError(line, col["nominal_rate"], "rate_cap", f"rate above the pool cap of {cap} bps")
    apr = rate if m.apr_from_nominal else v["apr"]
    if apr < rate:
        raise ImportRowError(line, col["apr"], "apr_below_nominal", "all-in APR below the nominal rate")
    if apr > cap:
        raise ImportRowError(line, col["apr"], "rate_cap", f"all-in APR above the pool cap of {cap} bps")
    if (
        m.paid_principal_identity
        and status.kind not in m.identity_exempt_kinds
        and cur != orig - v["paid_principal"]
    ):
        raise ImportRowError(
            line,
            col["current_principal"],
            "balance_identity",
            "balance differs from original principal less principal paid",
        )

    o: date = v["origination_month"]
    if o > cutoff:
        raise ImportRowError(
            line,
            col["origination_month"],
            "origination_after_cutoff",
            "the loan was originated after the cut-off date",
        )
    first_due = _add_months(o, m.first_due_offset_months)
    maturity = _add_months(o, n)
    due_dates = [_add_months(first_due, j) for j in range(n)]
    due = sum(1 for d in due_dates if d < cutoff)
    inst: int = v["instalment"]

    dpd = odp = odi = 0
    default_date = None
    kind = status.kind
    if kind == "open" and cur == 0:
        # A loan reported current whose balance is 0: the status lags the final payment. Reported as
        # repaid only where the mapping says so, and only for a status that means 0 days past due.
        if not (m.current_with_zero_balance_is_paid and status.dpd_max == 0):
            raise ImportRowError(line, col["status"], "status_balance", "an open loan's balance is 0")
        kind = "paid"
    if kind == "open":
        if status.dpd_max == 0:
            if maturity < cutoff:
                raise ImportRowError(
                    line,
                    col["status"],
                    "cutoff_after_maturity",
                    "a current loan with a balance is past maturity at this cut-off",
                )
            paid = due
            loan_status = "NORMAL"
        else:
            latest = cut_ord - first_due.toordinal()  # the most days a loan can be past due at the cut-off
            dpd = min(status.dpd, latest)
            if dpd < status.dpd_min:
                raise ImportRowError(
                    line,
                    col["status"],
                    "status_before_first_due",
                    f"status needs at least {status.dpd_min} days past due, but the first due "
                    f"date is only {max(latest, 0)} days before the cut-off",
                )
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
            raise ImportRowError(
                line, col["current_principal"], "closed_balance", f"a {kind!r} loan must have balance 0"
            )
        if kind == "paid":
            paid = due
            loan_status = "PREPAID_IN_FULL" if cutoff < maturity else "MATURED_PAID"
        else:
            loan_status = "CHARGED_OFF"
            received = (v.get("paid_principal") or 0) + (v.get("paid_interest") or 0)
            paid = min(due, received // inst) if inst > 0 else 0

    if m.five_tier_class:
        if loan_status == "CHARGED_OFF":
            out["five_tier_class"] = "LOSS"
        elif dpd > m.default_dpd:
            out["five_tier_class"] = "SUBSTANDARD"
        else:
            out["five_tier_class"] = "SPECIAL_MENTION" if dpd > 0 else "NORMAL"
    income = v.get("annual_income")
    out.update(
        {
            "platform_loan_id": m.id_format.format(pool_id=pool_id, row=row_no),
            "income_monthly_fen": None if income is None else income // 12,
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
            "pool_addition_date": cutoff_iso,
        }
    )
