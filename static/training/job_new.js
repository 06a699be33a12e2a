// New job form: show only what applies to the chosen kind and project; offer only the
// model versions that fit (reward models as a reward job's parent, policies otherwise);
// default to the project's latest snapshot, or "make a fresh snapshot" when it has none.
(function () {
  "use strict";
  var kind = document.getElementById("kind");
  var project = document.getElementById("job-project");
  if (!kind || !project) return;
  var snapshot = document.getElementById("job-snapshot");
  var fresh = document.getElementById("fresh-snapshot");
  var exportParams = document.querySelector(".export-params");

  function projectId() {
    var option = project.options[project.selectedIndex];
    return option ? option.dataset.project : "";
  }

  function filter(select, fits) {
    if (!select) return;
    Array.prototype.forEach.call(select.options, function (option) {
      if (!option.value) return;
      var ok = fits(option);
      option.hidden = !ok;
      option.disabled = !ok;
      if (!ok && option.selected) select.value = "";
    });
  }

  function syncKind() {
    document.querySelectorAll("[data-for-kinds]").forEach(function (el) {
      var kinds = el.dataset.forKinds.split(" ");
      el.hidden = kinds.indexOf(kind.value) < 0;
    });
  }

  function syncModels() {
    var wanted = kind.value === "reward" ? "reward" : "policy";
    var pid = projectId();
    filter(document.getElementById("job-parent"), function (o) {
      return o.dataset.project === pid && o.dataset.kind === wanted;
    });
    ["job-reward", "job-baseline"].forEach(function (id) {
      filter(document.getElementById(id), function (o) { return o.dataset.project === pid; });
    });
  }

  function syncSnapshots(pickDefault) {
    if (!snapshot) return;
    var pid = projectId();
    filter(snapshot, function (o) { return o.dataset.project === pid; });
    if (pickDefault) {
      var latest = Array.prototype.filter.call(snapshot.options, function (o) {
        return o.value && o.dataset.project === pid;
      })[0];
      snapshot.value = latest ? latest.value : "";
      fresh.checked = !latest;
    }
    syncFresh();
  }

  function syncFresh() {
    if (!fresh || !exportParams) return;
    exportParams.classList.toggle("is-off", !fresh.checked);
    snapshot.disabled = fresh.checked;
  }

  kind.addEventListener("change", function () { syncKind(); syncModels(); });
  project.addEventListener("change", function () { syncModels(); syncSnapshots(true); });
  if (fresh) fresh.addEventListener("change", syncFresh);
  syncKind();
  syncModels();
  syncSnapshots(false);
})();
