"""Dashboard pages of the reports app (server-rendered; behaviour in static/js/reports.js).

Reports (list, generate, status, download), report templates (with a live preview of
a sample scan, rendered by the same sanitising pipeline as real reports), schedules,
and the "Generate report" panel of the scan page (scanning.hooks.register_scan_panel).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audit.context import Actor
from config.errors import ApplicationError, error_response, page_errors
from scanning import selectors as scan_selectors
from scanning.formats import ECOSYSTEMS
from scanning.reports import rendering, selectors, services
from scanning.reports.api.views import download_response, html_response
from scanning.reports.models import Format, Report, ReportSchedule, Section

PAGE_SIZE = 25
GENERATE = "scanning.generate_reports"
MANAGE = "scanning.manage_report_templates"
WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]


_page_errors = page_errors("reports:report_list")


def _perm(request: HttpRequest, perm: str) -> bool:
    return bool(request.user.has_perm(perm))


def _denied(request: HttpRequest, what: str) -> HttpResponse:
    return error_response(request, status=403, code="permission_denied", message=what)


def _apply_errors(form: forms.Form, exc: ApplicationError, *, aliases: dict[str, str] | None = None) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for field, errors in details.items():
        name = (aliases or {}).get(field, field)
        if name in form.fields and isinstance(errors, list):
            for error in errors:
                form.add_error(name, str(error))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _template_choices(actor: Actor) -> list[tuple[str, str]]:
    return [("", "The default template")] + [(str(t.pk), t.name + (" (default)" if t.is_default else ""))
                                             for t in selectors.template_list(actor=actor)]


# --- reports ---------------------------------------------------------------------------------------------------

class GenerateForm(forms.Form):
    scope = forms.ChoiceField(choices=[(Report.Scope.PERIOD, "Every scan in a period"),
                                       (Report.Scope.PACKAGE, "Every version of one package")],
                              widget=forms.RadioSelect, initial=Report.Scope.PERIOD)
    period_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    period_to = forms.DateField(label="To (inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    ecosystem = forms.ChoiceField(choices=[("", "—"), *[(e, e) for e in ECOSYSTEMS]], required=False,
                                  help_text="For a package report.")
    package = forms.CharField(max_length=214, required=False, help_text="For a package report.")
    format = forms.ChoiceField(choices=Format.choices, initial=Format.PDF)
    template = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = _template_choices(actor)


class ScanReportForm(forms.Form):
    format = forms.ChoiceField(choices=Format.choices, initial=Format.PDF)
    template = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = _template_choices(actor)


@login_required
@_page_errors
def report_list(request: HttpRequest) -> HttpResponse:
    if not _perm(request, GENERATE):
        return _denied(request, "Reports need the 'generate reports' permission.")
    actor = Actor.from_request(request)
    form = GenerateForm(actor=actor)
    if request.method == "POST":
        form = GenerateForm(request.POST, actor=actor)
        if form.is_valid():
            data = form.cleaned_data
            try:
                report = services.report_request(
                    tenant=request.tenant, actor=actor, scope=data["scope"],  # type: ignore[attr-defined]
                    fmt=data["format"], template_id=data["template"] or None, period_start=data["period_from"],
                    period_end=data["period_to"], ecosystem=data["ecosystem"], package_name=data["package"])
                messages.success(request, f"Report “{report.title}” queued.")
                return redirect("reports:report_detail", report_id=report.pk)
            except ApplicationError as exc:
                _apply_errors(form, exc, aliases={"period": "period_from", "from": "period_from",
                                                  "to": "period_to"})
    status_filter = request.GET.get("status", "")
    qs = selectors.report_list(actor=actor)
    if status_filter in Report.Status.values:
        qs = qs.filter(status=status_filter)
    page = Paginator(qs.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/report_list.html", {
        "page": page, "form": form, "status_filter": status_filter, "statuses": Report.Status.values,
        "can_manage": _perm(request, MANAGE),
    })


@login_required
@_page_errors
def report_detail(request: HttpRequest, report_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    report = selectors.report_get(actor=actor, report_id=report_id)
    user = request.user
    return render(request, "reports/report_detail.html", {
        "report": report, "api_url": reverse("reports-api:report-detail", kwargs={"pk": report.pk}),
        "can_delete": (report.requested_by_id == user.pk and _perm(request, GENERATE)) or _perm(request, MANAGE),
        "severities": list((report.summary or {}).get("severity_counts", {}).items()),
    })


@login_required
@_page_errors
def report_download(request: HttpRequest, report_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    report = selectors.report_get(actor=actor, report_id=report_id)
    path, filename, content_type = services.report_download(actor=actor, report=report)
    return download_response(path, filename, content_type, report)


@login_required
@require_POST
@_page_errors
def report_delete(request: HttpRequest, report_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    report = selectors.report_get(actor=actor, report_id=report_id)
    services.report_delete(actor=actor, report=report)
    messages.success(request, f"Report “{report.title}” deleted.")
    return redirect("reports:report_list")


@login_required
@require_POST
@_page_errors
def scan_report(request: HttpRequest, scan_id: str) -> HttpResponse:
    """The scan page's "Generate report" button."""
    actor = Actor.from_request(request)
    scan = scan_selectors.scan_get(actor=actor, scan_id=scan_id)
    form = ScanReportForm(request.POST, actor=actor)
    if not form.is_valid():
        messages.error(request, "Choose a format and a template.")
        return redirect("scanning:scan_detail", scan_id=scan.pk)
    report = services.report_request(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                     scope=Report.Scope.SCAN, fmt=form.cleaned_data["format"],
                                     template_id=form.cleaned_data["template"] or None, scan_id=scan.pk)
    messages.success(request, f"Report of {scan.display_name} queued.")
    return redirect("reports:report_detail", report_id=report.pk)


