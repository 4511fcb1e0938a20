"""The report's figures: what each one is, how it is known, and how it is printed with its unit.

A :class:`Figure` is one number on the page (or one proven threshold), tied to the bundles it rests on.
Its ``basis`` says how it is known:

* ``disclosure``: a verified disclosure bundle opened the committed aggregate to this exact integer;
* ``threshold``: a verified range-claim bundle proved the committed figure is on the stated side of a
  level, and the value itself stays hidden;
* ``witness``: a field of a signed header that the witnesses the investor requires recomputed from
  every leaf before cosigning (the loan count; the per-loan cap the pool circuit proves);
* ``derived``: a ratio or rate this tool computed from ``disclosure`` figures of one header with exact
  rational arithmetic (docs/metrics.md, "Conventions": CPR and CDR are computed, not range-proven).

Money is integer minor units, ratios exact fractions; printing rounds once, half away from zero
(docs/metrics.md), to two decimals of the major unit or of a percentage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Final, Literal

from proofs.report.messages import Lang, currency_label, metric_label, text

Basis = Literal["disclosure", "threshold", "witness", "derived"]
Unit = Literal["minor", "loans", "fraction"]
BASES: Final[tuple[Basis, ...]] = ("disclosure", "threshold", "witness", "derived")
#: Minor units per major unit of the currencies a pool may use (ISO 4217 exponent 2 for all of them).
_MINOR_PER_MAJOR: Final = 100


@dataclass(frozen=True)
class Figure:
    """One verified figure of one snapshot.

    ``value`` is an ``int`` (minor units or a count) or a ``Fraction`` (a ratio); a threshold has no
    value but ``op`` and ``level`` (a fraction for ratio claims, an integer bound otherwise).
    ``bundles`` are the files (relative to the bundle folder) the figure rests on.
    """

    metric: str
    cutoff: str
    pool_id: str
    unit: Unit
    basis: Basis
    bundles: tuple[str, ...]
    header_hash: str
    currency: str
    value: int | Fraction | None = None
    op: str | None = None
    level: int | Fraction | None = None
    denominator_metric: str | None = None
    witnesses: tuple[str, ...] = ()
    inputs: tuple[str, ...] = field(default=())

    @property
    def figure_id(self) -> str:
        """Unique on the page: the cut-off, the metric and, for a threshold, the statement."""
        if self.basis == "threshold":
            den = f"/{self.denominator_metric}" if self.denominator_metric else ""
            return f"{self.cutoff}/{self.metric}{den}{self.op}{_exact(self.level)}"
        return f"{self.cutoff}/{self.metric}"

    def label(self, lang: Lang) -> str:
        """The figure's name; a threshold on a ratio names both metrics."""
        if self.denominator_metric:
            return f"{metric_label(self.metric, lang)} / {metric_label(self.denominator_metric, lang)}"
        return metric_label(self.metric, lang)

    def exact(self) -> str:
        """The exact value as text: an integer, or ``num/den`` for a fraction ("" for a threshold)."""
        return _exact(self.value)

    def number(self, lang: Lang) -> str:
        """The printed number without its unit (a threshold prints its level with its operator)."""
        if self.basis == "threshold":
            return text("trigger_level", lang, op=_op_symbol(self.op), level=self.level_text())
        assert self.value is not None
        return format_value(self.value, self.unit)

    def level_text(self) -> str:
        """A threshold's level printed in the figure's unit."""
        assert self.level is not None
        return format_value(self.level, self.unit)

    def unit_label(self, lang: Lang) -> str:
        """The unit printed beside the number."""
        return unit_label(self.unit, self.currency, lang)

    def plot_value(self) -> float:
        """The value as a float for a chart's axis: percent for fractions, major units for money."""
        assert self.value is not None
        if self.unit == "fraction":
            return float(self.value * 100)
        if self.unit == "minor":
            return float(Fraction(self.value) / _MINOR_PER_MAJOR)
        return float(self.value)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form embedded in the report (exact values, never floats)."""
        doc: dict[str, Any] = {
            "id": self.figure_id,
            "metric": self.metric,
            "cutoff": self.cutoff,
            "pool_id": self.pool_id,
            "unit": self.unit,
            "currency": self.currency,
            "basis": self.basis,
            "bundles": list(self.bundles),
            "header_hash": self.header_hash,
            "witnesses": list(self.witnesses),
        }
        if self.value is not None:
            doc["value"] = self.exact()
        if self.basis == "threshold":
            doc["op"] = self.op
            doc["level"] = _exact(self.level)
            doc["denominator_metric"] = self.denominator_metric
        if self.inputs:
            doc["inputs"] = list(self.inputs)
        return doc


@dataclass(frozen=True)
class Unverified:
    """A bundle that failed: nothing it carries is drawn, and the report says which check failed.

    ``metrics`` and ``cutoff`` are read from the failed bundle *unverified*, only to place the notice
    where the figure would have been.
    """

    bundle: str
    check: str
    message: str
    metrics: tuple[str, ...] = ()
    cutoff: str | None = None

    def reason(self, lang: Lang) -> str:
        """The failing check and its message, for people."""
        return text("unverified_reason", lang, check=self.check, message=self.message)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form embedded in the report."""
        return {
            "bundle": self.bundle,
            "check": self.check,
            "message": self.message,
            "metrics": list(self.metrics),
            "cutoff": self.cutoff,
        }


