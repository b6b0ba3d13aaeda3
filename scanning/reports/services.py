"""Every write of the reports app: templates, report requests and generation, downloads, schedules, delivery.

Each service validates, writes in one transaction, records the audit event and (for
reports) queues the domain event in that same transaction. Generation runs in Celery
(`reports.generate`, queue REPORTS_QUEUE) once the request has committed; the file
is written under DATA_ROOT/<schema>/reports/ and only ever served by
`report_download`, which checks and audits every download.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import os
import re
import tempfile
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.utils import timezone

from audit.context import Actor
from audit.services import audit_record, diff
from config.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from messaging.events import publish_event
from scanning import selectors as scan_selectors
from scanning.analyzers import registry
from scanning.formats import ECOSYSTEMS
from scanning.models import Scan
from scanning.reports import document as doc
from scanning.reports import rendering, sample, selectors
from scanning.reports.models import SECTION_ORDER, Format, Report, ReportSchedule, ReportTemplate
from scanning.reports.sanitize import CleanImage, clean_accent, clean_image, validate_css

logger = logging.getLogger(__name__)

REPORTS_DIR = "reports"
LOGOS_DIR = "report-logos"
MAX_PERIOD_DAYS = 366
MAX_RECIPIENTS = 20
GENERATION_ACTOR = "report-generation"
SCHEDULE_ACTOR = "report-schedule"
TERMINAL_SCANS = (Scan.StatusChoices.COMPLETED, Scan.StatusChoices.FAILED)


# --- helpers -----------------------------------------------------------------------------------------

def current_tenant() -> Any:
    from scanning.pipeline import current_tenant as tenant_of_connection

    return tenant_of_connection()


def tenant_root(schema: str | None = None) -> Path:
    return Path(settings.DATA_ROOT) / (schema or connection.schema_name)


def _write_private(relative: str, data: bytes, *, schema: str | None = None) -> Path:
    """Write a file under DATA_ROOT/<schema>/ atomically (mode 0600, directories 0700)."""
    root = tenant_root(schema)
    target = root / relative
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _remove(relative: str, *, schema: str | None = None) -> None:
    """Delete a file of the organization's directory, if it is there (never raises)."""
    if not relative:
        return
    root = tenant_root(schema).resolve()
    try:
        path = (root / relative).resolve()
        if path.is_relative_to(root):
            path.unlink(missing_ok=True)
    except OSError:
        logger.warning("a report file could not be removed", exc_info=True, extra={"path": relative})


# --- templates ------------------------------------------------------------------------------------------

def _template_snapshot(template: ReportTemplate) -> dict[str, Any]:
    return {"name": template.name, "is_default": template.is_default, "title": template.title,
            "footer_text": template.footer_text, "accent_color": template.accent_color,
            "sections": list(template.sections or []), "custom_css": (template.custom_css or "")[:2000],
            "logo_sha256": template.logo_sha256 or None}


