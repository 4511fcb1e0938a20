"""Row rules of loan-tape schemas v1 and v2, shared by the marshmallow schema and the fast-path validator.

Every rule is a small function returning ``None`` (passes) or a ``(rule, message)`` pair. Messages never
contain the offending value: values of level 3+ fields must not reach logs or error bodies, so the
report adds a separately masked value (:func:`mask_value`).

Sources: reference notes ``classification-and-data.md`` §6.3-6.4 (field catalogue, validation details);
GB 11643-1999 with ISO 7064:1983 MOD 11-2 for PRC ID numbers; GB/T 2260 for region codes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from policies.catalogue import PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V2_FIELDS, Catalogue, FieldSpec

from .bounded_json import MAX_SAFE_INTEGER, HugeInteger
from .pool_settings import DERIVED_FIELDS, IDENTITY_FIELDS, PoolConfig

Problem = tuple[str, str]  # (rule, message)
FieldError = tuple[str, str, str]  # (field, rule, message)
Check = Callable[[Any], tuple[Any, Problem | None]]

# Integers end at 2^53 - 1: beyond it a JSON reader using doubles (spreadsheets, browsers, many JSON
# libraries) reads another number than the gateway stored (RFC 7493 §2.2). 9e13 fen = 90 trillion yuan.
INT_MAX = MAX_SAFE_INTEGER

# --- PRC resident identity number (GB 11643-1999) ------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
_ID_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: S mod 11 -> check character
_ID_RE = re.compile(r"^\d{17}[\dX]$")
CHECKSUM_ID_TYPES = frozenset({"RESIDENT_ID", "HMT_RESIDENCE_PERMIT", "FOREIGN_PERMANENT_RESIDENT"})
_OTHER_ID_RE = re.compile(r"^[A-Z0-9]{5,20}$")


def prc_id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for 17 leading digits (ISO 7064:1983 MOD 11-2).

    ``S = sum(a_i * W_i)`` with ``W_i = 2^(17-i) mod 11``; since 13 = 2 (mod 11), reading the digits in
    base 13 gives ``S = 2 * int(digits, 13) (mod 11)`` in one C-level call; the check value ``x`` solves
    ``S + x = 1 (mod 11)`` and 10 is written ``X``. Equal to the weight table (tested).
    """
    x = (1 - 2 * int(first17, 13)) % 11
    return "X" if x == 10 else str(x)


def prc_id_check_char_by_weights(first17: str) -> str:
    """The same check character by the explicit weight table of GB 11643-1999 (reference form)."""
    s = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[s % 11]


def check_prc_id(value: str) -> Problem | None:
    """Check an 18-character PRC ID number: format, birth-date digits, check character."""
    if not _ID_RE.match(value):
        return ("prc_id_format", "expected 17 digits and a check character (digit or X)")
    if not _is_date_digits(value[6:14]):
        return ("prc_id_format", "birth-date digits 7-14 are not a calendar date")
    if prc_id_check_char(value[:17]) != value[17]:
        return ("prc_id_checksum", "check character does not match ISO 7064 MOD 11-2 (GB 11643-1999)")
    return None


def _is_date_digits(s: str) -> bool:
    try:
        date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return False
    return True


# --- Contact, account, region ---------------------------------------------------------------------------
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_STRIP = re.compile(r"[\s\-]")
_ACCOUNT_RE = re.compile(r"^\d{12,19}$")
_CN_REGION_RE = re.compile(r"^\d{6}$")
# GB/T 2260 province-level prefixes (first two digits); 71/81/82 for Taiwan, Hong Kong, Macau.
_CN_PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    ]
)
# --- Characters of text and identifiers ---------------------------------------------------------------
# Unicode bidirectional controls (UAX #9 §2: embeddings, overrides, isolates, marks), which reorder how
# a name or an address is displayed without changing what it says ("Trojan Source", CVE-2021-42574).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV Injection"); tab and
# carriage return, also on OWASP's list, are control characters and refused as such.
FORMULA_PREFIXES = frozenset("=+-@")


