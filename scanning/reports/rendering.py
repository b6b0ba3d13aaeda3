"""A report document (scanning.reports.document) rendered as PDF, HTML, JSON, SARIF 2.1.0 or CSV.

Rendering never reads local files or reaches the network on behalf of the document:

- the HTML comes from our Django templates (`templates/reports/`) with autoescaping;
  the only URLs in it are data: URIs generated here (the logo, re-encoded when it
  was uploaded, and the images of the custom CSS, re-encoded by the sanitiser);
- custom CSS is rebuilt by `scanning.reports.sanitize.sanitize_css` on every render;
- WeasyPrint gets a `SealedFetcher` that answers only those generated data: URIs and
  refuses everything else (http, https, file, ftp, relative URLs, other data: URIs)
  without opening anything;
- the HTML format carries a Content-Security-Policy that allows nothing but its own
  two style blocks (by hash) and data: images; the download and preview views send
  the same policy as a header, with `sandbox`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from scanning.reports import document as doc
from scanning.reports.models import SECTION_ORDER, Format, ReportTemplate, Section
from scanning.reports.sanitize import sanitize_css

logger = logging.getLogger(__name__)

EXTENSIONS = {Format.PDF: "pdf", Format.HTML: "html", Format.JSON: "json", Format.SARIF: "sarif",
              Format.CSV: "csv"}
CONTENT_TYPES = {Format.PDF: "application/pdf", Format.HTML: "text/html; charset=utf-8",
                 Format.JSON: "application/json", Format.SARIF: "application/sarif+json",
                 Format.CSV: "text/csv; charset=utf-8"}
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
SECTION_TITLES = {s.value: s.label for s in Section}
# The remediation plan printed in PDF/HTML: its most important actions (JSON has them all).
PLAN_LIMIT = 50


# --- the template, ready to render -------------------------------------------------------------------

@dataclass
class RenderSpec:
    """A report template made safe: everything the renderer needs, nothing it must fetch."""

    name: str = "Default"
    title: str = "Security report"
    footer_text: str = ""
    accent_color: str = "#1d4ed8"
    sections: list[str] = field(default_factory=lambda: list(SECTION_ORDER))
    custom_css: str = ""
    logo_uri: str = ""
    # Every data: URI the renderer may load (the logo, the custom CSS's images).
    data_uris: frozenset[str] = frozenset()
    css_problems: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, *, name: str, title: str, footer_text: str, accent_color: str, sections: Iterable[str],
              custom_css: str, logo: tuple[str, bytes] | None) -> RenderSpec:
        clean = sanitize_css(custom_css or "")
        logo_uri = data_uri(*logo) if logo else ""
        chosen = [s for s in SECTION_ORDER if s in set(sections)]
        return cls(name=name, title=title, footer_text=footer_text, accent_color=accent_color, sections=chosen,
                   custom_css=clean.css, logo_uri=logo_uri,
                   data_uris=clean.data_uris | ({logo_uri} if logo_uri else set()), css_problems=clean.problems)

    @classmethod
    def for_template(cls, template: ReportTemplate | None, *, schema: str) -> RenderSpec:
        if template is None:
            return cls()
        return cls.build(name=template.name, title=template.title, footer_text=template.footer_text,
                         accent_color=template.accent_color, sections=template.sections,
                         custom_css=template.custom_css, logo=read_logo(template, schema=schema))


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def tenant_root(schema: str) -> Path:
    return Path(settings.DATA_ROOT) / schema


def read_logo(template: ReportTemplate, *, schema: str) -> tuple[str, bytes] | None:
    """The stored (already re-encoded) logo of a template, from the organization's own directory only."""
    if not template.logo_path:
        return None
    root = tenant_root(schema).resolve()
    path = (root / template.logo_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.warning("report template logo missing", extra={"template": str(template.pk)})
        return None
    return template.logo_content_type or "image/png", path.read_bytes()


# --- the fetcher --------------------------------------------------------------------------------------------

class RefusedFetch(ValueError):
    pass


def _sealed_fetcher(allowed: Iterable[str]) -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    decoded: dict[str, tuple[str, bytes]] = {}
    for uri in allowed:
        head, _, payload = uri.partition(",")
        mime = head.removeprefix("data:").split(";")[0]
        decoded[uri] = (mime, base64.b64decode(payload))

    class SealedFetcher(URLFetcher):
        """Answers the data: URIs the renderer generated; refuses every other URL without opening it."""

        def __init__(self) -> None:
            super().__init__(timeout=1, allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            hit = decoded.get(url)
            if hit is None:
                self.refused.append(url[:200])
                raise RefusedFetch(f"report rendering refused to load {url[:80]!r}")
            return URLFetcherResponse(url, body=hit[1], headers={"Content-Type": hit[0]}, status=200)

        def open(self, url: Any, data: Any = None, timeout: Any = None) -> Any:
            return self.fetch(url if isinstance(url, str) else url.full_url)

    return SealedFetcher()


# --- HTML ------------------------------------------------------------------------------------------------

def _colour(score: int) -> str:
    return "#15803d" if score >= 90 else "#65a30d" if score >= 80 else "#b45309" if score >= 60 else "#b91c1c"


BAR_PITCH = 7  # mm between two bars of the category chart


def _category_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Score per category (the scan's own, or the average over the report's scans), as SVG bar geometry."""
    totals: dict[str, list[int]] = {}
    weights: dict[str, int] = {}
    for scan in document["scans"]:
        for cs in scan["category_scores"]:
            totals.setdefault(cs["category"], []).append(cs["score"])
            weights[cs["category"]] = weights.get(cs["category"], 0) + (cs.get("weight") or 0)
    rows = []
    for category in doc.CATEGORIES:
        if category not in totals:
            continue
        score = round(sum(totals[category]) / len(totals[category]))
        y = len(rows) * BAR_PITCH
        rows.append({"category": category, "label": doc.CATEGORY_LABELS.get(category, category), "score": score,
                     "weight": weights[category], "problems": document["overview"]["category_totals"].get(category, 0),
                     "y": y, "text_y": y + 3.6, "bar": round(104 * max(0, min(score, 100)) / 100, 1),
                     "colour": _colour(score)})
    return rows


def _display_findings(document: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Problem findings (failed, warning, error) per section, at most REPORTS_MAX_RENDERED_FINDINGS in all."""
    limit = int(settings.REPORTS_MAX_RENDERED_FINDINGS)
    detailed = int(settings.REPORTS_DETAILED_FINDINGS)
    chosen = set(document["report"]["sections"])
    by_section: dict[str, list[dict[str, Any]]] = {s: [] for s in doc.SECTION_CATEGORIES}
    shown = omitted = 0
    for f in document["findings"]:
        if f["status"] not in doc.PROBLEM_STATUSES or f["section"] not in chosen:
            continue
        if shown >= limit:
            omitted += 1
            continue
        ev = f.get("evidence") or {}
        by_section[f["section"]].append({
            **f, "where": (f.get("file_path") or "") + (f":{f['line']}" if f.get("line") and f.get("file_path")
                                                         else ""),
            "aliases": ", ".join(str(a) for a in (ev.get("aliases") or [])[:4]),
            "fixed": ", ".join(str(v) for v in (ev.get("fixed") or [])[:4]),
            "snippet": str(ev.get("snippet") or ev.get("decoded_preview") or ev.get("command") or "")[:240],
            "detailed": shown < detailed,
        })
        shown += 1
    return by_section, omitted


def _csp(styles: Iterable[str]) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()}'"
                      for s in styles if s) or "'none'"
    return (f"default-src 'none'; img-src data:; style-src {hashes}; font-src 'none'; script-src 'none'; "
            "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


def html_context(document: dict[str, Any], spec: RenderSpec) -> dict[str, Any]:
    base_css = render_to_string("reports/report.css", {"accent": spec.accent_color}).replace("<", "\\3c ")
    custom_css = spec.custom_css
    findings, omitted = _display_findings(document)
    rows = _category_rows(document)
    multi = len(document["scans"]) != 1 or document["report"].get("scope") != "scan"
    sections = []
    for key in document["report"]["sections"]:
        sections.append({"key": key, "title": SECTION_TITLES[key], "template": f"reports/sections/{key}.html",
                         "findings": findings.get(key, [])})
    return {
        "d": document, "spec": spec, "sections": sections, "omitted": omitted, "multi": multi,
        "plan": document["remediation"][:PLAN_LIMIT], "plan_omitted": max(len(document["remediation"]) - PLAN_LIMIT, 0),
        "base_css": base_css, "custom_css": custom_css, "csp": _csp([base_css, custom_css]),
        "category_rows": rows, "bars": {"height": max(len(rows), 1) * BAR_PITCH},
        "severities": doc.SEVERITIES, "categories": doc.CATEGORIES,
        "category_labels": doc.CATEGORY_LABELS,
        "matrix": [{"category": c, "label": doc.CATEGORY_LABELS.get(c, c),
                    "counts": [document["overview"]["category_counts"][c][s] for s in doc.SEVERITIES],
                    "total": document["overview"]["category_totals"][c]} for c in doc.CATEGORIES],
        "policies": [s for s in document["scans"] if s.get("policy")],
    }


def render_html(document: dict[str, Any], spec: RenderSpec) -> str:
    return render_to_string("reports/report.html", html_context(document, spec))


_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def html_policy(html: str) -> str:
    """The Content-Security-Policy for serving a rendered HTML report: its own style blocks (by hash), data:
    images, nothing else, in a sandbox. (The report also carries the policy in a meta tag.)"""
    return _csp(_STYLE_BLOCK.findall(html)) + "; sandbox"


# --- PDF ---------------------------------------------------------------------------------------------------

@dataclass
class PdfResult:
    data: bytes
    refused: list[str]


def render_pdf(document: dict[str, Any], spec: RenderSpec) -> PdfResult:
    from weasyprint import HTML

    html = render_html(document, spec)
    fetcher = _sealed_fetcher(spec.data_uris)
    # No base URL: relative references have nothing to resolve against, and the fetcher refuses them anyway.
    pdf = HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    if fetcher.refused:
        logger.warning("report rendering refused URLs", extra={"refused": fetcher.refused[:20]})
    return PdfResult(data=pdf, refused=list(fetcher.refused))


def warm_up() -> None:
    """Load WeasyPrint, Pango and the fonts once (worker start-up), so the first report is not slower."""
    from weasyprint import HTML

    HTML(string="<p>Gatehouse</p>", url_fetcher=_sealed_fetcher(())).write_pdf()


# --- JSON -----------------------------------------------------------------------------------------------

def render_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


# --- SARIF 2.1.0 ------------------------------------------------------------------------------------------------

def _level(severity: str, status: str) -> str:
    rank = doc._rank(severity)
    if status == "failed":
        return "error" if rank >= 3 else "warning" if rank == 2 else "note"
    return "warning" if rank >= 3 else "note"


def _rule(check: dict[str, Any]) -> dict[str, Any]:
    severity = check.get("severity") or "medium"
    name = "".join(part.capitalize() for part in doc.slug(check["title"]).split("-")) or check["id"]
    return {
        "id": check["id"],
        "name": name,
        "shortDescription": {"text": check["title"]},
        "fullDescription": {"text": check.get("description") or check["title"]},
        "help": {"text": check.get("fix") or "See the finding's detail."},
        "defaultConfiguration": {"level": _level(severity, "failed")},
        "properties": {"category": check.get("category") or "", "severity": severity,
                       "weight": check.get("weight") or 0, "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
                       "tags": ["security", check.get("category") or "gatehouse"]},
    }


def _artifact_uri(path: str) -> str:
    return urllib.parse.quote(path.lstrip("/"), safe="/@:+,;=-._~")


def render_sarif(document: dict[str, Any]) -> bytes:
    checks = {c["id"]: c for c in document["checks"]}
    version = document["tool"]["version"]
    runs = []
    findings_by_scan: dict[str, list[dict[str, Any]]] = {}
    for f in document["findings"]:
        findings_by_scan.setdefault(f["scan_id"], []).append(f)
    for scan in document["scans"]:
        findings = findings_by_scan.get(scan["id"], [])
        results = [f for f in findings if f["status"] in ("failed", "warning")]
        errors = [f for f in findings if f["status"] == "error"]
        used = sorted({f["check_id"] for f in results + errors})
        index = {cid: i for i, cid in enumerate(used)}
        rules = [_rule(checks.get(cid) or {"id": cid, "title": cid}) for cid in used]
        previous = {c["fingerprint"] for c in scan["changes"]["new"]} if scan.get("changes") else None
        sarif_results = []
        for f in results:
            result: dict[str, Any] = {
                "ruleId": f["check_id"], "ruleIndex": index[f["check_id"]], "kind": "fail",
                "level": _level(f["severity"], f["status"]),
                "message": {"text": (f["title"] + (f". {f['detail']}" if f.get("detail") else ""))[:4000]},
                "partialFingerprints": {"gatehouseFingerprint/v1": f["fingerprint"]},
                "properties": {"severity": f["severity"], "status": f["status"], "category": f["category"],
                               "security-severity": SECURITY_SEVERITY.get(f["severity"], "5.5"),
                               "finding_id": f["id"], "evidence": f.get("evidence") or {}},
            }
            if f.get("file_path"):
                location: dict[str, Any] = {"artifactLocation": {"uri": _artifact_uri(f["file_path"]),
                                                                 "uriBaseId": "PACKAGE"}}
                if f.get("line"):
                    location["region"] = {"startLine": int(f["line"])}
                result["locations"] = [{"physicalLocation": location}]
            if previous is not None:
                result["baselineState"] = "new" if f["fingerprint"] in previous else "unchanged"
            sarif_results.append(result)
        artifact: dict[str, Any] = {"location": {"uri": _artifact_uri(scan["filename"] or scan["target"] or
                                                                      scan["id"])},
                                    "roles": ["analysisTarget"]}
        if scan.get("sha256"):
            artifact["hashes"] = {"sha-256": scan["sha256"]}
        if scan.get("size"):
            artifact["length"] = int(scan["size"])
        invocation: dict[str, Any] = {
            "executionSuccessful": scan["status"] == "completed",
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": f"{f['check_id']}: {f['title']} (the analyzer failed; "
                                                       "re-run the scan)"},
                 "descriptor": {"id": f["check_id"], "index": index[f["check_id"]]}} for f in errors],
        }
        if scan.get("finished_at"):
            invocation["endTimeUtc"] = scan["finished_at"]
        if scan.get("created_at"):
            invocation["startTimeUtc"] = scan["created_at"]
        runs.append({
            "tool": {"driver": {"name": "Gatehouse", "version": version, "semanticVersion": version,
                                "rules": rules}},
            "automationDetails": {"id": f"gatehouse/{scan['ecosystem']}/{doc.slug(scan['name'] or 'package')}/"
                                        f"{scan['id']}"},
            "originalUriBaseIds": {"PACKAGE": {"description": {"text": "The root of the unpacked package."}}},
            "artifacts": [artifact],
            "invocations": [invocation],
            "results": sarif_results,
            "properties": {"scan_id": scan["id"], "ecosystem": scan["ecosystem"], "package": scan["name"],
                           "version": scan["version"], "score": scan["score"], "grade": scan["grade"],
                           "verdict": scan["verdict"], "organization": document["organization"].get("slug", "")},
        })
    sarif = {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": runs}
    return json.dumps(sarif, indent=2, ensure_ascii=False).encode("utf-8")


# --- CSV ---------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ["scan_id", "ecosystem", "package", "version", "check_id", "title", "category", "severity", "status",
               "file_path", "line", "advisory", "aliases", "cvss_score", "fixed_versions", "upgrade_to", "fingerprint",
               "finding_id", "detail"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """Text for a spreadsheet cell; a leading = + - @ is escaped so it is never run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(document: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in sorted(document["findings"], key=lambda f: (f["scan_id"], f["check_id"], f.get("file_path") or "",
                                                          f.get("line") or 0, f["fingerprint"])):
        ev = f.get("evidence") or {}
        writer.writerow([_cell(v) for v in (
            f["scan_id"], f.get("ecosystem"), f.get("package"), f.get("version"), f["check_id"], f["title"],
            f["category"], f["severity"], f["status"], f.get("file_path"), f.get("line"), ev.get("advisory"),
            " ".join(str(a) for a in ev.get("aliases") or []), ev.get("cvss_score"),
            " ".join(str(v) for v in ev.get("fixed") or []), ev.get("upgrade_to"), f["fingerprint"], f["id"],
            f.get("detail"))])
    return out.getvalue().encode("utf-8")


# --- any format ------------------------------------------------------------------------------------------------

def render(document: dict[str, Any], spec: RenderSpec, fmt: str) -> bytes:
    if fmt == Format.PDF:
        return render_pdf(document, spec).data
    if fmt == Format.HTML:
        return render_html(document, spec).encode("utf-8")
    if fmt == Format.JSON:
        return render_json(document)
    if fmt == Format.SARIF:
        return render_sarif(document)
    if fmt == Format.CSV:
        return render_csv(document)
    raise ValueError(f"unknown report format {fmt!r}")
