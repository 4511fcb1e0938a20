"""marshmallow schemas: the declared API contract (published in the OpenAPI document).

The loan-tape row schema is built per pool configuration and cut-off from the same rule functions the
fast-path validator uses (:mod:`gateway.ingest.rules`). Error messages are ``"<rule>: <message>"`` so a
marshmallow error maps onto the tape report's (field, rule) pairs.
"""

from __future__ import annotations

from typing import Any, cast

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validates_schema,
)

from policies.catalogue import DEFAULT_CATALOGUE, TAPE_SCHEMA_V2_FIELDS, Catalogue

from .ingest.pool_settings import CN_CONSUMER, PRESETS, PoolConfig
from .ingest.rules import LOAN_ID_CHARS, Check, TapeRules, compile_rules, cross_field_errors
from .ingest.validation import ROW_FIELD
from .storage.db import LOAN_ROWID_SHIFT

MAX_LOAN_INDEX = (1 << LOAN_ROWID_SHIFT) - 1
_REQUIRED_MSG = "required: required for this pool"


class _Checked(fields.Field[Any]):
    """A field whose deserialisation is one shared rule check from :mod:`gateway.ingest.rules`."""

    def __init__(self, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check = check

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        out, problem = self._check(value)
        if problem is not None:
            raise ValidationError(f"{problem[0]}: {problem[1]}")
        return out


class CheckedInteger(_Checked, fields.Integer):
    """Integer field (strict: no floats, no strings) with the shared range rules."""


class CheckedString(_Checked, fields.String):
    """String field with the shared format rules."""


class _Rejected(fields.Field[Any]):
    """A name that may not appear in a row (gateway-derived, or not applicable to the jurisdiction)."""

    def __init__(self, rule: str, message: str, **kwargs: Any) -> None:
        super().__init__(error_messages={"null": f"{rule}: {message}"}, **kwargs)
        self._error = f"{rule}: {message}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        raise ValidationError(self._error)


class TapeRowBase(Schema):
    """Shared hooks of every tape-row schema: forbidden names, cross-field rules, dropping nulls."""

    class Meta:
        unknown = RAISE

    _rules: TapeRules
    _cutoff: str

    @pre_load
    def _refuse_authentication_data(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            cat = self._rules.catalogue
            bad = [k for k in data if isinstance(k, str) and cat.is_forbidden(k)]
            if bad:
                raise ValidationError(
                    {k: ["forbidden_field: authentication data may never be submitted"] for k in bad}
                )
        return data

    @validates_schema(skip_on_field_errors=True)
    def _cross_field(self, data: dict[str, Any], **kwargs: Any) -> None:
        clean = {k: v for k, v in data.items() if v is not None}
        errs = cross_field_errors(clean, self._rules.cfg, self._cutoff)
        if errs:
            out: dict[str, list[str]] = {}
            for name, rule, message in errs:
                out.setdefault(name, []).append(f"{rule}: {message}")
            raise ValidationError(out)

    @post_load
    def _drop_nulls(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


_TEXT_NOTE = (
    "; no control, bidirectional-control or invisible characters, and no leading = + - @ "
    "(a spreadsheet would run the cell as a formula)"
)
_FREE_TEXT = frozenset({"obligor_name", "home_address", "consent_version"})
_FIELD_NOTES = {
    "platform_loan_id": f"; normalised with NFKC and trimmed, then {LOAN_ID_CHARS} (ASCII only: no "
    "look-alike letters of other scripts); ids that differ only in case are the same loan",
    "id_number": "; normalised with NFKC and trimmed; a final lower-case x is read as X",
    "mobile": "; normalised with NFKC; spaces, dashes and a +86 / 0086 prefix are removed",
    "repayment_account": "; normalised with NFKC and trimmed",
}


def _field_for(rules: TapeRules, name: str) -> fields.Field[Any]:
    spec = rules.catalogue[name]
    required = name in rules.required
    msgs = {"required": _REQUIRED_MSG, "null": _REQUIRED_MSG}
    meta: dict[str, Any] = {"description": f"level {spec.level}, {spec.category}"}
    kw: dict[str, Any] = {"required": required, "allow_none": not required, "error_messages": msgs}
    check = rules.checks[name]
    meta["description"] += _FIELD_NOTES.get(name, _TEXT_NOTE if name in _FREE_TEXT else "")
    if spec.type == "int":
        if spec.unit == "minor":
            meta["description"] += f"; integer minor units of {rules.cfg.currency} ({rules.cfg.minor_unit})"
        return CheckedInteger(check, metadata=meta, **kw)
    if spec.type == "date":
        meta["format"] = "date"
    elif spec.type == "datetime":
        meta["format"] = "date-time"
    elif spec.type == "enum":
        meta["enum"] = list(spec.enum_values)
    return CheckedString(check, metadata=meta, **kw)


def tape_row_schema(rules: TapeRules, cutoff: str, *, name: str | None = None) -> TapeRowBase:
    """A marshmallow schema instance validating one row of tape schema v1 for a pool and cut-off."""
    attrs: dict[str, Any] = {
        n: _field_for(rules, n) for n in TAPE_SCHEMA_V2_FIELDS if n not in rules.not_applicable
    }
    for n in sorted(rules.not_applicable):
        attrs[n] = _Rejected(
            "not_applicable",
            "this pool's jurisdiction takes no such identity field",
            allow_none=True,
            metadata={"description": "not accepted in this jurisdiction"},
        )
    for n in sorted(rules.derived):
        attrs[n] = _Rejected(
            "derived_field",
            "the gateway derives this field; do not submit it",
            load_only=True,
            metadata={"description": "gateway-derived: never submit"},
        )
    cls = TapeRowBase.from_dict(attrs, name=name or f"TapeRow{rules.cfg.name}")
    schema = cast(TapeRowBase, cls())
    schema._rules = rules
    schema._cutoff = cutoff
    return schema


def marshmallow_errors(schema: Schema, row: Any) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """Load ``row`` through ``schema``; ``(clean_row, [(field, rule, message)])`` like the fast path."""
    try:
        return schema.load(row), []
    except ValidationError as exc:
        out: list[tuple[str, str, str]] = []
        messages = exc.messages if isinstance(exc.messages, dict) else {ROW_FIELD: exc.messages}
        for name, msgs in messages.items():
            field_name = ROW_FIELD if name == "_schema" else str(name)
            for m in msgs if isinstance(msgs, list) else [msgs]:
                text = str(m)
                if text == "Unknown field.":
                    out.append((field_name, "unknown_field", text))
                elif text == "Invalid input type.":
                    out.append((field_name, "type", text))
                else:
                    rule, _, message = text.partition(": ")
                    out.append((field_name, rule, message))
        return {}, out


# --- Documentation schemas (OpenAPI) ------------------------------------------------------------------
TapeRowCN = type(
    tape_row_schema(compile_rules(CN_CONSUMER, DEFAULT_CATALOGUE), "2099-12-31", name="TapeRowCN")
)
TapeRowUS = type(
    tape_row_schema(compile_rules(PRESETS["US_CONSUMER"], DEFAULT_CATALOGUE), "2099-12-31", name="TapeRowUS")
)


def rules_for(cfg: PoolConfig, catalogue: Catalogue = DEFAULT_CATALOGUE) -> TapeRules:
    """Compiled tape rules for a pool configuration (see :func:`gateway.ingest.rules.compile_rules`)."""
    return compile_rules(cfg, catalogue)