def character_problem(v: str) -> Problem | None:
    """The first character of ``v`` that no text field may hold, as a problem; ``None`` if there is none.

    Refused: control characters (Unicode category Cc, and the line and paragraph separators Zl, Zp),
    bidirectional controls, other invisible format characters (category Cf: zero-width space and
    joiners, word joiner, U+FEFF, soft hyphen, ...), unpaired surrogates (Cs) and private-use characters
    (Co). The message names the code point, never the text.
    """
    if v.isprintable():  # printable text has none of these: the common case costs one C call
        return None
    for ch in v:
        if ch in BIDI_CONTROLS:
            return ("bidi_control", f"bidirectional control character U+{ord(ch):04X} is not allowed")
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            return ("control_characters", f"control character U+{ord(ch):04X} is not allowed")
        if cat == "Cf":
            return ("invisible_characters", f"invisible character U+{ord(ch):04X} is not allowed")
        if cat == "Cs":
            return ("surrogate", f"unpaired surrogate U+{ord(ch):04X} is not a character")
        if cat == "Co":
            return ("private_use", f"private-use character U+{ord(ch):04X} is not allowed")
    return None


def normalise_identifier(v: str) -> str:
    """NFKC (UAX #15) and surrounding whitespace removed: full-width ``Ｌ１`` and ``" L1 "`` become ``L1``."""
    return unicodedata.normalize("NFKC", v).strip()


_LOAN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}")
LOAN_ID_CHARS = "ASCII letters and digits, then up to 63 of those or . _ : / # -"


def loan_id_key(loan_id: str) -> str:
    """The form two loan ids are compared in: ids differing only in case are one loan."""
    return loan_id.upper()


def same_loan_id(stored: str, asked: str) -> bool:
    """Whether a loan id someone asks for names the stored loan id, under the rules a tape is read by."""
    return loan_id_key(normalise_identifier(asked)) == loan_id_key(stored)


def check_loan_id(v: str) -> Problem | None:
    """A normalised ``platform_loan_id``: ASCII only, so that no look-alike letter makes a second loan.

    NFKC folds compatibility forms (full-width letters, ligatures) but not look-alikes across scripts:
    Cyrillic ``А`` (U+0410) stays distinct from Latin ``A``. Loan ids are machine keys, so they are ASCII.
    """
    if not 1 <= len(v) <= 64:
        return ("length", "length must be 1..64 characters")
    p = character_problem(v)
    if p is not None:
        return p
    if not v.isascii():
        return (
            "id_charset",
            "loan ids are ASCII after NFKC; letters of other scripts (such as Cyrillic or Greek look-alikes "
            "of Latin letters) are not allowed",
        )
    if _LOAN_ID_RE.fullmatch(v) is None:
        return ("id_format", f"expected {LOAN_ID_CHARS}")
    return None


def normalise_mobile(value: str) -> str:
    """Strip spaces, dashes and a +86 / 0086 prefix (reference notes §6.4 item 2)."""
    v = _MOBILE_STRIP.sub("", value)
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("0086"):
        v = v[4:]
    return v


def _text(max_len: int, min_len: int = 1) -> Callable[[str], Problem | None]:
    def check(v: str) -> Problem | None:
        if not min_len <= len(v) <= max_len:
            return ("length", f"length must be {min_len}..{max_len} characters")
        p = character_problem(v)
        if p is not None:
            return p
        if v[:1] in FORMULA_PREFIXES:
            return (
                "formula_prefix",
                "text may not start with = + - or @: a spreadsheet would run it as a formula",
            )
        return None

    return check


def _pattern(rx: re.Pattern[str], rule: str, msg: str) -> Callable[[str], Problem | None]:
    def check(v: str) -> Problem | None:
        return None if rx.match(v) else (rule, msg)

    return check


def _region_check(cfg: PoolConfig) -> Callable[[str], Problem | None]:
    if cfg.region_scheme == "US-STATE":
        return lambda v: None if v in US_STATES else ("region_code", "expected a two-letter US state code")

    def check(v: str) -> Problem | None:
        if not _CN_REGION_RE.match(v) or v[:2] not in _CN_PROVINCES:
            return ("region_code", "expected a 6-digit GB/T 2260 code with a valid province prefix")
        return None

    return check


