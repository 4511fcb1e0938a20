"""Column-mapping files: the TOML language that says how a platform's CSV export becomes a tape.

The language is documented in ``docs/importing.md``; shipped examples are in ``gateway/mappings/``.
:func:`load_mapping` reads and validates one file and returns a :class:`ColumnMapping`; every problem
raises :class:`MappingError` naming the file, the line, the table and the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gateway.importers.cells import DateFormat, DateFormatError, parse_date_format
from gateway.importers.expressions import Expression, ExpressionError, parse_expression
from gateway.ingest.pool_settings import IDENTITY_FIELDS as POOL_IDENTITY_FIELDS
from policies.catalogue import TAPE_SCHEMA_V2_FIELDS

MAPPING_FORMAT = "poolproof/column-mapping/v1"

# Identity fields: bindable only in a CN mapping (a US pool takes none); never derived.
IDENTITY_FIELDS = POOL_IDENTITY_FIELDS | {"repayment_account", "home_address"}
MONEY_ROLES = frozenset(
    {
        "original_principal",
        "current_principal",
        "paid_principal",
        "paid_interest",
        "paid_fees",
        "recoveries",
        "instalment",
        "annual_income",
        "monthly_income",
    }
)
ROLE_TYPES: dict[str, frozenset[str]] = {
    **{r: frozenset({"money"}) for r in MONEY_ROLES},
    "nominal_rate": frozenset({"rate", "percent"}),
    "apr": frozenset({"rate", "percent"}),
    "term_months": frozenset({"integer"}),
    "days_past_due": frozenset({"integer"}),
    "origination_month": frozenset({"month"}),
    "origination_date": frozenset({"date"}),
    "first_due_date": frozenset({"date"}),
    "maturity_date": frozenset({"date"}),
    "status": frozenset({"status"}),
}
REQUIRED_ROLES = frozenset(
    {"original_principal", "current_principal", "nominal_rate", "term_months", "status"}
)
# Roles whose value may be missing in a row (the importer has a rule for each: see docs/importing.md).
OPTIONAL_ROLES = frozenset(
    {
        "annual_income",
        "monthly_income",
        "days_past_due",
        "first_due_date",
        "maturity_date",
        "paid_interest",
        "paid_fees",
        "recoveries",
    }
)
#: What ``[flows] period`` may say: the source's paid amounts are cumulative since origination (one
#: snapshot of each loan), so the tape's period is the loan's life to the cut-off.
FLOW_PERIODS = ("since_origination",)
#: The roles the period flows are derived from (docs/importing.md, "Period flows").
FLOW_ROLES = frozenset({"paid_principal", "paid_interest", "instalment"})
FIELD_TYPES = frozenset({"code", "text", "integer", "money", "rate", "date"})
STATUS_KINDS = frozenset({"open", "defaulted", "paid", "charged_off", "excluded"})
ROUNDING_RULES = ("exact", "half_even", "half_up", "floor", "ceiling")
RATE_SCALES = ("percent", "fraction")
DISAGREEMENT_RULES = ("column", "error")
PAID_TAPE_STATUSES = ("PREPAID_IN_FULL", "MATURED_PAID")
DEFAULT_MISSING = ("",)
_BINDING_KEYS = {
    "column",
    "type",
    "optional",
    "pattern",
    "format",
    "two_digit_years_from",
    "scale",
    "rounding",
    "extract",
    "missing",
    "values",
}
_ID_BUILTINS = frozenset({"pool_id", "row", "line"})


class MappingError(ValueError):
    """A column-mapping file is unusable; the message names the file, line, table, key and problem."""


@dataclass(frozen=True)
class StatusRule:
    """How one source status maps to a loan kind and, for live loans, a days-past-due range."""

    label: str
    kind: str
    dpd_min: int = 0
    dpd_max: int = 0
    dpd: int = 0
    tape_status: str | None = None  # a 'paid' status may name PREPAID_IN_FULL or MATURED_PAID


@dataclass(frozen=True)
class Binding:
    """A source (or computed) column bound to a role or a tape field, with its type and options."""

    column: str
    type: str
    optional: bool = False
    pattern: re.Pattern[str] | None = None
    date_format: DateFormat | None = None
    scale: str = "percent"
    rounding: str = "exact"
    extract: re.Pattern[str] | None = None
    missing: frozenset[str] = frozenset(DEFAULT_MISSING)
    values: Mapping[str, str] | None = None


@dataclass(frozen=True)
class IdTemplate:
    """How ``platform_loan_id`` is built: literal text and ``{name}`` references, in order."""

    text: str
    parts: tuple[tuple[str, str | None, str], ...]  # literal, reference (None: none), format spec

    @property
    def columns(self) -> tuple[str, ...]:
        """The source or computed columns the template reads."""
        return tuple(r for _, r, _ in self.parts if r is not None and r not in _ID_BUILTINS)

    def render(self, values: Mapping[str, Any]) -> str:
        """The id for one row; ``values`` has ``pool_id``, ``row``, ``line`` and the referenced columns."""
        out = []
        for literal, ref, spec in self.parts:
            out.append(literal)
            if ref is not None:
                out.append(format(values[ref], spec))
        return "".join(out)


@dataclass(frozen=True)
class ColumnMapping:
    """A validated column-mapping file (see ``docs/importing.md``)."""

    name: str
    source: str
    jurisdiction: str
    currency: str
    minor_per_major: int
    rate_cap_bps: int
    default_dpd: int
    five_tier_class: bool
    id_template: IdTemplate
    first_due_offset_months: int
    roles: Mapping[str, Binding]
    fields: Mapping[str, Binding]
    constants: Mapping[str, Any]
    computed: tuple[tuple[str, Expression], ...]
    apr_from_nominal: bool
    paid_principal_identity: bool
    identity_exempt_kinds: frozenset[str]
    current_with_zero_balance_is_paid: bool
    denied_columns: frozenset[str]
    statuses: Mapping[str, StatusRule]
    dpd_disagreement: str = "column"
    missing_tokens: frozenset[str] = frozenset(DEFAULT_MISSING)
    header_line: int = 1
    delimiter: str = ","
    skip_rows_matching: re.Pattern[str] | None = None
    as_of_hint: date | None = None
    columns_read: tuple[str, ...] = field(default=())
    flows_since_origination: bool = False

    @property
    def computed_names(self) -> frozenset[str]:
        """Names of the computed columns."""
        return frozenset(name for name, _ in self.computed)


# --- Where things are in the file ----------------------------------------------------------------------

_KEY_RE = re.compile(
    r'^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|\'[^\']*\')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"))*)\s*='
)
_TABLE_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    buf, quote = "", ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return tuple(parts)


class _Lines:
    """Line numbers of tables and keys, found by scanning (``tomllib`` keeps none)."""

    def __init__(self, text: str) -> None:
        self.at: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for no, line in enumerate(text.splitlines(), start=1):
            t = _TABLE_RE.match(line)
            if t:
                table = _split_dotted(t.group(1))
                self.at.setdefault(table, no)
                continue
            k = _KEY_RE.match(line)
            if k:
                self.at.setdefault(table + _split_dotted(k.group(1)), no)

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of ``path`` or of its nearest enclosing table or key that was found."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.at:
                return self.at[path[:n]]
        return None


class _Doc:
    def __init__(self, src: str, lines: _Lines) -> None:
        self.src, self.lines = src, lines

    def error(self, path: tuple[str, ...], message: str) -> MappingError:
        line = self.lines.line(path)
        where = self.src if line is None else f"{self.src}:{line}"
        if len(path) > 1:
            table = ".".join(_quote(p) for p in path[:-1])
            where += f" [{table}] key {path[-1]!r}"
        elif path:
            where += f" key {path[0]!r}"
        return MappingError(f"{where}: {message}")

    def get(self, d: Mapping[str, Any], path: tuple[str, ...], typ: Any, default: Any = ...) -> Any:
        key = path[-1]
        if key not in d:
            if default is ...:
                raise self.error(path, "missing (this key is required)")
            return default
        v = d[key]
        if not isinstance(v, typ) or (isinstance(v, bool) and typ in (int, (int,))):
            raise self.error(path, f"expected {_type_name(typ)}, found {_type_name(type(v))}")
        return v

    def keys(self, d: Mapping[str, Any], path: tuple[str, ...], allowed: set[str]) -> None:
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise self.error((*path, unknown[0]), f"unknown key (allowed here: {', '.join(sorted(allowed))})")


def _quote(p: str) -> str:
    return p if re.fullmatch(r"[A-Za-z0-9_\-]+", p) else f'"{p}"'


def _type_name(t: Any) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "a table", list: "a list"}
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, "a date" if t is date else t.__name__)


# --- Loading --------------------------------------------------------------------------------------------


def _binding(doc: _Doc, raw: Any, path: tuple[str, ...], types: frozenset[str]) -> Binding:
    if not isinstance(raw, dict):
        raise doc.error(path, "expected a table { column = ..., type = ... }")
    doc.keys(raw, path, _BINDING_KEYS)
    column = doc.get(raw, (*path, "column"), str)
    typ = doc.get(raw, (*path, "type"), str)
    if typ not in types:
        raise doc.error((*path, "type"), f"must be one of {', '.join(sorted(types))}")
    opts: dict[str, Any] = {}

    def regex(key: str) -> re.Pattern[str] | None:
        text = doc.get(raw, (*path, key), str, None)
        if text is None:
            return None
        try:
            rx = re.compile(text)
        except re.error as e:
            raise doc.error((*path, key), f"the regular expression does not compile ({e})") from None
        if key == "extract" and rx.groups != 1:
            raise doc.error((*path, key), "needs exactly one capture group: the part that is the value")
        return rx

    opts["pattern"] = regex("pattern")
    opts["extract"] = regex("extract")
    if "pattern" in raw and typ != "code":
        raise doc.error((*path, "pattern"), "only a 'code' binding takes a pattern")
    fmt = doc.get(raw, (*path, "format"), str, None)
    pivot = doc.get(raw, (*path, "two_digit_years_from"), int, None)
    if typ in ("month", "date"):
        default_fmt = "%b-%Y" if typ == "month" else "%Y-%m-%d"
        try:
            opts["date_format"] = parse_date_format(fmt or default_fmt, pivot, month_only=typ == "month")
        except DateFormatError as e:
            key = "two_digit_years_from" if "two_digit" in str(e) else "format"
            raise doc.error((*path, key), str(e)) from None
    elif fmt is not None or pivot is not None:
        raise doc.error((*path, "format"), "only a 'month' or 'date' binding takes a format")
    scale = doc.get(raw, (*path, "scale"), str, None)
    if scale is not None:
        if typ != "rate":
            raise doc.error((*path, "scale"), "only a 'rate' binding takes a scale")
        if scale not in RATE_SCALES:
            raise doc.error((*path, "scale"), f"must be one of {', '.join(RATE_SCALES)}")
        opts["scale"] = scale
    elif typ == "rate":
        raise doc.error((*path, "scale"), "a 'rate' binding must say its scale: 'percent' or 'fraction'")
    rounding = doc.get(raw, (*path, "rounding"), str, None)
    if rounding is not None:
        if typ not in ("rate", "money"):
            raise doc.error((*path, "rounding"), "only 'rate' and 'money' bindings take a rounding rule")
        if rounding not in ROUNDING_RULES:
            raise doc.error((*path, "rounding"), f"must be one of {', '.join(ROUNDING_RULES)}")
        opts["rounding"] = rounding
    missing = doc.get(raw, (*path, "missing"), list, None)
    if missing is not None:
        if not all(isinstance(t, str) for t in missing):
            raise doc.error((*path, "missing"), "expected a list of strings")
        opts["missing"] = frozenset(missing)
    values = doc.get(raw, (*path, "values"), dict, None)
    if values is not None:
        if typ != "code":
            raise doc.error((*path, "values"), "only a 'code' binding takes a values table")
        if not all(isinstance(v, str) for v in values.values()):
            raise doc.error((*path, "values"), "every value must be a string (the tape's code)")
        opts["values"] = dict(values)
    return Binding(column, typ, doc.get(raw, (*path, "optional"), bool, False), **opts)


def _id_template(doc: _Doc, text: str) -> IdTemplate:
    path = ("id", "format")
    parts: list[tuple[str, str | None, str]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise doc.error(path, f"not a valid template ({e})") from None
    for literal, ref, spec, conv in parsed:
        if ref is not None:
            if ref == "" or "." in ref or "[" in ref or conv is not None:
                raise doc.error(path, "a reference is {name} or {name:spec}: a column, pool_id, row or line")
            if spec and ref not in ("row", "line"):
                raise doc.error(path, f"only {{row}} and {{line}} take a format spec, not {{{ref}}}")
            try:
                format(1, spec or "")
            except ValueError:
                raise doc.error(path, f"format spec {spec!r} is not valid for a number") from None
        parts.append((literal, ref, spec or ""))
    if not any(ref is not None and ref not in ("pool_id",) for _, ref, _ in parts):
        raise doc.error(path, "the template must use {row}, {line} or a column, or ids are not unique")
    return IdTemplate(text, tuple(parts))


def load_mapping(path: str | os.PathLike[str]) -> ColumnMapping:
    """Read and validate a column-mapping file.

    Raises :class:`MappingError` naming the file, line, table and key of the first problem, for an
    unreadable file too (never a ``tomllib`` or ``OSError`` traceback).
    """
    p = Path(path)
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MappingError(f"{src}: cannot read the mapping ({e.__class__.__name__}: {e})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MappingError(f"{src}: not valid TOML ({e})") from None
    return _load(_Doc(src, _Lines(text)), raw)


def _load(doc: _Doc, raw: dict[str, Any]) -> ColumnMapping:
    top = {
        "format",
        "name",
        "description",
        "pool",
        "missing",
        "csv",
        "id",
        "schedule",
        "flows",
        "computed",
        "roles",
        "fields",
        "constants",
        "derive",
        "delinquency",
        "balance_check",
        "denied_columns",
        "status",
    }
    doc.keys(raw, (), top)
    if raw.get("format") != MAPPING_FORMAT:
        raise doc.error(("format",), f"must be {MAPPING_FORMAT!r}")
    name = doc.get(raw, ("name",), str)
    pool = doc.get(raw, ("pool",), dict)
    pool_keys = {
        "jurisdiction",
        "currency",
        "minor_per_major",
        "rate_cap_bps",
        "default_dpd",
        "five_tier_class",
        "as_of_hint",
    }
    doc.keys(pool, ("pool",), pool_keys)
    jurisdiction = doc.get(pool, ("pool", "jurisdiction"), str)
    if jurisdiction not in ("CN", "US"):
        raise doc.error(("pool", "jurisdiction"), "must be CN or US")
    currency = doc.get(pool, ("pool", "currency"), str)
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise doc.error(("pool", "currency"), "must be an ISO 4217 code such as USD or CNY")
    minor = doc.get(pool, ("pool", "minor_per_major"), int)
    if minor not in (1, 10, 100, 1000):
        raise doc.error(("pool", "minor_per_major"), "must be 1, 10, 100 or 1000")
    as_of = doc.get(pool, ("pool", "as_of_hint"), date, None)
    default_dpd = doc.get(pool, ("pool", "default_dpd"), int, 90)
    if default_dpd < 1:
        raise doc.error(("pool", "default_dpd"), "must be at least 1")

    miss = doc.get(raw, ("missing",), dict, {})
    doc.keys(miss, ("missing",), {"tokens"})
    tokens = doc.get(miss, ("missing", "tokens"), list, list(DEFAULT_MISSING))
    if not all(isinstance(t, str) for t in tokens):
        raise doc.error(("missing", "tokens"), "expected a list of strings")
    default_missing = frozenset(tokens)

    csv_tbl = doc.get(raw, ("csv",), dict, {})
    doc.keys(csv_tbl, ("csv",), {"header_line", "delimiter", "skip_rows_matching"})
    header_line = doc.get(csv_tbl, ("csv", "header_line"), int, 1)
    if not 1 <= header_line <= 100:
        raise doc.error(("csv", "header_line"), "must be from 1 to 100")
    delimiter = doc.get(csv_tbl, ("csv", "delimiter"), str, ",")
    if delimiter not in (",", ";", "\t", "|"):
        raise doc.error(("csv", "delimiter"), "must be one of , ; | or a tab")
    skip_text = doc.get(csv_tbl, ("csv", "skip_rows_matching"), str, None)
    try:
        skip_rx = re.compile(skip_text) if skip_text is not None else None
    except re.error as e:
        raise doc.error(
            ("csv", "skip_rows_matching"), f"the regular expression does not compile ({e})"
        ) from None

    computed: list[tuple[str, Expression]] = []
    for cname, expr_text in doc.get(raw, ("computed",), dict, {}).items():
        cpath = ("computed", cname)
        if not isinstance(expr_text, str):
            raise doc.error(cpath, 'expected an expression in a string, e.g. "loan_amount - paid"')
        try:
            computed.append((cname, parse_expression(expr_text)))
        except ExpressionError as e:
            raise doc.error(cpath, f"bad expression: {e}") from None

    def with_missing(b: Binding, braw: Mapping[str, Any]) -> Binding:
        if "missing" in braw:
            return b
        return dataclasses.replace(b, missing=default_missing)

    roles: dict[str, Binding] = {}
    for role, braw in doc.get(raw, ("roles",), dict).items():
        if role not in ROLE_TYPES:
            raise doc.error(("roles", role), f"unknown role (known: {', '.join(sorted(ROLE_TYPES))})")
        roles[role] = with_missing(_binding(doc, braw, ("roles", role), ROLE_TYPES[role]), braw)
    missing_roles = sorted(REQUIRED_ROLES - set(roles))
    if missing_roles:
        raise doc.error(("roles",), f"missing roles {missing_roles}")
    if ("origination_month" in roles) == ("origination_date" in roles):
        raise doc.error(("roles",), "bind exactly one of origination_month and origination_date")
    for role, b in roles.items():
        if b.optional and role not in OPTIONAL_ROLES:
            allowed = ", ".join(sorted(OPTIONAL_ROLES))
            raise doc.error(("roles", role, "optional"), f"this role cannot be optional (only {allowed})")

    fields: dict[str, Binding] = {}
    for fname, braw in doc.get(raw, ("fields",), dict, {}).items():
        bindable = fname in TAPE_SCHEMA_V2_FIELDS and (jurisdiction == "CN" or fname not in IDENTITY_FIELDS)
        if not bindable or fname == "platform_loan_id":
            raise doc.error(("fields", fname), "not a bindable tape schema v1 field for this jurisdiction")
        fields[fname] = with_missing(_binding(doc, braw, ("fields", fname), FIELD_TYPES), braw)
    if "instalment" not in roles and not {"overdue_principal_fen", "installments_paid"} <= set(fields):
        raise doc.error(
            ("roles",),
            "missing role 'instalment' (needed to derive overdue principal and instalments paid, "
            "unless [fields] binds overdue_principal_fen and installments_paid)",
        )
    constants = dict(doc.get(raw, ("constants",), dict, {}))
    for cname, v in constants.items():
        if cname not in TAPE_SCHEMA_V2_FIELDS or cname in IDENTITY_FIELDS or cname in fields:
            raise doc.error(("constants", cname), "not a free tape schema v1 field")
        if not isinstance(v, str | int) or isinstance(v, bool):
            raise doc.error(("constants", cname), "must be a string or an integer")

    derive = doc.get(raw, ("derive",), dict, {})
    doc.keys(derive, ("derive",), {"apr_all_in"})
    apr_mode = doc.get(derive, ("derive", "apr_all_in"), str, "column")
    if apr_mode not in ("nominal", "column"):
        raise doc.error(("derive", "apr_all_in"), "must be 'nominal' or 'column'")
    if apr_mode == "column" and "apr" not in roles:
        raise doc.error(("derive", "apr_all_in"), "'column' needs an 'apr' role")

    dq = doc.get(raw, ("delinquency",), dict, {})
    doc.keys(dq, ("delinquency",), {"when_status_disagrees"})
    disagree = doc.get(dq, ("delinquency", "when_status_disagrees"), str, "column")
    if disagree not in DISAGREEMENT_RULES:
        raise doc.error(("delinquency", "when_status_disagrees"), f"must be one of {DISAGREEMENT_RULES}")
    if dq and "days_past_due" not in roles:
        raise doc.error(("delinquency",), "needs a 'days_past_due' role")

    bc = doc.get(raw, ("balance_check",), dict, {})
    bcp = ("balance_check",)
    doc.keys(bc, bcp, {"paid_principal_identity", "exempt_kinds", "current_with_zero_balance"})
    identity = doc.get(bc, (*bcp, "paid_principal_identity"), bool, False)
    zero_current = doc.get(bc, (*bcp, "current_with_zero_balance"), str, "error")
    if zero_current not in ("error", "paid"):
        raise doc.error((*bcp, "current_with_zero_balance"), "must be 'error' or 'paid'")
    if identity and "paid_principal" not in roles:
        raise doc.error((*bcp, "paid_principal_identity"), "needs a 'paid_principal' role")
    exempt = frozenset(doc.get(bc, (*bcp, "exempt_kinds"), list, []))
    if not exempt <= STATUS_KINDS:
        raise doc.error((*bcp, "exempt_kinds"), f"must be among {', '.join(sorted(STATUS_KINDS))}")

    denied_tbl = doc.get(raw, ("denied_columns",), dict, {})
    doc.keys(denied_tbl, ("denied_columns",), {"columns"})
    denied = frozenset(doc.get(denied_tbl, ("denied_columns", "columns"), list, []))

    statuses: dict[str, StatusRule] = {}
    for label, sraw in doc.get(raw, ("status",), dict).items():
        sp = ("status", label)
        if not isinstance(sraw, dict):
            raise doc.error(sp, "expected a table")
        doc.keys(sraw, sp, {"kind", "dpd_min", "dpd_max", "dpd", "tape_status"})
        kind = doc.get(sraw, (*sp, "kind"), str)
        if kind not in STATUS_KINDS:
            raise doc.error((*sp, "kind"), f"must be one of {', '.join(sorted(STATUS_KINDS))}")
        if kind in ("open", "defaulted"):
            lo, hi, rep = (doc.get(sraw, (*sp, k), int) for k in ("dpd_min", "dpd_max", "dpd"))
            if not 0 <= lo <= rep <= hi:
                raise doc.error((*sp, "dpd"), "need 0 <= dpd_min <= dpd <= dpd_max")
            statuses[label] = StatusRule(label, kind, lo, hi, rep)
        elif kind == "paid" and "tape_status" in sraw:
            tape_status = doc.get(sraw, (*sp, "tape_status"), str)
            if tape_status not in PAID_TAPE_STATUSES:
                raise doc.error((*sp, "tape_status"), f"must be one of {', '.join(PAID_TAPE_STATUSES)}")
            if set(sraw) - {"kind", "tape_status"}:
                raise doc.error(sp, "a 'paid' status takes no dpd values")
            statuses[label] = StatusRule(label, kind, tape_status=tape_status)
        else:
            if set(sraw) - {"kind"}:
                raise doc.error(
                    (*sp, sorted(set(sraw) - {"kind"})[0]), f"a {kind!r} status takes no dpd values"
                )
            statuses[label] = StatusRule(label, kind)
    if not statuses:
        raise doc.error(("status",), "map at least one status")

    idt = doc.get(raw, ("id",), dict, {"format": "{pool_id}-{row:06d}"})
    doc.keys(idt, ("id",), {"format", "column"})
    if ("format" in idt) == ("column" in idt):
        raise doc.error(("id",), "give exactly one of format (a template) and column (a stable id column)")
    if "column" in idt:
        template = _id_template(doc, "{" + doc.get(idt, ("id", "column"), str) + "}")
    else:
        template = _id_template(doc, doc.get(idt, ("id", "format"), str))

    sched = doc.get(raw, ("schedule",), dict, {})
    doc.keys(sched, ("schedule",), {"first_due_offset_months"})

    flows_tbl = doc.get(raw, ("flows",), dict, {})
    doc.keys(flows_tbl, ("flows",), {"period"})
    flows_period = doc.get(flows_tbl, ("flows", "period"), str, "") if flows_tbl else ""
    if flows_tbl and flows_period not in FLOW_PERIODS:
        raise doc.error(("flows", "period"), f"must be one of {', '.join(FLOW_PERIODS)}")
    if flows_tbl and not set(roles) >= FLOW_ROLES:
        missing_flow_roles = ", ".join(sorted(FLOW_ROLES - set(roles)))
        raise doc.error(("flows",), f"the period flows need the roles {missing_flow_roles}")

    # Every name a binding, the id or an expression reads: a computed column defined above, or a header
    # column (checked against the file's header when it is opened).
    known: set[str] = set()
    for cname, expr in computed:
        for ref in expr.columns:
            if ref in denied:
                raise doc.error(("computed", cname), f"column {ref!r} is denied and may not be read")
        if cname in known:
            raise doc.error(("computed", cname), "defined twice")
        known.add(cname)
    later = {cname: i for i, (cname, _) in enumerate(computed)}
    for i, (cname, expr) in enumerate(computed):
        for ref in expr.columns:
            if ref in later and later[ref] >= i:
                raise doc.error(("computed", cname), f"uses {ref!r}, which is defined at or after it")
    bound = [(("roles", k), b) for k, b in roles.items()] + [(("fields", k), b) for k, b in fields.items()]
    for bpath, b in bound:
        if b.column in known and b.type not in ("money", "rate", "percent", "integer"):
            raise doc.error(
                (*bpath, "column"), f"a computed column is a number: type {b.type!r} cannot bind it"
            )
        if b.column in denied:
            raise doc.error((*bpath, "column"), f"column {b.column!r} is denied and may not be imported")
    for ref in template.columns:
        if ref in denied:
            raise doc.error(("id",), f"column {ref!r} is denied and may not be imported")
    read = [b.column for _, b in bound] + list(template.columns)
    read += [ref for _, expr in computed for ref in expr.columns]
    header_columns = tuple(dict.fromkeys(c for c in read if c not in known))

    return ColumnMapping(
        name=name,
        source=doc.src,
        jurisdiction=jurisdiction,
        currency=currency,
        minor_per_major=minor,
        rate_cap_bps=doc.get(pool, ("pool", "rate_cap_bps"), int),
        default_dpd=default_dpd,
        five_tier_class=doc.get(pool, ("pool", "five_tier_class"), bool, False),
        id_template=template,
        first_due_offset_months=doc.get(sched, ("schedule", "first_due_offset_months"), int, 1),
        roles=roles,
        fields=fields,
        constants=constants,
        computed=tuple(computed),
        apr_from_nominal=apr_mode == "nominal",
        paid_principal_identity=identity,
        identity_exempt_kinds=exempt,
        current_with_zero_balance_is_paid=zero_current == "paid",
        denied_columns=denied,
        statuses=statuses,
        dpd_disagreement=disagree,
        missing_tokens=default_missing,
        header_line=header_line,
        delimiter=delimiter,
        skip_rows_matching=skip_rx,
        as_of_hint=as_of,
        columns_read=header_columns,
        flows_since_origination=flows_period == "since_origination",
    )