def _clean_sections(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(details={"sections": [f"Choose at least one section among {', '.join(SECTION_ORDER)}."]})
    unknown = [str(v) for v in value if v not in SECTION_ORDER]
    if unknown:
        raise ValidationFailed(details={"sections": [f"Unknown section(s) {', '.join(unknown)}; choose from "
                                                     f"{', '.join(SECTION_ORDER)}."]})
    return [s for s in SECTION_ORDER if s in set(value)]


def _clean_template(data: dict[str, Any], *, instance: ReportTemplate | None, draft: bool = False) -> dict[str, Any]:
    """Validated values; `draft` (a preview) checks only what is given."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    creating = instance is None and not draft
    if "name" in data or creating:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 100:
            errors["name"] = ["Give a name of 1 to 100 characters."]
        else:
            clash = ReportTemplate.objects.annotate(lname=Lower("name")).filter(lname=name.lower())
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                errors["name"] = [f"A report template named '{name}' already exists."]
            clean["name"] = name
    if "title" in data or creating:
        title = str(data.get("title") or "Security report").strip()
        if not title or len(title) > 120:
            errors["title"] = ["Give a title of 1 to 120 characters."]
        clean["title"] = title
    if "footer_text" in data:
        footer = str(data.get("footer_text") or "").strip()
        if len(footer) > 200:
            errors["footer_text"] = ["At most 200 characters."]
        clean["footer_text"] = footer
    for key, cleaner in (("accent_color", clean_accent), ("sections", _clean_sections), ("custom_css", validate_css)):
        if key in data or (creating and key != "custom_css"):
            value = data.get(key, {"accent_color": "#1d4ed8", "sections": list(SECTION_ORDER)}.get(key))
            try:
                clean[key] = cleaner(value if value is not None else "")
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                errors.update(details or {key: [exc.message]})
    if "is_default" in data:
        clean["is_default"] = bool(data["is_default"])
    if errors:
        raise ValidationFailed("The report template is invalid; see details.", details=errors)
    return clean


def _require_manage(actor: Actor) -> None:
    selectors.require_perm(actor, "scanning.manage_report_templates",
                           "Changing report templates needs the 'manage report templates' permission.")


def _store_logo(template: ReportTemplate, image: CleanImage) -> str:
    relative = f"{LOGOS_DIR}/{template.pk}-{image.sha256[:16]}.{image.extension}"
    _write_private(relative, image.data)
    return relative


def _apply_logo(template: ReportTemplate, image: CleanImage | None, *, remove: bool) -> str:
    """Point the template at a new logo (or none); returns the file to delete once committed."""
    old = template.logo_path
    if image is not None:
        template.logo_path = _store_logo(template, image)
        template.logo_content_type = image.content_type
        template.logo_sha256 = image.sha256
        template.logo_width, template.logo_height = image.width, image.height
    elif remove:
        template.logo_path = template.logo_content_type = template.logo_sha256 = ""
        template.logo_width = template.logo_height = None
    return old if old and old != template.logo_path else ""


def _unset_other_defaults(template: ReportTemplate) -> None:
    ReportTemplate.objects.filter(is_default=True).exclude(pk=template.pk).update(is_default=False)


def template_create(*, actor: Actor, data: dict[str, Any], logo: bytes | None = None) -> ReportTemplate:
    _require_manage(actor)
    values = _clean_template(data, instance=None)
    image = clean_image(logo) if logo else None
    template = ReportTemplate(**values, created_by=actor.signed_in_user, updated_by=actor.signed_in_user)
    written = ""
    try:
        with transaction.atomic():
            if image is not None:
                _apply_logo(template, image, remove=False)
                written = template.logo_path
            if template.is_default or not ReportTemplate.objects.exists():
                template.is_default = True
                _unset_other_defaults(template)
            template.save()
            audit_record(actor=actor, action="report_template.create", resource_type="report_template",
                         resource_id=str(template.pk),
                         changes={k: {"after": v} for k, v in _template_snapshot(template).items()})
    except IntegrityError as exc:
        _remove(written)
        raise Conflict("A report template with this name already exists.", code="template_exists") from exc
    except BaseException:
        _remove(written)
        raise
    return template


def template_update(*, actor: Actor, template: ReportTemplate, data: dict[str, Any], logo: bytes | None = None,
                    remove_logo: bool = False) -> ReportTemplate:
    _require_manage(actor)
    values = _clean_template(data, instance=template)
    image = clean_image(logo) if logo else None
    if values.get("is_default") is False and template.is_default:
        raise Conflict("This is the default template; make another template the default instead.",
                       code="default_template_required")
    before = _template_snapshot(template)
    written = ""
    try:
        with transaction.atomic():
            for key, value in values.items():
                setattr(template, key, value)
            stale = _apply_logo(template, image, remove=remove_logo)
            if image is not None:
                written = template.logo_path
            if template.is_default:
                _unset_other_defaults(template)
            template.updated_by = actor.signed_in_user
            template.save()
            audit_record(actor=actor, action="report_template.update", resource_type="report_template",
                         resource_id=str(template.pk), changes=diff(before, _template_snapshot(template)))
            if stale:
                transaction.on_commit(lambda: _remove(stale))
    except IntegrityError as exc:
        _remove(written)
        raise Conflict("A report template with this name already exists.", code="template_exists") from exc
    except BaseException:
        _remove(written)
        raise
    return template


def template_delete(*, actor: Actor, template: ReportTemplate) -> None:
    _require_manage(actor)
    if template.is_default and ReportTemplate.objects.exclude(pk=template.pk).exists():
        raise Conflict("This is the default template; make another template the default before deleting it.",
                       code="default_template_required")
    snapshot = _template_snapshot(template)
    logo, template_id = template.logo_path, str(template.pk)
    with transaction.atomic():
        template.delete()
        audit_record(actor=actor, action="report_template.delete", resource_type="report_template",
                     resource_id=template_id, changes={k: {"before": v} for k, v in snapshot.items()})
        if logo:
            transaction.on_commit(lambda: _remove(logo))


def default_template_seed() -> ReportTemplate:
    """The organization's default template (idempotent; provisioning runs it in the template schema too)."""
    existing = ReportTemplate.objects.filter(is_default=True).first()
    if existing is not None:
        return existing
    template = ReportTemplate.objects.annotate(lname=Lower("name")).filter(lname="default").first()
    if template is None:
        template = ReportTemplate(name="Default", title="Security report", sections=list(SECTION_ORDER),
                                  footer_text="Confidential: generated by Gatehouse for internal use.")
    template.is_default = True
    template.save()
    return template


def template_preview(*, actor: Actor, tenant: Any, template: ReportTemplate | None = None,
                     data: dict[str, Any] | None = None, logo: bytes | None = None) -> str:
    """HTML of the sample scan rendered through `template`, or through unsaved form `data` (nothing is written)."""
    if not (selectors.has_perm(actor, "scanning.manage_report_templates")
            or selectors.has_perm(actor, "scanning.generate_reports")):
        raise PermissionDenied("Previewing report templates needs the 'generate reports' or 'manage report "
                               "templates' permission.")
    schema = tenant.schema_name
    if data is None:
        spec = rendering.RenderSpec.for_template(template, schema=schema)
    else:
        merged = _template_snapshot(template) if template is not None else {}
        merged.update({k: v for k, v in data.items() if v is not None})
        if template is not None:
            merged["custom_css"] = data.get("custom_css", template.custom_css)
        values = _clean_template({k: merged[k] for k in ("accent_color", "sections", "custom_css", "title",
                                                          "footer_text") if k in merged}, instance=template,
                                 draft=True)
        stored = rendering.read_logo(template, schema=schema) if template is not None else None
        image = clean_image(logo) if logo else None
        spec = rendering.RenderSpec.build(
            name=str(merged.get("name") or (template.name if template else "Draft")),
            title=values.get("title", "Security report"), footer_text=values.get("footer_text", ""),
            accent_color=values.get("accent_color", "#1d4ed8"), sections=values.get("sections", SECTION_ORDER),
            custom_css=values.get("custom_css", ""),
            logo=(image.content_type, image.data) if image is not None else stored)
    document = doc.build([sample.sample_record()], report={
        "id": "preview", "title": spec.title, "scope": "scan", "format": "html", "generated_at": timezone.now()
        .replace(microsecond=0).isoformat(), "template": spec.name, "sections": spec.sections},
        organization={"name": tenant.name, "slug": tenant.schema_name}, catalog=registry.checks(),
        tool_version=settings.GATEHOUSE_VERSION)
    return rendering.render_html(document, spec)


# --- reports: requests ------------------------------------------------------------------------------------

def _to_datetime(value: Any, *, end: bool, field: str) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1) if end else value, time.min, tzinfo=UTC)
        return moment
    text = str(value or "").strip()
    try:
        if len(text) == 10:
            return _to_datetime(date.fromisoformat(text), end=end, field=field)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(details={field: ["Give a date (YYYY-MM-DD) or an ISO 8601 date and time."]}) from exc
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _report_title(scope: str, *, template: ReportTemplate | None, scan: Scan | None, start: datetime | None,
                  end: datetime | None, package: str) -> str:
    base = template.title if template is not None else "Security report"
    if scope == Report.Scope.SCAN and scan is not None:
        return f"{base}: {scan.display_name}"[:200]
    if scope == Report.Scope.PACKAGE:
        return f"{base}: every version of {package}"[:200]
    last = (end - timedelta(seconds=1)) if end else None
    return f"{base}: {start:%Y-%m-%d} to {last:%Y-%m-%d}"[:200] if start and last else base


