/* Project admins' pages: the guidelines preview, the import upload (progress, row errors)
 * and the export dialog (preview, download, snapshots). Everything goes through the REST
 * API, whose errors have one shape: {"error": {"code", "message", "details"}}.
 * No inline scripts anywhere: the Content-Security-Policy forbids them. */
(function () {
  "use strict";

  function csrf(root) {
    var input = (root || document).querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text; // text, never HTML
    if (className) node.className = className;
    return node;
  }

  function errorLines(body, fallback) {
    var error = (body && body.error) || {};
    var details = error.details;
    var lines = [];
    if (details && Array.isArray(details.errors)) {
      details.errors.forEach(function (e) {
        var where = [];
        if (e.row !== null && e.row !== undefined) where.push("row " + e.row);
        if (e.field) where.push("field '" + e.field + "'");
        lines.push((where.length ? where.join(", ") + ": " : "") + e.message);
      });
      return { message: error.message || fallback, lines: lines, count: details.error_count };
    }
    if (details && typeof details === "object" && !Array.isArray(details)) {
      Object.keys(details).forEach(function (field) {
        var reasons = Array.isArray(details[field]) ? details[field] : [details[field]];
        reasons.forEach(function (reason) {
          lines.push(field.replace(/_/g, " ") + ": " + reason);
        });
      });
    }
    return { message: error.message || fallback, lines: lines, count: lines.length };
  }

  function showError(box, info) {
    box.textContent = "";
    box.className = "form-error";
    box.appendChild(el("p", info.message));
    if (info.lines.length) {
      var list = el("ul", null, "row-errors");
      info.lines.forEach(function (line) { list.appendChild(el("li", line)); });
      box.appendChild(list);
    }
    if (info.count && info.count > info.lines.length) {
      box.appendChild(el("p", (info.count - info.lines.length) + " more not listed.", "hint"));
    }
  }

  // --- guidelines preview ------------------------------------------------------------
  var previewButton = document.getElementById("preview-button");
  if (previewButton) {
    var source = document.querySelector("textarea[name=guidelines]");
    var target = document.getElementById("guidelines-preview");
    var timer = null;
    var refresh = function () {
      var form = new FormData();
      form.append("text", source.value);
      fetch(previewButton.dataset.url, {
        method: "POST", credentials: "same-origin", body: form,
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.html !== undefined) {
            target.innerHTML = body.html; // sanitised on the server, as annotators see it
            if (!body.html) target.appendChild(el("p", "No guidelines yet.", "empty"));
          }
        })
        .catch(function () { target.textContent = "Preview unavailable (no connection)."; });
    };
    previewButton.addEventListener("click", refresh);
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
    refresh();
  }

  // Messages that no longer apply go as soon as the field is changed.
  document.querySelectorAll(".field.has-error input, .field.has-error select, .field.has-error textarea")
    .forEach(function (input) {
      var clear = function () {
        var field = input.closest(".field");
        field.classList.remove("has-error");
        field.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      };
      input.addEventListener("input", clear);
      input.addEventListener("change", clear);
    });

  // --- import ----------------------------------------------------------------------------
  var importForm = document.getElementById("import-form");
  if (importForm) {
    var fileInput = document.getElementById("import-file");
    var dropzone = document.getElementById("dropzone");
    var fileName = document.getElementById("file-name");
    var result = document.getElementById("import-result");
    var progress = document.getElementById("import-progress");
    var bar = document.getElementById("import-bar");
    var stage = document.getElementById("import-stage");
    var submitButton = document.getElementById("import-submit");
    var chosen = null;
    var formatSelect = document.getElementById("import-format");

    var choose = function (file) {
      chosen = file;
      fileName.textContent = file ? file.name + " (" + Math.ceil(file.size / 1024) + " KB)" : "";
      result.textContent = "";
      result.className = "";
      var guess = file && /(^|[._-])(trl|hh-rlhf|hh|oasst|sharegpt|native)([._-]|$)/i.exec(file.name);
      if (guess) {
        var name = guess[2].toLowerCase() === "hh" ? "hh-rlhf" : guess[2].toLowerCase();
        formatSelect.value = name;
      }
    };
    fileInput.addEventListener("change", function () { choose(fileInput.files[0] || null); });
    dropzone.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        fileInput.click();
      }
    });
    ["dragenter", "dragover"].forEach(function (name) {
      dropzone.addEventListener(name, function (event) {
        event.preventDefault();
        dropzone.classList.add("is-over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      dropzone.addEventListener(name, function () { dropzone.classList.remove("is-over"); });
    });
    dropzone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
    });

    var done = function () {
      submitButton.disabled = false;
      progress.hidden = true;
    };

    importForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!chosen) {
        showError(result, { message: "Choose a file to import first.", lines: [] });
        return;
      }
      var body = new FormData();
      body.append("file", chosen, chosen.name);
      body.append("format", formatSelect.value);
      var sourceName = document.getElementById("import-source").value.trim();
      if (sourceName) body.append("source_name", sourceName);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", importForm.dataset.url);
      xhr.setRequestHeader("X-CSRFToken", csrf(importForm));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((100 * e.loaded) / e.total);
          if (e.loaded >= e.total) stage.textContent = "Checking every row…";
        }
      });
      var showResult = function (answer) {
        done();
        result.textContent = "";
        result.className = "import-ok";
        result.appendChild(el("p", "Imported " + chosen.name + ":", "ok-title"));
        var list = el("ul", null, "counts");
        [["items created", answer.items_created], ["items already there", answer.items_existing],
         ["responses", answer.responses_created], ["judgements", answer.judgements_created],
         ["rows read", answer.rows_read], ["rows skipped", answer.rows_skipped]]
          .forEach(function (pair) { list.appendChild(el("li", pair[1] + " " + pair[0])); });
        result.appendChild(list);
        (answer.warnings || []).slice(0, 20).forEach(function (w) {
          result.appendChild(el("p", "warning, row " + w.row + ": " + w.message, "hint"));
        });
        var count = document.getElementById("item-count");
        if (count) count.textContent = String(Number(count.textContent) + (answer.items_created || 0));
      };
      var showRefusal = function (info) {
        done();
        showError(result, info);
        result.insertBefore(el("p", "Nothing was written.", "strong"), result.firstChild);
      };
      // The worker imports the stored file; its job says how far it got, then the counts
      // or every row error. A poll that fails on the network is simply tried again.
      var follow = function (jobUrl) {
        fetch(jobUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) {
            if (!r.ok) throw new Error("HTTP " + r.status);
            return r.json();
          })
          .then(function (job) {
            if (job.status === "succeeded") {
              showResult(job.result || {});
            } else if (job.status === "failed") {
              showRefusal({
                message: job.message || "The import was refused.",
                lines: (job.errors || []).map(function (e) {
                  var where = [];
                  if (e.row !== null && e.row !== undefined) where.push("row " + e.row);
                  if (e.field) where.push("field '" + e.field + "'");
                  return (where.length ? where.join(", ") + ": " : "") + e.message;
                }),
                count: job.error_count,
              });
            } else {
              bar.value = Math.round(100 * (job.progress || 0));
              stage.textContent = job.status === "queued"
                ? "Uploaded; waiting for a worker…"
                : "Importing: " + job.rows_read + " rows read (" + Math.round(100 * (job.progress || 0)) + "%)…";
              setTimeout(function () { follow(jobUrl); }, 700);
            }
          })
          .catch(function () { setTimeout(function () { follow(jobUrl); }, 2000); });
      };
      xhr.addEventListener("load", function () {
        var answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = {}; }
        if (xhr.status === 202 && answer.id) {
          bar.value = 0;
          stage.textContent = "Uploaded; waiting for a worker…";
          follow(importForm.dataset.url + answer.id + "/");
        } else {
          showRefusal(errorLines(answer, "The import failed (HTTP " + xhr.status + ")."));
        }
      });
      ["error", "abort", "timeout"].forEach(function (name) {
        xhr.addEventListener(name, function () {
          done();
          showError(result, { message: "The upload did not reach the server; nothing was written. Try again.", lines: [] });
        });
      });
      submitButton.disabled = true;
      progress.hidden = false;
      bar.value = 0;
      stage.textContent = "Uploading…";
      result.textContent = "";
      result.className = "";
      xhr.send(body);
    });
  }

  // --- export --------------------------------------------------------------------------
  var exportForm = document.getElementById("export-form");
  if (exportForm) {
    var dialog = document.getElementById("export-dialog");
    var errors = document.getElementById("export-errors");
    var preview = document.getElementById("export-preview");
    var previewCount = document.getElementById("preview-count");
    var download = document.getElementById("export-download");
    var snapshotsBox = document.getElementById("snapshots");
    var PREVIEW_ROWS = 5;

    var params = function () {
      var query = new URLSearchParams();
      var data = new FormData(exportForm);
      data.forEach(function (value, key) {
        if (key === "csrfmiddlewaretoken" || value === "") return;
        query.append(key, value);
      });
      return query;
    };
    var clearErrors = function () { errors.textContent = ""; errors.className = "form-errors"; };
    var sync = function () {
      var q = params().toString();
      download.href = exportForm.dataset.url + (q ? "?" + q : "");
      clearErrors();
    };
    exportForm.addEventListener("change", sync);
    exportForm.addEventListener("input", sync);
    sync();

    document.getElementById("export-open").addEventListener("click", function () { dialog.showModal(); });
    document.getElementById("export-close").addEventListener("click", function () { dialog.close(); });

    var check = function (response) {
      if (response.ok) return response;
      return response.json().catch(function () { return {}; }).then(function (body) {
        throw { body: body, status: response.status };
      });
    };
    var fail = function (problem) {
      var info = problem && problem.body ? errorLines(problem.body, "The export was refused.")
        : { message: "Could not reach the server. Try again.", lines: [] };
      showError(errors, info);
    };

    document.getElementById("export-preview-button").addEventListener("click", function () {
      clearErrors();
      preview.textContent = "Loading…";
      previewCount.textContent = "";
      var controller = new AbortController();
      fetch(download.href, { credentials: "same-origin", signal: controller.signal })
        .then(check)
        .then(function (response) {
          var total = response.headers.get("X-Row-Count");
          var reader = response.body.getReader();
          var decoder = new TextDecoder();
          var text = "";
          var pump = function () {
            return reader.read().then(function (chunk) {
              if (!chunk.done) text += decoder.decode(chunk.value, { stream: true });
              var lines = text.split("\n").filter(function (l) { return l; });
              if (chunk.done || lines.length > PREVIEW_ROWS) {
                controller.abort(); // the first rows are enough: stop the stream
                var shown = lines.slice(0, PREVIEW_ROWS).map(function (line) {
                  try { return JSON.stringify(JSON.parse(line), null, 2); } catch (e) { return line; }
                });
                preview.textContent = shown.length ? shown.join("\n\n") : "No rows match these parameters.";
                previewCount.textContent = "(first " + Math.min(PREVIEW_ROWS, lines.length) + " rows" +
                  (total ? " of " + total : "") + ")";
                return null;
              }
              return pump();
            });
          };
          return pump();
        })
        .catch(function (problem) {
          if (problem && problem.name === "AbortError") return;
          preview.textContent = "";
          fail(problem);
        });
    });

    var fmtSize = function (bytes) {
      if (bytes < 1024) return bytes + " B";
      if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KB";
      return (bytes / 1048576).toFixed(1) + " MB";
    };
    var loadSnapshots = function () {
      var body = snapshotsBox.querySelector("tbody");
      return fetch(snapshotsBox.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(check)
        .then(function (r) { return r.json(); })
        .then(function (page) {
          body.textContent = "";
          if (!page.results.length) {
            var row = el("tr");
            var cell = el("td", "No snapshots yet: make one from the export dialog.", "empty");
            cell.colSpan = 7;
            row.appendChild(cell);
            body.appendChild(row);
          }
          page.results.forEach(function (s) {
            var row = el("tr");
            row.dataset.snapshot = s.id;
            row.appendChild(el("td", "#" + s.id));
            row.appendChild(el("td", new Date(s.created_at).toLocaleString()));
            row.appendChild(el("td", s.format));
            row.appendChild(el("td", String(s.row_count), "num"));
            row.appendChild(el("td", fmtSize(s.byte_size), "num"));
            var hash = el("td");
            hash.appendChild(el("code", s.sha256 ? s.sha256.slice(0, 16) + "…" : s.status));
            hash.title = s.sha256 || "";
            row.appendChild(hash);
            var link = el("td");
            var a = el("a", "Download");
            a.href = snapshotsBox.dataset.url + s.id + "/download/";
            link.appendChild(a);
            row.appendChild(link);
            body.appendChild(row);
          });
        })
        .catch(function () {
          body.textContent = "";
          body.appendChild(el("tr")).appendChild(el("td", "Could not load the snapshots.", "empty"));
        });
    };
    loadSnapshots();

    var snapshotButton = document.getElementById("export-snapshot");
    snapshotButton.addEventListener("click", function () {
      clearErrors();
      var data = {};
      params().forEach(function (value, key) { data[key] = value; });
      snapshotButton.disabled = true;
      snapshotButton.textContent = "Writing the snapshot…";
      fetch(exportForm.dataset.snapshots, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf(exportForm) },
        body: JSON.stringify(data),
      })
        .then(check)
        .then(function (r) { return r.json(); })
        .then(function (s) {
          previewCount.textContent = "";
          preview.textContent = "Snapshot #" + s.id + " written: " + s.row_count + " rows, sha256 " + s.sha256 + ".";
          return loadSnapshots();
        })
        .catch(fail)
        .then(function () {
          snapshotButton.disabled = false;
          snapshotButton.textContent = "Make a snapshot";
        });
    });
  }
})();
