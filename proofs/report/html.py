"""The report as one self-contained HTML file, rendered with Jinja2 (autoescaped).

Nothing on the page is fetched: the style sheet is inline, the charts are inline SVG
(:mod:`proofs.report.charts`), and the only links are relative links to the bundle files beside each
figure. Every figure is an element carrying its exact value, unit, basis and bundles in ``data-``
attributes, and the whole set is embedded once more as JSON (``<script type="application/json"
id="report-data">``), so a reader's own script, or a test, can check every number on the page against
the bundles.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jinja2 import Environment, StrictUndefined

from proofs.report.charts import chart_svg
from proofs.report.deal import DealEvidence, TriggerRow
from proofs.report.figures import Figure, Unverified, format_value, unit_label
from proofs.report.messages import Lang, line_label, metric_label, text
from proofs.report.sections import ChartSpec, ReportModel, Row, curve_chart

_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('title') }} · {{ pool }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", Arial,
 sans-serif;
       margin: 2rem auto; max-width: 70rem; color: #1d2430; line-height: 1.4; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #4c72b0; padding-bottom: 0.2rem; margin-top:
 2rem; }
.meta { color: #555; font-size: 0.9rem; } .meta dt { font-weight: 600; float: left; width: 11rem; }
.meta dd { margin-left: 11rem; }
.verdict { padding: 0.6rem 1rem; border-radius: 4px; font-weight: 600; margin: 1rem 0; }
.verdict.ok { background: #e6f4ea; color: #1e6b34; } .verdict.failed { background: #fdecea; color:
 #a1221a; }
table { border-collapse: collapse; width: 100%; margin: 0.6rem 0; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { background: #f3f5f8; }
td.num, .figure .number { font-variant-numeric: tabular-nums; white-space: nowrap; }
.figure .unit { color: #555; margin-left: 0.25rem; }
.basis { display: inline-block; font-size: 0.75rem; border-radius: 3px; padding: 0 0.35rem; white-space:
 nowrap; }
.basis-disclosure { background: #e3ecfa; color: #1f4b99; } .basis-threshold { background: #fff1d6;
 color: #7a5200; }
.basis-witness { background: #e6f4ea; color: #1e6b34; } .basis-derived { background: #efe8f7; color:
 #5a3a85; }
tr.unverified td { background: #fdecea; color: #a1221a; }
td.breached { color: #a1221a; font-weight: 600; } td.clear { color: #1e6b34; }
.basis-served { background: #f1f1f1; color: #666; }
a.bundle { font-size: 0.78rem; color: #4c72b0; margin-right: 0.3rem; }
.note { color: #666; font-style: italic; } .chart { margin: 1rem 0; }
.chart svg { width: 100%; max-width: 46rem; height: auto; }
footer { margin-top: 3rem; color: #777; font-size: 0.8rem; }
</style>
</head>
<body>
<h1>{{ t('title') }} · {{ pool }}</h1>
<p class="meta">{{ t('subtitle') }}</p>
<dl class="meta">
<dt>{{ t('pool') }}</dt><dd>{{ pool }}</dd>
<dt>{{ t('cutoff') }}</dt><dd>{{ latest_cutoff }}</dd>
<dt>{{ t('cutoffs') }}</dt><dd>{{ cutoffs | join(', ') }}</dd>
<dt>{{ t('gateway_key') }}</dt><dd><code>{{ gateway_key_id }}</code></dd>
<dt>{{ t('witness_policy') }}</dt><dd>{{ witness_policy }}</dd>
<dt>{{ t('generated') }}</dt><dd>{{ generated_at }}</dd>
</dl>
<div class="verdict {{ 'failed' if failures else 'ok' }}" id="verdict">{{ verdict }}</div>
{% macro figure_cells(f) -%}
<td class="figure num" data-figure-id="{{ f.id }}" data-metric="{{ f.metric }}" data-cutoff="{{ f.cutoff }}"
 data-value="{{ f.value }}" data-unit="{{ f.unit }}" data-basis="{{ f.basis }}"
 data-display="{{ f.number }}"
 data-bundles="{{ f.bundles | join(' ') }}"><span class="number">{{ f.number }}</span><span
 class="unit">{{ f.unit_label }}</span></td>
<td><span class="basis basis-{{ f.basis }}">{{ f.basis_label }}</span></td>
<td>{% for b in f.links %}<a class="bundle" href="{{ b.href }}">{{ b.name }}</a>{% endfor %}</td>
{%- endmacro %}
{% macro unverified_cells(u) -%}
<td class="num">{{ t('status.unverified') }}</td><td>{{ u.check }}</td>
<td><a class="bundle" href="{{ u.href }}">{{ u.bundle }}</a> {{ u.reason }}</td>
{%- endmacro %}
{% for s in sections %}
<section id="{{ s.id }}">
<h2>{{ s.title }}</h2>
{% for table in s.tables %}
{% if table.title %}<h3>{{ table.title }}</h3>{% endif %}
<table>
<tr><th>{{ t('col.figure') }}</th><th>{{ t('col.value') }}</th><th>{{ t('col.basis') }}</th>
<th>{{ t('col.bundle') }}</th></tr>
{% for r in table.rows %}
{% if r.figure %}<tr><td>{{ r.figure.label }}</td>{{ figure_cells(r.figure) }}</tr>
{% else %}<tr class="unverified" data-unverified-bundle="{{ r.unverified.bundle }}"
 data-check="{{ r.unverified.check }}"
 data-metric="{{ r.metric }}"><td>{{ r.label }}</td>{{ unverified_cells(r.unverified) }}</tr>
{% endif %}
{% endfor %}
</table>
{% endfor %}
{% if s.trend_rows %}
<table class="trend">
<tr><th>{{ t('col.figure') }}</th>{% for c in s.trend_columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for label, cells in s.trend_rows %}
<tr><td>{{ label }}</td>{% for f in cells %}{% if f %}<td class="figure num" data-figure-id="{{ f.id }}"
 data-metric="{{ f.metric }}"
 data-cutoff="{{ f.cutoff }}" data-value="{{ f.value }}" data-unit="{{ f.unit }}"
 data-basis="{{ f.basis }}" data-display="{{ f.number }}"
 data-bundles="{{ f.bundles | join(' ') }}"><span class="number">{{ f.number }}</span><span
 class="unit">{{ f.unit_label }}</span>
 <span class="basis basis-{{ f.basis }}">{{ f.basis_label }}</span></td>
{%- else %}<td>–</td>{% endif %}{% endfor %}</tr>
{% endfor %}
</table>
{% endif %}
{% for c in s.charts %}
<figure class="chart" id="chart-{{ c.key }}" data-chart="{{ c.key }}"
 data-figures="{{ c.figure_ids | join(' ') }}">
<figcaption><strong>{{ c.title }}</strong> ({{ c.unit }})</figcaption>
{{ c.svg | safe }}
</figure>
{% endfor %}
{% if s.id == 'deal' and deal %}
<p class="meta">{{ t('deal.file') }}: <code>{{ deal.source }}</code> ·
 {{ deal.deal_id }} v{{ deal.version }}</p>
<h3>{{ t('deal.triggers') }}</h3>
<table class="deal-triggers">
<tr><th>{{ t('col.period') }}</th><th>{{ t('col.trigger') }}</th><th>{{ t('col.level') }}</th>
<th>{{ t('col.status') }}</th><th>{{ t('col.cure') }}</th><th>{{ t('col.known') }}</th>
<th>{{ t('col.bundle') }}</th></tr>
{% for row in deal.trigger_rows %}
{% if row.unverified %}<tr class="unverified" data-unverified-bundle="{{ row.bundle }}"
 data-check="{{ row.check }}" data-deal-period="{{ row.period }}"><td>{{ row.period }} ({{ row.cutoff }})</td>
<td colspan="4">{{ t('status.unverified') }}</td><td>{{ row.check }}</td>
<td><a class="bundle" href="{{ row.href }}">{{ row.bundle }}</a> {{ row.message }}</td></tr>
{% else %}<tr class="deal-trigger" data-deal-period="{{ row.period }}" data-trigger="{{ row.id }}"
 data-breached="{{ row.breached | lower }}" data-basis="{{ row.basis }}" data-level-bps="{{ row.level_bps }}"
 data-in-effect="{{ row.in_effect }}" data-bundle="{{ row.bundle }}">
<td>{{ row.period }} ({{ row.cutoff }})</td>
<td>{{ row.id }} · {{ row.kind_label }}</td><td class="num">{{ row.level }}</td>
<td class="{{ 'breached' if row.breached else 'clear' }}">{{ row.status }}</td><td>{{ row.cure }}</td>
<td><span class="basis basis-{{ 'threshold' if row.basis != 'served' else 'served' }}">{{ row.known }}</span>
{% if row.reason %}<br><small>{{ row.reason }}</small>{% endif %}</td>
<td><a class="bundle" href="{{ row.href }}">{{ row.bundle }}</a></td></tr>
{% endif %}
{% endfor %}
</table>
{% if deal.cdr_rows %}
<h3>{{ t('deal.cdr') }}</h3>
<table class="deal-cdr">
<tr><th>{{ t('col.period') }}</th><th>{{ t('col.value') }}</th><th>{{ t('deal.cdr_parts') }}</th>
<th>{{ t('col.level') }}</th></tr>
{% for r in deal.cdr_rows %}<tr class="deal-cdr-row" data-deal-period="{{ r.period }}"
 data-value="{{ r.exact }}" data-numerator="{{ r.numerator }}" data-denominator="{{ r.denominator }}">
<td>{{ r.period }} ({{ r.cutoff }})</td>
<td class="num">{{ r.display }}</td><td class="num">{{ r.parts }}</td><td>{{ r.levels }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% for w in deal.waterfalls %}
<h3>{{ t('deal.waterfall', period=w.period, cutoff=w.cutoff) }}</h3>
<p class="meta" data-deal-period="{{ w.period }}" data-principal-mode="{{ w.mode }}"
 data-revolving="{{ w.revolving | lower }}">{{ t('deal.mode') }}: {{ w.mode_label }} ·
 {{ t('deal.revolving') }}: {{ w.revolving_label }}</p>
<table class="deal-tranches" data-deal-period="{{ w.period }}">
<tr><th>{{ t('col.tranche') }}</th><th>{{ t('deal.interest_due') }}</th><th>{{ t('deal.interest_paid') }}</th>
<th>{{ t('deal.principal_paid') }}</th><th>{{ t('deal.balance_after') }}</th></tr>
{% for tr in w.tranches %}<tr data-tranche="{{ tr.id }}" data-interest-due="{{ tr.interest_due }}"
 data-interest-paid="{{ tr.interest_paid }}" data-principal-paid="{{ tr.principal_paid }}"
 data-balance-after="{{ tr.balance_after }}"><td>{{ tr.id }}</td>
<td class="num">{{ tr.interest_due_text }}</td>
<td class="num">{{ tr.interest_paid_text }}</td><td class="num">{{ tr.principal_paid_text }}</td>
<td class="num">{{ tr.balance_after_text }}</td></tr>
{% endfor %}
</table>
<table class="deal-lines" data-deal-period="{{ w.period }}">
<tr><th>{{ t('deal.line') }}</th><th>{{ t('col.value') }}</th></tr>
{% for name, label, amount, text in w.lines %}<tr data-line="{{ name }}" data-amount="{{ amount }}">
<td>{{ label }}</td>
<td class="num">{{ text }}</td></tr>
{% endfor %}
</table>
{% endfor %}
{% if not deal.waterfalls %}<p class="note">{{ t('deal.no_waterfall') }}</p>{% endif %}
{% endif %}
{% if s.note %}<p class="note">{{ s.note }}</p>{% endif %}
{% if s.absent %}<p class="note absent">{{ s.absent }}</p>{% endif %}
</section>
{% endfor %}
{% if transitions or curves %}
<section id="transitions">
<h2>{{ t('section.transitions') }}</h2>
{% for m in transitions %}
<h3>{{ m.title }} · {{ m.cutoff }}</h3>
<table class="transition-matrix" data-matrix="{{ m.title }}">
<tr><th>{{ t('col.from_to') }}</th>{% for b in m.to_states %}<th>{{ b }}</th>{% endfor %}</tr>
{% for a, cells in m.rows %}<tr><th>{{ a }}</th>{% for f in cells %}{% if f %}<td class="figure num"
 data-figure-id="{{ f.id }}" data-metric="{{ f.metric }}" data-value="{{ f.value }}"
 data-basis="{{ f.basis }}" data-bundles="{{ f.bundles | join(' ') }}">{{ f.number }}{{ f.unit_label }}</td>
{%- else %}<td>–</td>{% endif %}{% endfor %}</tr>
{% endfor %}
</table>
{% endfor %}
{% for c in curves %}
<figure class="chart" id="chart-{{ c.key }}" data-chart="{{ c.key }}"
 data-figures="{{ c.figure_ids | join(' ') }}">
<figcaption><strong>{{ c.title }}</strong> ({{ c.unit }})</figcaption>
{{ c.svg | safe }}
</figure>
{% endfor %}
</section>
{% endif %}
<section id="failures">
<h2>{{ t('section.failures') }}</h2>
{% if failures %}
<table>
<tr><th>{{ t('col.file') }}</th><th>{{ t('col.cutoff') }}</th><th>{{ t('col.check') }}</th>
<th>{{ t('col.reason') }}</th></tr>
{% for u in failures %}<tr class="unverified" data-unverified-bundle="{{ u.bundle }}"
 data-check="{{ u.check }}">
<td><a class="bundle"
 href="{{ u.href }}">{{ u.bundle }}</a></td><td>{{ u.cutoff or '' }}</td>
<td>{{ u.check }}</td><td>{{ u.message }}</td></tr>
{% endfor %}
</table>
{% else %}<p class="note">–</p>{% endif %}
</section>
<section id="bundles">
<h2>{{ t('section.bundles') }}</h2>
<table>
<tr><th>{{ t('col.file') }}</th><th>{{ t('col.kind') }}</th><th>{{ t('col.cutoff') }}</th></tr>
{% for v in verified %}<tr data-verified-bundle="{{ v.name }}"><td><a class="bundle"
 href="{{ v.href }}">{{ v.name }}</a></td>
<td>{{ v.kind }}</td><td>{{ v.cutoff or '' }}</td></tr>
{% endfor %}
{% for name, fmt in skipped %}<tr
 data-skipped-file="{{ name }}"><td>{{ name }}</td><td>{{ t('kind.skipped') }}
 ({{ fmt }})</td><td></td></tr>
{% endfor %}
</table>
</section>
<section id="legend">
<h2>{{ t('section.legend') }}</h2>
<dl>{% for b in bases %}<dt><span
 class="basis basis-{{ b }}">{{ t('basis.' + b) }}</span></dt><dd>{{ t('legend.' + b) }}</dd>{% endfor %}</dl>
</section>
<footer>{{ t('footer') }}</footer>
<script type="application/json" id="report-data">{{ data_json | safe }}</script>
</body>
</html>
"""


