// Job page: poll the job's JSON, draw its curves with uPlot (evaluation beside training on
// the same axes; the metrics that mean something first), show times and the log.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var charts = {};
  window.jobCharts = charts; // the uPlot instances by metric, for whoever inspects the page
  var FINISHED = ["succeeded", "failed", "cancelled"];
  // What a curve is about decides whether it is shown by default and where it goes.
  var MEANINGFUL = /(^|\/|_)(loss|accuracy|accuracies|margin|margins|reward|rewards|chosen|rejected|win_rate|kl|score)($|\/|_)/;
  var ORDER = ["loss", "rewards/margins", "accuracy", "rewards/accuracies", "rewards/chosen",
               "rewards/rejected"];
  var allCurves = document.getElementById("all-curves");
  var last = null;

  // "eval_loss" is drawn with "loss"; "eval/rewards/margins" with "rewards/margins".
  function family(name) {
    return name.replace(/^eval[_/]/, "");
  }

  function isEval(name) {
    return /^eval[_/]/.test(name);
  }

  // Tick labels that read right for negative values and small numbers: as many decimals as
  // the step between ticks needs, exponent form below 1e-3 (a learning rate of 5e-6 reads
  // 5.0e-6, not 0), and the minus sign kept.
  function tickFormat(splits) {
    var step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0] || 1);
    var biggest = Math.max.apply(null, splits.map(function (v) { return Math.abs(v); }));
    if (biggest !== 0 && biggest < 1e-3) {
      return splits.map(function (v) { return v === 0 ? "0" : v.toExponential(1); });
    }
    var decimals = step > 0 ? Math.max(0, Math.min(8, Math.ceil(-Math.log10(step) + 0.001))) : 2;
    return splits.map(function (v) { return v.toFixed(decimals); });
  }

  function axisSize(self, values) {
    if (!values) return 50;
    var longest = values.reduce(function (n, v) { return Math.max(n, String(v).length); }, 0);
    return Math.max(50, longest * 7 + 18);
  }

  function valueText(v) {
    if (v === null || v === undefined) return "—";
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  }

  // Points of the training and evaluation series aligned on one x axis (steps).
  function align(train, evals) {
    var steps = {};
    (train || []).forEach(function (p) { steps[p[0]] = true; });
    (evals || []).forEach(function (p) { steps[p[0]] = true; });
    var xs = Object.keys(steps).map(Number).sort(function (a, b) { return a - b; });
    function column(points) {
      var at = {};
      (points || []).forEach(function (p) { at[p[0]] = p[1]; });
      return xs.map(function (x) { return x in at ? at[x] : null; });
    }
    var data = [xs, column(train)];
    if (evals) data.push(column(evals));
    return data;
  }

  function removeChart(key) {
    var box = charts[key].root.parentNode; // destroy() takes the chart out of its box
    charts[key].destroy();
    if (box) box.remove();
    delete charts[key];
  }

  function chartFor(key, train, evals) {
    var data = align(train, evals);
    // Two charts a row: the box's width less the gap and each chart's border and padding.
    var width = Math.floor(Math.max(300, (document.getElementById("charts").clientWidth - 16) / 2 - 14));
    if (charts[key] && charts[key].series.length === data.length) {
      charts[key].setData(data);
      return;
    }
    if (charts[key]) {
      removeChart(key);
    }
    var box = document.createElement("div");
    box.className = "chart";
    box.dataset.metric = key;
    document.getElementById("charts").appendChild(box);
    var series = [{ label: "step" }];
    series.push({ label: train ? key : "eval " + key, stroke: "#3451b2", width: 2, spanGaps: true, value: function (u, v) { return valueText(v); } });
    if (evals) {
      series.push({ label: "eval " + key, stroke: "#d97706", width: 2, spanGaps: true, points: { show: true, size: 6 }, value: function (u, v) { return valueText(v); } });
    }
    charts[key] = new uPlot({
      title: key, width: width, height: 230,
      scales: { x: { time: false } },
      series: series,
      axes: [{ label: "step", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] }, { values: function (u, splits) { return tickFormat(splits); }, size: axisSize }],
    }, data, box);
  }

  function fmtDuration(seconds) {
    if (!(seconds >= 0)) return "—";
    var s = Math.round(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + r + " s";
  }

  function fmtTime(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function stepsText(job) {
    if (job.status === "queued") return "queued";
    if (job.status === "running" && !job.progress.step) return "starting…";
    return "step " + job.progress.step + " of " + job.progress.total_steps;
  }

  function drawCurves(job) {
    var families = {};
    Object.keys(job.metrics).forEach(function (name) {
      if (!job.metrics[name].length) return;
      var key = family(name);
      families[key] = families[key] || {};
      families[key][isEval(name) ? "evals" : "train"] = job.metrics[name];
    });
    var showAll = allCurves && allCurves.checked;
    var keys = Object.keys(families).filter(function (key) {
      var points = (families[key].train || []).length + (families[key].evals || []).length;
      return points > 1 && (showAll || MEANINGFUL.test(key));
    });
    keys.sort(function (a, b) {
      var ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    Object.keys(charts).forEach(function (key) {
      if (keys.indexOf(key) < 0) {
        removeChart(key);
      }
    });
    keys.forEach(function (key) { chartFor(key, families[key].train, families[key].evals); });
    var empty = document.getElementById("charts-empty");
    if (empty) empty.hidden = keys.length > 0;
  }

  function render(job) {
    last = job;
    var status = document.getElementById("status");
    status.textContent = job.status;
    status.className = "status status-" + job.status;
    var bar = document.getElementById("progress");
    bar.max = job.progress.total_steps || 1;
    bar.value = job.status === "succeeded" ? bar.max : job.progress.step;
    document.getElementById("steps").textContent = stepsText(job);
    document.getElementById("attempts").textContent = job.attempts;
    var error = document.getElementById("error");
    error.textContent = job.error;
    error.hidden = !job.error;
    document.getElementById("started").textContent = fmtTime(job.started_at) || "not yet";
    document.getElementById("ended").textContent = fmtTime(job.finished_at) || "—";
    var end = job.finished_at ? new Date(job.finished_at) : new Date();
    document.getElementById("duration").textContent = job.started_at
      ? fmtDuration((end - new Date(job.started_at)) / 1000) + (job.finished_at ? "" : " so far")
      : "—";
    document.getElementById("log").textContent = job.log.join("\n");
    document.getElementById("result").textContent = JSON.stringify(job.result, null, 2);
    drawCurves(job);
  }

  if (allCurves) {
    allCurves.addEventListener("change", function () { if (last) drawCurves(last); });
  }

  // Polls until the job has finished; a failed request or an answer that is not OK is
  // tried again later, so the page never stops following a job.
  function poll() {
    fetch(root.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(
        function (job) {
          try {
            render(job);
          } catch (error) {
            console.error("job page: could not draw the job", error);
          }
          if (FINISHED.indexOf(job.status) < 0) setTimeout(poll, 2000);
          else if (root.dataset.finished !== "1") window.location.reload();
        },
        function () { setTimeout(poll, 5000); }
      );
  }
  poll();
})();
