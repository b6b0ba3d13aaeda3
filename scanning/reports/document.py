"""The report as data: totals, an executive summary, findings by section and a remediation plan.

Pure functions over plain dicts (`ScanRecord`s, built from the database by
`scanning.reports.gather`, or the sample scan of `scanning.reports.sample`): no
database, no clock, no randomness. The same records always give the same document,
word for word, so the executive summary is deterministic. The JSON format is this
document; PDF, HTML, SARIF and CSV are rendered from it.

A scan record:

    {"id", "target", "ecosystem", "name", "version", "status", "score", "grade", "verdict",
     "created_at", "finished_at" (ISO strings), "sha256", "size", "filename", "submitted_by",
     "metadata": {"summary", "license", "homepage", "author", "dependency_count", "install_scripts"},
     "category_scores": [{"category", "score", "weight", "counts"}],
     "findings": [{"id", "check_id", "title", "category", "severity", "status", "detail",
                   "file_path", "line", "evidence", "fingerprint"}],
     "extra": {"policies": {...}},   # contributed by scanning.hooks.register_report_section
     "previous": None | {"id", "version", "finished_at", "score", "grade", "verdict",
                         "same_artifact", "problems": [{"fingerprint", "check_id", "title", "severity"}]}}
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from scanning.analyzers.base import SEVERITY_RANK, Category, Check, Severity
from scanning.reports.models import SECTION_ORDER, Section
from scanning.scoring import grade_for

SCHEMA = "gatehouse-report/1"
SEVERITIES = [s.value for s in Severity]
CATEGORIES = [c.value for c in Category]
PROBLEM_STATUSES = ("failed", "warning", "error")
ACTIVE_STATUSES = ("failed", "warning")
VERDICT_RANK = {"block": 3, "warn": 2, "pass": 1, "unknown": 0}
# Which section prints which categories.
SECTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    Section.VULNERABILITIES: ("vulnerability",),
    Section.MALICIOUS: ("malicious_code", "install_hooks"),
    Section.SECRETS: ("secrets",),
    Section.LICENSES: ("license",),
    Section.OTHER: ("typosquatting", "metadata", "integrity"),
}
CATEGORY_SECTION = {cat: str(section) for section, cats in SECTION_CATEGORIES.items() for cat in cats}
# Ties between equally severe problems: the kinds that hurt most first.
CATEGORY_PRIORITY = {c: i for i, c in enumerate(
    ["malicious_code", "install_hooks", "vulnerability", "secrets", "typosquatting", "integrity", "license",
     "metadata"])}
# Labels of the category charts and tables (distinct from the section headings).
CATEGORY_LABELS = {
    "vulnerability": "Vulnerability", "malicious_code": "Malicious code", "install_hooks": "Install hooks",
    "secrets": "Secrets", "license": "License", "typosquatting": "Typosquatting", "metadata": "Metadata",
    "integrity": "Integrity",
}
# The same, as words in a sentence.
CATEGORY_WORDS = {
    "vulnerability": "known vulnerabilities", "malicious_code": "malicious code", "install_hooks": "install hooks",
    "secrets": "secrets", "license": "licenses", "typosquatting": "typosquatting", "metadata": "metadata",
    "integrity": "integrity",
}
SEVERITY_WORDS = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "info": "informational"}
TOP_RISKS = 5
# How to install a package without running its install hooks, per ecosystem.
NO_SCRIPTS = {
    "npm": "install it with npm install --ignore-scripts",
    "pypi": "install only its wheel (pip install --only-binary :all:), which runs no setup.py",
    "debian": "do not install it: its maintainer scripts run as root",
    "rpm": "do not install it: its scriptlets run as root",
    "alpine": "do not install it: its install scripts run as root",
}
MAX_CHANGES = 5


# --- small helpers ---------------------------------------------------------------------------------

def _rank(severity: str) -> int:
    try:
        return SEVERITY_RANK[Severity(severity)]
    except ValueError:
        return -1


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _join(items: Sequence[str], *, last: str = "and") -> str:
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _day(iso: str | None) -> str:
    return (iso or "")[:10]


def _last_day(iso: str | None) -> str:
    """The last day a period covers: its end is exclusive (midnight after the last day, for dates)."""
    if not iso:
        return ""
    return (datetime.fromisoformat(iso) - timedelta(seconds=1)).date().isoformat()


def _when(iso: str | None) -> str:
    """'2026-11-22 10:15 UTC' from an ISO timestamp (records carry UTC times)."""
    if not iso:
        return ""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def package_label(record: dict[str, Any]) -> str:
    name = record.get("name") or record.get("target") or "the package"
    version = record.get("version") or ""
    return f"{name} {version}".strip()


def _counts_by_severity(findings: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        if f["status"] in ACTIVE_STATUSES and f["severity"] in counts:
            counts[f["severity"]] += 1
    return counts


def _problem_key(f: dict[str, Any]) -> tuple[Any, ...]:
    return (0 if f["status"] == "failed" else 1 if f["status"] == "warning" else 2, -_rank(f["severity"]),
            CATEGORY_PRIORITY.get(f["category"], 99), f["check_id"], f.get("package", ""), f.get("file_path") or "",
            f.get("line") or 0, f.get("title", ""))


def _check(catalog: dict[str, Check], check_id: str) -> Check | None:
    return catalog.get(check_id)


# --- the document ---------------------------------------------------------------------------------------

def build(records: Sequence[dict[str, Any]], *, report: dict[str, Any], organization: dict[str, Any],
          catalog: Sequence[Check], tool_version: str) -> dict[str, Any]:
    """The whole report document. `report`: id, title, scope, format, generated_at, template, sections,
    and for period/package scopes `period_start`, `period_end`, `ecosystem`, `package_name`."""
    checks = {c.id: c for c in catalog}
    records = sorted(records, key=lambda r: (r.get("finished_at") or r.get("created_at") or "", r["id"]))
    findings = []
    for record in records:
        for f in record["findings"]:
            findings.append({**f, "scan_id": record["id"], "package": record.get("name") or record.get("target"),
                             "version": record.get("version") or "", "ecosystem": record.get("ecosystem"),
                             "section": CATEGORY_SECTION.get(f["category"], str(Section.OTHER))})
    findings.sort(key=_problem_key)
    overview = _overview(records, findings)
    scans = [_scan_summary(r) for r in records]
    summary = _executive_summary(records, findings, overview, report=report, organization=organization,
                                 checks=checks)
    sections = [s for s in (report.get("sections") or SECTION_ORDER) if s in SECTION_ORDER]
    return {
        "schema": SCHEMA,
        "tool": {"name": "Gatehouse", "version": tool_version},
        "report": {**report, "sections": sections, "scope_text": scope_text(report, records),
                   "generated": _when(report.get("generated_at"))},
        "organization": organization,
        "overview": overview,
        "executive_summary": summary,
        "scans": scans,
        "findings": findings,
        "remediation": remediation_plan(records, checks),
        "checks": _appendix(findings, catalog),
    }


def scope_text(report: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    scope = report.get("scope")
    if scope == "scan":
        record = records[0] if records else {}
        return f"Scan of {package_label(record)} ({record.get('ecosystem', '')})" if record else "One scan"
    if scope == "package":
        return f"Every scanned version of {report.get('package_name')} ({report.get('ecosystem')})" + (
            f", {_day(report.get('period_start'))} to {_last_day(report.get('period_end'))}"
            if report.get("period_start") else "")
    return f"Every scan from {_day(report.get('period_start'))} to {_last_day(report.get('period_end'))}"


def _overview(records: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    scored = [r["score"] for r in records if r.get("score") is not None]
    if len(records) == 1:
        score = records[0].get("score")
        grade = records[0].get("grade") or (grade_for(score) if score is not None else "")
    else:
        score = round(sum(scored) / len(scored)) if scored else None
        grade = grade_for(score) if score is not None else ""
    verdicts = Counter((r.get("verdict") or "unknown") for r in records)
    verdict = max(verdicts, key=lambda v: (VERDICT_RANK.get(v, 0), v)) if verdicts else "unknown"
    if len(records) == 1:
        verdict = records[0].get("verdict") or "unknown"
    by_category: dict[str, dict[str, int]] = {c: dict.fromkeys(SEVERITIES, 0) for c in CATEGORIES}
    for f in findings:
        if f["status"] in ACTIVE_STATUSES and f["category"] in by_category and f["severity"] in SEVERITIES:
            by_category[f["category"]][f["severity"]] += 1
    statuses = Counter(f["status"] for f in findings)
    packages = {(r.get("ecosystem"), (r.get("name") or r.get("target") or "").lower()) for r in records}
    return {
        "scans": len(records), "packages": len(packages), "score": score, "grade": grade, "verdict": verdict,
        "verdicts": {v: verdicts.get(v, 0) for v in ("block", "warn", "pass", "unknown")},
        "severity_counts": _counts_by_severity(findings),
        "category_counts": by_category,
        "category_totals": {c: sum(v.values()) for c, v in by_category.items()},
        "status_counts": {s: statuses.get(s, 0) for s in ("failed", "warning", "error", "passed", "not_applicable")},
        "problems": statuses.get("failed", 0) + statuses.get("warning", 0),
        "failed_scans": sum(1 for r in records if r.get("status") == "failed"),
    }


def _scan_summary(record: dict[str, Any]) -> dict[str, Any]:
    findings = record["findings"]
    declared = next((f["evidence"].get("spdx") for f in findings if f["check_id"] == "LIC-DECLARED-001"
                     and isinstance(f.get("evidence"), dict) and f["evidence"].get("spdx")), None)
    policies = (record.get("extra") or {}).get("policies")
    return {
        "id": record["id"], "target": record.get("target", ""), "ecosystem": record.get("ecosystem", ""),
        "name": record.get("name", ""), "version": record.get("version", ""), "status": record.get("status", ""),
        "score": record.get("score"), "grade": record.get("grade", ""), "verdict": record.get("verdict") or "unknown",
        "created_at": record.get("created_at"), "finished_at": record.get("finished_at"),
        "finished": _when(record.get("finished_at")),
        "sha256": record.get("sha256", ""), "size": record.get("size"), "filename": record.get("filename", ""),
        "submitted_by": record.get("submitted_by", ""), "metadata": record.get("metadata") or {},
        "license": declared or (record.get("metadata") or {}).get("license") or "",
        "category_scores": sorted(record.get("category_scores") or [], key=lambda c: CATEGORIES.index(c["category"])
                                  if c["category"] in CATEGORIES else 99),
        "severity_counts": _counts_by_severity(findings),
        "problems": sum(1 for f in findings if f["status"] in ACTIVE_STATUSES),
        "policy": _policy_section(policies, findings),
        "changes": changes_since_previous(record),
        "error_message": record.get("error_message", ""),
    }


def _policy_section(policies: dict[str, Any] | None, findings: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The policies provider's verdict summary, with finding ids turned into check ids and titles."""
    if not policies:
        return None
    by_id = {f["id"]: f for f in findings}
    out = []
    for p in policies.get("policies") or []:
        reasons = []
        for reason in p.get("reasons") or []:
            ids = reason.get("finding_ids") or []
            named = [by_id[i] for i in ids if i in by_id]
            reasons.append({"rule": reason.get("name") or reason.get("rule") or "", "action": reason.get("action", ""),
                            "count": reason.get("count", len(ids)), "detail": reason.get("detail", ""),
                            "checks": sorted({f["check_id"] for f in named})})
        waived = []
        for w in p.get("waived") or []:
            finding = by_id.get(w.get("finding_id"))
            waived.append({"waiver_id": w.get("waiver_id"), "check_id": w.get("check_id") or (
                finding["check_id"] if finding else ""), "title": finding["title"] if finding else "",
                "severity": finding["severity"] if finding else "", "rules": w.get("rules") or []})
        out.append({"name": p.get("name") or "No policy covers this package", "revision": p.get("revision"),
                    "mode": p.get("mode", ""), "verdict": p.get("verdict", ""), "reasons": reasons, "waived": waived})
    return {"verdict": policies.get("verdict") or "unknown", "evaluated_at": policies.get("evaluated_at"),
            "evaluated": _when(policies.get("evaluated_at")),
            "policies": out}