def enqueue(report: Report) -> None:
    from scanning.reports.tasks import generate_report

    generate_report.apply_async(kwargs={"report_id": str(report.pk)}, task_id=report.task_id or None,
                                queue=settings.REPORTS_QUEUE)


def _event_data(report: Report) -> dict[str, Any]:
    return {"report_id": str(report.pk), "status": report.status, "format": report.format, "scope": report.scope,
            "progress": report.progress, "stage": report.stage,
            "requested_by": str(report.requested_by_id) if report.requested_by_id else None}


def report_request(*, tenant: Any, actor: Actor, scope: str, fmt: str, template_id: Any = None, scan_id: Any = None,
                   period_start: Any = None, period_end: Any = None, ecosystem: str = "", package_name: str = "",
                   title: str = "", schedule: ReportSchedule | None = None, enqueue_task: bool = True) -> Report:
    """Record a report to generate and queue it (202). A scan the actor cannot see is a 404."""
    selectors.require_perm(actor, "scanning.generate_reports", "Generating reports needs the 'generate reports' "
                                                                "permission.")
    errors: dict[str, list[str]] = {}
    if fmt not in Format.values:
        errors["format"] = [f"Choose a format among {', '.join(Format.values)}."]
    if scope not in Report.Scope.values:
        errors["scope"] = [f"Choose a scope among {', '.join(Report.Scope.values)}."]
    template = None
    if template_id:
        try:
            template = ReportTemplate.objects.filter(pk=uuid.UUID(str(template_id))).first()
        except ValueError:
            template = None
        if template is None:
            errors["template"] = ["No such report template."]
    else:
        template = selectors.default_template()
    if errors:
        raise ValidationFailed("The report request is invalid; see details.", details=errors)
    scan = None
    start = end = None
    if scope == Report.Scope.SCAN:
        if not scan_id:
            raise ValidationFailed(details={"scan": ["Name the scan to report on."]})
        scan = scan_selectors.scan_get(actor=actor, scan_id=scan_id)
        if scan.status not in TERMINAL_SCANS:
            raise Conflict(f"The scan is {scan.status}; a report can be generated once it has finished.",
                           code="scan_not_finished", details={"status": scan.status})
        ecosystem, package_name = "", ""
    else:
        if period_start not in (None, "") or period_end not in (None, "") or scope == Report.Scope.PERIOD:
            if period_start in (None, "") or period_end in (None, ""):
                raise ValidationFailed(details={"period": ["Give both the start and the end of the period."]})
            start = _to_datetime(period_start, end=False, field="from")
            end = _to_datetime(period_end, end=True, field="to")
            if end <= start:
                raise ValidationFailed(details={"period": ["The period must end after it starts."]})
            if end - start > timedelta(days=MAX_PERIOD_DAYS + 1):
                raise ValidationFailed(details={"period": [f"A period may cover at most {MAX_PERIOD_DAYS} days."]})
        if scope == Report.Scope.PACKAGE:
            package_name = (package_name or "").strip()
            if ecosystem not in ECOSYSTEMS:
                errors["ecosystem"] = [f"Choose an ecosystem among {', '.join(ECOSYSTEMS)}."]
            if not package_name or len(package_name) > 214 or not re.match(r"^[A-Za-z0-9@][A-Za-z0-9@._+~/-]*$",
                                                                           package_name):
                errors["package"] = ["Give the package name (letters, digits and . _ - + ~ @ /)."]
            if errors:
                raise ValidationFailed("The report request is invalid; see details.", details=errors)
        else:
            ecosystem, package_name = "", ""
    title = (title or "").strip()[:200] or _report_title(scope, template=template, scan=scan, start=start, end=end,
                                                         package=package_name)
    report = Report(scope=scope, scan=scan, ecosystem=ecosystem, package_name=package_name, period_start=start,
                    period_end=end, format=fmt, template=template, title=title, requested_by=actor.signed_in_user,
                    all_scans=scan_selectors.sees_all(actor), schedule=schedule, task_id=str(uuid.uuid4()))
    with transaction.atomic():
        report.save()
        audit_record(actor=actor, action="report.create", resource_type="report", resource_id=str(report.pk),
                     changes={"scope": {"after": scope}, "format": {"after": fmt},
                              "scan": {"after": str(scan.pk) if scan else None},
                              "template": {"after": str(template.pk) if template else None},
                              "period_start": {"after": start}, "period_end": {"after": end},
                              "package": {"after": f"{ecosystem}:{package_name}" if package_name else None}},
                     metadata={"schedule": str(schedule.pk)} if schedule else None)
        publish_event(tenant=tenant, type="report.requested", subject=f"reports/{report.pk}",
                      data=_event_data(report), actor=actor)
        if enqueue_task:
            transaction.on_commit(lambda: enqueue(report))
    return report


