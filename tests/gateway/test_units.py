"""gateway/units.py: every printed amount carries its currency and unit, exactly (no float on the way)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ingest.pool_settings import CN_CONSUMER, US_CONSUMER
from gateway.units import Currency, bps, currency, minor_units, money


def test_money_in_fen_reads_as_yuan_with_the_code() -> None:
    assert money(123456, "CNY") == "CNY 1,234.56"
    assert money(5, "CNY") == "CNY 0.05"
    assert money(-100, "USD") == "-USD 1.00"
    assert money(0, "USD") == "USD 0.00"


def test_a_currency_without_minor_units_has_no_decimals() -> None:
    assert money(1500, "JPY") == "JPY 1,500"


def test_minor_units_name_the_unit_and_the_currency() -> None:
    assert minor_units(123456, "CNY") == "123,456 fen (CNY minor units)"
    assert minor_units(7, "USD") == "7 cent (USD minor units)"


def test_rates_read_as_percent_and_basis_points() -> None:
    assert bps(1580) == "15.80 % (1,580 bps)"
    assert bps(5) == "0.05 % (5 bps)"


def test_the_presets_currencies_are_known() -> None:
    for cfg in (CN_CONSUMER, US_CONSUMER):
        c = currency(cfg.currency, cfg.minor_unit, cfg.minor_per_major)
        assert (c.code, c.minor_unit, c.minor_per_major) == (
            cfg.currency,
            cfg.minor_unit,
            cfg.minor_per_major,
        )


def test_an_unknown_currency_needs_its_unit_spelt_out() -> None:
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        money(1, "XYZ")
    assert money(1234, currency("XYZ", "mil", 1000)) == "XYZ 1.234"


@pytest.mark.parametrize("bad", [1.5, "12", True, None])
def test_only_integer_amounts_are_rendered(bad: object) -> None:
    with pytest.raises(TypeError, match="integer count of fen"):
        money(bad, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="integer count of fen"):
        minor_units(bad, "CNY")  # type: ignore[arg-type]


def test_minor_per_major_must_be_a_decimal_step() -> None:
    with pytest.raises(ValueError, match="minor_per_major"):
        Currency("ABC", "x", 12)


@given(st.integers(min_value=-(10**18), max_value=10**18), st.sampled_from(["CNY", "USD", "JPY"]))
def test_money_is_exact_and_reads_back(amount: int, code: str) -> None:
    text = money(amount, code)
    m = re.fullmatch(r"(-?)([A-Z]{3}) ([\d,]+(?:\.\d+)?)", text)
    assert m is not None
    assert m.group(2) == code
    value = Decimal(m.group(3).replace(",", "")) * (-1 if m.group(1) else 1)
    assert value * currency(code).minor_per_major == amount