def changes_since_previous(record: dict[str, Any]) -> dict[str, Any] | None:
    previous = record.get("previous")
    if not previous:
        return None
    now = {f["fingerprint"]: f for f in record["findings"] if f["status"] in ACTIVE_STATUSES}
    before = {p["fingerprint"]: p for p in previous.get("problems") or []}
    new = sorted((now[k] for k in now.keys() - before.keys()), key=lambda f: (-_rank(f["severity"]), f["check_id"]))
    resolved = sorted((before[k] for k in before.keys() - now.keys()),
                      key=lambda f: (-_rank(f["severity"]), f["check_id"]))
    score_before, score_now = previous.get("score"), record.get("score")
    return {
        "previous_id": previous["id"], "previous_version": previous.get("version", ""),
        "previous_finished": _when(previous.get("finished_at")), "same_artifact": bool(previous.get("same_artifact")),
        "score_before": score_before, "score_after": score_now,
        "score_delta": (score_now - score_before) if score_before is not None and score_now is not None else None,
        "verdict_before": previous.get("verdict") or "unknown", "verdict_after": record.get("verdict") or "unknown",
        "new": [{k: f[k] for k in ("fingerprint", "check_id", "title", "severity")} for f in new],
        "resolved": [{k: f[k] for k in ("fingerprint", "check_id", "title", "severity")} for f in resolved],
    }