# --- Integer ranges ----------------------------------------------------------------------------------
_INT_RANGES: dict[str, tuple[int, int]] = {
    "original_principal_fen": (1, INT_MAX),
    "term_months": (1, 600),
    "installments_total": (1, 600),
    "installments_paid": (0, 600),
    "region_code_version": (1980, 2100),
    "nominal_rate_bps": (0, 1_000_000),
    "apr_all_in_bps": (0, 1_000_000),
    "days_past_due": (0, 36_600),
    "internal_score": (0, 1_000_000),
}
_UNIT_RANGES: dict[str | None, tuple[int, int]] = {
    "minor": (0, INT_MAX),
    "bps": (0, 1_000_000),
    "days": (0, 36_600),
    "months": (1, 600),
    None: (-INT_MAX, INT_MAX),
}
_LONG_INT_STR = re.compile(r"^\s*[-+]?[1-9]\d{16,}\s*$")  # 17 significant digits: at least 10^16 > 2^53
_DECIMAL_STR = re.compile(r"^\s*[-+]?\d*\.\d*\s*$|^\s*[-+]?\d+(\.\d*)?[eE][-+]?\d+\s*$")
_INT_STR = re.compile(r"^-?\d{1,19}$")


def _int_check(spec: FieldSpec) -> Check:
    lo, hi = _INT_RANGES.get(spec.name, _UNIT_RANGES[spec.unit])
    money = spec.unit == "minor"

    def check(v: Any) -> tuple[Any, Problem | None]:
        if type(v) is not int:
            if isinstance(v, HugeInteger):
                return v, ("integer_size", f"an integer of {v.digits} digits is {_BEYOND}")
            if (isinstance(v, float) and v.is_integer() and abs(v) > INT_MAX) or (
                isinstance(v, str) and _LONG_INT_STR.match(v)
            ):
                return v, ("integer_size", f"the number is {_BEYOND}")
            if isinstance(v, float) or (isinstance(v, str) and _DECIMAL_STR.match(v)):
                if money:
                    return v, (
                        "integer_minor_units",
                        "money is an integer number of minor units, not a decimal",
                    )
                return v, ("type", "expected an integer, got a decimal number")
            return v, ("type", "expected an integer")
        if not lo <= v <= hi:
            if not -INT_MAX <= v <= INT_MAX:
                return v, ("integer_size", f"the number is {_BEYOND}")
            return v, ("range", f"must be between {lo} and {hi}")
        return v, None

    return check


_BEYOND = f"beyond 2^53 - 1 = {INT_MAX}, the largest integer JSON carries exactly (RFC 7493 §2.2)"


def _string_check(
    extra: Callable[[str], Problem | None] | None, normalise: Callable[[str], str] | None
) -> Check:
    def check(v: Any) -> tuple[Any, Problem | None]:
        if not isinstance(v, str):
            return v, ("type", "expected a string")
        if normalise is not None:
            v = normalise(v)
        if extra is not None:
            return v, extra(v)
        return v, None

    return check


def _date_check(v: Any) -> tuple[Any, Problem | None]:
    if not isinstance(v, str):
        return v, ("type", "expected an ISO 8601 date string YYYY-MM-DD")
    if len(v) != 10 or v[4] != "-" or v[7] != "-":
        return v, ("date_format", "expected an ISO 8601 date YYYY-MM-DD")
    try:
        date.fromisoformat(v)
    except ValueError:
        return v, ("date_format", "expected an ISO 8601 date YYYY-MM-DD")
    return v, None


def _datetime_check(v: Any) -> tuple[Any, Problem | None]:
    if not isinstance(v, str):
        return v, ("type", "expected an ISO 8601 date-time string")
    if len(v) < 16 or v[10] not in "T ":
        return v, ("datetime_format", "expected an ISO 8601 date-time, e.g. 2024-01-31T09:30:00+08:00")
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return v, ("datetime_format", "expected an ISO 8601 date-time, e.g. 2024-01-31T09:30:00+08:00")
    return v, None


