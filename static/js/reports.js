// Reports pages. No inline scripts: the CSP forbids them.
//
//   [data-report-status="<api url>"]   a report's status card: polled until the report is completed or failed
//       [data-report-badge] [data-report-stage] [data-report-progress] [data-report-progress-text]
//   [data-report-download]             shown once the report is completed
//   [data-template-form]               the template editor: the preview frame follows the form as you type
//       [data-preview-button]          the submit button that posts the draft to the preview frame
(function () {
  "use strict";

  var FINAL = { completed: true, failed: true };

  function pollReport(card) {
    var url = card.getAttribute("data-report-status");
    var initial = card.getAttribute("data-report-status-value");
    if (!url || FINAL[initial]) { return; }
    var delay = 1000;

    function apply(report) {
      var badge = card.querySelector("[data-report-badge]");
      if (badge) {
        badge.textContent = report.status;
        badge.className = "badge badge-" + report.status;
      }
      var stage = card.querySelector("[data-report-stage]");
      if (stage) { stage.textContent = report.stage || "queued"; }
      var bar = card.querySelector("[data-report-progress]");
      if (bar) { bar.value = report.progress || 0; bar.setAttribute("aria-valuenow", String(report.progress || 0)); }
      var text = card.querySelector("[data-report-progress-text]");
      if (text) { text.textContent = (report.progress || 0) + "%"; }
    }

    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (report) {
          apply(report);
          if (FINAL[report.status]) {
            // The summary and the download link are rendered by the server.
            window.location.reload();
            return;
          }
          delay = Math.min(delay * 1.5, 5000);
          window.setTimeout(tick, delay);
        })
        .catch(function () {
          var note = card.querySelector("[data-report-error]");
          if (note) {
            note.hidden = false;
            note.textContent = "Lost contact with the server; the status shown may be out of date. Reload the page.";
          }
        });
    }
    window.setTimeout(tick, delay);
  }

  function livePreview(form) {
    var button = form.querySelector("[data-preview-button]");
    if (!button || typeof form.requestSubmit !== "function") { return; }
    var timer = null;
    function schedule() {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(function () { form.requestSubmit(button); }, 700);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-report-status]").forEach(pollReport);
    document.querySelectorAll("[data-template-form]").forEach(livePreview);
  });
})();