# --- executive summary ------------------------------------------------------------------------------------

def _severity_phrase(counts: dict[str, int]) -> str:
    parts = [f"{counts[s]} {SEVERITY_WORDS[s]}" for s in SEVERITIES if counts.get(s)]
    return _join(parts)


def _risk_line(f: dict[str, Any], *, with_package: bool) -> str:
    where = ""
    if f.get("file_path"):
        where = f" in {f['file_path']}" + (f":{f['line']}" if f.get("line") else "")
    package = f" ({f['package']} {f['version']})".replace(" )", ")") if with_package else ""
    return f"{f['title']} [{f['check_id']}]{package}{where}."


def _change_line(record: dict[str, Any], change: dict[str, Any]) -> str:
    subject = package_label(record)
    what = "the same artifact" if change["same_artifact"] else f"version {change['previous_version']}".rstrip()
    parts = []
    if change["score_before"] is not None and change["score_after"] is not None:
        delta = change["score_delta"]
        sign = f"+{delta}" if delta > 0 else str(delta)
        parts.append(f"score {change['score_before']} → {change['score_after']} ({sign})")
    if change["verdict_before"] != change["verdict_after"]:
        parts.append(f"verdict {change['verdict_before']} → {change['verdict_after']}")
    else:
        parts.append(f"verdict unchanged ({change['verdict_after']})")
    if change["new"]:
        ids = _join(sorted({c["check_id"] for c in change["new"]})[:4])
        parts.append(f"{_plural(len(change['new']), 'new problem')} ({ids})")
    if change["resolved"]:
        ids = _join(sorted({c["check_id"] for c in change["resolved"]})[:4])
        parts.append(f"{_plural(len(change['resolved']), 'problem')} resolved ({ids})")
    if not change["new"] and not change["resolved"]:
        parts.append("the same problems as before")
    when = f", {change['previous_finished'][:10]}" if change["previous_finished"] else ""
    return f"Since the previous scan of {subject} ({what}{when}): {'; '.join(parts)}."


