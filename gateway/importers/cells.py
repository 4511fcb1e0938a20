"""One source cell to one exact value: decimals, money in minor units, rates in basis points, dates.

Every number is parsed as :class:`decimal.Decimal` (never ``float``). Converting to minor units or basis
points either is exact or follows the rounding rule the mapping states; :func:`to_units` says whether it
rounded, so the importer can count and report it (never silent). Errors are :class:`CellError` with a
rule id and a message that never repeats the cell's text (loan data is level 3 and error text is logged).
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_DECIMAL_RE = re.compile(r"^-?\d{1,15}(\.\d{1,12})?$")  # at most 27 digits: exact in Decimal
MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(MONTH_ABBREVIATIONS, start=1)}
_ROUNDING = {
    "half_even": decimal.ROUND_HALF_EVEN,
    "half_up": decimal.ROUND_HALF_UP,
    "floor": decimal.ROUND_FLOOR,
    "ceiling": decimal.ROUND_CEILING,
}


class CellError(ValueError):
    """A cell breaks a rule: ``rule`` is the rule id, the message says what was expected."""

    def __init__(self, rule: str, message: str, column: str | None = None) -> None:
        self.rule, self.column = rule, column
        super().__init__(message)


class DateFormatError(ValueError):
    """A date format in a mapping is not one the importer understands."""


def parse_decimal(text: str, *, signed: bool = False) -> Decimal:
    """The decimal number in ``text`` (``1234.56``; a leading ``-`` only if ``signed``).

    Raises :class:`CellError` (``number_format``) for anything else: thousands separators, exponents,
    more than 15 digits before the point or 12 after.
    """
    if not _DECIMAL_RE.match(text) or (text.startswith("-") and not signed):
        raise CellError(
            "number_format",
            "expected an unsigned decimal number like 1234.56 (at most 15 digits before the point "
            "and 12 after)",
        )
    return Decimal(text)


def to_units(value: Decimal, places: int, rounding: str) -> tuple[int, bool]:
    """``value`` x 10^places as an integer, and whether that needed rounding.

    ``rounding`` is ``exact`` (raise :class:`CellError` ``precision`` if it is not a whole number) or one
    of ``half_even``, ``half_up``, ``floor``, ``ceiling``.
    """
    scaled = value.scaleb(places)  # exact: moves the decimal point
    whole = scaled.to_integral_value(rounding=decimal.ROUND_DOWN)
    if scaled == whole:
        return int(whole), False
    if rounding == "exact":
        raise CellError(
            "precision", "more decimal places than the unit allows (the mapping's rounding is exact)"
        )
    return int(scaled.to_integral_value(rounding=_ROUNDING[rounding])), True


@dataclass(frozen=True)
class DateFormat:
    """A parsed strftime-style format: the regular expression and what each group is."""

    text: str
    regex: re.Pattern[str]
    groups: tuple[str, ...]
    two_digit_years_from: int | None
    month_only: bool

    def parse(self, text: str) -> date:
        """The date in ``text``; raises :class:`CellError` (``date_format``) naming the expected format."""
        m = self.regex.match(text)
        rule = "month_format" if self.month_only else "date_format"
        if m is None:
            raise CellError(
                rule, f"expected a {'month' if self.month_only else 'date'} in the format {self.text}"
            )
        parts = dict(zip(self.groups, m.groups(), strict=True))
        if "Y" in parts:
            year = int(parts["Y"])
        else:
            yy, base = int(parts["y"]), self.two_digit_years_from or 0
            year = base + (yy - base % 100) % 100
        month = _MONTHS[parts["b"]] if "b" in parts else int(parts["m"])
        day = int(parts.get("d", "1"))
        hh, mm, ss = int(parts.get("H", "0")), int(parts.get("M", "0")), int(parts.get("S", "0"))
        if not (hh < 24 and mm < 60 and ss < 60):
            raise CellError(rule, f"not a valid time of day (format {self.text})")
        try:
            return date(year, month, day)
        except ValueError:
            raise CellError(rule, f"not a calendar date (format {self.text})") from None


_DIRECTIVES = {
    "Y": r"(\d{4})",
    "y": r"(\d{2})",
    "m": r"(\d{1,2})",
    "d": r"(\d{1,2})",
    "b": "(" + "|".join(MONTH_ABBREVIATIONS) + ")",
    "H": r"(\d{2})",
    "M": r"(\d{2})",
    "S": r"(\d{2})",
    "f": r"(\d{1,9})",
    "z": r"(Z|[+-]\d{2}:?\d{2})",
}


def parse_date_format(text: str, two_digit_years_from: int | None, *, month_only: bool) -> DateFormat:
    """Compile a format such as ``%b-%Y``, ``%b-%y``, ``%Y-%m-%d`` or ``%Y-%m-%d %H:%M:%S.%f``.

    Directives: ``%Y`` (4-digit year), ``%y`` (2-digit year; needs ``two_digit_years_from``: the
    year is the one in [from, from + 99] that ends in those digits), ``%m``, ``%d`` (1 or 2 digits),
    ``%b`` (English month abbreviation, ``Jan``), ``%H %M %S`` (time, checked then dropped), ``%f``
    (fraction of a second), ``%z`` (``Z`` or an offset, checked then not applied: a date-time gives the
    date as the source wrote it), ``%%``. A month format (``month_only``) gives the first day of the month
    and must not contain ``%d``. Raises :class:`DateFormatError`.
    """
    out, groups, i = ["^"], [], 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            out.append(re.escape(ch))
            i += 1
            continue
        if i + 1 >= len(text):
            raise DateFormatError("the format ends in a lone %")
        d = text[i + 1]
        i += 2
        if d == "%":
            out.append("%")
            continue
        if d not in _DIRECTIVES:
            raise DateFormatError(f"unknown directive %{d} (known: %Y %y %m %d %b %H %M %S %f %z)")
        if d in groups:
            raise DateFormatError(f"directive %{d} appears twice")
        out.append(_DIRECTIVES[d])
        groups.append(d)
    out.append("$")
    g = set(groups)
    if len(g & {"Y", "y"}) != 1 or len(g & {"m", "b"}) != 1:
        raise DateFormatError("a format needs one year (%Y or %y) and one month (%m or %b)")
    if month_only and "d" in g:
        raise DateFormatError("a month format has no day (%d): use type 'date'")
    if not month_only and "d" not in g:
        raise DateFormatError("a date format needs a day (%d): use type 'month' for a month")
    if "y" in g and two_digit_years_from is None:
        raise DateFormatError("a %y format needs two_digit_years_from (e.g. 2000: '18' is 2018)")
    if two_digit_years_from is not None and "y" not in g:
        raise DateFormatError("two_digit_years_from applies only to a %y format")
    return DateFormat(text, re.compile("".join(out)), tuple(groups), two_digit_years_from, month_only)