# --- reports: generation ------------------------------------------------------------------------------------

class _Gone(Exception):
    """The report was deleted while it was being generated."""


def _progress(tenant: Any, report: Report, *, stage: str, progress: int) -> None:
    with transaction.atomic():
        updated = Report.objects.filter(pk=report.pk).update(stage=stage, progress=progress, updated_at=timezone.now())
        if not updated:
            raise _Gone()
        report.stage, report.progress = stage, progress
        publish_event(tenant=tenant, type="report.progress", subject=f"reports/{report.pk}", data=_event_data(report))


def _fail(tenant: Any, report: Report, *, code: str, message: str) -> None:
    with transaction.atomic():
        updated = Report.objects.filter(pk=report.pk).update(
            status=Report.Status.FAILED, error_code=code, error_message=message[:1000], finished_at=timezone.now(),
            stage="failed", updated_at=timezone.now())
        if not updated:
            return
        report.status, report.error_code, report.error_message = Report.Status.FAILED, code, message
        audit_record(actor=Actor.system(GENERATION_ACTOR), action="report.generate", resource_type="report",
                     resource_id=str(report.pk), outcome="failure", reason=code,
                     metadata={"format": report.format, "message": message[:300]})
        publish_event(tenant=tenant, type="report.failed", subject=f"reports/{report.pk}",
                      data={**_event_data(report), "error": message[:300]})


