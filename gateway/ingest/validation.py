"""Fast-path validation of loan tapes: the rules of :mod:`gateway.schemas`, compiled for speed.

The marshmallow schema (:func:`gateway.schemas.tape_row_schema`) is the declared contract and the one
published in the OpenAPI document. Loading a million rows through marshmallow costs tens of seconds, so
ingestion runs this validator instead. Both call the same per-field checks and cross-field rules from
:mod:`gateway.ingest.rules` and compose them the same way (forbidden names first, then unknown / derived /
per-field checks, then required fields, then cross-field rules only for rows whose fields all passed);
``tests/gateway/test_validation_agreement.py`` checks that they agree on valid and invalid rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .rules import Check, FieldError, TapeRules, cross_field_errors, loan_id_key, mask_value

_fromisoformat = date.fromisoformat
ROW_FIELD = "_row"  # error "field" for problems with the row as a whole
DEFAULT_MAX_REPORTED = 100


@dataclass(frozen=True)
class TapeProblem:
    """One problem in a tape: 1-based row number, field, rule id, message and masked value."""

    row: int
    field: str
    rule: str
    message: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form used in the 422 error body."""
        return {
            "row": self.row,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
            "value": self.value,
        }


@dataclass
class TapeReport:
    """Errors found in a tape, capped at ``max_reported`` with the true total kept in ``error_count``."""

    max_reported: int = DEFAULT_MAX_REPORTED
    errors: list[TapeProblem] = field(default_factory=list)
    error_count: int = 0
    invalid_rows: int = 0
    rows_read: int = 0

    def add(self, err: TapeProblem) -> None:
        """Record one error (kept in ``errors`` until the cap is reached, always counted)."""
        self.error_count += 1
        if len(self.errors) < self.max_reported:
            self.errors.append(err)

    @property
    def ok(self) -> bool:
        """True if no error was recorded."""
        return self.error_count == 0

    def to_errors(self) -> dict[str, Any]:
        """The ``errors`` member of the 422 body: the listed errors plus a summary with the totals."""
        return {
            "tape": [e.to_dict() for e in self.errors],
            "summary": {
                "error_count": self.error_count,
                "errors_listed": len(self.errors),
                "invalid_rows": self.invalid_rows,
                "rows_read": self.rows_read,
            },
        }


_TAPE, _FORBIDDEN, _DERIVED, _NOT_APPLICABLE, _UNKNOWN = range(5)
_MAX_PLANS = 64


@dataclass(frozen=True)
class _Plan:
    """What to do with a row of a given key sequence (rows of one tape nearly always share one)."""

    forbidden: tuple[FieldError, ...]
    checked: tuple[tuple[str, int, Any, Any, Check], ...]  # name, fast kind, lo/allowed/matcher, hi, check
    check_fields: Callable[[Mapping[str, Any], dict[str, Any], list[FieldError]], None]
    static_errors: tuple[FieldError, ...]  # unknown and derived names
    not_applicable: tuple[str, ...]
    missing_required: tuple[FieldError, ...]


def _is_iso_date(v: str) -> bool:
    try:
        _fromisoformat(v)
    except ValueError:
        return False
    return True


def _compile_field_checks(
    checked: tuple[tuple[str, int, Any, Any, Check], ...], required: frozenset[str]
) -> Callable[[Mapping[str, Any], dict[str, Any], list[FieldError]], None]:
    """Straight-line Python for one key sequence: per field, null handling, fast acceptance, the check.

    Generated once per distinct key sequence of a tape (nearly always one) from trusted names only
    (the tape-schema fields the row carries), it does exactly what a loop over ``checked`` would: a
    null is absent (``required`` error if the pool needs the field); a value passing the fast test of
    :attr:`TapeRules.fast` (a subset of what the check accepts unchanged) is kept; anything else goes
    through the shared check. Removing the per-field interpretation halves validation time.
    """
    ns: dict[str, Any] = {"_is_iso_date": _is_iso_date}
    lines = ["def check_fields(raw, out, errors):"]
    for i, (name, fast, a, b, check) in enumerate(checked):
        key = repr(name)
        ns[f"C{i}"] = check
        lines.append(f"    v = raw[{key}]")
        lines.append("    if v is None:")
        if name in required:
            lines.append(f"        errors.append(({key}, 'required', 'required for this pool'))")
        else:
            lines.append("        pass")
        if fast == 1:
            lines.append(f"    elif type(v) is int and {int(a)} <= v <= {int(b)}:")
        elif fast == 2:
            ns[f"E{i}"] = a
            lines.append(f"    elif type(v) is str and v in E{i}:")
        elif fast == 3:
            # Printable strings have no control, bidi or invisible characters; with a first character
            # that starts no formula they pass every clause of the text rule.
            lines.append(
                f"    elif type(v) is str and {int(a)} <= len(v) <= {int(b)} and v.isprintable()"
                " and v[0] not in '=+-@':"
            )
        elif fast == 4:
            lines.append(
                "    elif type(v) is str and len(v) == 10 and v[4] == '-' and v[7] == '-'"
                " and _is_iso_date(v):"
            )
        elif fast == 5:
            ns[f"M{i}"] = a  # the pattern's fullmatch
            lines.append(f"    elif type(v) is str and M{i}(v) is not None:")
        if fast:
            lines.append(f"        out[{key}] = v")
        lines.append("    else:")
        lines.append(f"        val, p = C{i}(v)")
        lines.append("        if p is None:")
        lines.append(f"            out[{key}] = val")
        lines.append("        else:")
        lines.append(f"            errors.append(({key}, p[0], p[1]))")
    if len(lines) == 1:
        lines.append("    pass")
    exec(compile("\n".join(lines), "<tape-row-checks>", "exec"), ns)  # noqa: S102 - names are schema fields
    fn: Callable[[Mapping[str, Any], dict[str, Any], list[FieldError]], None] = ns["check_fields"]
    return fn