def scan_panel_context(request: HttpRequest, scan: Any) -> dict[str, Any]:
    """Context of `reports/scan_panel.html` on the scan page: `{"report_panel": ...}` (None when not allowed)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(GENERATE):
        return {"report_panel": None}
    actor = Actor.from_request(request)
    return {"report_panel": {
        "scan": scan, "ready": scan.status in (scan.StatusChoices.COMPLETED, scan.StatusChoices.FAILED),
        "form": ScanReportForm(actor=actor), "recent": selectors.scan_reports(actor=actor, scan=scan),
    }}


# --- templates -----------------------------------------------------------------------------------------------------

class TemplateForm(forms.Form):
    name = forms.CharField(max_length=100)
    title = forms.CharField(max_length=120, initial="Security report", help_text="The report's heading.")
    accent_color = forms.CharField(label="Accent colour", max_length=7, initial="#1d4ed8",
                                   widget=forms.TextInput(attrs={"type": "color"}), help_text="#RRGGBB")
    sections = forms.MultipleChoiceField(choices=Section.choices, widget=forms.CheckboxSelectMultiple,
                                         initial=[s.value for s in Section])
    footer_text = forms.CharField(max_length=200, required=False)
    logo = forms.FileField(required=False, help_text="PNG or JPEG, at most 512 KB and 2048×2048 pixels. "
                                                     "SVG is refused: it can carry scripts and links.")
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    custom_css = forms.CharField(required=False, strip=False, label="Custom CSS",
                                 widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
                                 help_text="@media and @page rules and plain rules only: no @import, no @font-face, "
                                           "no URL except data:image/png or data:image/jpeg.")
    is_default = forms.BooleanField(required=False, label="Default template")

    def service_data(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in ("name", "title", "accent_color", "sections", "footer_text",
                                                   "custom_css", "is_default")}


def _logo(form: TemplateForm) -> bytes | None:
    upload = form.cleaned_data.get("logo")
    if not upload:
        return None
    try:
        return upload.read()
    finally:
        upload.close()


@login_required
@_page_errors
def template_list(request: HttpRequest) -> HttpResponse:
    if not _perm(request, MANAGE):
        return _denied(request, "Report templates need the 'manage report templates' permission.")
    templates = selectors.template_list(actor=Actor.from_request(request))
    return render(request, "reports/template_list.html", {"templates": templates, "section_count": len(Section)})


def _template_page(request: HttpRequest, template: Any) -> HttpResponse:
    actor = Actor.from_request(request)
    if template is None:
        form = TemplateForm()
    else:
        form = TemplateForm(initial={"name": template.name, "title": template.title,
                                     "accent_color": template.accent_color, "sections": template.sections,
                                     "footer_text": template.footer_text, "custom_css": template.custom_css,
                                     "is_default": template.is_default})
    if request.method == "POST":
        form = TemplateForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                if template is None:
                    template = services.template_create(actor=actor, data=form.service_data(), logo=_logo(form))
                    messages.success(request, f"Template “{template.name}” created.")
                else:
                    template = services.template_update(actor=actor, template=template, data=form.service_data(),
                                                        logo=_logo(form),
                                                        remove_logo=form.cleaned_data["remove_logo"])
                    messages.success(request, f"Template “{template.name}” saved.")
                return redirect("reports:template_edit", template_id=template.pk)
            except ApplicationError as exc:
                _apply_errors(form, exc)
    preview_url = reverse("reports:template_preview")
    if template is not None:
        preview_url += f"?template={template.pk}"
    schema = request.tenant.schema_name  # type: ignore[attr-defined]
    logo = rendering.read_logo(template, schema=schema) if template is not None else None
    return render(request, "reports/template_edit.html", {
        "template": template, "form": form, "preview_url": preview_url,
        "logo_uri": rendering.data_uri(*logo) if logo else "",
    })


@login_required
@_page_errors
def template_new(request: HttpRequest) -> HttpResponse:
    if not _perm(request, MANAGE):
        return _denied(request, "Creating report templates needs the 'manage report templates' permission.")
    return _template_page(request, None)


@login_required
@_page_errors
def template_edit(request: HttpRequest, template_id: str) -> HttpResponse:
    if not _perm(request, MANAGE):
        return _denied(request, "Changing report templates needs the 'manage report templates' permission.")
    return _template_page(request, selectors.template_get(actor=Actor.from_request(request), template_id=template_id))


@login_required
@require_POST
@_page_errors
def template_delete(request: HttpRequest, template_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    template = selectors.template_get(actor=actor, template_id=template_id)
    services.template_delete(actor=actor, template=template)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("reports:template_list")


@login_required
@_page_errors
def template_preview(request: HttpRequest) -> HttpResponse:
    """The sample scan rendered as HTML, for the editor's preview frame (GET: stored, POST: the draft in the form)."""
    actor = Actor.from_request(request)
    template_id = request.POST.get("template_id") or request.GET.get("template")
    template = selectors.template_get(actor=actor, template_id=template_id) if template_id else None
    data = None
    logo = None
    if request.method == "POST":
        form = TemplateForm(request.POST, request.FILES)
        form.is_valid()  # the service validates; invalid fields are reported on the preview page
        raw = {k: request.POST.get(k) for k in ("title", "accent_color", "footer_text", "custom_css")}
        data = {**{k: v for k, v in raw.items() if v is not None}, "sections": request.POST.getlist("sections")}
        if not data["sections"]:
            data["sections"] = [s.value for s in Section]
        upload = request.FILES.get("logo")
        if upload is not None:
            logo = upload.read()
            upload.close()
    try:
        html = services.template_preview(actor=actor, tenant=request.tenant,  # type: ignore[attr-defined]
                                         template=template, data=data, logo=logo)
    except ApplicationError as exc:
        if exc.status_code in (403, 404):
            raise
        html = render(request, "reports/preview_error.html", {"error": exc}).content.decode()
    response = html_response(html)
    # Framed by the editor page only (same origin), as a sandboxed document.
    response["Content-Security-Policy"] += "; frame-ancestors 'self'"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