def report_document(report: Report, *, tenant: Any) -> dict[str, Any]:
    """Collect the report's scans and build its document (scanning.reports.document)."""
    scans = selectors.report_scans(report)
    visible = Scan.objects.all() if report.all_scans else Scan.objects.filter(submitted_by_id=report.requested_by_id)
    records = selectors.scan_records(scans, visible=visible)
    template = report.template
    sections = list(template.sections) if template is not None and template.sections else list(SECTION_ORDER)
    return doc.build(records, report={
        "id": str(report.pk), "title": report.title, "scope": report.scope, "format": report.format,
        "generated_at": timezone.now().replace(microsecond=0).isoformat(),
        "template": template.name if template is not None else "Default", "sections": sections,
        "period_start": report.period_start.isoformat() if report.period_start else None,
        "period_end": report.period_end.isoformat() if report.period_end else None,
        "ecosystem": report.ecosystem or None, "package_name": report.package_name or None,
    }, organization={"name": tenant.name, "slug": tenant.schema_name}, catalog=registry.checks(),
        tool_version=settings.GATEHOUSE_VERSION)


def _summary(document: dict[str, Any], report: Report) -> dict[str, Any]:
    overview = document["overview"]
    scans = document["scans"]
    if report.scope == Report.Scope.SCAN and scans:
        stem = doc.slug(f"{scans[0]['name'] or 'scan'}-{scans[0]['version']}")
    elif report.scope == Report.Scope.PACKAGE:
        stem = doc.slug(f"{report.package_name}-all-versions")
    else:
        stem = doc.slug(f"posture-{report.period_start:%Y%m%d}-{report.period_end:%Y%m%d}") \
            if report.period_start and report.period_end else "posture"
    return {"scans": overview["scans"], "score": overview["score"], "grade": overview["grade"],
            "verdict": overview["verdict"], "problems": overview["problems"],
            "severity_counts": overview["severity_counts"], "slug": stem}


def report_generate(*, report_id: str, task_id: str = "") -> str:
    """Generate one report to a terminal state (the Celery task's body); returns that state."""
    from celery.exceptions import SoftTimeLimitExceeded

    tenant = current_tenant()
    with transaction.atomic():
        report = (Report.objects.select_for_update(of=("self",)).select_related("template", "scan", "requested_by")
                  .filter(pk=report_id).first())
        if report is None:
            logger.info("report vanished before it was generated", extra={"report": report_id})
            return "missing"
        if report.is_terminal:
            return report.status
        if report.status == Report.Status.GENERATING and report.attempts >= settings.REPORTS_MAX_ATTEMPTS:
            # Found `generating`: its worker died and the broker redelivered the task, too often.
            give_up = True
        else:
            give_up = False
            report.attempts += 1
            report.status = Report.Status.GENERATING
            report.started_at = timezone.now()
            report.stage, report.progress = "collecting", 10
            report.error_code = report.error_message = ""
            report.save(update_fields=["attempts", "status", "started_at", "stage", "progress", "error_code",
                                       "error_message", "updated_at"])
            publish_event(tenant=tenant, type="report.started", subject=f"reports/{report.pk}",
                          data=_event_data(report))
    if give_up:
        _fail(tenant, report, code="too_many_attempts",
              message=f"The report was started {report.attempts} times without finishing (its worker stopped each "
                      "time); it was given up. Generate it again.")
        return Report.Status.FAILED
    written = ""
    try:
        document = report_document(report, tenant=tenant)
        _progress(tenant, report, stage="rendering", progress=40)
        spec = rendering.RenderSpec.for_template(report.template, schema=tenant.schema_name)
        data = rendering.render(document, spec, report.format)
        _progress(tenant, report, stage="storing", progress=90)
        created = report.created_at or timezone.now()
        written = f"{REPORTS_DIR}/{created:%Y/%m}/{report.pk}.{rendering.EXTENSIONS[report.format]}"
        _write_private(written, data, schema=tenant.schema_name)
        sha256 = hashlib.sha256(data).hexdigest()
        with transaction.atomic():
            summary = _summary(document, report)
            updated = Report.objects.filter(pk=report.pk, status=Report.Status.GENERATING).update(
                status=Report.Status.COMPLETED, stage="complete", progress=100, file_path=written,
                file_size=len(data), sha256=sha256, summary=summary, finished_at=timezone.now(),
                updated_at=timezone.now())
            if not updated:
                raise _Gone()
            report.status, report.progress, report.stage = Report.Status.COMPLETED, 100, "complete"
            report.file_path, report.file_size, report.sha256, report.summary = written, len(data), sha256, summary
            audit_record(actor=Actor.system(GENERATION_ACTOR), action="report.generate", resource_type="report",
                         resource_id=str(report.pk),
                         metadata={"format": report.format, "size": len(data), "sha256": sha256,
                                   "scans": summary["scans"], "task_id": task_id})
            publish_event(tenant=tenant, type="report.completed", subject=f"reports/{report.pk}",
                          data={**_event_data(report), "size": len(data), "verdict": summary["verdict"],
                                "score": summary["score"]})
        return Report.Status.COMPLETED
    except _Gone:
        _remove(written, schema=tenant.schema_name)
        logger.info("report deleted while it was generated", extra={"report": report_id})
        return "missing"
    except SoftTimeLimitExceeded:
        _remove(written, schema=tenant.schema_name)
        _fail(tenant, report, code="timed_out",
              message=f"Generating the report took longer than {settings.REPORTS_SOFT_TIME_LIMIT} s. Narrow its "
                      "scope (a shorter period, fewer scans) or choose the JSON or CSV format.")
        return Report.Status.FAILED
    except Exception:
        _remove(written, schema=tenant.schema_name)
        logger.exception("report generation failed", extra={"report": report_id})
        _fail(tenant, report, code="internal_error",
              message=f"The report could not be generated because of an internal error. Generate it again, and "
                      f"quote report {report_id} if it keeps failing.")
        return Report.Status.FAILED