def _href(folder: Path, out_dir: Path, name: str) -> str:
    return quote(os.path.relpath(folder / name, out_dir).replace(os.sep, "/"))


def figure_view(f: Figure, lang: Lang, folder: Path, out_dir: Path) -> dict[str, Any]:
    """What the template shows of one figure."""
    return {
        "id": f.figure_id,
        "metric": f.metric,
        "cutoff": f.cutoff,
        "value": f.exact(),
        "unit": f.unit,
        "basis": f.basis,
        "bundles": f.bundles,
        "number": f.number(lang),
        "unit_label": f.unit_label(lang),
        "label": f.label(lang),
        "basis_label": text(f"basis.{f.basis}", lang),
        "links": [{"name": b, "href": _href(folder, out_dir, b)} for b in f.bundles],
    }


def _unverified_view(u: Unverified, lang: Lang, folder: Path, out_dir: Path) -> dict[str, Any]:
    return {**u.to_json(), "reason": u.reason(lang), "href": _href(folder, out_dir, u.bundle)}


def _row_view(r: Row, lang: Lang, folder: Path, out_dir: Path) -> dict[str, Any]:
    if r.figure is not None:
        return {"figure": figure_view(r.figure, lang, folder, out_dir), "metric": r.metric}
    assert r.unverified is not None
    return {
        "figure": None,
        "unverified": _unverified_view(r.unverified, lang, folder, out_dir),
        "metric": r.metric,
        "label": metric_label(r.metric, lang),
    }