# --- schedules -----------------------------------------------------------------------------------------------------

class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100)
    frequency = forms.ChoiceField(choices=ReportSchedule.Frequency.choices)
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int, initial=0, help_text="Weekly schedules.")
    day_of_month = forms.IntegerField(min_value=1, max_value=28, initial=1, help_text="Monthly schedules (1-28).")
    hour = forms.IntegerField(min_value=0, max_value=23, initial=6, help_text="Hour of the day, UTC.")
    format = forms.ChoiceField(choices=Format.choices, initial=Format.PDF)
    template = forms.ChoiceField(required=False)
    recipients = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text="Email addresses, one per line or separated by commas (at most 20).")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = _template_choices(actor)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["template"] = data.get("template") or None
        return data


@login_required
@_page_errors
def schedule_list(request: HttpRequest) -> HttpResponse:
    if not _perm(request, MANAGE):
        return _denied(request, "Report schedules need the 'manage report templates' permission.")
    actor = Actor.from_request(request)
    form = ScheduleForm(actor=actor)
    if request.method == "POST":
        form = ScheduleForm(request.POST, actor=actor)
        if form.is_valid():
            try:
                schedule = services.schedule_create(actor=actor, data=form.service_data())
                messages.success(request, f"Schedule “{schedule.name}” created; next run "
                                          f"{schedule.next_run_at:%Y-%m-%d %H:%M} UTC.")
                return redirect("reports:schedule_list")
            except ApplicationError as exc:
                _apply_errors(form, exc)
    schedules = list(selectors.schedule_list(actor=actor))
    recent = selectors.report_list(actor=actor).filter(schedule__isnull=False).order_by("-created_at")[:10] \
        if _perm(request, GENERATE) else []
    return render(request, "reports/schedule_list.html", {"schedules": schedules, "form": form, "recent": recent,
                                                          "weekdays": dict(WEEKDAYS)})


