"""The report's sections as data: which verified figure goes where, and what each chart draws.

Both renderers (:mod:`proofs.report.html`, :mod:`proofs.report.pdf`) lay out the same
:class:`ReportModel`, so the HTML page and the PDF carry the same figures. A section takes a list of
figures: stratification, concentration, roll rates and the waterfall render whatever figures of their
metric families the bundles carry (``strat.<dimension>.<cell>.count|balance``, ``roll.*``,
``waterfall.*``) and say so when there are none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from proofs.report.deal import DealEvidence
from proofs.report.evidence import Evidence, SnapshotEvidence
from proofs.report.figures import RATIOS, Figure, Unverified, by_metric, cumulative_defaults, derive_figures

SUMMARY: Final = (
    "leaf_count",
    "loan_count",
    "active_loan_count",
    "performing_loan_count",
    "pool_balance",
    "outstanding_balance",
    "beginning_balance",
    "principal_collections",
    "collections",
    "interest",
    "fees",
    "interest_and_fees",
)
_STATES: Final = ("M0", "M1", "M2", "M3", "M3+", "DEFAULTED")
_DPD5_BUCKETS: Final = ("current", "1-30", "31-60", "61-90", "90+")
DELINQUENCY: Final = (
    *(f"balance_{s}" for s in _STATES),
    *(f"count_{s}" for s in _STATES),
    *(f"balance_{b}" for b in _DPD5_BUCKETS),
    *(f"count_{b}" for b in _DPD5_BUCKETS),
    *(f"delinquent_{n}_balance" for n in ("1plus", "31plus", "61plus", "90plus", "90plus_or_defaulted")),
    *(f"delinquent_{n}_count" for n in ("1plus", "31plus", "61plus", "90plus")),
    *(f"balance_dpd_{n}" for n in ("1plus", "31plus", "61plus", "90plus")),
    *(f"count_dpd_{n}" for n in ("1plus", "31plus", "61plus", "90plus")),
    *(r[0] for r in RATIOS if r[0].startswith("delinquency_")),
)
PERFORMANCE: Final = (
    "scheduled_principal",
    "unscheduled_principal",
    "count_PREPAID",
    "count_MATURED",
    "count_REPURCHASED",
    "smm",
    "cpr",
    "defaulted_principal",
    "mdr",
    "cdr",
    "cumulative_defaulted_principal",
    "cumulative_default_rate",
    "written_off",
    "count_WRITTEN_OFF",
    "recoveries",
    "net_loss",
    "loss_severity",
)
CONCENTRATION: Final = (
    "balance_cap",
    "largest_balance",
    "top_region_balance",
    "top_region_share",
    "largest_obligor_balance",
    "active_obligor_count",
)
#: Bucket balances drawn as the delinquency trend (stacked, major units).
TREND_BUCKETS: Final = ("balance_M1", "balance_M2", "balance_M3", "balance_M3+", "balance_DEFAULTED")
#: Figures of the trend table, one row each, one column per cut-off.
TREND_TABLE: Final = (
    "pool_balance",
    "outstanding_balance",
    *TREND_BUCKETS,
    "delinquency_1plus_ratio",
    "delinquency_31plus_ratio",
    "delinquency_90plus_or_defaulted_ratio",
    "cpr",
    "cdr",
    "cumulative_default_rate",
)


@dataclass(frozen=True)
class Row:
    """One line of a table: a verified figure, or the notice of a figure that failed verification."""

    figure: Figure | None = None
    unverified: Unverified | None = None
    metric: str = ""


@dataclass
class Table:
    """A titled list of rows (``title`` a catalogue key or a plain string such as a strata dimension)."""

    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class Series:
    """One line or bar series of a chart: its label and the figures it plots, oldest first."""

    label: str
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class ChartSpec:
    """A chart: its catalogue title, kind, unit axis, series, and horizontal trigger levels."""

    key: str
    title: str
    kind: str  # "stacked" or "lines"
    unit: str  # "minor" (major units on the axis) or "fraction" (percent)
    series: tuple[Series, ...]
    levels: tuple[tuple[str, Fraction], ...] = ()
    title_values: tuple[tuple[str, str], ...] = ()

    def figures(self) -> list[Figure]:
        """Every figure the chart draws."""
        return [f for s in self.series for f in s.figures]


@dataclass
class Section:
    """A section: its title key, tables, charts, and the catalogue key of its note when it is empty."""

    key: str
    tables: list[Table] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    absent: str | None = None
    trend_columns: list[str] = field(default_factory=list)
    trend_rows: list[tuple[str, list[Figure | None]]] = field(default_factory=list)


@dataclass(frozen=True)
class TransitionMatrix:
    """A from-state × to-state table of verified figures (roll rates of ``poolproof/link/v1`` bundles).

    The extension point for transition matrices: whatever verifies the bundles builds this object
    (each cell a verified :class:`Figure`, a missing cell drawn as "–") and passes it to
    :func:`build_model`; the renderers draw it as it is.
    """

    title: str
    cutoff: str
    from_states: tuple[str, ...]
    to_states: tuple[str, ...]
    cells: Mapping[tuple[str, str], Figure]

    def figures(self) -> list[Figure]:
        """Every figure of the matrix, row by row."""
        return [self.cells[(a, b)] for a in self.from_states for b in self.to_states if (a, b) in self.cells]


@dataclass(frozen=True)
class CurveFamily:
    """A family of curves, one :class:`Series` per member (e.g. one per vintage), drawn on one chart.

    Each figure's ``cutoff`` is its position on the x axis (a cut-off date, or a months-on-book label
    such as ``"m03"`` for vintage curves); ``unit`` is ``"fraction"`` or ``"minor"``.
    """

    key: str
    title: str
    unit: str
    curves: tuple[Series, ...]


@dataclass
class ReportModel:
    """Everything the page shows."""

    evidence: Evidence
    latest: SnapshotEvidence | None
    sections: list[Section]
    figures: list[Figure]
    deal: DealEvidence | None = None
    transitions: tuple[TransitionMatrix, ...] = ()
    curves: tuple[CurveFamily, ...] = ()

    @property
    def failed(self) -> bool:
        """True if any bundle failed verification."""
        return bool(self.evidence.failures)


def _rows(metrics: Sequence[str], figures: dict[str, Figure], failures: Sequence[Unverified]) -> list[Row]:
    out = []
    for metric in metrics:
        if metric in figures:
            out.append(Row(figure=figures[metric], metric=metric))
            continue
        failed = next((u for u in failures if metric in u.metrics), None)
        if failed is not None:
            out.append(Row(unverified=failed, metric=metric))
    return out


def strata_tables(figures: Iterable[Figure]) -> list[Table]:
    """One table per dimension of ``strat.<dimension>.<cell>.count|balance`` figures, cells in order."""
    cells: dict[str, dict[str, list[Figure]]] = {}
    for f in figures:
        parts = f.metric.split(".")
        if len(parts) == 4 and parts[0] == "strat" and parts[3] in ("count", "balance"):
            cells.setdefault(parts[1], {}).setdefault(parts[2], []).append(f)
    return [
        Table(dimension, [Row(figure=f, metric=f.metric) for cell in sorted(by_cell) for f in by_cell[cell]])
        for dimension, by_cell in sorted(cells.items())
    ]


def _family(figures: Iterable[Figure], prefix: str) -> list[Figure]:
    return [f for f in figures if f.metric.startswith(prefix)]


def _chain_run(evidence: Evidence) -> list[SnapshotEvidence]:
    """The oldest unbroken run of hash-linked snapshots (what cumulative figures may sum over)."""
    run: list[SnapshotEvidence] = []
    for snap in evidence.snapshots:
        if run:
            linked = snap.cutoff in evidence.linked
            consecutive = snap.header.doc["sequence"] == run[-1].header.doc["sequence"] + 1
            if not (linked and consecutive):
                break
        run.append(snap)
    return run


def _series(label: str, metric: str, months: Sequence[dict[str, Figure]]) -> Series | None:
    figures = tuple(m[metric] for m in months if metric in m)
    return Series(label, figures) if len(figures) >= 2 else None


def build_model(
    evidence: Evidence,
    *,
    cumulative_default_triggers: Sequence[Fraction] = (),
    deal: DealEvidence | None = None,
    transitions: Sequence[TransitionMatrix] = (),
    curves: Sequence[CurveFamily] = (),
) -> ReportModel:
    """Place every verified figure (and every failure) of ``evidence`` into the report's sections.

    ``cumulative_default_triggers`` overrides the deal file's cumulative default trigger levels on the
    cumulative default chart (the deal's levels are used when it is empty). ``deal`` is the verified
    payment reports (:func:`proofs.report.deal.verify_payment_reports`); ``transitions`` and
    ``curves`` are already-verified transition matrices and curve families.
    """
    if not cumulative_default_triggers and deal is not None:
        cumulative_default_triggers = deal.cdr_levels()
    for snap in evidence.snapshots:
        snap.figures.extend(derive_figures(by_metric(f for f in snap.figures if f.basis == "disclosure")))
    run = _chain_run(evidence)
    for snap, cumulative in _by_cutoff(run, cumulative_defaults([by_metric(s.figures) for s in run])):
        snap.figures.extend(cumulative)
    latest = evidence.snapshots[-1] if evidence.snapshots else None
    current = by_metric(latest.figures) if latest else {}
    here = [u for u in evidence.failures if latest is None or u.cutoff in (None, latest.cutoff)]
    thresholds = [f for s in evidence.snapshots for f in s.figures if f.basis == "threshold"]
    sections = [
        Section("section.summary", [Table("section.summary", _rows(SUMMARY, current, here))]),
        Section("section.delinquency", [Table("section.delinquency", _rows(DELINQUENCY, current, here))]),
        Section("section.performance", [Table("section.performance", _rows(PERFORMANCE, current, here))]),
        Section("section.strata", strata_tables(current.values())),
        Section(
            "section.concentration", [Table("section.concentration", _rows(CONCENTRATION, current, here))]
        ),
    ]
    placed = {r.metric for s in sections for t in s.tables for r in t.rows}
    others = [
        m for m in sorted(current) if m not in placed and not m.startswith(("strat.", "roll.", "waterfall."))
    ]
    if others:
        sections[0].tables.append(Table("section.summary", _rows(others, current, here)))
    sections.append(_trends(evidence, thresholds, cumulative_default_triggers))
    sections.append(
        Section(
            "section.rolls",
            [
                Table(
                    "section.rolls",
                    _rows(sorted({f.metric for f in _family(current.values(), "roll.")}), current, here),
                )
            ],
        )
    )
    sections.append(
        Section(
            "section.triggers",
            [Table("section.triggers", [Row(figure=f, metric=f.metric) for f in reversed(thresholds)])],
        )
    )
    sections.append(
        Section(
            "section.waterfall",
            [
                Table(
                    "section.waterfall",
                    _rows(sorted({f.metric for f in _family(current.values(), "waterfall.")}), current, here),
                )
            ],
        )
    )
    absent = {
        "section.strata": "absent.strata",
        "section.concentration": "absent.concentration",
        "section.rolls": "absent.rolls",
        "section.waterfall": "absent.waterfall",
        "section.triggers": "absent.triggers",
        "section.trends": "absent.trends",
    }
    for section in sections:
        section.tables = [t for t in section.tables if t.rows]
        if not section.tables and not section.charts:
            section.absent = absent.get(section.key, "absent.section")
    # Concentration with only the cap is still worth the note that nothing else is there.
    conc = sections[4]
    if conc.tables and all(r.metric == "balance_cap" for t in conc.tables for r in t.rows):
        conc.absent = "absent.concentration"
    figures = [f for s in evidence.snapshots for f in s.figures]
    if deal is not None and deal.periods:
        for section in sections:
            if section.key == "section.waterfall" and section.absent:
                section.absent = "absent.waterfall_deal"
    if deal is not None and (deal.periods or deal.failures):
        sections.append(_deal_cdr(deal, evidence.currency, cumulative_default_triggers))
        figures += [f for c in sections[-1].charts for f in c.figures()]
    for family in curves:
        figures += [f for s in family.curves for f in s.figures]
    for matrix in transitions:
        figures += matrix.figures()
    return ReportModel(evidence, latest, sections, figures, deal, tuple(transitions), tuple(curves))


def _deal_cdr(deal: DealEvidence, currency: str, levels: Sequence[Fraction]) -> Section:
    """The cumulative default rate of each verified whole payment report against the trigger levels."""
    section = Section("section.deal")
    figures = tuple(deal.cdr_figures(currency))
    if figures:
        marks = tuple(sorted({("trigger", Fraction(x)) for x in levels}))
        section.charts.append(
            ChartSpec(
                "deal-cdr", "chart.deal_cdr", "lines", "fraction", (Series("CDR cum.", figures),), marks
            )
        )
    else:
        section.absent = "absent.deal_cdr" if not deal.periods else None
    return section


def curve_chart(family: CurveFamily) -> ChartSpec:
    """A curve family as a line chart."""
    return ChartSpec(f"curves-{family.key}", family.title, "lines", family.unit, family.curves)


def _by_cutoff(
    run: Sequence[SnapshotEvidence], figures: Sequence[Figure]
) -> list[tuple[SnapshotEvidence, list[Figure]]]:
    return [(snap, [f for f in figures if f.cutoff == snap.cutoff]) for snap in run]


def _trends(
    evidence: Evidence,
    thresholds: Sequence[Figure],
    cumulative_triggers: Sequence[Fraction],
) -> Section:
    section = Section("section.trends")
    months = [by_metric(s.figures) for s in evidence.snapshots]
    if len(months) < 2:
        return section
    section.trend_columns = [s.cutoff for s in evidence.snapshots]
    for metric in TREND_TABLE:
        cells: list[Figure | None] = [m.get(metric) for m in months]
        if sum(c is not None for c in cells) >= 2:
            section.trend_rows.append((metric, cells))
    buckets = tuple(s for s in (_series(m.removeprefix("balance_"), m, months) for m in TREND_BUCKETS) if s)
    if buckets:
        section.charts.append(ChartSpec("buckets", "chart.buckets", "stacked", "minor", buckets))
    rates = tuple(s for s in (_series("CPR", "cpr", months), _series("CDR", "cdr", months)) if s)
    if rates:
        section.charts.append(ChartSpec("rates", "chart.rates", "lines", "fraction", rates))
    cumulative = _series("CDR cum.", "cumulative_default_rate", months)
    if cumulative is not None:
        levels = tuple(sorted({("trigger", Fraction(x)) for x in cumulative_triggers}))
        levels += tuple(
            (f.op or "", Fraction(f.level or 0)) for f in thresholds if f.metric == "cumulative_default_rate"
        )
        section.charts.append(
            ChartSpec("cumulative", "chart.cumulative", "lines", "fraction", (cumulative,), levels)
        )
    for ratio, num, den in RATIOS:
        triggers = sorted(
            {Fraction(f.level or 0) for f in thresholds if (f.metric, f.denominator_metric) == (num, den)}
        )
        series = _series(ratio, ratio, months)
        if triggers and series is not None:
            section.charts.append(
                ChartSpec(
                    f"trigger-{ratio}",
                    "chart.ratio_trigger",
                    "lines",
                    "fraction",
                    (series,),
                    tuple(("trigger", t) for t in triggers),
                    (("metric", ratio),),
                )
            )
    rolls = sorted({f.metric for m in months for f in m.values() if f.metric.startswith("roll.")})
    roll_series = tuple(s for s in (_series(r.removeprefix("roll."), r, months) for r in rolls) if s)
    if roll_series:
        section.charts.append(ChartSpec("rolls", "chart.rolls", "lines", "fraction", roll_series))
    return section