def chart_title(c: ChartSpec, lang: Lang) -> str:
    """A chart's title in ``lang``."""
    values = {k: metric_label(v, lang) for k, v in c.title_values}
    return text(c.title, lang, label=values["metric"]) if values else text(c.title, lang)


def chart_unit(c: ChartSpec, currency: str, lang: Lang) -> str:
    """The unit of a chart's axis in ``lang``."""
    from proofs.report.figures import unit_label

    return unit_label("fraction" if c.unit == "fraction" else "minor", currency, lang)


def _money(amount: int, currency: str, lang: Lang) -> str:
    return f"{format_value(amount, 'minor')} {unit_label('minor', currency, lang)}"


def _level(row: TriggerRow, lang: Lang) -> str:
    if row.level_bps is None:
        return text("deal.level_excess_spread", lang)
    return f"> {format_value(Fraction(row.level_bps, 10_000), 'fraction')} %"


def _cure(row: TriggerRow, lang: Lang) -> str:
    if row.in_effect is None:
        return text("deal.cure_unknown", lang)
    if not row.in_effect:
        return text("deal.not_in_effect", lang)
    if row.cure_periods is None:
        return text("deal.in_effect_no_cure", lang)
    return text("deal.in_effect_curing", lang, clear=row.clear_periods or 0, need=row.cure_periods)


