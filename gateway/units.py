"""Amounts and rates for people: every amount printed carries its currency and unit.

Tapes, commitments and proofs hold money as integers in the minor unit of the pool's currency (fen for
CNY, cents for USD) and rates as integer basis points; these helpers only render them. Use
:func:`money` where a person reads a sum ("CNY 1,234.56"), :func:`minor_units` where the exact integer
matters ("123,456 fen (CNY minor units)"), and :func:`bps` for rates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Currency:
    """An ISO 4217 currency and its minor unit."""

    code: str
    minor_unit: str
    minor_per_major: int

    def __post_init__(self) -> None:
        if self.minor_per_major not in (1, 10, 100, 1000):
            raise ValueError(f"{self.code}: minor_per_major must be 1, 10, 100 or 1000")


CURRENCIES: dict[str, Currency] = {
    "CNY": Currency("CNY", "fen", 100),
    "USD": Currency("USD", "cent", 100),
    "EUR": Currency("EUR", "cent", 100),
    "HKD": Currency("HKD", "cent", 100),
    "JPY": Currency("JPY", "yen", 1),
}


def currency(code: str, minor_unit: str | None = None, minor_per_major: int | None = None) -> Currency:
    """The currency ``code``; ``minor_unit``/``minor_per_major`` (a pool's settings) take precedence.

    Raises ``ValueError`` for a code neither known nor fully described by the arguments.
    """
    known = CURRENCIES.get(code)
    if known is None:
        if minor_unit is None or minor_per_major is None:
            raise ValueError(f"unknown currency {code!r}; known: {', '.join(sorted(CURRENCIES))}")
        return Currency(code, minor_unit, minor_per_major)
    return Currency(
        code,
        known.minor_unit if minor_unit is None else minor_unit,
        known.minor_per_major if minor_per_major is None else minor_per_major,
    )


def money(amount_minor: int, cur: Currency | str) -> str:
    """``12345678`` fen as ``"CNY 123,456.78"``: exact (integer arithmetic, no float), sign in front."""
    c = currency(cur) if isinstance(cur, str) else cur
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(
            f"amount must be an integer count of {c.minor_unit}, got {type(amount_minor).__name__}"
        )
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), c.minor_per_major)
    if c.minor_per_major == 1:
        return f"{sign}{c.code} {major:,}"
    digits = len(str(c.minor_per_major)) - 1
    return f"{sign}{c.code} {major:,}.{minor:0{digits}d}"


def minor_units(amount_minor: int, cur: Currency | str) -> str:
    """``123456`` as ``"123,456 fen (CNY minor units)"``: the integer as stored, with its unit."""
    c = currency(cur) if isinstance(cur, str) else cur
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(
            f"amount must be an integer count of {c.minor_unit}, got {type(amount_minor).__name__}"
        )
    return f"{amount_minor:,} {c.minor_unit} ({c.code} minor units)"


def bps(rate_bps: int) -> str:
    """``1580`` as ``"15.80 % (1,580 bps)"``."""
    if isinstance(rate_bps, bool) or not isinstance(rate_bps, int):
        raise TypeError(f"rate must be an integer count of basis points, got {type(rate_bps).__name__}")
    sign = "-" if rate_bps < 0 else ""
    whole, frac = divmod(abs(rate_bps), 100)
    return f"{sign}{whole}.{frac:02d} % ({rate_bps:,} bps)"
