"""The report's figure arithmetic and section placement, on figures built by hand (no sealing).

Printing rounds once, half away from zero, from the exact value (docs/metrics.md, "Conventions"); the
stratification section lays out whatever ``strat.<dimension>.<cell>.count|balance`` figures it is
given; a derived figure exists only when all its inputs verified.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from proofs.report.figures import Figure, cumulative_defaults, derive_figures, format_value, round_half_away
from proofs.report.messages import metric_catalogue
from proofs.report.sections import strata_tables


def _disclosed(metric: str, value: int, *, cutoff: str = "2024-06-30", unit: str = "minor") -> Figure:
    return Figure(
        metric=metric,
        cutoff=cutoff,
        pool_id="P",
        unit=unit,  # type: ignore[arg-type]
        basis="disclosure",
        bundles=(f"{cutoff}-{metric}.json",),
        header_hash="00" * 32,
        currency="CNY",
        value=value,
    )


@pytest.mark.parametrize(
    ("value", "unit", "printed"),
    [
        (123_456, "minor", "1,234.56"),
        (5, "minor", "0.05"),
        (-250, "minor", "-2.50"),
        (12_345, "loans", "12,345"),
        (Fraction(1, 3), "fraction", "33.33"),
        (Fraction(1, 8), "fraction", "12.50"),
        (Fraction(12345, 1_000_000), "fraction", "1.23"),
        (Fraction(12355, 1_000_000), "fraction", "1.24"),  # a half rounds away from zero
    ],
)
def test_figures_print_in_their_unit_rounded_once_half_away_from_zero(
    value: int | Fraction, unit: str, printed: str
) -> None:
    assert format_value(value, unit) == printed  # type: ignore[arg-type]


def test_rounding_half_away_from_zero_is_symmetric() -> None:
    assert str(round_half_away(Fraction(-5, 1000), 2)) == "-0.01"
    assert str(round_half_away(Fraction(5, 1000), 2)) == "0.01"
    assert str(round_half_away(Fraction(4, 1000), 2)) == "0.00"


def test_ratios_and_annualised_rates_are_exact_fractions_of_the_disclosed_integers() -> None:
    disclosed = {
        m: _disclosed(m, v)
        for m, v in {
            "delinquent_1plus_balance": 250,
            "pool_balance": 10_000,
            "unscheduled_principal": 100,
            "rate_base_balance": 10_000,
        }.items()
    }
    derived = {f.metric: f for f in derive_figures(disclosed)}
    assert derived["delinquency_1plus_ratio"].value == Fraction(1, 40)
    assert derived["smm"].value == Fraction(1, 100)
    assert derived["cpr"].value == 1 - Fraction(99, 100) ** 12
    assert derived["cpr"].bundles == (
        "2024-06-30-unscheduled_principal.json",
        "2024-06-30-rate_base_balance.json",
    )
    assert "mdr" not in derived  # defaulted principal was not disclosed: nothing is made up
    assert "net_loss" not in derived


def test_a_zero_denominator_gives_a_zero_rate() -> None:
    disclosed = {"written_off": _disclosed("written_off", 0), "recoveries": _disclosed("recoveries", 30)}
    derived = {f.metric: f for f in derive_figures(disclosed)}
    assert derived["loss_severity"].value == 0
    assert derived["net_loss"].value == -30


def test_cumulative_defaults_sum_the_chain_over_the_first_beginning_balance() -> None:
    months = [
        {
            "beginning_balance": _disclosed("beginning_balance", 1_000_000, cutoff=c),
            "defaulted_principal": _disclosed("defaulted_principal", d, cutoff=c),
        }
        for c, d in (("2024-06-30", 1_000), ("2024-07-31", 3_000), ("2024-08-31", 0))
    ]
    out = cumulative_defaults(months)
    rates = [f.value for f in out if f.metric == "cumulative_default_rate"]
    assert rates == [Fraction(1, 1000), Fraction(4, 1000), Fraction(4, 1000)]
    assert [f.value for f in out if f.metric == "cumulative_defaulted_principal"] == [1_000, 4_000, 4_000]
    del months[1]["defaulted_principal"]
    assert [f.cutoff for f in cumulative_defaults(months)] == ["2024-06-30", "2024-06-30"]  # the run stops


def test_strata_tables_take_any_dimension_and_cell_the_bundles_carry() -> None:
    figures = [
        _disclosed("strat.region.44.balance", 500),
        _disclosed("strat.region.44.count", 3, unit="loans"),
        _disclosed("strat.region.11.balance", 200),
        _disclosed("strat.rate_band.600-1199.count", 2, unit="loans"),
        _disclosed("pool_balance", 700),
    ]
    tables = strata_tables(figures)
    assert [t.title for t in tables] == ["rate_band", "region"]
    region = [r.figure.metric for r in tables[1].rows if r.figure]
    assert region == ["strat.region.11.balance", "strat.region.44.balance", "strat.region.44.count"]


def test_every_metric_label_has_both_languages() -> None:
    for metric, (en, zh) in metric_catalogue().items():
        assert en.strip(), metric
        assert zh.strip(), metric
        assert en != zh, metric
