/* The analytics page (/console/analytics): Chart.js (vendored, api/web/static/vendor/chart.js) draws the numbers
   the server put in #chart-data, one chart per <canvas data-chart="id">. The tables beside them hold the same
   numbers, for readers without script or sight. */
(function () {
  "use strict";
  var COLORS = ["#1f5fbf", "#d9822b", "#2f9e44", "#9c36b5", "#c92a2a", "#5c677d", "#0b7285", "#a61e4d"];
  var source = document.getElementById("chart-data");
  if (!source || typeof window.Chart === "undefined") return;
  var specs = JSON.parse(source.textContent);
  var Chart = window.Chart;
  Chart.defaults.animation = false;
  Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#1c2733";

  function datasets(spec) {
    return spec.series.map(function (s, i) {
      if (spec.kind === "doughnut") {
        return {label: s.label, data: s.values,
                backgroundColor: spec.labels.map(function (_, j) { return COLORS[j % COLORS.length]; })};
      }
      var color = spec.series.length === 1 && spec.kind === "hbar" ? COLORS[0] : COLORS[i % COLORS.length];
      return {label: s.label, data: s.values, borderColor: color, backgroundColor: color,
              borderWidth: spec.kind === "line" ? 2 : 0, pointRadius: 3, tension: 0, fill: false};
    });
  }

  function options(spec) {
    var many = spec.series.length > 1 || spec.kind === "doughnut";
    var o = {responsive: true, maintainAspectRatio: false,
             plugins: {legend: {display: many, position: "bottom"}}};
    if (spec.kind !== "doughnut") {
      o.indexAxis = spec.kind === "hbar" ? "y" : "x";
      var value = {stacked: spec.stacked, beginAtZero: true};
      var labels = {stacked: spec.stacked, ticks: {autoSkip: true, maxRotation: 0}};
      o.scales = spec.kind === "hbar" ? {x: value, y: labels} : {x: labels, y: value};
    }
    return o;
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var spec = specs[canvas.dataset.chart];
    if (!spec) return;
    if (spec.kind === "hbar") {  // a bar per label: the chart grows with them
      canvas.parentElement.style.height = Math.max(160, 26 * spec.labels.length + 70) + "px";
    }
    new Chart(canvas, {type: spec.kind === "hbar" ? "bar" : spec.kind,
                       data: {labels: spec.labels, datasets: datasets(spec)}, options: options(spec)});
  });
})();