def _policy_sentence(record: dict[str, Any], scan: dict[str, Any]) -> str:
    policy = scan.get("policy")
    verdict = (record.get("verdict") or "unknown").upper()
    if not policy or not policy["policies"]:
        if record.get("verdict"):
            return f"The policy verdict is {verdict}."
        return "No policy verdict was recorded for this scan (it is reported as UNKNOWN)."
    reasons = [(p["name"], r) for p in policy["policies"] if p["mode"] != "monitor" for r in p["reasons"]
               if r["action"] in ("block", "warn")]
    waived = sum(len(p["waived"]) for p in policy["policies"])
    sentence = f"The policy verdict is {verdict}"
    if reasons:
        shown = [f"'{r['rule']}' ({name}, {r['action']}, {_plural(r['count'], 'finding')})" for name, r in reasons[:3]]
        sentence += f": {_join(shown)}"
        if len(reasons) > 3:
            sentence += f" and {_plural(len(reasons) - 3, 'more rule')}"
    else:
        sentence += ": no blocking or warning rule matched"
    sentence += "."
    if waived:
        sentence += f" {_plural(waived, 'finding was', 'findings were')} waived."
    return sentence


def _executive_summary(records: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]],
                       overview: dict[str, Any], *, report: dict[str, Any], organization: dict[str, Any],
                       checks: dict[str, Check]) -> dict[str, Any]:
    org = organization.get("name", "")
    paragraphs: list[str] = []
    active = [f for f in findings if f["status"] in ACTIVE_STATUSES]
    if not records:
        paragraphs.append(f"No scans of {org} match this report's scope ({scope_text(report, records).lower()}), "
                          "so there is nothing to assess.")
        return {"paragraphs": paragraphs, "top_risks": [], "changes": []}
    single = len(records) == 1 and report.get("scope") == "scan"
    if single:
        record = records[0]
        scan = _scan_summary(record)
        artifact = f", artifact {record['filename']}" if record.get("filename") else ""
        when = _day(record.get("finished_at") or record.get("created_at"))
        if record.get("status") == "failed":
            paragraphs.append(f"Gatehouse scanned {package_label(record)} ({record.get('ecosystem')}{artifact}) for "
                              f"{org} on {when}. The scan failed and has no score: "
                              f"{record.get('error_message') or 'see the integrity findings'}")
        else:
            paragraphs.append(f"Gatehouse scanned {package_label(record)} ({record.get('ecosystem')}{artifact}) for "
                              f"{org} on {when}. It scored {record.get('score')}/100, grade {record.get('grade')}.")
        paragraphs.append(_policy_sentence(record, scan))
    else:
        verdicts = overview["verdicts"]
        verdict_parts = [f"{verdicts[v]} {v}" for v in ("block", "warn", "pass", "unknown") if verdicts[v]]
        if report.get("scope") == "package":
            versions = _join(sorted({r.get("version") or "?" for r in records}))
            paragraphs.append(f"Gatehouse scanned {_plural(len(records), 'version')} of {report.get('package_name')} "
                              f"({report.get('ecosystem')}) for {org}: {versions}.")
        else:
            paragraphs.append(f"From {_day(report.get('period_start'))} to {_last_day(report.get('period_end'))}, "
                              f"Gatehouse completed {_plural(len(records), 'scan')} of "
                              f"{_plural(overview['packages'], 'package')} for {org}.")
        score = overview["score"]
        sentence = f"Verdicts: {_join(verdict_parts)}."
        if score is not None:
            sentence = f"The average score is {score}/100 (grade {overview['grade']}). " + sentence
        if overview["failed_scans"]:
            sentence += f" {_plural(overview['failed_scans'], 'scan')} failed (refused or unreadable artifacts)."
        paragraphs.append(sentence)
    if active:
        categories = sorted({f["category"] for f in active}, key=lambda c: CATEGORY_PRIORITY.get(c, 99))
        paragraphs.append(f"{_plural(len(active), 'problem')} {'was' if len(active) == 1 else 'were'} found: "
                          f"{_severity_phrase(overview['severity_counts'])}, in "
                          f"{_join([CATEGORY_WORDS.get(c, c) for c in categories])}.")
    else:
        paragraphs.append("No problem was found: every applicable check passed.")
    errors = [f for f in findings if f["status"] == "error"]
    if errors:
        paragraphs.append(f"{_plural(len(errors), 'check')} could not run (analyzer errors); re-run the scan to "
                          "complete them.")
    top = []
    seen: set[tuple[str, str, str]] = set()
    for f in active:
        key = (f["check_id"], f.get("package") or "", f["title"])
        if key in seen:
            continue
        seen.add(key)
        top.append({"severity": f["severity"], "check_id": f["check_id"], "title": f["title"],
                    "category": f["category"], "package": f.get("package"), "version": f.get("version"),
                    "text": _risk_line(f, with_package=not single)})
        if len(top) == TOP_RISKS:
            break
    changes = []
    for record in records:
        change = changes_since_previous(record)
        if change is not None:
            changes.append((abs(change["score_delta"] or 0), package_label(record), _change_line(record, change)))
    changes.sort(key=lambda c: (-c[0], c[1]))
    change_lines = [c[2] for c in changes[:MAX_CHANGES]]
    if single and not change_lines:
        change_lines = [f"This is the first scan of {records[0].get('name') or records[0].get('target')} "
                        f"({records[0].get('ecosystem')}) in {org}: there is nothing to compare with."]
    return {"paragraphs": paragraphs, "top_risks": top, "changes": change_lines}


