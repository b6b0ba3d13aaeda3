// Policies pages. No inline scripts: the CSP forbids them.
// - Rule editor: each condition's operator list follows its subject (catalog in data-catalog),
//   and the value field's placeholder says what the operator expects.
// - JSON editors: "Format JSON" re-indents the document, or says where it does not parse.
(function () {
  "use strict";

  var PLACEHOLDERS = {
    severity: "critical", severities: "critical, high", cvss: "7.5", category: "vulnerability",
    categories: "secrets, malicious_code", check: "PKG-HOOK-001", checks: "PKG-HOOK-001, VULN-PKG-001",
    glob: "acme-*", vuln: "CVE-2024-3094", vulns: "CVE-2024-3094, GHSA-xxxx-xxxx-xxxx",
    "true": "true", licenses: "MIT, Apache-2.0", name: "requests", names: "requests, urllib3",
    regex: "^internal-", ecosystem: "pypi", ecosystems: "pypi, npm", range: ">=1.0,<2.0 || ==2.5.1",
    score: "60", count: "10"
  };

  function setupEditor(form) {
    var catalog;
    try { catalog = JSON.parse(form.getAttribute("data-catalog") || "[]"); } catch (e) { return; }
    var bySubject = {};
    catalog.forEach(function (s) { bySubject[s.subject] = s; });

    function refresh(row) {
      var subject = row.querySelector("select[name$='-subject']");
      var operator = row.querySelector("select[name$='-operator']");
      var value = row.querySelector("input[name$='-value']");
      if (!subject || !operator) { return; }
      var spec = bySubject[subject.value];
      var allowed = spec ? spec.operators.map(function (o) { return o.operator; }) : null;
      Array.prototype.forEach.call(operator.options, function (option) {
        var ok = !allowed || option.value === "" || allowed.indexOf(option.value) !== -1;
        option.hidden = !ok;
        option.disabled = !ok;
        if (spec) {
          var op = spec.operators.filter(function (o) { return o.operator === option.value; })[0];
          if (op) { option.textContent = option.value + " (" + op.label + ")"; }
        }
      });
      if (allowed && allowed.indexOf(operator.value) === -1) {
        operator.value = allowed.length === 1 ? allowed[0] : "";
      }
      if (value && spec) {
        var chosen = spec.operators.filter(function (o) { return o.operator === operator.value; })[0];
        value.placeholder = chosen ? (PLACEHOLDERS[chosen.value] || "") : "";
        value.title = spec.description;
      }
    }

    form.querySelectorAll("[data-condition]").forEach(function (row) {
      refresh(row);
      row.addEventListener("change", function (event) {
        if (event.target.matches("select")) { refresh(row); }
      });
    });
  }

  function setupJson(form) {
    var button = form.querySelector("[data-json-format]");
    var area = form.querySelector("textarea");
    if (!button || !area) { return; }
    var note = document.createElement("p");
    note.className = "muted";
    note.setAttribute("role", "status");
    button.parentNode.appendChild(note);
    button.addEventListener("click", function () {
      try {
        area.value = JSON.stringify(JSON.parse(area.value), null, 2);
        note.textContent = "";
      } catch (e) {
        note.textContent = "Not valid JSON: " + e.message;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-policy-editor]").forEach(setupEditor);
    document.querySelectorAll("[data-json-editor]").forEach(setupJson);
  });
})();