def _enum_check(values: tuple[str, ...]) -> Check:
    allowed = frozenset(values)

    def check(v: Any) -> tuple[Any, Problem | None]:
        if not isinstance(v, str):
            return v, ("type", "expected a string")
        if v not in allowed:
            return v, ("enum", "must be one of " + ", ".join(values))
        return v, None

    return check


def _id_number_normalise(v: str) -> str:
    v = normalise_identifier(v)
    return v[:-1] + "X" if v.endswith("x") else v


def _mobile_normalise(v: str) -> str:
    return normalise_mobile(unicodedata.normalize("NFKC", v))


def _id_number_syntax(v: str) -> Problem | None:
    # The checksum depends on id_type and is a cross-field rule; here only a coarse shape check.
    if not 5 <= len(v) <= 20 or not v.isascii() or not v.isalnum():
        return ("id_format", "expected 5-20 ASCII letters or digits")
    return None


_TEXT_LIMITS = {"obligor_name": 64, "home_address": 256, "consent_version": 32}
_STRING_RULES: dict[str, Callable[[str], Problem | None]] = {
    **{name: _text(limit) for name, limit in _TEXT_LIMITS.items()},
    "platform_loan_id": check_loan_id,
    "id_number": _id_number_syntax,
    "mobile": _pattern(_MOBILE_RE, "mobile_format", "expected a mainland mobile number ^1[3-9]\\d{9}$"),
    "repayment_account": _pattern(_ACCOUNT_RE, "account_format", "expected 12-19 digits"),
}
_NORMALISERS: dict[str, Callable[[str], str]] = {
    "platform_loan_id": normalise_identifier,
    "mobile": _mobile_normalise,
    "id_number": _id_number_normalise,
    "repayment_account": normalise_identifier,
}
# Fast acceptance (whole string, ASCII digits) for the pattern-checked strings: a value these match passes
# its check unchanged (no normaliser alters it: no spaces, dashes, +86 prefix or lower-case x).
_STRING_FAST: dict[str, re.Pattern[str]] = {
    "platform_loan_id": _LOAN_ID_RE,
    "id_number": re.compile(r"[0-9A-Z]{5,20}"),
    "mobile": re.compile(r"1[3-9][0-9]{9}"),
    "repayment_account": re.compile(r"[0-9]{12,19}"),
}
_CN_REGION_FAST = re.compile("(?:" + "|".join(sorted(_CN_PROVINCES)) + ")[0-9]{4}")


@dataclass(frozen=True)
class TapeRules:
    """The compiled per-field checks and field sets of tape schema v2 (a superset of v1) for one pool."""

    cfg: PoolConfig
    catalogue: Catalogue
    checks: Mapping[str, Check]
    # Fast acceptance for the common case, a subset of the values the check accepts unchanged:
    # ("int", lo, hi), ("enum", allowed), ("text", min_len, max_len) for printable strings whose first
    # character is no formula prefix, ("date",),
    # ("match", pattern) for strings the pattern matches whole. Anything else goes through the check.
    fast: Mapping[str, tuple[Any, ...]]
    required: frozenset[str]
    not_applicable: frozenset[str]  # identity fields a pool without an identity scheme refuses
    derived: frozenset[str]

    def field_spec(self, name: str) -> FieldSpec | None:
        """The catalogue entry of ``name`` (``None`` if uncatalogued)."""
        return self.catalogue.get(name)


