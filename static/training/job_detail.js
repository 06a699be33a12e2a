// Job page: poll the job's JSON, draw its curves with uPlot, show the latest log lines.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var charts = {};
  var FINISHED = ["succeeded", "failed", "cancelled"];
  // Loss, reward and accuracy curves first; any other metric the engine reports after.
  var ORDER = ["loss", "eval_loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
               "accuracy", "eval_accuracy", "rewards/accuracies"];

  function chartFor(name, points) {
    var data = [points.map(function (p) { return p[0]; }), points.map(function (p) { return p[1]; })];
    if (charts[name]) { charts[name].setData(data); return; }
    var box = document.createElement("div");
    box.className = "chart";
    document.getElementById("charts").appendChild(box);
    charts[name] = new uPlot({
      title: name, width: 420, height: 220,
      scales: { x: { time: false } },
      series: [{ label: "step" }, { label: name, stroke: "#2563eb", width: 2 }],
      axes: [{ label: "step" }, {}]
    }, data, box);
  }

  function render(job) {
    var status = document.getElementById("status");
    status.textContent = job.status;
    status.className = "status status-" + job.status;
    var bar = document.getElementById("progress");
    bar.max = job.progress.total_steps || 1;
    bar.value = job.status === "succeeded" ? bar.max : job.progress.step;
    document.getElementById("steps").textContent = job.progress.step + "/" + job.progress.total_steps;
    document.getElementById("attempts").textContent = job.attempts;
    document.getElementById("error").textContent = job.error;
    document.getElementById("log").textContent = job.log.join("\n");
    document.getElementById("result").textContent = JSON.stringify(job.result, null, 2);
    var names = Object.keys(job.metrics).filter(function (n) { return job.metrics[n].length > 1; });
    names.sort(function (a, b) {
      var ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    names.forEach(function (n) { chartFor(n, job.metrics[n]); });
  }

  function poll() {
    fetch(root.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) return;
        render(job);
        if (FINISHED.indexOf(job.status) < 0) setTimeout(poll, 2000);
        else if (root.dataset.finished !== "1") window.location.reload();
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
