// Draws the analysis charts with the vendored ECharts. Each chart is a <div data-chart="ID"> and its data a
// <script type="application/json" id="ID"> made by Django's json_script; the spec's "kind" picks the drawing.
"use strict";

(function () {
  const BRAND = ["#c2410c", "#2563eb", "#15803d", "#b45309", "#7c3aed", "#0e7490", "#be185d", "#4b5563",
    "#65a30d", "#9a3412"];
  const pct = (v) => (v == null ? "—" : (v * 100).toFixed(1) + "%");
  // The shop's currency symbol (系统设置 → 币种), written on <body data-currency-symbol> by base.html.
  const SYMBOL = (document.body && document.body.dataset.currencySymbol) || "¥";
  const money = (v) => SYMBOL + Number(v).toLocaleString("zh-CN", { maximumFractionDigits: 0 });
  const base = { color: BRAND, textStyle: { fontFamily: "inherit" }, animationDuration: 300 };
  const grid = { left: 56, right: 56, top: 36, bottom: 48, containLabel: true };

  function bars(spec, stacked) {
    return {
      ...base,
      tooltip: { trigger: "axis", valueFormatter: spec.percent ? pct : spec.money ? money : undefined },
      legend: { top: 0 },
      grid,
      xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: spec.axisName, axisLabel: { formatter: spec.percent ? pct : spec.money ? money : undefined } },
      series: spec.series.map((s) => ({ type: "bar", name: s.name, data: s.data, stack: stacked ? "all" : undefined })),
    };
  }

  const KINDS = {
    monthly: (spec) => ({
      ...base,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid,
      xAxis: { type: "category", data: spec.categories },
      yAxis: [{ type: "value", name: spec.series[0].name, axisLabel: { formatter: money } }, { type: "value" }],
      series: spec.series.map((s) => ({ type: s.type, name: s.name, data: s.data, yAxisIndex: s.axis, smooth: true,
        tooltip: s.axis === 0 ? { valueFormatter: money } : undefined })),
    }),
    lines: (spec) => ({
      ...base,
      tooltip: { trigger: "axis", valueFormatter: (v) => Number(v).toLocaleString("zh-CN", { maximumFractionDigits: 1 }) },
      legend: { top: 0 },
      grid,
      xAxis: { type: "category", data: spec.categories, boundaryGap: false },
      yAxis: { type: "value" },
      series: spec.series.map((s, i) => ({ type: "line", name: s.name, data: s.data, showSymbol: false,
        color: i === 0 ? "#111827" : undefined, lineStyle: i === 0 ? { width: 3 } : { type: "dashed" },
        markLine: i === 0 && spec.mark ? { silent: true, symbol: "none", label: { formatter: spec.markLabel || "" },
          lineStyle: { type: "dotted", color: "#4b5563" }, data: [{ xAxis: spec.mark }] } : undefined })),
    }),
    bars: (spec) => bars(spec, false),
    stacked: (spec) => bars(spec, true),
    hbars: (spec) => ({
      ...base,
      tooltip: { trigger: "axis", valueFormatter: money },
      grid: { ...grid, top: 16 },
      xAxis: { type: "value", name: spec.axisName, nameLocation: "middle", nameGap: 28, axisLabel: { formatter: money } },
      yAxis: { type: "category", data: spec.categories },
      series: spec.series.map((s) => ({ type: "bar", name: s.name, data: s.data })),
    }),
    funnel: (spec) => ({
      ...base,
      tooltip: { trigger: "item", formatter: "{b}：{c}" },
      series: [{ type: "funnel", sort: "none", gap: 2, left: "10%", width: "80%", minSize: "20%",
        label: { show: true, position: "inside", formatter: "{b} {c}" }, data: spec.data }],
    }),
    pareto: (spec) => ({
      ...base,
      tooltip: { trigger: "axis", formatter: (p) => `前 ${pct(p[0].value[0])} 的客户：${pct(p[0].value[1])} 的消费` },
      grid,
      xAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: pct }, name: "客户" },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: pct }, name: "消费金额" },
      series: [{ type: "line", data: spec.data, showSymbol: false, areaStyle: { opacity: 0.12 },
        markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed" },
          data: [{ xAxis: 0.2 }, { yAxis: 0.8 }, { yAxis: 0.95 }] } }],
    }),
    heatmap: (spec) => {
      const values = spec.data.map((d) => d[2]);
      return {
        ...base,
        tooltip: { position: "top", formatter: (p) => `${spec.y[p.value[1]]} · ${spec.x[p.value[0]]}：${spec.percent ? pct(p.value[2]) : p.value[2]}` },
        grid: { ...grid, top: 16, bottom: 72 },
        xAxis: { type: "category", data: spec.x, splitArea: { show: true }, axisLabel: { interval: 0, rotate: spec.x.length > 8 ? 30 : 0 } },
        yAxis: { type: "category", data: spec.y, splitArea: { show: true }, inverse: true },
        visualMap: { dimension: 2, min: 0, max: spec.percent ? 1 : Math.max(1, ...values), calculable: true, orient: "horizontal",
          left: "center", bottom: 0, inRange: { color: ["#fff7f0", "#fdba8c", "#c2410c"] },
          formatter: spec.percent ? pct : undefined },
        series: [{ type: "heatmap", data: spec.data, label: { show: true, formatter: (p) => (spec.percent ? pct(p.value[2]) : p.value[2]) } }],
      };
    },
    grid: (spec) => {
      const values = spec.data.map((d) => d[2]);
      return {
        ...base,
        tooltip: { formatter: (p) => `R${p.value[1] + 1} F${p.value[0] + 1} · ${p.value[3]}：${p.value[2]}` },
        grid: { ...grid, top: 8, bottom: 24 },
        xAxis: { type: "category", data: spec.x, name: "F" },
        yAxis: { type: "category", data: spec.y, name: "R" },
        visualMap: { show: false, dimension: 2, min: 0, max: Math.max(1, ...values), inRange: { color: ["#fff7f0", "#f59e63"] } },
        series: [{ type: "heatmap", data: spec.data, label: { show: true, fontSize: 11, formatter: (p) => `${p.value[3]}\n${p.value[2]}` } }],
      };
    },
  };

  function draw(element) {
    const source = document.getElementById(element.dataset.chart);
    if (!source || !window.echarts) return;
    const spec = JSON.parse(source.textContent);
    const build = spec && KINDS[spec.kind];
    if (!build) return;
    const chart = window.echarts.init(element, null, { renderer: "canvas" });
    const option = build(spec);
    // Tooltips drawn on the canvas: ECharts' HTML tooltips carry style="…" attributes, which the
    // Content-Security-Policy (style-src 'self') refuses.
    option.tooltip = { ...option.tooltip, renderMode: "richText" };
    chart.setOption(option);
    new ResizeObserver(() => chart.resize()).observe(element);
  }

  function init() {
    document.querySelectorAll("[data-chart]").forEach(draw);
    document.querySelectorAll("select[data-autosubmit]").forEach((select) =>
      select.addEventListener("change", () => select.form.submit()));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