def compile_rules(cfg: PoolConfig, catalogue: Catalogue) -> TapeRules:
    """Build the per-field checks of tape schema v2 from the catalogue's types and the pool settings.

    A v1 row is a v2 row without the period flows, so one set of checks serves both.

    Raises ``KeyError`` if a tape field is missing from the catalogue.
    """
    checks: dict[str, Check] = {}
    fast: dict[str, tuple[Any, ...]] = {}
    for name in TAPE_SCHEMA_V2_FIELDS:
        spec = catalogue[name]
        if spec.type == "int":
            checks[name] = _int_check(spec)
            fast[name] = ("int", *_INT_RANGES.get(spec.name, _UNIT_RANGES[spec.unit]))
        elif spec.type == "date":
            checks[name] = _date_check
            fast[name] = ("date",)
        elif spec.type == "datetime":
            checks[name] = _datetime_check
        elif spec.type == "enum":
            checks[name] = _enum_check(spec.enum_values)
            fast[name] = ("enum", frozenset(spec.enum_values))
        elif name == "region_code":
            checks[name] = _string_check(_region_check(cfg), None)
            us = cfg.region_scheme == "US-STATE"
            fast[name] = ("enum", US_STATES) if us else ("match", _CN_REGION_FAST)
        else:
            checks[name] = _string_check(_STRING_RULES.get(name, _text(128)), _NORMALISERS.get(name))
            if name not in _STRING_RULES or name in _TEXT_LIMITS:
                fast[name] = ("text", 1, _TEXT_LIMITS.get(name, 128))
            elif name in _STRING_FAST:
                fast[name] = ("match", _STRING_FAST[name])
    not_applicable = (
        frozenset(IDENTITY_FIELDS | {"repayment_account"}) if cfg.id_scheme is None else frozenset()
    )
    return TapeRules(
        cfg=cfg,
        catalogue=catalogue,
        checks=checks,
        fast=fast,
        required=frozenset(cfg.required_fields),
        not_applicable=not_applicable,
        derived=frozenset(DERIVED_FIELDS),
    )


# --- Cross-field rules ----------------------------------------------------------------------------------
_OVERDUE_STATUSES = frozenset({"OVERDUE"})
_CURRENT_STATUSES = frozenset({"NORMAL"})


def _years_between(earlier: str, later: str) -> int:
    years = int(later[:4]) - int(earlier[:4])
    return years - 1 if later[5:] < earlier[5:] else years


