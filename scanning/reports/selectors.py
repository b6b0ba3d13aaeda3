"""Every read of the reports app: templates, schedules, reports (scoped to the actor), report data.

Who sees which report:
- members who may see every scan (`scanning.view_all_scans`) see every report;
- others see the reports of scans they submitted (a report of someone else's scan is
  a 404, like the scan), and the period and package reports they requested (which
  cover only their own scans).
Reading reports needs `scanning.generate_reports`; templates can be read by those who
generate reports or manage templates; schedules by those who manage templates.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet

from audit.context import Actor
from config.errors import NotFound, PermissionDenied, parse_uuid
from scanning import hooks
from scanning.models import CategoryScore, Finding, Scan
from scanning.reports.models import Report, ReportSchedule, ReportTemplate
from scanning.selectors import sees_all

PROBLEMS = ("failed", "warning")
TERMINAL_SCANS = (Scan.StatusChoices.COMPLETED, Scan.StatusChoices.FAILED)


# --- actors -------------------------------------------------------------------------------------

def has_perm(actor: Actor, perm: str) -> bool:
    return actor.has_perm(perm)


def require_perm(actor: Actor, perm: str, message: str) -> None:
    actor.require_perm(perm, message)


# --- templates and schedules -----------------------------------------------------------------------

def template_list(*, actor: Actor) -> QuerySet[ReportTemplate]:
    if not (has_perm(actor, "scanning.generate_reports") or has_perm(actor, "scanning.manage_report_templates")):
        raise PermissionDenied("Report templates are for members who generate reports or manage templates.")
    return ReportTemplate.objects.select_related("created_by", "updated_by").order_by("-is_default", "name", "id")


def template_get(*, actor: Actor, template_id: Any) -> ReportTemplate:
    pk = parse_uuid(template_id, "report template")
    template = template_list(actor=actor).filter(pk=pk).first()
    if template is None:
        raise NotFound("No such report template.")
    return template


def default_template() -> ReportTemplate | None:
    return ReportTemplate.objects.filter(is_default=True).first() or ReportTemplate.objects.order_by("name").first()


def schedule_list(*, actor: Actor) -> QuerySet[ReportSchedule]:
    require_perm(actor, "scanning.manage_report_templates", "Report schedules need the 'manage report templates' "
                                                            "permission.")
    return ReportSchedule.objects.select_related("template", "created_by").order_by("name", "id")


def schedule_get(*, actor: Actor, schedule_id: Any) -> ReportSchedule:
    pk = parse_uuid(schedule_id, "report schedule")
    schedule = schedule_list(actor=actor).filter(pk=pk).first()
    if schedule is None:
        raise NotFound("No such report schedule.")
    return schedule


# --- reports --------------------------------------------------------------------------------------

def report_list(*, actor: Actor, filters: dict[str, Any] | None = None) -> QuerySet[Report]:
    require_perm(actor, "scanning.generate_reports", "Reports need the 'generate reports' permission.")
    qs = Report.objects.select_related("scan", "template", "requested_by", "schedule")
    if not sees_all(actor):
        user = actor.signed_in_user
        if user is None:
            return qs.none()
        qs = qs.filter(Q(scope=Report.Scope.SCAN, scan__submitted_by=user)
                       | (~Q(scope=Report.Scope.SCAN) & Q(requested_by=user)))
    return qs.filter(**(filters or {}))


def report_get(*, actor: Actor, report_id: Any) -> Report:
    pk = parse_uuid(report_id, "report")
    report = report_list(actor=actor).filter(pk=pk).first()
    if report is None:
        raise NotFound("No such report.")
    return report


def report_scans(report: Report) -> list[Scan]:
    """The scans a report covers: finished ones, visible to its requester, oldest first (at most REPORTS_MAX_SCANS)."""
    if report.scope == Report.Scope.SCAN:
        return [report.scan] if report.scan is not None else []
    qs = Scan.objects.filter(status__in=TERMINAL_SCANS).select_related("submitted_by")
    if not report.all_scans:
        qs = qs.filter(submitted_by_id=report.requested_by_id) if report.requested_by_id else qs.none()
    if report.scope == Report.Scope.PACKAGE:
        qs = qs.filter(package_query(report.ecosystem, report.package_name), ecosystem=report.ecosystem)
    if report.period_start is not None:
        qs = qs.filter(created_at__gte=report.period_start)
    if report.period_end is not None:
        qs = qs.filter(created_at__lt=report.period_end)
    newest = list(qs.order_by("-created_at", "-id")[: settings.REPORTS_MAX_SCANS])
    return list(reversed(newest))


def package_query(ecosystem: str, name: str) -> Q:
    """Scans whose package is `name` as the ecosystem compares names (PyPI: PEP 503, others: case-insensitive)."""
    name = name.strip()
    if ecosystem == "pypi":
        parts = [re.escape(p) for p in re.split(r"[-_.]+", name) if p]
        pattern = "^" + "[-_.]+".join(parts) + "$"
        return Q(name__iregex=pattern) | Q(name="", submitted_name__iregex=pattern)
    return Q(name__iexact=name) | Q(name="", submitted_name__iexact=name)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _previous(scan: Scan, visible: QuerySet[Scan]) -> Scan | None:
    """The same artifact scanned before, else the latest earlier finished scan of the same package."""
    if scan.previous_scan_id:
        same = visible.filter(pk=scan.previous_scan_id, status__in=TERMINAL_SCANS).first()
        if same is not None:
            return same
    name = scan.name or scan.submitted_name
    if not name:
        return None
    return (visible.filter(package_query(scan.ecosystem, name), ecosystem=scan.ecosystem,
                           status__in=TERMINAL_SCANS, created_at__lt=scan.created_at)
            .exclude(pk=scan.pk).order_by("-created_at").first())


def _plain(value: Any) -> Any:
    """JSON-safe copy (datetimes, UUIDs and decimals as strings), as a provider may return any of them."""
    import json

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def provider_sections(scan: Scan) -> dict[str, Any]:
    """What other apps contribute (scanning.hooks.register_report_section); a provider that fails is left out."""
    import logging

    out: dict[str, Any] = {}
    for name, provider in hooks.report_sections():
        try:
            value = provider(scan)
        except Exception:
            logging.getLogger(__name__).exception("report section provider failed",
                                                  extra={"provider": name, "scan": str(scan.pk)})
            continue
        if value is not None:
            out[name] = _plain(value)
    return out


FINDING_FIELDS = ("id", "scan_id", "check_id", "title", "category", "severity", "status", "detail", "file_path",
                  "line", "evidence", "fingerprint")


def scan_records(scans: Sequence[Scan], *, visible: QuerySet[Scan]) -> list[dict[str, Any]]:
    """Plain records of these scans (see scanning.reports.document) with their findings, scores and history.

    Findings and category scores come in one query each for all the scans; `visible`
    bounds which earlier scans may be compared with (the requester's).
    """
    if not scans:
        return []
    ids = [s.pk for s in scans]
    findings: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in Finding.objects.filter(scan_id__in=ids).order_by("check_id", "file_path", "line", "id") \
            .values(*FINDING_FIELDS).iterator(chunk_size=2000):
        row = dict(row)
        scan_id = row.pop("scan_id")
        row["id"] = str(row["id"])
        row["evidence"] = row["evidence"] if isinstance(row["evidence"], dict) else {}
        findings[scan_id].append(row)
    scores: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for cs in CategoryScore.objects.filter(scan_id__in=ids).values("scan_id", "category", "score", "weight", "counts"):
        scores[cs["scan_id"]].append({"category": cs["category"], "score": cs["score"], "weight": cs["weight"],
                                      "counts": cs["counts"] or {}})
    previous = {s.pk: _previous(s, visible) for s in scans}
    previous_ids = [p.pk for p in previous.values() if p is not None]
    previous_problems: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in Finding.objects.filter(scan_id__in=previous_ids, status__in=PROBLEMS).values(
            "scan_id", "fingerprint", "check_id", "title", "severity"):
        previous_problems[row["scan_id"]].append({k: row[k] for k in ("fingerprint", "check_id", "title",
                                                                       "severity")})
    records = []
    for scan in scans:
        meta = scan.package_metadata if isinstance(scan.package_metadata, dict) else {}
        prev = previous[scan.pk]
        records.append({
            "id": str(scan.pk), "target": scan.target, "ecosystem": scan.ecosystem,
            "name": scan.name or scan.submitted_name, "version": scan.version or scan.submitted_version,
            "status": scan.status, "score": scan.score, "grade": scan.grade, "verdict": scan.verdict,
            "created_at": _iso(scan.created_at), "finished_at": _iso(scan.finished_at), "sha256": scan.sha256,
            "size": scan.size, "filename": scan.filename,
            "submitted_by": scan.submitted_by.email if scan.submitted_by_id and scan.submitted_by else "",
            "error_message": scan.error_message,
            "metadata": {k: meta.get(k) for k in ("summary", "license", "homepage", "author", "dependency_count",
                                                  "install_scripts") if meta.get(k) not in (None, "", [])},
            "category_scores": scores.get(scan.pk, []),
            "findings": findings.get(scan.pk, []),
            "extra": provider_sections(scan),
            "previous": None if prev is None else {
                "id": str(prev.pk), "version": prev.version or prev.submitted_version,
                "finished_at": _iso(prev.finished_at), "score": prev.score, "grade": prev.grade,
                "verdict": prev.verdict, "same_artifact": prev.pk == scan.previous_scan_id,
                "problems": previous_problems.get(prev.pk, []),
            },
        })
    return records


def scan_reports(*, actor: Actor, scan: Scan, limit: int = 5) -> list[Report]:
    """The latest reports of one scan the actor may see (for the scan page's panel)."""
    return list(report_list(actor=actor).filter(scope=Report.Scope.SCAN, scan=scan).order_by("-created_at")[:limit])