# --- remediation plan ---------------------------------------------------------------------------------------

def _evidence(f: dict[str, Any]) -> dict[str, Any]:
    return f["evidence"] if isinstance(f.get("evidence"), dict) else {}


def remediation_plan(records: Sequence[dict[str, Any]], checks: dict[str, Check]) -> list[dict[str, Any]]:
    """Prioritised actions: most severe first, then malicious code, hooks, vulnerabilities, secrets..."""
    actions: dict[tuple[str, str], dict[str, Any]] = {}

    def add(key: tuple[str, str], *, severity: str, category: str, action: str, why: str, check_id: str,
            package: str) -> None:
        entry = actions.setdefault(key, {"severity": severity, "category": category, "action": action, "why": why,
                                         "checks": set(), "packages": set(), "findings": 0})
        if _rank(severity) > _rank(entry["severity"]):
            entry["severity"] = severity
        entry["checks"].add(check_id)
        entry["packages"].add(package)
        entry["findings"] += 1

    for record in records:
        label = package_label(record)
        active = [f for f in record["findings"] if f["status"] in ACTIVE_STATUSES]
        malicious = [f for f in active if f["category"] == "malicious_code" and _rank(f["severity"]) >= 3]
        malicious_ids = {f["id"] for f in malicious}
        if malicious:
            titles = _join(sorted({f["title"] for f in malicious})[:3])
            for f in malicious:
                add(("malicious", label), severity=f["severity"], category="malicious_code",
                    action=f"Do not install {label}: remove it wherever it is installed and report it to the "
                           f"{record.get('ecosystem')} registry's security team.",
                    why=f"It contains malicious code: {titles}.", check_id=f["check_id"], package=label)
        hooks = [f for f in active if f["category"] == "install_hooks"]
        dangerous = [f for f in hooks if f["check_id"] != "PKG-HOOK-001" or _rank(f["severity"]) >= 3]
        if dangerous:
            names = sorted({str(_evidence(f).get("hook") or _evidence(f).get("script") or "") for f in hooks} - {""})
            titles = _join(sorted({f["title"].rstrip(".") for f in dangerous})[:3]).lower()
            for f in hooks:
                add(("hooks", label), severity=f["severity"], category="install_hooks",
                    action=f"Remove the install hooks of {label}" + (f" ({_join(names)})" if names else "")
                           + f", or {NO_SCRIPTS.get(str(record.get('ecosystem')), NO_SCRIPTS['debian'])} until "
                             "they are reviewed.",
                    why=f"Its install scripts: {titles}.", check_id=f["check_id"], package=label)
        elif hooks:
            names = sorted({str(_evidence(f).get("hook") or "") for f in hooks} - {""})
            for f in hooks:
                add(("hooks-review", label), severity=f["severity"], category="install_hooks",
                    action=f"Review what the install hooks of {label} run" + (f" ({_join(names)})" if names else "")
                           + " before installing it.",
                    why="Code that runs at install time runs with the installer's privileges.",
                    check_id=f["check_id"], package=label)
        for f in active:
            ev = _evidence(f)
            category = f["category"]
            if category == "vulnerability":
                pkg = str(ev.get("package") or record.get("name") or "")
                version = str(ev.get("version") or record.get("version") or "")
                upgrade = str(ev.get("upgrade_to") or "")
                fixed = [str(v) for v in ev.get("fixed") or []]
                advisory = str(ev.get("advisory") or f["check_id"])
                cves = [a for a in ev.get("aliases") or [] if str(a).startswith("CVE-")]
                dependency = f["check_id"] == "VULN-DEP-001" or (pkg and pkg != record.get("name"))
                subject = f"the dependency {pkg}" if dependency else pkg
                if upgrade:
                    text = f"Upgrade {subject} from {version} to {upgrade} or later."
                elif fixed:
                    text = f"Upgrade {subject} from {version} to a fixed version ({_join(fixed[:4], last='or')})."
                else:
                    text = f"No fixed version of {subject} {version} is known: remove it, or accept the risk " \
                           "with a waiver."
                if dependency:
                    text = text[:-1] + f" (pinned by {label})."
                entry_key = ("vuln", f"{pkg}@{version}->{upgrade or ','.join(fixed)}")
                add(entry_key, severity=f["severity"], category=category, action=text, why="", check_id=f["check_id"],
                    package=label)
                actions[entry_key].setdefault("advisories", set()).add(
                    advisory + (f" ({', '.join(cves[:2])})" if cves else ""))
            elif category == "secrets":
                continue  # one action per package and kind of secret, below
            elif category == "typosquatting":
                imitates = str(ev.get("imitates") or "")
                subject = str(ev.get("dependency") or record.get("name") or "")
                add(("typo", f"{subject}->{imitates}"), severity=f["severity"], category=category,
                    action=f"Confirm that {subject} is the package you meant"
                           + (f": its name imitates {imitates}" if imitates else "") + ".",
                    why=f["title"] + ".", check_id=f["check_id"], package=label)
            elif category == "install_hooks" or (category == "malicious_code" and f["id"] in malicious_ids):
                continue  # one action per package, above
            else:
                check = _check(checks, f["check_id"])
                fix = check.fix if check else f"Review: {f['title']}."
                add(("check", f"{f['check_id']}@{label}"), severity=f["severity"], category=category,
                    action=f"{label}: {fix}", why=f["title"] + ".", check_id=f["check_id"], package=label)
        secrets: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in active:
            if f["category"] == "secrets":
                secrets[str(_evidence(f).get("kind") or f["title"])].append(f)
        for kind, found in sorted(secrets.items()):
            if len(found) == 1:
                ev = _evidence(found[0])
                where = str(ev.get("file") or found[0].get("file_path") or "")
                line = ev.get("line") or found[0].get("line")
                place = f"{where}:{line}" if where and line else where
                masked = str(ev.get("masked") or "")
                text = (f"Rotate the exposed {kind}" + (f" ({masked})" if masked else "")
                        + (f" found in {place}" if place else "") + f" of {label}, then remove it from the package.")
            else:
                text = (f"Rotate the {len(found)} exposed {kind} credentials of {label} (listed under Exposed "
                        "secrets), then remove them from the package.")
            for f in found:
                add(("secret", f"{label}:{kind}"), severity=f["severity"], category="secrets", action=text,
                    why="A credential shipped in a package is public: revoke it at its provider first.",
                    check_id=f["check_id"], package=label)
        errors = [f for f in record["findings"] if f["status"] == "error"]
        for f in errors:
            add(("rescan", label), severity="info", category=f["category"],
                action=f"Re-run the scan of {label}: some checks did not complete (analyzer errors).",
                why="Checks that did not run can hide problems.", check_id=f["check_id"], package=label)
    plan = []
    for entry in actions.values():
        advisories = sorted(entry.pop("advisories", set()))
        if advisories:
            entry["why"] = f"Fixes {_join(advisories[:6])}" + (f" and {len(advisories) - 6} more" if
                                                               len(advisories) > 6 else "") + "."
        plan.append({**entry, "checks": sorted(entry["checks"]), "packages": sorted(entry["packages"])})
    plan.sort(key=lambda a: (-_rank(a["severity"]), CATEGORY_PRIORITY.get(a["category"], 99), a["action"]))
    for i, entry in enumerate(plan, 1):
        entry["priority"] = i
    return plan