def deal_view(deal: DealEvidence, currency: str, lang: Lang, folder: Path, out_dir: Path) -> dict[str, Any]:
    """What both renderers show of the deal: trigger rows per period, the cumulative default rate and
    each verified whole report's waterfall; a failed report is one UNVERIFIED row per period."""
    rows: list[dict[str, Any]] = []
    for p in deal.periods:
        for r in p.triggers:
            rows.append(
                {
                    "unverified": False,
                    "period": p.period,
                    "cutoff": p.cutoff,
                    "id": r.trigger_id,
                    "kind_label": text(f"trigger.{r.kind}", lang),
                    "level": _level(r, lang),
                    "level_bps": "" if r.level_bps is None else r.level_bps,
                    "breached": r.breached,
                    "status": text("deal.breached" if r.breached else "deal.not_breached", lang),
                    "cure": _cure(r, lang),
                    "in_effect": "" if r.in_effect is None else str(r.in_effect).lower(),
                    "basis": r.basis,
                    "known": text(f"deal.known.{r.basis}", lang),
                    "reason": r.reason,
                    "bundle": p.bundle,
                    "href": _href(folder, out_dir, p.bundle),
                }
            )
    for u in deal.failures:
        rows.append(
            {
                "unverified": True,
                "period": u.metrics[0].removeprefix("deal.period.") if u.metrics else "",
                "cutoff": u.cutoff or "",
                "check": u.check,
                "message": u.message,
                "bundle": u.bundle,
                "href": _href(folder, out_dir, u.bundle),
            }
        )
    rows.sort(key=lambda r: (str(r["period"]).zfill(6), r["unverified"]))
    levels = ", ".join(f"> {format_value(x, 'fraction')} %" for x in deal.cdr_levels())
    cdr_rows = []
    waterfalls = []
    for p in deal.periods:
        rate = p.cumulative_default_rate
        if rate is not None and p.cdr_numerator is not None:
            cdr_rows.append(
                {
                    "period": p.period,
                    "cutoff": p.cutoff,
                    "exact": f"{rate.numerator}/{rate.denominator}",
                    "numerator": p.cdr_numerator,
                    "denominator": p.cdr_denominator,
                    "display": f"{format_value(rate, 'fraction')} %",
                    "parts": f"{_money(p.cdr_numerator, currency, lang)} / "
                    f"{_money(p.cdr_denominator or 0, currency, lang)}",
                    "levels": levels,
                }
            )
        if p.view == "full":
            waterfalls.append(
                {
                    "period": p.period,
                    "cutoff": p.cutoff,
                    "bundle": p.bundle,
                    "mode": p.principal_mode,
                    "mode_label": text(f"deal.mode.{p.principal_mode}", lang),
                    "revolving": bool(p.revolving),
                    "revolving_label": text("deal.yes" if p.revolving else "deal.no", lang),
                    "tranches": [
                        {
                            "id": t.tranche_id,
                            "interest_due": t.interest_due,
                            "interest_paid": t.interest_paid,
                            "principal_paid": t.principal_paid,
                            "balance_after": t.balance_after,
                            "interest_due_text": _money(t.interest_due, currency, lang),
                            "interest_paid_text": _money(t.interest_paid, currency, lang),
                            "principal_paid_text": _money(t.principal_paid, currency, lang),
                            "balance_after_text": _money(t.balance_after, currency, lang),
                        }
                        for t in p.tranches
                    ],
                    "lines": [
                        (name, line_label(name, lang), amount, _money(amount, currency, lang))
                        for name, amount in p.lines
                    ],
                }
            )
    d = deal.deal
    return {
        "source": deal.deal_source,
        "deal_id": d.deal_id if d else "",
        "version": d.version if d else "",
        "trigger_rows": rows,
        "cdr_rows": cdr_rows,
        "waterfalls": waterfalls,
    }