@login_required
@_page_errors
def schedule_edit(request: HttpRequest, schedule_id: str) -> HttpResponse:
    if not _perm(request, MANAGE):
        return _denied(request, "Report schedules need the 'manage report templates' permission.")
    actor = Actor.from_request(request)
    schedule = selectors.schedule_get(actor=actor, schedule_id=schedule_id)
    form = ScheduleForm(actor=actor, initial={
        "name": schedule.name, "frequency": schedule.frequency, "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month, "hour": schedule.hour, "format": schedule.format,
        "template": str(schedule.template_id or ""), "recipients": "\n".join(schedule.recipients or []),
        "enabled": schedule.enabled})
    if request.method == "POST":
        form = ScheduleForm(request.POST, actor=actor)
        if form.is_valid():
            try:
                services.schedule_update(actor=actor, schedule=schedule, data=form.service_data())
                messages.success(request, f"Schedule “{schedule.name}” saved.")
                return redirect("reports:schedule_list")
            except ApplicationError as exc:
                _apply_errors(form, exc)
    return render(request, "reports/schedule_edit.html", {"schedule": schedule, "form": form})


@login_required
@require_POST
@_page_errors
def schedule_delete(request: HttpRequest, schedule_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    schedule = selectors.schedule_get(actor=actor, schedule_id=schedule_id)
    services.schedule_delete(actor=actor, schedule=schedule)
    messages.success(request, f"Schedule “{schedule.name}” deleted.")
    return redirect("reports:schedule_list")


@login_required
@require_POST
@_page_errors
def schedule_run(request: HttpRequest, schedule_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    schedule = selectors.schedule_get(actor=actor, schedule_id=schedule_id)
    tenant = request.tenant  # type: ignore[attr-defined]
    report = services.schedule_run_now(tenant=tenant, actor=actor, schedule=schedule)
    messages.success(request, f"The report of “{schedule.name}” is being generated; it will be emailed to "
                              f"{len(schedule.recipients)} recipient{'s' if len(schedule.recipients) != 1 else ''}.")
    return redirect("reports:report_detail", report_id=report.pk)
