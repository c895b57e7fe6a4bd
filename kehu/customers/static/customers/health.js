// The data-quality score over time (数据质量 page), drawn with the vendored ECharts from its json_script data.
"use strict";

(function () {
  const element = document.getElementById("health-chart");
  const source = document.getElementById("health-data");
  if (!element || !source || !window.echarts) return;
  const data = JSON.parse(source.textContent);
  const chart = window.echarts.init(element);
  chart.setOption({tooltip: {trigger: "axis", renderMode: "richText"}  /* no HTML tooltip: the CSP refuses its style="…" */, xAxis: {type: "category", data: data.days},
    yAxis: {type: "value", min: 0, max: 100}, series: [{type: "line", data: data.scores}]});
})();