class RowValidator:
    """Validates single rows of tape schemas v1 and v2 against compiled :class:`TapeRules` and a cut-off."""

    def __init__(self, rules: TapeRules, cutoff: str) -> None:
        self.rules = rules
        self.cutoff = cutoff
        self._required = rules.required
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    def _classify(self, name: Any) -> int:
        if not isinstance(name, str):  # CSV rows with too many cells carry a None key
            return _UNKNOWN
        if self.rules.catalogue.is_forbidden(name):
            return _FORBIDDEN
        if name in self.rules.not_applicable:
            return _NOT_APPLICABLE
        if name in self.rules.checks:
            return _TAPE
        if name in self.rules.derived:
            return _DERIVED
        return _UNKNOWN

    def _plan(self, keys: tuple[Any, ...]) -> _Plan:
        kinds = [(k, self._classify(k)) for k in keys]
        forbidden = tuple(
            (str(k), "forbidden_field", "authentication data may never be submitted")
            for k, kind in kinds
            if kind == _FORBIDDEN
        )
        static: list[FieldError] = []
        for k, kind in kinds:
            if kind == _DERIVED:
                static.append((k, "derived_field", "the gateway derives this field; do not submit it"))
            elif kind == _UNKNOWN:
                static.append((str(k), "unknown_field", "not a field of tape schema v1"))
        missing = tuple((n, "required", "required for this pool") for n in sorted(self._required - set(keys)))
        checked = tuple(self._checked(k) for k, kind in kinds if kind == _TAPE)
        plan = _Plan(
            forbidden=forbidden,
            checked=checked,
            check_fields=_compile_field_checks(checked, self._required),
            static_errors=tuple(static),
            not_applicable=tuple(k for k, kind in kinds if kind == _NOT_APPLICABLE),
            missing_required=missing,
        )
        if len(self._plans) < _MAX_PLANS:
            self._plans[keys] = plan
        return plan

    def _checked(self, name: str) -> tuple[str, int, Any, Any, Check]:
        fast = self.rules.fast.get(name)
        check = self.rules.checks[name]
        if fast is None:
            return (name, 0, None, None, check)
        if fast[0] == "int":
            return (name, 1, fast[1], fast[2], check)
        if fast[0] == "enum":
            return (name, 2, fast[1], None, check)
        if fast[0] == "text":
            return (name, 3, fast[1], fast[2], check)
        if fast[0] == "match":
            return (name, 5, fast[1].fullmatch, None, check)
        return (name, 4, None, None, check)

    def validate(self, raw: Any) -> tuple[dict[str, Any], list[FieldError]]:
        """Return ``(clean_row, errors)``; ``clean_row`` holds normalised values of present fields.

        Absent optional fields and JSON nulls are left out of ``clean_row``. ``errors`` is empty for a
        valid row. Never raises for bad data.
        """
        if type(raw) is not dict and not isinstance(raw, Mapping):  # the exact check first: it is cheaper
            return {}, [(ROW_FIELD, "type", "each row must be an object")]
        keys = tuple(raw)
        plan = self._plans.get(keys) or self._plan(keys)
        if plan.forbidden:
            return {}, list(plan.forbidden)
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        plan.check_fields(raw, out, errors)
        for k in plan.not_applicable:
            if raw[k] is not None:
                errors.append((k, "not_applicable", "this pool's jurisdiction takes no such identity field"))
        if plan.static_errors:
            errors.extend(plan.static_errors)
        if plan.missing_required:
            errors.extend(plan.missing_required)
        if errors:
            return out, errors
        return out, cross_field_errors(out, self.rules.cfg, self.cutoff)


class TapeValidator:
    """Row-by-row validation of a whole tape with duplicate detection and a capped error report."""

    def __init__(self, rules: TapeRules, cutoff: str, *, max_reported: int = DEFAULT_MAX_REPORTED) -> None:
        self.rows = RowValidator(rules, cutoff)
        self.report = TapeReport(max_reported=max_reported)
        self._seen_ids: dict[str, int] = {}
        self._catalogue = rules.catalogue

    def check(self, row_number: int, raw: Any) -> dict[str, Any] | None:
        """Validate one row (1-based ``row_number``); the clean row, or ``None`` if it had errors."""
        self.report.rows_read += 1
        clean, errors = self.rows.validate(raw)
        loan_id = clean.get("platform_loan_id")
        if loan_id is not None:
            first = self._seen_ids.setdefault(loan_id_key(loan_id), row_number)
            if first != row_number:
                errors.append(
                    ("platform_loan_id", "duplicate", f"platform_loan_id already used on row {first}")
                )
        if not errors:
            return clean
        self.report.invalid_rows += 1
        for name, rule, message in errors:
            value = raw.get(name) if isinstance(raw, Mapping) else None
            shown = None if name == ROW_FIELD else mask_value(name, value, self._catalogue)
            self.report.add(TapeProblem(row_number, name, rule, message, shown))
        return None

    def add_format_error(self, row_number: int, message: str) -> None:
        """Record a row that could not be parsed at all (malformed JSON line, broken CSV record)."""
        self.report.invalid_rows += 1
        self.report.add(TapeProblem(row_number, ROW_FIELD, "malformed", message, None))
