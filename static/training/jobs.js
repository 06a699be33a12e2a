// Jobs list: poll the JSON API and update each row's status and progress bar.
(function () {
  "use strict";
  var table = document.getElementById("jobs");
  if (!table) return;
  var FINISHED = ["succeeded", "failed", "cancelled"];

  function update(job) {
    var row = table.querySelector('tr[data-job="' + job.id + '"]');
    if (!row) return;
    var status = row.querySelector('[data-field="status"]');
    status.textContent = job.status;
    status.className = "status status-" + job.status;
    var bar = row.querySelector('[data-field="progress"]');
    bar.max = job.progress.total_steps || 1;
    bar.value = job.status === "succeeded" ? bar.max : job.progress.step;
    row.querySelector('[data-field="steps"]').textContent =
      job.progress.step + "/" + job.progress.total_steps;
  }

  function poll() {
    fetch(table.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status); // tried again below
        return r.json();
      })
      .then(function (body) {
        body.results.forEach(update);
        var live = body.results.some(function (j) { return FINISHED.indexOf(j.status) < 0; });
        setTimeout(poll, live ? 2000 : 10000);
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  poll();
})();
