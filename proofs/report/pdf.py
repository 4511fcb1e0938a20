"""The report as PDF, laid out with ReportLab's platypus from the same model as the HTML page.

Chinese text uses ReportLab's built-in CID font ``STSong-Light`` (one of the Adobe Asian fonts every
PDF reader provides), so no font file is shipped or embedded; English text uses Helvetica. Charts are
matplotlib PNGs (:mod:`proofs.report.charts`). Operators are printed as ``<=`` / ``>=`` because the
standard Type 1 fonts have no ``≤``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from proofs.report.charts import chart_png
from proofs.report.figures import Figure
from proofs.report.html import chart_title, chart_unit, deal_view
from proofs.report.messages import Lang, metric_label, text
from proofs.report.sections import ReportModel, Row, curve_chart

_CJK_FONT: Final = "STSong-Light"
_ASCII_OPS: Final = {"≤": "<=", "≥": ">="}


def _font(lang: Lang) -> str:
    if lang == "zh":
        if _CJK_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))
        return _CJK_FONT
    return "Helvetica"


def pdf_number(f: Figure, lang: Lang) -> str:
    """The figure's number as printed in the PDF (ASCII operators)."""
    number = f.number(lang)
    for symbol, ascii_op in _ASCII_OPS.items():
        number = number.replace(symbol, ascii_op)
    return number


def _deal_story(
    model: ReportModel,
    lang: Lang,
    p: Any,
    grid: Any,
    body: ParagraphStyle,
    small: ParagraphStyle,
    bad: ParagraphStyle,
) -> list[Any]:
    """The deal's trigger table, cumulative default rates and waterfalls (as on the HTML page)."""
    assert model.deal is not None
    view = deal_view(model.deal, model.evidence.currency, lang, Path("."), Path("."))
    out: list[Any] = [
        p(f"{text('deal.file', lang)}: {view['source']} · {view['deal_id']} v{view['version']}", small)
    ]
    out.append(p(text("deal.triggers", lang), body))
    cols = ("col.period", "col.trigger", "col.level", "col.status", "col.cure", "col.known")
    rows: list[list[Any]] = [[p(text(k, lang), small) for k in cols]]
    for r in view["trigger_rows"]:
        if r["unverified"]:
            rows.append(
                [
                    p(f"{r['period']} ({r['cutoff']})", bad),
                    p(text("status.unverified", lang), bad),
                    p(r["check"], bad),
                    p("", small),
                    p("", small),
                    p(f"{r['bundle']}: {r['message']}", small),
                ]
            )
            continue
        rows.append(
            [
                p(f"{r['period']} ({r['cutoff']})", small),
                p(f"{r['id']} · {r['kind_label']}", small),
                p(r["level"], small),
                p(r["status"], bad if r["breached"] else small),
                p(r["cure"], small),
                p(r["known"] + (f" ({r['reason']})" if r["reason"] else ""), small),
            ]
        )
    out.append(grid(rows, [2.4 * cm, 3.4 * cm, 2.0 * cm, 2.0 * cm, 3.2 * cm, 4.8 * cm]))
    if view["cdr_rows"]:
        out.append(p(text("deal.cdr", lang), body))
        head = [p(text(k, lang), small) for k in ("col.period", "col.value", "deal.cdr_parts", "col.level")]
        rows = [head] + [
            [
                p(f"{r['period']} ({r['cutoff']})", small),
                p(r["display"], small),
                p(r["parts"], small),
                p(r["levels"], small),
            ]
            for r in view["cdr_rows"]
        ]
        out.append(grid(rows, [2.8 * cm, 2.4 * cm, 8.6 * cm, 4 * cm]))
    for w in view["waterfalls"]:
        out.append(p(text("deal.waterfall", lang, period=w["period"], cutoff=w["cutoff"]), body))
        out.append(
            p(
                f"{text('deal.mode', lang)}: {w['mode_label']} · {text('deal.revolving', lang)}: "
                f"{w['revolving_label']}",
                small,
            )
        )
        keys = (
            "col.tranche",
            "deal.interest_due",
            "deal.interest_paid",
            "deal.principal_paid",
            "deal.balance_after",
        )
        rows = [[p(text(k, lang), small) for k in keys]] + [
            [
                p(t["id"], small),
                p(t["interest_due_text"], small),
                p(t["interest_paid_text"], small),
                p(t["principal_paid_text"], small),
                p(t["balance_after_text"], small),
            ]
            for t in w["tranches"]
        ]
        out.append(grid(rows, [2.6 * cm, 3.8 * cm, 3.8 * cm, 3.8 * cm, 3.8 * cm]))
        rows = [[p(text("deal.line", lang), small), p(text("col.value", lang), small)]] + [
            [p(label, small), p(amount_text, small)] for _n, label, _a, amount_text in w["lines"]
        ]
        out.append(grid(rows, [9 * cm, 8.8 * cm]))
    if not view["waterfalls"]:
        out.append(p(text("deal.no_waterfall", lang), small))
    return out