# --- appendix ------------------------------------------------------------------------------------------------

def _appendix(findings: Sequence[dict[str, Any]], catalog: Sequence[Check]) -> list[dict[str, Any]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        counts[f["check_id"]][f["status"]] += 1
    rows = []
    known = set()
    for check in sorted(catalog, key=lambda c: (CATEGORIES.index(str(c.category)) if str(c.category) in CATEGORIES
                                                 else 99, c.id)):
        known.add(check.id)
        c = counts.get(check.id, Counter())
        rows.append({"id": check.id, "title": check.title, "category": str(check.category),
                     "severity": str(check.severity), "weight": check.weight, "description": check.description,
                     "fix": check.fix, "failed": c["failed"], "warning": c["warning"], "passed": c["passed"],
                     "not_applicable": c["not_applicable"], "error": c["error"]})
    for check_id in sorted(set(counts) - known):
        c = counts[check_id]
        rows.append({"id": check_id, "title": check_id, "category": "", "severity": "", "weight": 0,
                     "description": "A check no longer in the catalog.", "fix": "", "failed": c["failed"],
                     "warning": c["warning"], "passed": c["passed"], "not_applicable": c["not_applicable"],
                     "error": c["error"]})
    return rows


SLUG_RE = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    return SLUG_RE.sub("-", text.lower()).strip("-")[:60]