def _exact(value: int | Fraction | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return str(int(value))


def _op_symbol(op: str | None) -> str:
    return {"<=": "≤", ">=": "≥", "between": "∈"}.get(op or "", op or "")


def round_half_away(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half away from zero to ``places`` decimals (exact: no float on the way)."""
    scaled = value * 10**places
    q, r = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * r >= scaled.denominator:
        q += 1
    signed = q if scaled >= 0 else -q
    return (Decimal(signed) / Decimal(10**places)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def format_value(value: int | Fraction, unit: Unit) -> str:
    """The printed number: money in major units with two decimals, counts whole, fractions in percent."""
    if unit == "fraction":
        return f"{round_half_away(Fraction(value) * 100, 2):,.2f}"
    if unit == "minor":
        return f"{round_half_away(Fraction(value, _MINOR_PER_MAJOR), 2):,.2f}"
    return f"{int(value):,}"


def unit_label(unit: Unit, currency: str, lang: Lang) -> str:
    """The unit of a figure for people: the currency, loans, or percent."""
    if unit == "minor":
        return currency_label(currency, lang)
    if unit == "loans":
        return text("unit.loans", lang)
    return text("unit.percent", lang)


# --- figures computed from proven disclosures -----------------------------------------------------

#: Ratios of two disclosed metrics of one header (docs/metrics.md): id, numerator, denominator.
RATIOS: Final[tuple[tuple[str, str, str], ...]] = (
    ("delinquency_1plus_ratio", "delinquent_1plus_balance", "pool_balance"),
    ("delinquency_31plus_ratio", "delinquent_31plus_balance", "pool_balance"),
    ("delinquency_61plus_ratio", "delinquent_61plus_balance", "pool_balance"),
    ("delinquency_90plus_ratio", "delinquent_90plus_balance", "pool_balance"),
    (
        "delinquency_90plus_or_defaulted_ratio",
        "delinquent_90plus_or_defaulted_balance",
        "outstanding_balance",
    ),
    ("smm", "unscheduled_principal", "rate_base_balance"),
    ("mdr", "defaulted_principal", "rate_base_balance"),
)
#: Annualised rates ``1 − (1 − x)^12`` of a monthly fraction (docs/metrics.md, "Prepayment and
#: default rates").
ANNUALISED: Final[tuple[tuple[str, str], ...]] = (("cpr", "smm"), ("cdr", "mdr"))


def _ratio(num: int, den: int) -> Fraction:
    """``num/den``, 0 for a zero denominator (docs/metrics.md: "A denominator of 0 gives a rate of 0")."""
    return Fraction(0) if den == 0 else Fraction(num, den)


def derive_figures(disclosed: Mapping[str, Figure]) -> list[Figure]:
    """Figures computed exactly from the disclosures of one header (``{metric: figure}``).

    A derived figure exists only when every input was disclosed and verified; it lists the inputs'
    bundles, so it is never drawn from a bundle that failed.
    """
    out: dict[str, Figure] = {}

    def make(metric: str, value: int | Fraction, unit: Unit, inputs: Sequence[Figure]) -> Figure:
        first = inputs[0]
        bundles = tuple(dict.fromkeys(b for f in inputs for b in f.bundles))
        return Figure(
            metric=metric,
            cutoff=first.cutoff,
            pool_id=first.pool_id,
            unit=unit,
            basis="derived",
            bundles=bundles,
            header_hash=first.header_hash,
            currency=first.currency,
            value=value,
            witnesses=first.witnesses,
            inputs=tuple(f.metric for f in inputs),
        )

    def int_value(f: Figure) -> int:
        assert isinstance(f.value, int)
        return f.value

    for metric, num, den in RATIOS:
        if num in disclosed and den in disclosed:
            a, b = disclosed[num], disclosed[den]
            out[metric] = make(metric, _ratio(int_value(a), int_value(b)), "fraction", (a, b))
    for metric, monthly in ANNUALISED:
        if monthly in out:
            m = out[monthly]
            assert isinstance(m.value, Fraction)
            inputs = [disclosed[name] for name in m.inputs]
            out[metric] = make(metric, 1 - (1 - m.value) ** 12, "fraction", inputs)
    if "written_off" in disclosed and "recoveries" in disclosed:
        w, r = disclosed["written_off"], disclosed["recoveries"]
        out["net_loss"] = make("net_loss", int_value(w) - int_value(r), "minor", (w, r))
        out["loss_severity"] = make(
            "loss_severity", _ratio(int_value(w) - int_value(r), int_value(w)), "fraction", (w, r)
        )
    return list(out.values())


def cumulative_defaults(chain: Sequence[Mapping[str, Figure]]) -> list[Figure]:
    """Cumulative defaulted principal and rate at each cut-off of a verified, unbroken chain.

    ``chain`` holds each cut-off's disclosed figures, oldest first, every header linked to the one
    before. The rate divides by the first cut-off's beginning balance (the bundles carry no revolving
    purchases). The run stops at the first cut-off without a verified ``defaulted_principal``.
    """
    if not chain or "beginning_balance" not in chain[0]:
        return []
    base = chain[0]["beginning_balance"]
    assert isinstance(base.value, int)
    total = 0
    used: list[Figure] = [base]
    out: list[Figure] = []
    for month in chain:
        flow = month.get("defaulted_principal")
        if flow is None:
            break
        assert isinstance(flow.value, int)
        total += flow.value
        used.append(flow)
        total_figure = Figure(
            metric="cumulative_defaulted_principal",
            cutoff=flow.cutoff,
            pool_id=flow.pool_id,
            unit="minor",
            basis="derived",
            bundles=tuple(dict.fromkeys(b for f in used for b in f.bundles)),
            header_hash=flow.header_hash,
            currency=flow.currency,
            value=total,
            witnesses=flow.witnesses,
            inputs=("defaulted_principal",),
        )
        rate = replace(
            total_figure,
            metric="cumulative_default_rate",
            unit="fraction",
            value=_ratio(total, base.value),
            inputs=("defaulted_principal", "beginning_balance"),
        )
        out += [total_figure, rate]
    return out


def by_metric(figures: Iterable[Figure]) -> dict[str, Figure]:
    """``{metric: figure}`` of the value figures (thresholds left out)."""
    return {f.metric: f for f in figures if f.basis != "threshold"}
