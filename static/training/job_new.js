// New job form: show only the fieldsets that apply to the chosen kind.
(function () {
  "use strict";
  var kind = document.getElementById("kind");
  if (!kind) return;
  function sync() {
    document.querySelectorAll("[data-for-kinds]").forEach(function (el) {
      var kinds = el.dataset.forKinds.split(" ");
      el.hidden = kinds.indexOf(kind.value) < 0;
    });
  }
  kind.addEventListener("change", sync);
  sync();
})();