# --- reports: download and deletion ---------------------------------------------------------------------------

def report_file(report: Report, *, schema: str | None = None) -> Path:
    root = tenant_root(schema).resolve()
    path = (root / report.file_path).resolve()
    if not report.file_path or not path.is_relative_to(root) or not path.is_file():
        raise NotFound("The report's file is no longer stored; generate the report again.", code="report_file_missing")
    return path


def report_download(*, actor: Actor, report: Report) -> tuple[Path, str, str]:
    """Check and audit a download; returns (file, download name, content type). `report` comes from report_get."""
    selectors.require_perm(actor, "scanning.generate_reports", "Downloading reports needs the 'generate reports' "
                                                                "permission.")
    if report.status != Report.Status.COMPLETED:
        raise Conflict(f"The report is {report.status}; it can be downloaded once it has completed.",
                       code="report_not_ready", details={"status": report.status, "progress": report.progress})
    path = report_file(report)
    audit_record(actor=actor, action="report.download", resource_type="report", resource_id=str(report.pk),
                 metadata={"format": report.format, "size": report.file_size, "sha256": report.sha256})
    return path, report.filename, rendering.CONTENT_TYPES[report.format]


def report_delete(*, actor: Actor, report: Report) -> None:
    user = actor.signed_in_user
    own = user is not None and report.requested_by_id == user.pk
    if not (own and selectors.has_perm(actor, "scanning.generate_reports")) and not selectors.has_perm(
            actor, "scanning.manage_report_templates"):
        raise PermissionDenied("You may delete the reports you requested; deleting others' needs the 'manage report "
                               "templates' permission.")
    path, report_id = report.file_path, str(report.pk)
    with transaction.atomic():
        report.delete()
        audit_record(actor=actor, action="report.delete", resource_type="report", resource_id=report_id,
                     changes={"title": {"before": report.title}, "format": {"before": report.format},
                              "status": {"before": report.status}})
        if path:
            transaction.on_commit(lambda: _remove(path))


# --- schedules ---------------------------------------------------------------------------------------------------

def next_run(schedule: ReportSchedule, *, after: datetime) -> datetime:
    """The first run time strictly after `after` (UTC): the weekday or day of the month, at the hour."""
    after = after.astimezone(UTC)
    if schedule.frequency == ReportSchedule.Frequency.WEEKLY:
        candidate = after.replace(hour=schedule.hour, minute=0, second=0, microsecond=0) + timedelta(
            days=(schedule.weekday - after.weekday()) % 7)
        return candidate if candidate > after else candidate + timedelta(days=7)
    candidate = after.replace(day=schedule.day_of_month, hour=schedule.hour, minute=0, second=0, microsecond=0)
    if candidate > after:
        return candidate
    year, month = (after.year + 1, 1) if after.month == 12 else (after.year, after.month + 1)
    return candidate.replace(year=year, month=month)


def schedule_period(schedule: ReportSchedule, *, run_at: datetime) -> tuple[datetime, datetime]:
    """What a run at `run_at` covers: the 7 days, or the month, before it."""
    end = run_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if schedule.frequency == ReportSchedule.Frequency.WEEKLY:
        return end - timedelta(days=7), end
    year, month = (end.year - 1, 12) if end.month == 1 else (end.year, end.month - 1)
    day = min(end.day, calendar.monthrange(year, month)[1])
    return end.replace(year=year, month=month, day=day), end


def _schedule_snapshot(schedule: ReportSchedule) -> dict[str, Any]:
    return {"name": schedule.name, "frequency": schedule.frequency, "weekday": schedule.weekday,
            "day_of_month": schedule.day_of_month, "hour": schedule.hour, "format": schedule.format,
            "template": str(schedule.template_id) if schedule.template_id else None,
            "recipients": list(schedule.recipients or []), "enabled": schedule.enabled}