def cross_field_errors(row: Mapping[str, Any], cfg: PoolConfig, cutoff: str) -> list[FieldError]:
    """Rules that relate fields of one row (reference notes §6.4 items 1, 4-7).

    ``row`` holds values that passed their per-field checks (dates as ISO strings, which order correctly
    as text); absent optional fields are missing keys. ``cutoff`` is the tape's ISO cut-off date.
    """
    out: list[FieldError] = []
    g = row.get
    orig, first, mat = g("origination_date"), g("first_due_date"), g("maturity_date")
    if orig is not None and orig > cutoff:
        out.append(("origination_date", "date_order", "origination_date is after the cut-off date"))
    if orig is not None and first is not None and first < orig:
        out.append(("first_due_date", "date_order", "first_due_date is before origination_date"))
    if first is not None and mat is not None and mat < first:
        out.append(("maturity_date", "date_order", "maturity_date is before first_due_date"))
    elif orig is not None and mat is not None and mat < orig:
        out.append(("maturity_date", "date_order", "maturity_date is before origination_date"))
    pad = g("pool_addition_date")
    if pad is not None and pad > cutoff:
        out.append(("pool_addition_date", "date_order", "pool_addition_date is after the cut-off date"))
    dd = g("default_date")
    if dd is not None:
        if dd > cutoff:
            out.append(("default_date", "date_order", "default_date is after the cut-off date"))
        elif first is not None and dd < first:
            out.append(("default_date", "date_order", "default_date is before first_due_date"))
    co = g("charge_off_date")
    if co is not None and co > cutoff:
        out.append(("charge_off_date", "date_order", "charge_off_date is after the cut-off date"))

    # Identity coherence (GB 11643: digits 7-14 are the birth date, digit 17 odd = male).
    idn, idt = g("id_number"), g("id_type")
    if idn is not None and idt is not None:
        if idt in CHECKSUM_ID_TYPES:
            p = check_prc_id(idn)
            if p is not None:
                out.append(("id_number", p[0], p[1]))
            else:
                bd, gen = g("birth_date"), g("gender")
                if idt == "RESIDENT_ID" and bd is not None and bd.replace("-", "") != idn[6:14]:
                    out.append(
                        ("birth_date", "id_mismatch", "birth_date differs from the ID number's birth date")
                    )
                if idt == "RESIDENT_ID" and gen is not None and gen != ("M" if int(idn[16]) % 2 else "F"):
                    out.append(
                        ("gender", "id_mismatch", "gender differs from the ID number's sequence digit")
                    )
        elif not _OTHER_ID_RE.match(idn):
            out.append(("id_number", "id_format", "expected 5-20 upper-case letters or digits"))
    bd = g("birth_date")
    min_age = cfg.min_age_years
    if min_age is not None and bd is not None and orig is not None and _years_between(bd, orig) < min_age:
        out.append(("birth_date", "min_age", f"obligor younger than {min_age} at origination"))

    # Amounts (notes §6.4 item 4).
    opf, cpf = g("original_principal_fen"), g("current_principal_fen")
    if opf is not None and cpf is not None and cpf > opf:
        out.append(("current_principal_fen", "amount_order", "current principal exceeds original principal"))
    if opf is not None and cfg.max_original_principal is not None and opf > cfg.max_original_principal:
        out.append(
            (
                "original_principal_fen",
                "principal_cap",
                f"original principal exceeds the pool cap of {cfg.max_original_principal}",
            )
        )
    odp = g("overdue_principal_fen")
    if odp is not None and cpf is not None and odp > cpf:
        out.append(("overdue_principal_fen", "amount_order", "overdue principal exceeds current principal"))
    it, ip = g("installments_total"), g("installments_paid")
    if it is not None and ip is not None and ip > it:
        out.append(("installments_paid", "amount_order", "installments_paid exceeds installments_total"))

    # Rates (notes §6.4 item 7; caps from the pool configuration).
    nom, apr = g("nominal_rate_bps"), g("apr_all_in_bps")
    if nom is not None and apr is not None and apr < nom:
        out.append(("apr_all_in_bps", "apr_below_nominal", "all-in APR is below the nominal rate"))
    if apr is not None and apr > cfg.apr_reject_bps:
        out.append(
            ("apr_all_in_bps", "rate_cap", f"all-in APR above the pool cap of {cfg.apr_reject_bps} bps")
        )
    elif apr is None and nom is not None and nom > cfg.apr_reject_bps:
        out.append(
            ("nominal_rate_bps", "rate_cap", f"nominal rate above the pool cap of {cfg.apr_reject_bps} bps")
        )

    # Delinquency coherence (notes §6.4 item 6).
    dpd, odi, status = g("days_past_due"), g("overdue_interest_fen"), g("loan_status")
    if dpd is not None and (odp is not None or odi is not None):
        overdue = (odp or 0) + (odi or 0)
        if dpd > 0 and overdue == 0:
            out.append(("days_past_due", "dpd_coherence", "days_past_due > 0 but nothing is overdue"))
        elif dpd == 0 and overdue > 0:
            out.append(("days_past_due", "dpd_coherence", "overdue amounts reported but days_past_due is 0"))
    if dpd is not None and status is not None:
        if status in _OVERDUE_STATUSES and dpd == 0:
            out.append(("loan_status", "dpd_coherence", "status OVERDUE needs days_past_due > 0"))
        elif status in _CURRENT_STATUSES and dpd > 0:
            out.append(("loan_status", "dpd_coherence", "status NORMAL needs days_past_due = 0"))
        elif status == "DEFAULTED" and dd is None and dpd < cfg.default_days:
            out.append(
                (
                    "loan_status",
                    "dpd_coherence",
                    f"status DEFAULTED needs a default_date or days_past_due >= {cfg.default_days}",
                )
            )
    out.extend(period_flow_errors(row, cfg))
    return out


# Statuses that end a loan's life in the pool (proofs.loan_facts.TERMINAL_STATES): no principal left.
TERMINAL_STATUSES = frozenset({"CHARGED_OFF", "PREPAID_IN_FULL", "MATURED_PAID", "REPURCHASED"})
# Statuses of a loan that met the default definition, before or after its write-off.
_DEFAULT_STATUSES = frozenset({"DEFAULTED", "CHARGED_OFF"})
_PRINCIPAL_FLOWS = (
    "period_scheduled_principal_fen",
    "period_unscheduled_principal_fen",
    "period_written_off_fen",
)


