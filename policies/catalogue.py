"""The field catalogue: every loan-tape field with its classification.

Each field carries its JR/T 0197-2020 data-security level (1-5), its JR/T 0171-2020 personal financial
information category (C1-C3), a PIPL Art. 28 sensitivity flag and free tags that policy rules select on.
Authentication data (JR/T 0171-2020 §4 "鉴别信息": passwords, PINs, CVN, OTPs, biometric templates) is
level 4 / C3 and marked ``forbidden``: it may never be ingested. Besides the listed forbidden names,
:meth:`Catalogue.is_forbidden` matches name patterns (reference notes §6.4 item 10), so ``cardPIN`` or
``login-password`` are refused too.

Money fields carry integer minor units of the pool currency (fen for CNY pools, cents for USD pools);
the ``_fen`` names are kept for every pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._toml import locate, read_toml
from .errors import CatalogueError, ForbiddenFieldError

CATALOGUE_FORMAT = "poolproof/catalogue/v1"
FIELD_TYPES = ("string", "int", "date", "datetime", "enum", "bool")
UNITS = ("minor", "bps", "days", "months")
CATEGORIES = ("C1", "C2", "C3")
DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class FieldSpec:
    """Classification of one field.

    ``unit`` is ``"minor"`` (minor currency units), ``"bps"``, ``"days"``, ``"months"`` or ``None``.
    ``level`` is the JR/T 0197-2020 level, ``category`` the JR/T 0171-2020 category.
    """

    name: str
    type: str
    unit: str | None
    level: int
    category: str
    pipl_sensitive: bool
    tags: frozenset[str]
    forbidden: bool
    enum_values: tuple[str, ...] = ()
    description: str = field(default="", compare=False)


def normalise_field_name(name: str) -> str:
    """Lower-case ``name`` with camelCase humps, ``-``, spaces and dots turned into ``_``."""
    return re.sub(r"[\s\-.]+", "_", _CAMEL.sub("_", name.strip())).lower()


class Catalogue(Mapping[str, FieldSpec]):
    """An immutable mapping from field name to :class:`FieldSpec`, plus the forbidden-name patterns."""

    def __init__(
        self,
        fields: Mapping[str, FieldSpec],
        *,
        forbidden_tokens: Iterable[str] = (),
        forbidden_substrings: Iterable[str] = (),
        source: str = "<memory>",
        content: bytes = b"",
    ) -> None:
        self._fields = dict(fields)
        self.forbidden_tokens = frozenset(t.lower() for t in forbidden_tokens)
        self.forbidden_substrings = tuple(s.lower() for s in forbidden_substrings)
        self.source = source
        self.content = content
        self.forbidden_names = frozenset(n for n, s in self._fields.items() if s.forbidden)

    def __getitem__(self, name: str) -> FieldSpec:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def is_forbidden(self, name: str) -> bool:
        """True if ``name`` is a forbidden catalogue field or matches an authentication-data pattern.

        Matching is case-insensitive on the normalised name: a listed token must be a whole
        ``_``-separated token (``card_pin`` yes, ``shipping`` no); a listed substring may appear anywhere.
        """
        norm = normalise_field_name(name)
        if norm in self.forbidden_names:
            return True
        spec = self._fields.get(norm)
        if spec is not None and not spec.forbidden:
            # A catalogued, permitted field is never caught by a pattern.
            return False
        if any(tok in self.forbidden_tokens for tok in norm.split("_")):
            return True
        return any(sub in norm for sub in self.forbidden_substrings)

    def check_ingestible(self, names: Iterable[str]) -> None:
        """Raise :class:`ForbiddenFieldError` naming every forbidden field among ``names``.

        Unknown (uncatalogued) names are not an error here: the policy denies them by default.
        """
        bad = tuple(sorted({n for n in names if self.is_forbidden(n)}))
        if bad:
            raise ForbiddenFieldError(bad)

    def with_tag(self, tag: str) -> tuple[str, ...]:
        """Names of the fields carrying ``tag``, in catalogue order."""
        return tuple(n for n, s in self._fields.items() if tag in s.tags)

    @property
    def tags(self) -> frozenset[str]:
        """Every tag used by some field."""
        return frozenset(t for s in self._fields.values() for t in s.tags)


def _spec_from_toml(path: str, text: str, name: str, raw: Any) -> FieldSpec:
    key = f"fields.{name}"

    def fail(sub: str, problem: str) -> CatalogueError:
        kp = f"{key}.{sub}" if sub else key
        return CatalogueError(path, kp, problem, locate(text, key))

    if not _FIELD_NAME.match(name):
        raise fail("", "field names are lower-case snake_case ([a-z][a-z0-9_]*)")
    if not isinstance(raw, dict):
        raise fail("", "expected a table { type = ..., level = ..., category = ... }")
    allowed = {
        "type",
        "unit",
        "level",
        "category",
        "pipl_sensitive",
        "tags",
        "forbidden",
        "enum_values",
        "description",
    }
    for k in raw:
        if k not in allowed:
            raise fail(k, f"unknown key {k!r}; allowed: {', '.join(sorted(allowed))}")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise fail("type", f"type must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}")
    unit = raw.get("unit")
    if unit is not None and unit not in UNITS:
        raise fail("unit", f"unit must be one of {', '.join(UNITS)} or absent, got {unit!r}")
    if unit is not None and ftype != "int":
        raise fail("unit", "only int fields carry a unit")
    level = raw.get("level")
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
        raise fail("level", f"level must be an integer 1..5 (JR/T 0197-2020), got {level!r}")
    category = raw.get("category")
    if category not in CATEGORIES:
        raise fail("category", f"category must be C1, C2 or C3 (JR/T 0171-2020), got {category!r}")
    pipl = raw.get("pipl_sensitive", False)
    forbidden = raw.get("forbidden", False)
    for k, v in (("pipl_sensitive", pipl), ("forbidden", forbidden)):
        if not isinstance(v, bool):
            raise fail(k, f"{k} must be true or false, got {v!r}")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise fail("tags", "tags must be a list of non-empty strings")
    enum_values = raw.get("enum_values", [])
    if not isinstance(enum_values, list) or not all(isinstance(v, str) for v in enum_values):
        raise fail("enum_values", "enum_values must be a list of strings")
    if ftype == "enum" and not enum_values:
        raise fail("enum_values", "an enum field needs its enum_values")
    if ftype != "enum" and enum_values:
        raise fail("enum_values", "only enum fields carry enum_values")
    if len(set(enum_values)) != len(enum_values):
        raise fail("enum_values", "enum_values has duplicates")
    # Authentication data is C3 / level 4 and can never be anything but forbidden.
    if category == "C3" and not forbidden:
        raise fail("forbidden", "a C3 field (authentication data) must be forbidden = true")
    if "authentication" in tags and (category != "C3" or level < 4 or not forbidden):
        raise fail("category", "authentication data must be category C3, level >= 4 and forbidden")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "description must be a string")
    return FieldSpec(
        name=name,
        type=ftype,
        unit=unit,
        level=level,
        category=category,
        pipl_sensitive=pipl,
        tags=frozenset(tags),
        forbidden=forbidden,
        enum_values=tuple(enum_values),
        description=description,
    )


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue TOML (default: the packaged ``policies/catalogue.toml``).

    Raises :class:`CatalogueError` naming the file, key path, line and problem.
    """
    p = Path(path) if path is not None else DEFAULT_CATALOGUE_PATH
    doc, raw = read_toml(p, CatalogueError)
    text = raw.decode("utf-8")
    src = str(p)
    if doc.get("format") != CATALOGUE_FORMAT:
        got = doc.get("format")
        raise CatalogueError(
            src, "format", f"expected format = {CATALOGUE_FORMAT!r}, got {got!r}", locate(text, "format")
        )
    for k in doc:
        if k not in ("format", "forbidden_names", "fields"):
            raise CatalogueError(
                src, k, "unknown top-level key; allowed: format, forbidden_names, fields", locate(text, k)
            )
    fields_doc = doc.get("fields")
    if not isinstance(fields_doc, dict) or not fields_doc:
        raise CatalogueError(src, "fields", "a [fields] table with at least one field is required")
    fb = doc.get("forbidden_names", {})
    if not isinstance(fb, dict):
        raise CatalogueError(src, "forbidden_names", "expected a table with tokens and substrings")
    lists: dict[str, list[str]] = {}
    for k in ("tokens", "substrings"):
        v = fb.get(k, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise CatalogueError(
                src,
                f"forbidden_names.{k}",
                "expected a list of non-empty strings",
                locate(text, f"forbidden_names.{k}"),
            )
        lists[k] = v
    specs = {name: _spec_from_toml(src, text, name, rawspec) for name, rawspec in fields_doc.items()}
    cat = Catalogue(
        specs,
        forbidden_tokens=lists["tokens"],
        forbidden_substrings=lists["substrings"],
        source=src,
        content=raw,
    )
    for name, spec in specs.items():
        if not spec.forbidden and not _pattern_free(cat, name):
            raise CatalogueError(
                src,
                f"fields.{name}",
                "a permitted field name matches a forbidden-name pattern; rename it",
                locate(text, f"fields.{name}"),
            )
    return cat


def _pattern_free(cat: Catalogue, name: str) -> bool:
    """True if ``name`` does not match any forbidden token or substring on its own."""
    if any(tok in cat.forbidden_tokens for tok in name.split("_")):
        return False
    return not any(sub in name for sub in cat.forbidden_substrings)


DEFAULT_CATALOGUE: Catalogue = load_catalogue()

TAPE_SCHEMA_V1_FIELDS: tuple[str, ...] = (
    "platform_loan_id",
    "obligor_name",
    "id_type",
    "id_number",
    "mobile",
    "repayment_account",
    "home_address",
    "region_code",
    "region_code_version",
    "birth_date",
    "gender",
    "income_monthly_fen",
    "occupation",
    "internal_score",
    "consent_basis",
    "consent_version",
    "consent_time",
    "product_type",
    "merchant_category",
    "origination_channel",
    "origination_date",
    "first_due_date",
    "maturity_date",
    "term_months",
    "installments_total",
    "installments_paid",
    "repayment_method",
    "original_principal_fen",
    "nominal_rate_bps",
    "apr_all_in_bps",
    "current_principal_fen",
    "days_past_due",
    "overdue_principal_fen",
    "overdue_interest_fen",
    "loan_status",
    "five_tier_class",
    "default_date",
    "charge_off_date",
    "pool_addition_date",
)
"""The row fields of tape schema v1 that the platform submits."""

PERIOD_FLOW_FIELDS: tuple[str, ...] = (
    "period_scheduled_principal_fen",
    "period_unscheduled_principal_fen",
    "period_interest_fen",
    "period_fees_fen",
    "period_defaulted_principal_fen",
    "period_recoveries_fen",
    "period_written_off_fen",
)
"""The period flows of tape schema v2, in the order of :data:`proofs.loan_facts.FLOWS`.

Each is the amount of the period since the previous cut-off (since the loan entered the pool on its
first tape), in minor units; a v2 row carries all seven or none (docs/metrics.md).
"""

TAPE_SCHEMA_V2_FIELDS: tuple[str, ...] = TAPE_SCHEMA_V1_FIELDS + PERIOD_FLOW_FIELDS
"""The row fields of tape schema v2: every v1 field and the period flows."""

TAPE_SCHEMA_V1 = "poolproof/tape/v1"
TAPE_SCHEMA_V2 = "poolproof/tape/v2"
#: Each tape schema's name and its row fields; a v2 tape is a v1 tape plus the period flows.
TAPE_SCHEMAS: dict[str, tuple[str, ...]] = {
    TAPE_SCHEMA_V1: TAPE_SCHEMA_V1_FIELDS,
    TAPE_SCHEMA_V2: TAPE_SCHEMA_V2_FIELDS,
}

GATEWAY_DERIVED_FIELDS: tuple[str, ...] = (
    "exposure_id",
    "obligor_pseudo_id",
    "pool_id",
    "cutoff_date",
    "dpd_bucket",
)
"""Fields the gateway adds to every stored row."""