def transitions_view(model: ReportModel, lang: Lang, folder: Path, out_dir: Path) -> list[dict[str, Any]]:
    """The transition matrices as rows of cells (``None`` where the matrix has no figure)."""
    out = []
    for m in model.transitions:
        rows = [
            (a, [figure_view(m.cells[(a, b)], lang, folder, out_dir) if (a, b) in m.cells else None
                 for b in m.to_states])
            for a in m.from_states
        ]  # fmt: skip
        out.append({"title": m.title, "cutoff": m.cutoff, "to_states": m.to_states, "rows": rows})
    return out


def report_data(model: ReportModel) -> dict[str, Any]:
    """The JSON embedded in the page: every figure, every failure, and what each chart draws."""
    ev = model.evidence
    return {
        "format": "poolproof/report-data/v1",
        "pool_id": ev.pool_id,
        "currency": ev.currency,
        "cutoffs": [s.cutoff for s in ev.snapshots],
        "bundles_checked": ev.bundle_count,
        "figures": [f.to_json() for f in model.figures],
        "unverified": [u.to_json() for u in ev.failures],
        "charts": {
            **{c.key: [f.figure_id for f in c.figures()] for s in model.sections for c in s.charts},
            **{curve_chart(c).key: [f.figure_id for f in curve_chart(c).figures()] for c in model.curves},
        },
        "deal": None
        if model.deal is None
        else {
            "deal_id": model.deal.deal.deal_id if model.deal.deal else None,
            "periods": [p.to_json() for p in model.deal.periods],
            "unverified": [u.to_json() for u in model.deal.failures],
        },
    }


