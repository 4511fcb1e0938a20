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
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jinja2 import Environment, StrictUndefined

from proofs.report.charts import chart_svg
from proofs.report.figures import Figure, Unverified
from proofs.report.messages import Lang, metric_label, text
from proofs.report.sections import ChartSpec, ReportModel, Row

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
{% if s.note %}<p class="note">{{ s.note }}</p>{% endif %}
{% if s.absent %}<p class="note absent">{{ s.absent }}</p>{% endif %}
</section>
{% endfor %}
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
        "charts": {c.key: [f.figure_id for f in c.figures()] for s in model.sections for c in s.charts},
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
        bases=("disclosure", "threshold", "witness", "derived"),
        data_json=data,
    )
