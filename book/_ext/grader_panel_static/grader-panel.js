// The "Check with the autograder" panel (book/_ext/grader_panel.py): vanilla JavaScript,
// no CDN. Without a grading service configured, the panel keeps its static text (how to
// grade locally). With one, it uploads the notebook, shows its place in the queue and the
// expected wait, then each part as the feedback notebook words it.
(function () {
  "use strict";
  var base = (window.DLF_GRADING_SERVICE || "").replace(/\/+$/, "");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(x) { return String(Math.round(x * 100) / 100); }

  function showParts(list, parts, result) {
    list.textContent = "";
    var graded = {};
    if (result && result.parts) result.parts.forEach(function (p) { graded[p.id] = p; });
    parts.forEach(function (part) {
      var got = graded[part.id];
      var box = el("div", "dlf-grader-part" + (got ? (got.passed ? " dlf-pass" : " dlf-fail") : ""));
      box.setAttribute("data-part", part.id);
      if (got) {
        box.appendChild(el("strong", "", "[" + (got.passed ? "PASS" : "FAIL") + "] " + got.id +
          " (" + got.title + "): " + fmt(got.points) + " / " + fmt(got.max_points)));
        var ul = el("ul");
        got.messages.forEach(function (m) { ul.appendChild(el("li", "", m)); });
        box.appendChild(ul);
      } else {
        box.appendChild(el("span", "", part.id + " (" + part.title + "): waiting"));
      }
      list.appendChild(box);
    });
  }

  function phaseText(info) {
    if (info.state === "queued") {
      return "In the queue: number " + info.position + "; expected within about " +
        fmt(info.expected_wait_seconds) + " s";
    }
    if (info.state === "running") {
      return "Grading now; expected within about " + fmt(info.expected_wait_seconds) + " s";
    }
    if (info.state === "failed") return "The grader failed on this submission: " + info.error;
    var r = info.result;
    if (r.status !== "graded") return "Could not grade: " + r.error;
    return "Score: " + fmt(r.score) + " / " + fmt(r.max_score);
  }

  function poll(panel, info) {
    var status = panel.querySelector(".dlf-grader-status");
    var list = panel.querySelector(".dlf-grader-parts");
    status.textContent = phaseText(info);
    showParts(list, info.parts, info.result);
    if (info.state === "queued" || info.state === "running") {
      // Long polling: the service answers as soon as the result is in (or after 20 s).
      fetch(base + info.url + "?wait=20").then(function (r) { return r.json(); })
        .then(function (next) { poll(panel, next); })
        .catch(function () {
          status.textContent = "Lost the connection to the grader; retrying";
          setTimeout(function () { poll(panel, info); }, 2000);
        });
      return;
    }
    var link = panel.querySelector(".dlf-grader-link");
    link.href = base + info.page;
    link.hidden = false;
  }

  function submit(panel, file) {
    var status = panel.querySelector(".dlf-grader-status");
    var quick = panel.querySelector(".dlf-grader-quick").checked;
    var form = new FormData();
    form.append("file", file, file.name);
    form.append("parts", quick ? "quick" : "all");
    panel.querySelector(".dlf-grader-link").hidden = true;
    status.textContent = "Sending " + file.name + "…";
    var url = base + "/api/assignments/" + panel.dataset.assignment + "/submissions";
    fetch(url, { method: "POST", body: form }).then(function (response) {
      return response.json().then(function (body) {
        if (response.status === 202) { poll(panel, body); return; }
        var wait = response.headers.get("Retry-After");
        status.textContent = "Not accepted: " + (body.detail || response.status) +
          (wait ? " (try again in " + wait + " s)" : "");
      });
    }).catch(function () {
      status.textContent = "The grading service at " + base + " cannot be reached; grade locally instead (see below).";
    });
  }

  function build(panel) {
    var local = panel.querySelector(".dlf-grader-local");
    var drop = el("label", "dlf-grader-drop");
    var input = el("input", "dlf-grader-file");
    input.type = "file";
    input.accept = ".ipynb,application/x-ipynb+json,application/json";
    drop.appendChild(el("span", "", "Choose your " + panel.dataset.assignment +
      ".ipynb, or drop it here, to check it with the autograder. "));
    drop.appendChild(input);
    var quickLabel = el("label", "", " Skip the training parts (quicker)");
    var quick = el("input", "dlf-grader-quick");
    quick.type = "checkbox";
    quickLabel.prepend(quick);
    var link = el("a", "dlf-grader-link", "Open this result on its own page");
    link.hidden = true;
    [drop, quickLabel, el("div", "dlf-grader-status"), el("div", "dlf-grader-parts"), link]
      .forEach(function (node) { panel.insertBefore(node, local); });
    if (local) local.classList.add("dlf-grader-also");
    input.addEventListener("change", function () {
      if (input.files[0]) submit(panel, input.files[0]);
      input.value = "";  // choosing the same file again (after editing it) sends it again
    });
    drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("dlf-over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("dlf-over"); });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      drop.classList.remove("dlf-over");
      if (e.dataTransfer.files[0]) submit(panel, e.dataTransfer.files[0]);
    });
    panel.dataset.ready = "service";
  }

  function start() {
    document.querySelectorAll(".dlf-grader").forEach(function (panel) {
      if (base) build(panel); else panel.dataset.ready = "local";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
