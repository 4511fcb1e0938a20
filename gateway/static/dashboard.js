/* PoolProof dashboard: draws the charts a page describes in its <script type="application/json"
   id="chart-data"> block with the vendored Apache ECharts. No inline script: the page's CSP allows
   scripts of this origin only. Values are plain integers (minor units, counts, bps) or null for a
   figure that is suppressed or withheld; a null leaves a gap, it is never drawn as zero. */
(function () {
  "use strict";

  function grouped(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "";
  }

  function option(spec) {
    var stacked = spec.kind === "stacked-bar";
    var topMark = (spec.marks || []).reduce(function (m, x) { return Math.max(m, x.value); }, 0);
    var type = spec.kind === "line" ? "line" : "bar";
    var series = spec.series.map(function (s, i) {
      var out = { name: s.name, type: type, data: s.values, connectNulls: false };
      if (stacked) { out.stack = "total"; }
      if (i === 0 && spec.marks && spec.marks.length) {
        out.markLine = {
          symbol: "none",
          label: { formatter: "{b}" },
          data: spec.marks.map(function (m) { return { name: m.name, yAxis: m.value }; })
        };
      }
      return out;
    });
    var yAxis = { type: "value", name: spec.unit, axisLabel: { formatter: grouped } };
    if (topMark > 0) {
      // a trigger level stays in view even when the series lies far below it
      yAxis.max = function (extent) { return Math.max(extent.max, Math.ceil(topMark * 1.1)); };
    }
    return {
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: grouped },
      legend: { top: 0, type: "scroll" },
      grid: { left: 90, right: 80, top: 40, bottom: spec.x.length > 12 ? 110 : 40 },
      xAxis: {
        type: "category",
        data: spec.x,
        axisLabel: { rotate: spec.x.length > 12 ? 60 : 0, interval: 0 }
      },
      yAxis: yAxis,
      series: series
    };
  }

  function draw() {
    var block = document.getElementById("chart-data");
    if (!block || typeof echarts === "undefined") { return; }
    var charts = JSON.parse(block.textContent).charts;
    charts.forEach(function (spec) {
      var el = document.getElementById(spec.id);
      if (!el) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(spec));
      el.setAttribute("data-rendered", "true");
    });
    document.body.setAttribute("data-charts-rendered", String(charts.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