def _int(data: dict[str, Any], key: str, low: int, high: int, errors: dict[str, list[str]], default: int) -> int:
    value = data.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        errors[key] = [f"Give a whole number from {low} to {high}."]
    return number


def _clean_schedule(data: dict[str, Any], *, instance: ReportSchedule | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    current = _schedule_snapshot(instance) if instance is not None else {}
    merged = {**current, **{k: v for k, v in data.items() if k in (
        "name", "frequency", "weekday", "day_of_month", "hour", "format", "template", "recipients", "enabled")}}
    name = str(merged.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Give a name of 1 to 100 characters."]
    else:
        clash = ReportSchedule.objects.annotate(lname=Lower("name")).filter(lname=name.lower())
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = [f"A report schedule named '{name}' already exists."]
    frequency = merged.get("frequency")
    if frequency not in ReportSchedule.Frequency.values:
        errors["frequency"] = ["Choose weekly or monthly."]
    fmt = merged.get("format") or Format.PDF
    if fmt not in Format.values:
        errors["format"] = [f"Choose a format among {', '.join(Format.values)}."]
    weekday = _int(merged, "weekday", 0, 6, errors, 0)
    day = _int(merged, "day_of_month", 1, 28, errors, 1)
    hour = _int(merged, "hour", 0, 23, errors, 6)
    template = None
    if merged.get("template"):
        try:
            template = ReportTemplate.objects.filter(pk=uuid.UUID(str(merged["template"]))).first()
        except ValueError:
            template = None
        if template is None:
            errors["template"] = ["No such report template."]
    recipients = merged.get("recipients") or []
    if isinstance(recipients, str):
        recipients = [r for r in re.split(r"[\s,;]+", recipients) if r]
    if not isinstance(recipients, list | tuple) or not recipients:
        errors["recipients"] = ["Give at least one email address."]
        recipients = []
    cleaned: list[str] = []
    for address in recipients:
        address = str(address).strip().lower()
        try:
            validate_email(address)
        except DjangoValidationError:
            errors.setdefault("recipients", []).append(f"'{address[:100]}' is not an email address.")
            continue
        if address not in cleaned:
            cleaned.append(address)
    if len(cleaned) > MAX_RECIPIENTS:
        errors["recipients"] = [f"At most {MAX_RECIPIENTS} recipients."]
    if errors:
        raise ValidationFailed("The report schedule is invalid; see details.", details=errors)
    return {"name": name, "frequency": frequency, "weekday": weekday, "day_of_month": day, "hour": hour,
            "format": fmt, "template": template, "recipients": cleaned, "enabled": bool(merged.get("enabled", True))}


def schedule_create(*, actor: Actor, data: dict[str, Any]) -> ReportSchedule:
    _require_manage(actor)
    values = _clean_schedule(data, instance=None)
    schedule = ReportSchedule(**values, created_by=actor.signed_in_user)
    schedule.next_run_at = next_run(schedule, after=timezone.now()) if schedule.enabled else None
    try:
        with transaction.atomic():
            schedule.save()
            audit_record(actor=actor, action="report_schedule.create", resource_type="report_schedule",
                         resource_id=str(schedule.pk),
                         changes={k: {"after": v} for k, v in _schedule_snapshot(schedule).items()})
    except IntegrityError as exc:
        raise Conflict("A report schedule with this name already exists.", code="schedule_exists") from exc
    return schedule


def schedule_update(*, actor: Actor, schedule: ReportSchedule, data: dict[str, Any]) -> ReportSchedule:
    _require_manage(actor)
    values = _clean_schedule(data, instance=schedule)
    before = _schedule_snapshot(schedule)
    for key, value in values.items():
        setattr(schedule, key, value)
    schedule.next_run_at = next_run(schedule, after=timezone.now()) if schedule.enabled else None
    try:
        with transaction.atomic():
            schedule.save()
            audit_record(actor=actor, action="report_schedule.update", resource_type="report_schedule",
                         resource_id=str(schedule.pk), changes=diff(before, _schedule_snapshot(schedule)))
    except IntegrityError as exc:
        raise Conflict("A report schedule with this name already exists.", code="schedule_exists") from exc
    return schedule


def schedule_delete(*, actor: Actor, schedule: ReportSchedule) -> None:
    _require_manage(actor)
    snapshot, schedule_id = _schedule_snapshot(schedule), str(schedule.pk)
    with transaction.atomic():
        schedule.delete()
        audit_record(actor=actor, action="report_schedule.delete", resource_type="report_schedule",
                     resource_id=schedule_id, changes={k: {"before": v} for k, v in snapshot.items()})


def _schedule_report(*, tenant: Any, actor: Actor, schedule: ReportSchedule, run_at: datetime,
                     enqueue_task: bool) -> Report:
    start, end = schedule_period(schedule, run_at=run_at)
    kind = "Weekly" if schedule.frequency == ReportSchedule.Frequency.WEEKLY else "Monthly"
    last = end - timedelta(seconds=1)
    return report_request(tenant=tenant, actor=actor, scope=Report.Scope.PERIOD, fmt=schedule.format,
                          template_id=schedule.template_id, period_start=start, period_end=end, schedule=schedule,
                          title=f"{kind} posture report ({schedule.name}): {start:%Y-%m-%d} to {last:%Y-%m-%d}",
                          enqueue_task=enqueue_task)


def schedule_run_now(*, tenant: Any, actor: Actor, schedule: ReportSchedule, enqueue_task: bool = True) -> Report:
    """Generate and send a schedule's report now, covering the period that ends now (the next run is unchanged)."""
    _require_manage(actor)
    with transaction.atomic():
        report = _schedule_report(tenant=tenant, actor=Actor.system(SCHEDULE_ACTOR) if actor.type == "system"
                                  else actor, schedule=schedule, run_at=timezone.now(), enqueue_task=enqueue_task)
        audit_record(actor=actor, action="report_schedule.run", resource_type="report_schedule",
                     resource_id=str(schedule.pk), metadata={"report": str(report.pk), "trigger": "manual"})
    return report


def schedules_run_due(*, tenant: Any, now: datetime | None = None, enqueue_task: bool = True) -> list[Report]:
    """Generate the report of every enabled schedule whose time has come (beat). Each runs once per slot:
    rows are locked (SKIP LOCKED) and their next run moved forward in the same transaction."""
    now = now or timezone.now()
    actor = Actor.system(SCHEDULE_ACTOR)
    created = []
    with transaction.atomic():
        due = list(ReportSchedule.objects.select_for_update(skip_locked=True)
                   .filter(enabled=True, next_run_at__isnull=False, next_run_at__lte=now).order_by("next_run_at"))
        for schedule in due:
            run_at = schedule.next_run_at or now
            report = _schedule_report(tenant=tenant, actor=actor, schedule=schedule, run_at=run_at,
                                      enqueue_task=enqueue_task)
            schedule.last_run_at = now
            schedule.next_run_at = next_run(schedule, after=now)
            schedule.save(update_fields=["last_run_at", "next_run_at", "updated_at"])
            audit_record(actor=actor, action="report_schedule.run", resource_type="report_schedule",
                         resource_id=str(schedule.pk), metadata={"report": str(report.pk), "trigger": "schedule",
                                                                 "slot": run_at.isoformat()})
            created.append(report)
    return created


# --- delivery ------------------------------------------------------------------------------------------------------

def report_link(tenant: Any, report: Report) -> str:
    base = settings.ACCOUNTS_LINK_URL_TEMPLATE.format(host=tenant.primary_host).rstrip("/")
    return f"{base}/reports/{report.pk}/"


def report_deliver(*, tenant: Any, report: Report) -> bool:
    """Email a scheduled report to its schedule's recipients (attached when small enough). Never raises."""
    schedule = report.schedule
    if schedule is None or report.status != Report.Status.COMPLETED:
        return False
    recipients = list(schedule.recipients or [])
    attach = (report.file_size or 0) <= settings.REPORTS_EMAIL_MAX_ATTACHMENT_MB * 1024 * 1024
    context = {"report": report, "summary": report.summary or {}, "organization": tenant.name,
               "link": report_link(tenant, report), "attached": attach, "schedule": schedule}
    message = EmailMultiAlternatives(
        subject=f"{tenant.name}: {report.title}"[:200],
        body=render_to_string("reports/email/report.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)
    message.attach_alternative(render_to_string("reports/email/report.html", context), "text/html")
    error = ""
    try:
        if attach:
            message.attach(report.filename, report_file(report, schema=tenant.schema_name).read_bytes(),
                           rendering.CONTENT_TYPES[report.format].split(";")[0])
        message.send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - a mail server problem must not fail the report
        logger.warning("scheduled report could not be emailed", exc_info=True, extra={"report": str(report.pk)})
        error = f"The email could not be sent ({type(exc).__name__}); the report is in the dashboard."
    with transaction.atomic():
        if error:
            Report.objects.filter(pk=report.pk).update(delivery_error=error[:500])
        else:
            Report.objects.filter(pk=report.pk).update(delivered_at=timezone.now(), delivery_error="")
        audit_record(actor=Actor.system(SCHEDULE_ACTOR), action="report.deliver", resource_type="report",
                     resource_id=str(report.pk), outcome="failure" if error else "success", reason=error[:200],
                     metadata={"recipients": recipients, "attached": attach, "schedule": str(schedule.pk)})
    return not error
