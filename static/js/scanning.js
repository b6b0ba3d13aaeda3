// Scanning pages: small conveniences. No inline scripts (CSP); pages load this with {% block scripts %}.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // The upload form: show the chosen file's size and refuse, before sending, a file over the limit.
    document.querySelectorAll("form[data-scan-upload]").forEach(function (form) {
      var input = form.querySelector("input[type=file]");
      var help = form.querySelector(".help.muted");
      var limitMatch = help ? /At most (\d+) MB/.exec(help.textContent) : null;
      var limit = limitMatch ? Number(limitMatch[1]) * 1024 * 1024 : null;
      if (!input) { return; }
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) { input.setCustomValidity(""); return; }
        if (limit && file.size > limit) {
          input.setCustomValidity("This file is larger than the upload limit.");
        } else {
          input.setCustomValidity("");
        }
        input.reportValidity();
      });
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) { button.disabled = true; button.textContent = "Uploading…"; }
      });
    });
    // Scan page: mark the current stage in the stage list when live.js updates the stage text.
    document.querySelectorAll("[data-live-scan] [data-live-stage]").forEach(function (stageEl) {
      var container = stageEl.closest("[data-live-scan]");
      var list = container ? container.querySelector(".scan-stages") : null;
      if (!list || !window.MutationObserver) { return; }
      new MutationObserver(function () {
        var current = stageEl.textContent.trim();
        list.querySelectorAll("li").forEach(function (li) {
          if (li.textContent.trim() === current) { li.setAttribute("aria-current", "step"); }
          else { li.removeAttribute("aria-current"); }
        });
      }).observe(stageEl, { childList: true, characterData: true, subtree: true });
    });
  });
})();
