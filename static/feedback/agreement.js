// The agreement page's chart: per annotator, reliability, mean tau-b and gold accuracy as
// grouped bars (uPlot, vendored under static/vendor). Each annotator has one slot per
// figure on the x axis; a missing figure is a gap.
(function () {
  "use strict";
  var box = document.getElementById("agreement-chart");
  if (!box || !box.dataset.chart || typeof uPlot === "undefined") return;
  var chart = JSON.parse(box.dataset.chart);
  var names = chart.annotators;
  var width = chart.series.length + 1;  // slots per annotator, one left empty between
  var colours = ["#3451b2", "#d97706", "#15803d"];
  var xs = [];
  names.forEach(function (_, i) {
    chart.series.forEach(function (_, n) { xs.push(i * width + n); });
  });
  var data = [xs];
  chart.series.forEach(function (s, n) {
    data.push(xs.map(function (x) {
      var i = Math.floor(x / width);
      return x % width === n ? s.values[i] : null;
    }));
  });
  var series = [{ label: "annotator", value: function (u, x) { return x == null ? "—" : names[Math.floor(x / width)]; } }];
  chart.series.forEach(function (s, n) {
    series.push({
      label: s.label,
      fill: colours[n % colours.length],
      stroke: colours[n % colours.length],
      paths: uPlot.paths.bars({ size: [0.9, 48] }),
      points: { show: false },
      value: function (u, v) { return v == null ? "—" : v.toFixed(3); },
    });
  });
  var centres = names.map(function (_, i) { return i * width + (chart.series.length - 1) / 2; });
  new uPlot({
    width: Math.min(Math.max(box.clientWidth, 320), 860),
    height: 260,
    scales: { x: { time: false, range: [-1, names.length * width - 1] }, y: { range: [-1, 1] } },
    series: series,
    axes: [
      { splits: function () { return centres; }, values: function (u, splits) { return splits.map(function (x) { return names[Math.round((x - (chart.series.length - 1) / 2) / width)] || ""; }); } },
      { label: "score" },
    ],
  }, data, box);
})();
