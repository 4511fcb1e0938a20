"""Charts of the report, drawn by matplotlib: inline SVG for the HTML page, PNG for the PDF.

The object-oriented API (``matplotlib.figure.Figure``) is used without pyplot, so no GUI backend or
global state is touched. Text inside a chart is ASCII only (cut-off dates, bucket codes, CPR/CDR,
the unit on the axis): the title and the labels in the reader's language are set by the page around
the chart, so neither the SVG nor the PNG needs a CJK font. The SVG is inlined into the page: its XML
prologue, metadata and namespace declarations (all URLs) are removed, and each chart gets its own
``svg.hashsalt`` so the element ids of two charts on one page never collide.
"""

from __future__ import annotations

import io
import re
from typing import Final

import matplotlib
from matplotlib.figure import Figure as MplFigure

from proofs.report.figures import format_value
from proofs.report.sections import ChartSpec

_SIZE: Final = (7.2, 3.0)
_COLORS: Final = ("#4c72b0", "#dd8452", "#c44e52", "#8172b3", "#55a868", "#937860", "#da8bc3")
_STRIP: Final = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
)


def _axis_unit(spec: ChartSpec, currency: str) -> str:
    return "%" if spec.unit == "fraction" else currency


def _draw(spec: ChartSpec, currency: str) -> MplFigure:
    fig = MplFigure(figsize=_SIZE, dpi=110)
    ax = fig.add_subplot()
    cutoffs = sorted({f.cutoff for f in spec.figures()})
    x = {c: i for i, c in enumerate(cutoffs)}
    if spec.kind == "stacked":
        bottoms = [0.0] * len(cutoffs)
        for i, series in enumerate(spec.series):
            heights = [0.0] * len(cutoffs)
            for f in series.figures:
                heights[x[f.cutoff]] = f.plot_value()
            ax.bar(
                range(len(cutoffs)),
                heights,
                bottom=bottoms,
                label=series.label,
                color=_COLORS[i % len(_COLORS)],
            )
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    else:
        for i, series in enumerate(spec.series):
            ax.plot(
                [x[f.cutoff] for f in series.figures],
                [f.plot_value() for f in series.figures],
                marker="o",
                label=series.label,
                color=_COLORS[i % len(_COLORS)],
            )
        for j, (name, level) in enumerate(spec.levels):
            value = float(level * 100)
            ax.axhline(value, linestyle="--", linewidth=1, color="#444444")
            ax.annotate(
                f"{name} {format_value(level, 'fraction')}%",
                (len(cutoffs) - 1, value),
                textcoords="offset points",
                xytext=(0, 3 + 10 * j),
                ha="right",
                fontsize=8,
            )
    ax.set_xticks(range(len(cutoffs)), cutoffs)
    ax.set_ylabel(_axis_unit(spec, currency))
    ax.grid(axis="y", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, loc="upper left", ncols=min(len(spec.series) + len(spec.levels), 5))
    ax.margins(y=0.25)
    fig.tight_layout()
    return fig


def chart_svg(spec: ChartSpec, currency: str) -> str:
    """The chart as an SVG fragment to inline in HTML (no URL, ids unique to this chart)."""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"poolproof-{spec.key}"}):
        buf = io.StringIO()
        _draw(spec, currency).savefig(buf, format="svg")
    svg = buf.getvalue()
    for pattern in _STRIP:
        svg = pattern.sub("", svg)
    return svg.strip()


def chart_png(spec: ChartSpec, currency: str) -> bytes:
    """The chart as PNG bytes (for the PDF)."""
    buf = io.BytesIO()
    _draw(spec, currency).savefig(buf, format="png", dpi=150)
    return buf.getvalue()