def render_pdf(model: ReportModel, *, lang: Lang, out: Path, gateway_key_id: str, generated_at: str) -> None:
    """Write the PDF report to ``out``."""
    font = _font(lang)
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=font, fontSize=8.5, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h1 = ParagraphStyle("h1", parent=base["Heading1"], fontName=font)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=font)
    bad = ParagraphStyle("bad", parent=body, textColor=colors.HexColor("#a1221a"))
    ev = model.evidence

    def p(value: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(value), style)

    def grid(rows: list[list[Any]], widths: list[float]) -> Table:
        table = Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f5f8")),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d0d4da")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return table

    story: list[Any] = [p(f"{text('title', lang)} · {ev.pool_id or ''}", h1), p(text("subtitle", lang))]
    story.append(p(f"{text('cutoffs', lang)}: {', '.join(s.cutoff for s in ev.snapshots)}"))
    story.append(p(f"{text('gateway_key', lang)}: {gateway_key_id}", small))
    story.append(p(f"{text('generated', lang)}: {generated_at}", small))
    verdict = (
        text("verdict_failed", lang, failed=len(ev.failures), n=ev.bundle_count)
        if ev.failures
        else text("verdict_ok", lang, n=ev.bundle_count)
    )
    story.append(p(verdict, bad if ev.failures else body))

    def row_cells(r: Row) -> list[Any]:
        if r.figure is not None:
            f = r.figure
            return [
                p(f.label(lang)),
                p(f"{pdf_number(f, lang)} {f.unit_label(lang)}"),
                p(f"{text('basis.' + f.basis, lang)} ({f.cutoff})", small),
                p(" ".join(f.bundles), small),
            ]
        assert r.unverified is not None
        u = r.unverified
        return [
            p(metric_label(r.metric, lang), bad),
            p(text("status.unverified", lang), bad),
            p(u.check, bad),
            p(f"{u.bundle}: {u.message}", small),
        ]

    header = [p(text(k, lang)) for k in ("col.figure", "col.value", "col.basis", "col.bundle")]
    for section in model.sections:
        story.append(p(text(section.key, lang), h2))
        for table in section.tables:
            if not table.title.startswith("section."):
                story.append(p(table.title, body))
            rows = [header, *(row_cells(r) for r in table.rows)]
            story.append(grid(rows, [5.2 * cm, 4.2 * cm, 3.6 * cm, 4.8 * cm]))
        if section.trend_rows:
            head = [p(text("col.figure", lang)), *(p(c, small) for c in section.trend_columns)]
            width = 11.8 * cm / max(1, len(section.trend_columns))
            rows = [head]
            for metric, cells in section.trend_rows:
                rows.append(
                    [
                        p(metric_label(metric, lang), small),
                        *(
                            p(f"{pdf_number(f, lang)} {f.unit_label(lang)}" if f else "–", small)
                            for f in cells
                        ),
                    ]
                )
            story.append(grid(rows, [6 * cm, *([width] * len(section.trend_columns))]))
        for chart in section.charts:
            story.append(Spacer(1, 0.3 * cm))
            story.append(p(f"{chart_title(chart, lang)} ({chart_unit(chart, ev.currency, lang)})", body))
            story.append(Image(io.BytesIO(chart_png(chart, ev.currency)), width=17 * cm, height=7.1 * cm))
        if section.absent:
            story.append(p(text(section.absent, lang), small))
        if section.key == "section.deal" and model.deal is not None:
            story.extend(_deal_story(model, lang, p, grid, body, small, bad))
    for matrix in model.transitions:
        story.append(p(f"{matrix.title} · {matrix.cutoff}", h2))
        head = [p(text("col.from_to", lang), small), *(p(b, small) for b in matrix.to_states)]
        matrix_rows: list[list[Any]] = []
        for a in matrix.from_states:
            values = [
                pdf_number(matrix.cells[(a, b)], lang) if (a, b) in matrix.cells else "–"
                for b in matrix.to_states
            ]
            matrix_rows.append([p(a, small), *(p(v, small) for v in values)])
        width = 14 * cm / max(1, len(matrix.to_states))
        story.append(grid([head, *matrix_rows], [3 * cm, *([width] * len(matrix.to_states))]))
    for family in model.curves:
        spec = curve_chart(family)
        story.append(p(f"{family.title} ({chart_unit(spec, ev.currency, lang)})", body))
        story.append(Image(io.BytesIO(chart_png(spec, ev.currency)), width=17 * cm, height=7.1 * cm))
    story.append(p(text("section.failures", lang), h2))
    if ev.failures:
        head = [p(text(k, lang)) for k in ("col.file", "col.cutoff", "col.check", "col.reason")]
        rows = [
            head,
            *(
                [p(u.bundle, small), p(u.cutoff or "", small), p(u.check, small), p(u.message, small)]
                for u in ev.failures
            ),
        ]
        story.append(grid(rows, [4.5 * cm, 2.3 * cm, 3 * cm, 8 * cm]))
    story.append(p(text("section.legend", lang), h2))
    for b in ("disclosure", "threshold", "witness", "derived"):
        story.append(p(f"{text('basis.' + b, lang)}: {text('legend.' + b, lang)}", small))
    story.append(Spacer(1, 0.5 * cm))
    story.append(p(text("footer", lang), small))
    doc = SimpleDocTemplate(
        str(out),
        pagesize=A4,
        leftMargin=1.6 * cm,
        rightMargin=1.6 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=f"{text('title', lang)} {ev.pool_id or ''}",
        author="poolproof-audit report",
    )
    doc.build(story)