def render_html(
    model: ReportModel,
    *,
    lang: Lang,
    folder: Path,
    out: Path,
    gateway_key_id: str,
    generated_at: str,
) -> str:
    """The page's HTML text."""
    ev = model.evidence
    out_dir = out.parent
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(_TEMPLATE)

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    policy = ev.witness_policy
    witness_policy = (
        text("witness_policy_none", lang)
        if policy.required == 0
        else text("witness_policy_k", lang, k=policy.required, n=len(policy.keys))
    )
    sections = []
    for s in model.sections:
        sections.append(
            {
                "id": s.key.removeprefix("section."),
                "title": t(s.key),
                "tables": [
                    {
                        "title": "" if table.title.startswith("section.") else table.title,
                        "rows": [_row_view(r, lang, folder, out_dir) for r in table.rows],
                    }
                    for table in s.tables
                ],
                "trend_columns": s.trend_columns,
                "trend_rows": [
                    (
                        metric_label(m, lang),
                        [figure_view(f, lang, folder, out_dir) if f else None for f in cells],
                    )
                    for m, cells in s.trend_rows
                ],
                "charts": [
                    {
                        "key": c.key,
                        "title": chart_title(c, lang),
                        "unit": chart_unit(c, ev.currency, lang),
                        "figure_ids": [f.figure_id for f in c.figures()],
                        "svg": chart_svg(c, ev.currency),
                    }
                    for c in s.charts
                ],
                "note": t("cumulative_note") if any(c.key == "cumulative" for c in s.charts) else "",
                "absent": t(s.absent) if s.absent else "",
            }
        )
    verdict = (
        t("verdict_failed", failed=len(ev.failures), n=ev.bundle_count)
        if ev.failures
        else t("verdict_ok", n=ev.bundle_count)
    )
    data = json.dumps(report_data(model), ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    return template.render(
        t=t,
        lang=lang,
        pool=ev.pool_id or "",
        latest_cutoff=model.latest.cutoff if model.latest else "",
        cutoffs=[s.cutoff for s in ev.snapshots],
        gateway_key_id=gateway_key_id,
        witness_policy=witness_policy,
        generated_at=generated_at,
        verdict=verdict,
        sections=sections,
        failures=[_unverified_view(u, lang, folder, out_dir) for u in ev.failures],
        verified=[
            {
                "name": v.name,
                "kind": t(f"kind.{v.kind}"),
                "cutoff": v.cutoff,
                "href": _href(folder, out_dir, v.name),
            }
            for v in ev.verified
        ],
        skipped=ev.skipped,
        deal=None if model.deal is None else deal_view(model.deal, ev.currency, lang, folder, out_dir),
        transitions=transitions_view(model, lang, folder, out_dir),
        curves=[
            {
                "key": spec.key,
                "title": c.title,
                "unit": chart_unit(spec, ev.currency, lang),
                "figure_ids": [f.figure_id for f in spec.figures()],
                "svg": chart_svg(spec, ev.currency),
            }
            for c in model.curves
            for spec in (curve_chart(c),)
        ],
        bases=("disclosure", "threshold", "witness", "derived"),
        data_json=data,
    )