def period_flow_errors(row: Mapping[str, Any], cfg: PoolConfig) -> list[FieldError]:
    """The rules of a loan's status, balance and period flows (docs/metrics.md, "Loan states", "Flows").

    A terminal status (written off, prepaid, matured, repurchased) has no principal left
    (``terminal_balance``); the balance and every flow stay within the pool's per-loan cap
    (``per_loan_cap``, :attr:`PoolConfig.per_loan_cap`). For a tape schema v2 row: all seven flows or
    none (``period_flows_together``); newly defaulted principal and recoveries only on a loan that met
    the default definition, status DEFAULTED or CHARGED_OFF (``flow_status``); a write-off only on a
    CHARGED_OFF loan (``flow_status``); the principal that left the loan in the period, scheduled,
    unscheduled and written off, at most its original principal (``amount_order``). Flows are
    non-negative by their per-field check.
    """
    out: list[FieldError] = []
    g = row.get
    status, cpf, cap = g("loan_status"), g("current_principal_fen"), cfg.per_loan_cap
    if status in TERMINAL_STATUSES and cpf is not None and cpf != 0:
        out.append(
            (
                "current_principal_fen",
                "terminal_balance",
                f"a loan with status {status} has no outstanding principal; current_principal_fen must be 0",
            )
        )
    if cap is not None and cpf is not None and cpf > cap:
        out.append(("current_principal_fen", "per_loan_cap", f"above the pool's per-loan cap of {cap}"))
    present = [n for n in PERIOD_FLOW_FIELDS if g(n) is not None]
    if not present:
        return out
    if len(present) != len(PERIOD_FLOW_FIELDS):
        out.extend(
            (
                n,
                "period_flows_together",
                "a tape schema v2 row carries all seven period flows (0 for none); this one is missing",
            )
            for n in PERIOD_FLOW_FIELDS
            if g(n) is None
        )
        return out
    flows: dict[str, int] = {n: row[n] for n in PERIOD_FLOW_FIELDS}
    if cap is not None:
        out.extend(
            (n, "per_loan_cap", f"above the pool's per-loan cap of {cap}")
            for n, v in flows.items()
            if v > cap
        )
    if status is not None and status not in _DEFAULT_STATUSES:
        for n, what in (
            ("period_defaulted_principal_fen", "newly defaulted principal"),
            ("period_recoveries_fen", "recoveries"),
        ):
            if flows[n] > 0:
                msg = f"{what} only on a DEFAULTED or CHARGED_OFF loan, not {status}"
                out.append((n, "flow_status", msg))
    if status is not None and status != "CHARGED_OFF" and flows["period_written_off_fen"] > 0:
        out.append(
            ("period_written_off_fen", "flow_status", f"a write-off only on a CHARGED_OFF loan, not {status}")
        )
    opf = g("original_principal_fen")
    if opf is not None and sum(flows[n] for n in _PRINCIPAL_FLOWS) > opf:
        out.append(
            (
                "period_scheduled_principal_fen",
                "amount_order",
                "scheduled, unscheduled and written-off principal of the period exceed original principal",
            )
        )
    return out


# --- Masking for error reports ----------------------------------------------------------------------------
_LAST4_FIELDS = frozenset({"id_number", "mobile", "repayment_account"})


def mask_value(name: str, value: Any, catalogue: Catalogue) -> Any:
    """What an error report may show of ``value``.

    Level 1-2 catalogue fields show the value (long strings truncated); level 3+ fields show only the
    type and length, except ID number, mobile and account, which show their last four characters.
    Uncatalogued or forbidden fields show nothing of the value: they could be authentication data. An
    absent value (a required field left out, a JSON null) is ``None``: there is nothing to mask.
    """
    spec = catalogue.get(name)
    if spec is None or spec.forbidden or catalogue.is_forbidden(name):
        return "<withheld>"
    if value is None:
        return None
    if isinstance(value, HugeInteger):
        return repr(value)  # "<integer of N digits>": its digits are not shown at any level
    if spec.level <= 2:
        if isinstance(value, str) and len(value) > 64:
            return value[:64] + "..."
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return f"<{type(value).__name__}>"
    if name in _LAST4_FIELDS and isinstance(value, str) and len(value) >= 8:
        return "*" * (len(value) - 4) + value[-4:]
    if isinstance(value, str):
        return f"<masked string, {len(value)} characters>"
    return f"<masked {type(value).__name__}>"
