/* The annotator workspace: ranking by drag-and-drop or keyboard, pairwise verdicts,
 * ratings from the keyboard, submit and skip over fetch, and the next item swapped in
 * without a page load. A failed request never leaves the page stuck: every request has a
 * failure path that gives the controls back and says what happened.
 * No inline scripts anywhere: the Content-Security-Policy forbids them. */
(function () {
  "use strict";

  var workspace = document.getElementById("workspace");
  if (!workspace) {
    return;
  }
  var toast = document.getElementById("toast");
  var skipDialog = document.getElementById("skip-dialog");
  var helpDialog = document.getElementById("help-dialog");
  var progressBox = document.getElementById("progress");
  var guidelines = document.getElementById("guidelines");

  var state = null; // per item: {root, mode, sortables, focused, lastPlaced, verdict, startedAt, busy}

  function csrfToken(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function say(text) {
    if (toast) {
      toast.textContent = text;
    }
  }

  function responses() {
    return Array.prototype.slice.call(state.root.querySelectorAll(".response"));
  }

  function chipFor(responseId) {
    return state.root.querySelector('.chip[data-response-id="' + responseId + '"]');
  }

  function cardFor(responseId) {
    return state.root.querySelector('.response[data-response-id="' + responseId + '"]');
  }

  // --- rank mode -------------------------------------------------------------------

  function slots() {
    return Array.prototype.slice.call(state.root.querySelectorAll(".slot-drop"));
  }

  function pool() {
    return state.root.querySelector(".pool-drop");
  }

  function refreshBadges() {
    slots().forEach(function (slot, index) {
      var chips = slot.querySelectorAll(".chip");
      slot.parentElement.classList.toggle("is-tie", chips.length > 1);
      Array.prototype.forEach.call(chips, function (chip) {
        var card = cardFor(chip.dataset.responseId);
        if (card) {
          card.querySelector(".rank-badge").textContent =
            "Rank " + (index + 1) + (chips.length > 1 ? " (tie)" : "");
          card.classList.add("is-ranked");
        }
      });
    });
    if (pool()) {
      Array.prototype.forEach.call(pool().querySelectorAll(".chip"), function (chip) {
        var card = cardFor(chip.dataset.responseId);
        if (card) {
          card.querySelector(".rank-badge").textContent = "";
          card.classList.remove("is-ranked");
        }
      });
      pool().parentElement.classList.toggle("is-empty", !pool().querySelector(".chip"));
    }
  }

  function placeAt(responseId, rankIndex) {
    var target = slots()[rankIndex];
    var chip = chipFor(responseId);
    if (!target || !chip) {
      return false;
    }
    target.appendChild(chip);
    state.lastPlaced = responseId;
    refreshBadges();
    recheck();
    return true;
  }

  function unrank(responseId) {
    var chip = chipFor(responseId);
    if (chip && pool()) {
      pool().appendChild(chip);
      refreshBadges();
      recheck();
    }
  }

  function rankOf(responseId) {
    var chip = chipFor(responseId);
    return chip ? slots().indexOf(chip.parentElement) : -1;
  }

  function rankingFromSlots() {
    var ranking = [];
    slots().forEach(function (slot) {
      var ids = Array.prototype.map.call(slot.querySelectorAll(".chip"), function (chip) {
        return Number(chip.dataset.responseId);
      });
      if (ids.length) {
        ranking.push(ids);
      }
    });
    return ranking;
  }

  function setUpSortable() {
    if (typeof window.Sortable === "undefined") {
      return;
    }
    state.root.querySelectorAll(".drop").forEach(function (list) {
      state.sortables.push(
        window.Sortable.create(list, {
          group: "ranking",
          animation: 120,
          ghostClass: "chip-ghost",
          onAdd: function (event) {
            state.lastPlaced = event.item.dataset.responseId;
            refreshBadges();
            recheck();
          },
          onSort: function () {
            refreshBadges();
            recheck();
          },
        })
      );
    });
  }

  // --- pairwise mode ---------------------------------------------------------------

  function setVerdict(verdict) {
    state.verdict = verdict;
    state.root.querySelectorAll(".verdict").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.verdict === verdict ? "true" : "false");
    });
    recheck();
  }

  // --- ratings -----------------------------------------------------------------------

  function asksRatings() {
    return state.root.dataset.askRatings === "1";
  }

  function ratingOf(responseId) {
    var checked = state.root.querySelector('input[name="rating-' + responseId + '"]:checked');
    return checked ? Number(checked.value) : null;
  }

  function refreshRatings() {
    if (!asksRatings()) {
      return;
    }
    responses().forEach(function (card) {
      card.classList.toggle("needs-rating", ratingOf(card.dataset.responseId) === null);
    });
  }

  function rate(responseId, value) {
    var input = state.root.querySelector(
      'input[name="rating-' + responseId + '"][value="' + value + '"]'
    );
    if (!input) {
      say("The ratings run from 1 to " + state.root.dataset.ratingScale + ".");
      return false;
    }
    input.checked = true;
    refreshRatings();
    recheck();
    return true;
  }

  // Shift+1..9 rate the focused response (Shift+0 is 10), whatever the keyboard layout.
  function ratingKey(event) {
    if (!event.shiftKey) {
      return null;
    }
    var match = /^(?:Digit|Numpad)([0-9])$/.exec(event.code || "");
    if (!match) {
      return null;
    }
    return match[1] === "0" ? 10 : Number(match[1]);
  }

  function pairwiseRanking() {
    var ids = state.root.dataset.shownOrder.split(",").map(Number);
    if (state.verdict === "a") {
      return [[ids[0]], [ids[1]]];
    }
    if (state.verdict === "b") {
      return [[ids[1]], [ids[0]]];
    }
    if (state.verdict === "tie" || state.verdict === "both_bad") {
      return [[ids[0], ids[1]]];
    }
    return null;
  }

  // --- focus -----------------------------------------------------------------------

  function focusResponse(card) {
    if (card) {
      card.focus({ preventScroll: true });
      state.focused = card.dataset.responseId;
    }
  }

  function focusedId() {
    if (state.focused && cardFor(state.focused)) {
      return state.focused;
    }
    var first = responses()[0];
    return first ? first.dataset.responseId : null;
  }

  function moveFocus(step) {
    var all = responses();
    var index = all.indexOf(cardFor(focusedId()));
    var next = all[Math.min(all.length - 1, Math.max(0, index + step))];
    focusResponse(next);
  }

  // A response is done when it is ranked (rank mode) and rated (when ratings are asked).
  function cardDone(responseId) {
    if (state.mode === "rank" && rankOf(responseId) === -1) {
      return false;
    }
    return !asksRatings() || ratingOf(responseId) !== null;
  }

  // After a key acted on a response: stay on it until it is done, then go to the next
  // response that is not (so ranks + ratings + Enter are all the keys an item needs).
  function advanceFrom(afterId) {
    if (!cardDone(afterId)) {
      focusResponse(cardFor(afterId));
      return;
    }
    var all = responses();
    var start = all.indexOf(cardFor(afterId));
    for (var i = 1; i <= all.length; i++) {
      var card = all[(start + i) % all.length];
      if (!cardDone(card.dataset.responseId)) {
        focusResponse(card);
        return;
      }
    }
  }

  // --- submit and skip ---------------------------------------------------------------

  function showErrors(messages) {
    var box = state.root.querySelector(".form-errors");
    box.textContent = "";
    if (!messages.length) {
      box.classList.remove("has-errors");
      return;
    }
    var list = document.createElement("ul");
    messages.forEach(function (message) {
      var li = document.createElement("li");
      li.textContent = message; // text, never HTML
      list.appendChild(li);
    });
    box.appendChild(list);
    box.classList.add("has-errors");
  }

  // Messages that no longer apply go as soon as the person fixes what they said.
  function recheck() {
    if (!state) {
      return;
    }
    var box = state.root.querySelector(".form-errors");
    if (box && box.classList.contains("has-errors") && state.clientErrors) {
      var problems = collect().problems;
      showErrors(problems);
      state.clientErrors = problems.length > 0;
    }
  }

  function errorMessages(body) {
    var error = (body && body.error) || {};
    var details = error.details;
    var messages = [];
    if (details && typeof details === "object" && !Array.isArray(details)) {
      Object.keys(details).forEach(function (field) {
        var reasons = Array.isArray(details[field]) ? details[field] : [details[field]];
        reasons.forEach(function (reason) {
          messages.push(field.replace("_", " ") + ": " + reason);
        });
      });
    }
    if (!messages.length) {
      messages.push(error.message || "Something went wrong. Please try again.");
    }
    return messages;
  }

  function collect() {
    var root = state.root;
    var data = {
      shown_order: root.dataset.shownOrder.split(",").map(Number),
      time_spent_ms: Math.max(0, Math.round(Date.now() - state.startedAt)),
    };
    if (root.dataset.round) {
      data.round = Number(root.dataset.round);
    }
    var notRankable = root.querySelector(".not-rankable");
    var flagReason = root.querySelector(".flag-reason");
    var rationale = root.querySelector(".rationale");
    var problems = [];
    data.not_rankable = !!(notRankable && notRankable.checked);
    data.flag_reason = flagReason ? flagReason.value.trim() : "";
    data.rationale = rationale ? rationale.value.trim() : "";
    if (data.not_rankable) {
      data.ranking = null;
      if (!data.flag_reason) {
        problems.push(
          "Say why this item cannot be " + (state.mode === "rank" ? "ranked." : "judged.")
        );
      }
      return { data: data, problems: problems };
    }
    if (state.mode === "rank") {
      data.ranking = rankingFromSlots();
      var left = pool() ? pool().querySelectorAll(".chip") : [];
      if (left.length) {
        problems.push(
          "Rank every response: " +
            Array.prototype.map.call(left, function (c) { return c.textContent; }).join(", ") +
            " not ranked yet."
        );
      }
    } else {
      data.ranking = pairwiseRanking();
      data.both_bad = state.verdict === "both_bad";
      if (!data.ranking) {
        problems.push("Choose a verdict: A, B, tie or both bad.");
      }
    }
    if (root.dataset.askRatings === "1") {
      data.ratings = {};
      data.shown_order.forEach(function (id) {
        var checked = root.querySelector('input[name="rating-' + id + '"]:checked');
        if (checked) {
          data.ratings[id] = Number(checked.value);
        } else {
          problems.push("Rate response " + cardFor(id).dataset.label + ".");
        }
      });
    }
    if (root.dataset.rationale === "required" && !data.rationale) {
      problems.push("Write a rationale: this project asks for one with every judgement.");
      if (rationale) {
        rationale.classList.add("is-invalid");
      }
    } else if (rationale) {
      rationale.classList.remove("is-invalid");
    }
    return { data: data, problems: problems };
  }

  function send(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(state.root),
      },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response
        .json()
        .catch(function () { return {}; })
        .then(function (body) { return { status: response.status, body: body }; });
    });
  }

  function countDone() {
    if (!progressBox) {
      return;
    }
    ["done", "today"].forEach(function (name) {
      var node = progressBox.querySelector('[data-count="' + name + '"]');
      if (node) {
        node.textContent = String(Number(node.textContent) + 1);
      }
    });
  }

  function showPosition(body) {
    if (!progressBox) {
      return;
    }
    var position = progressBox.querySelector('[data-count="position"]');
    var done = progressBox.querySelector('[data-count="done"]');
    var total = Number(progressBox.dataset.total);
    if (position && done) {
      position.textContent = String(Math.min(total, Number(done.textContent) + 1));
    }
    progressBox.classList.toggle("is-finished", !body.item);
  }

  function release(message) {
    if (state) {
      state.busy = false;
      state.root.classList.remove("is-busy");
      showErrors([message]);
    }
  }

  function showNext(body, message) {
    teardown();
    workspace.innerHTML = body.html; // server-rendered, sanitised fragment
    window.scrollTo(0, 0);
    say(message || "");
    showPosition(body);
    setUp();
  }

  function loadNext(message) {
    var url = state.root.dataset.nextUrl;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("next item: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        showNext(body, message);
      })
      .catch(function () {
        release("Could not load the next item. Check your connection, then press Enter to try again.");
        if (state) {
          state.retryNext = message || "";
        }
      });
  }

  // The server answers a submit or a skip made with ?next=1 with the next item as well.
  function withNext(url) {
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "next=1";
  }

  function moveOn(result, message) {
    if (result.body && result.body.next) {
      showNext(result.body.next, message);
    } else {
      loadNext(message);
    }
  }

  function submit() {
    if (!state || state.busy) {
      return;
    }
    if (state.retryNext !== null) {
      // The judgement or skip was saved; only fetching the next item failed.
      var note = state.retryNext;
      state.retryNext = null;
      state.busy = true;
      state.root.classList.add("is-busy");
      loadNext(note);
      return;
    }
    var collected = collect();
    if (collected.problems.length) {
      showErrors(collected.problems);
      state.clientErrors = true;
      return;
    }
    state.clientErrors = false;
    showErrors([]);
    state.busy = true;
    state.root.classList.add("is-busy");
    var after = state.root.dataset.afterSubmit;
    var url = state.root.dataset.submitUrl;
    send(after === "next" ? withNext(url) : url, collected.data).then(
      function (result) {
        if (result.status === 201) {
          if (after === "next") {
            countDone();
            moveOn(result, "Saved. Here is the next item.");
          } else {
            window.location.assign(
              after + (after.indexOf("?") === -1 ? "?" : "&") + "changed=" + state.root.dataset.itemId
            );
          }
          return;
        }
        state.busy = false;
        state.root.classList.remove("is-busy");
        if (result.status === 409) {
          loadNext((result.body.error && result.body.error.message) || "Moved on.");
          return;
        }
        showErrors(errorMessages(result.body));
      },
      function () {
        release("Could not reach the server. Your judgement was not saved; press Enter to try again.");
      }
    );
  }

  function openSkip() {
    if (!state || state.busy || !state.root.querySelector(".skip")) {
      return;
    }
    if (skipDialog && typeof skipDialog.showModal === "function") {
      skipDialog.querySelector("#skip-reason").value = "";
      skipDialog.returnValue = "";
      skipDialog.showModal();
    } else {
      doSkip("");
    }
  }

  function doSkip(reason) {
    if (!state || state.busy) {
      return;
    }
    state.busy = true;
    state.root.classList.add("is-busy");
    send(withNext(state.root.dataset.skipUrl), { reason: reason }).then(
      function (result) {
        if (result.status === 200) {
          moveOn(result, "Skipped.");
        } else if (result.status === 409) {
          loadNext("Skipped.");
        } else {
          state.busy = false;
          state.root.classList.remove("is-busy");
          showErrors(errorMessages(result.body));
        }
      },
      function () {
        release("Could not reach the server: the item was not skipped. Press S to try again.");
      }
    );
  }

  if (skipDialog) {
    skipDialog.addEventListener("close", function () {
      if (skipDialog.returnValue === "skip") {
        doSkip(skipDialog.querySelector("#skip-reason").value.trim());
      }
    });
  }

  // --- keyboard ----------------------------------------------------------------------

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "checkbox" && target.type !== "radio");
  }

  document.addEventListener("keydown", function (event) {
    if (!state || event.altKey || event.metaKey) {
      return;
    }
    if ((skipDialog && skipDialog.open) || (helpDialog && helpDialog.open)) {
      return; // the dialog's own form handles Enter and Escape
    }
    var key = event.key;
    if (typing(event.target)) {
      if (key === "Enter" && event.ctrlKey) {
        event.preventDefault();
        submit();
      }
      return;
    }
    if (event.ctrlKey) {
      return;
    }
    if (key === "Enter") {
      var target = event.target;
      // Enter submits from any control that is not a link or a button with its own job
      // (Skip, Close...). A verdict button picks its verdict and submits.
      if (target.tagName === "A" || (target.closest && target.closest(".topbar, .projectbar"))) {
        return;
      }
      if (target.tagName === "BUTTON" && !target.classList.contains("submit")) {
        if (!target.classList.contains("verdict")) {
          return;
        }
        setVerdict(target.dataset.verdict);
      }
      event.preventDefault();
      submit();
      return;
    }
    var rating = asksRatings() ? ratingKey(event) : null;
    if (rating !== null) {
      event.preventDefault();
      var rated = focusedId();
      if (rated && rate(rated, rating)) {
        advanceFrom(rated);
      }
      return;
    }
    if ((key === "g" || key === "G") && guidelines) {
      event.preventDefault();
      guidelines.open = !guidelines.open;
      return;
    }
    if (key === "?") {
      event.preventDefault();
      if (helpDialog && typeof helpDialog.showModal === "function") {
        helpDialog.showModal();
      }
      return;
    }
    if (event.shiftKey && /^(?:Digit|Numpad)[0-9]$/.test(event.code || "")) {
      return; // a rating key where no ratings are asked: not a rank
    }
    if (key === "s" || key === "S") {
      event.preventDefault();
      openSkip();
      return;
    }
    if (key === "j" || key === "ArrowDown") {
      event.preventDefault();
      moveFocus(1);
      return;
    }
    if (key === "k" || key === "ArrowUp") {
      event.preventDefault();
      moveFocus(-1);
      return;
    }
    if (state.mode === "rank") {
      var id = focusedId();
      if (/^[1-9]$/.test(key)) {
        if (id && placeAt(id, Number(key) - 1)) {
          event.preventDefault();
          advanceFrom(id);
        }
      } else if (key === "0" || key === "Backspace") {
        if (id) {
          event.preventDefault();
          unrank(id);
        }
      } else if (key === "t" || key === "T" || key === "=") {
        event.preventDefault();
        var last = state.lastPlaced;
        if (!id || !last || last === id || rankOf(last) === -1) {
          say("Rank one response first, then press T on another to tie it with that one.");
          return;
        }
        placeAt(id, rankOf(last));
        advanceFrom(id);
      }
    } else {
      var verdicts = { a: "a", 1: "a", b: "b", 2: "b", t: "tie", "=": "tie", x: "both_bad" };
      var verdict = verdicts[key.toLowerCase()];
      if (verdict) {
        event.preventDefault();
        setVerdict(verdict);
      }
    }
  });

  // --- per item set-up -----------------------------------------------------------------

  function teardown() {
    if (state) {
      state.sortables.forEach(function (sortable) { sortable.destroy(); });
    }
    state = null;
  }

  function setUp() {
    var root = workspace.querySelector("#item");
    if (!root) {
      state = null;
      return;
    }
    state = {
      root: root,
      mode: root.dataset.mode,
      sortables: [],
      focused: null,
      lastPlaced: null,
      verdict: "",
      startedAt: Date.now(),
      busy: false,
      clientErrors: false,
      retryNext: null,
    };
    root.querySelector("form.panel").addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });
    var skip = root.querySelector(".skip");
    if (skip) {
      skip.addEventListener("click", openSkip);
    }
    root.addEventListener("focusin", function (event) {
      var card = event.target.closest(".response");
      if (card) {
        state.focused = card.dataset.responseId;
      }
    });
    var rationale = root.querySelector(".rationale");
    if (rationale) {
      rationale.addEventListener("input", function () {
        rationale.classList.remove("is-invalid");
        recheck();
      });
    }
    var flagReason = root.querySelector(".flag-reason");
    if (flagReason) {
      flagReason.addEventListener("input", recheck);
    }
    root.querySelectorAll(".rating input").forEach(function (input) {
      input.addEventListener("change", function () {
        refreshRatings();
        recheck();
      });
    });
    var notRankable = root.querySelector(".not-rankable");
    if (notRankable) {
      notRankable.addEventListener("change", function () {
        root.classList.toggle("is-flagged", notRankable.checked);
        recheck();
      });
      root.classList.toggle("is-flagged", notRankable.checked);
    }
    if (state.mode === "rank") {
      setUpSortable();
      refreshBadges();
    } else {
      var group = root.querySelector(".verdicts");
      state.verdict = group ? group.dataset.verdict : "";
      root.querySelectorAll(".verdict").forEach(function (button) {
        button.addEventListener("click", function () { setVerdict(button.dataset.verdict); });
      });
    }
    refreshRatings();
    focusResponse(responses()[0]);
  }

  // The guidelines panel stays as the person left it, across items and visits.
  if (guidelines) {
    var remembered = "feedback:guidelines:" + (guidelines.dataset.project || "");
    try {
      if (window.localStorage.getItem(remembered) === "open") {
        guidelines.open = true;
      }
    } catch (ignored) { /* storage may be off: the panel then starts closed */ }
    guidelines.addEventListener("toggle", function () {
      try {
        window.localStorage.setItem(remembered, guidelines.open ? "open" : "closed");
      } catch (ignored) { /* nothing to keep */ }
      document.body.classList.toggle("guidelines-open", guidelines.open);
    });
    document.body.classList.toggle("guidelines-open", guidelines.open);
  }

  setUp();
})();
