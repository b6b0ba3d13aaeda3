"""Dashboard pages: reports, the scan page's "Generate report", templates with their live preview, schedules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from scanning.reports import services
from scanning.reports.models import Report, ReportSchedule, ReportTemplate
from scanning.reports.tests.factories import make_scan, png_bytes

pytestmark = pytest.mark.django_db
HTML = {"HTTP_ACCEPT": "text/html"}


def assert_csp_clean(page: str) -> None:
    """No inline script and no style attribute (the dashboard's CSP forbids both); every form has a CSRF token."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script>"
    assert " style=" not in page, "inline style attribute"
    for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", page, re.DOTALL):
        assert "csrfmiddlewaretoken" in form, form[:200]


def test_the_scan_page_offers_generate_report(client_for: Any, tenant_a: Any):
    user, client = client_for("developer")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="panel-pkg", version="1.0", submitted_by=user)
    page = client.get(f"/scans/{scan.pk}/", **HTML).content.decode()
    assert "Generate report" in page and f'action="/reports/scan/{scan.pk}/"' in page
    assert "reports/reports.css" in page
    assert_csp_clean(page)
    response = client.post(f"/reports/scan/{scan.pk}/", {"format": "html", "template": ""})
    with schema_context(tenant_a.schema_name):
        report = Report.objects.get(scan=scan)
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}/"
    assert report.format == "html" and report.requested_by_id == user.pk
    detail = client.get(f"/reports/{report.pk}/", **HTML).content.decode()
    assert "pending" in detail and f'data-report-status="/api/v1/reports/{report.pk}"' in detail
    assert "js/reports.js" in detail
    assert_csp_clean(detail)
    # Once generated, the panel links the report and the detail page offers the download.
    with schema_context(tenant_a.schema_name):
        services.report_generate(report_id=str(report.pk))
    page = client.get(f"/scans/{scan.pk}/", **HTML).content.decode()
    assert f"/reports/{report.pk}/download/" in page
    download = client.get(f"/reports/{report.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"<!doctype html>")
    assert "sandbox" in download["Content-Security-Policy"]
    with schema_context(tenant_a.schema_name):
        assert AuditEvent.objects.filter(action="report.download", resource_id=str(report.pk),
                                         actor_id=str(user.pk)).exists()


def test_a_viewer_gets_no_report_panel_or_pages(client_for: Any, tenant_a: Any):
    owner, _ = client_for("owner")
    _, viewer = client_for("viewer")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="viewed", version="1.0", submitted_by=owner)
    page = viewer.get(f"/scans/{scan.pk}/", **HTML).content.decode()
    assert "report-panel" not in page and f"/reports/scan/{scan.pk}/" not in page
    assert viewer.get("/reports/", **HTML).status_code == 403
    assert viewer.post(f"/reports/scan/{scan.pk}/", {"format": "pdf"}).status_code == 403
    assert viewer.get("/reports/templates/", **HTML).status_code == 403


def test_reports_page_lists_and_generates_posture_reports(client_for: Any, tenant_a: Any):
    user, client = client_for("security_engineer")
    page = client.get("/reports/", **HTML).content.decode()
    assert "Generate a posture report" in page and 'type="date"' in page
    assert_csp_clean(page)
    nav = re.findall(r'<nav class="sidebar".*?</nav>', page, re.DOTALL)[0]
    assert ">Reports<" in nav and ">Report templates<" in nav and ">Report schedules<" in nav
    invalid = client.post("/reports/", {"scope": "period", "format": "pdf", "period_from": "2026-01-05"}, **HTML)
    assert invalid.status_code == 200 and "Give both the start and the end of the period." in invalid.content.decode()
    response = client.post("/reports/", {"scope": "period", "format": "csv", "period_from": "2026-01-01",
                                         "period_to": "2026-01-31", "template": ""})
    with schema_context(tenant_a.schema_name):
        report = Report.objects.get(requested_by=user)
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}/"
    assert report.title == "Security report: 2026-01-01 to 2026-01-31"
    listing = client.get("/reports/", **HTML).content.decode()
    assert report.title in listing and "badge-pending" in listing


def test_a_developer_sees_reports_but_not_templates_or_schedules(client_for: Any):
    _, client = client_for("developer")
    page = client.get("/reports/", **HTML).content.decode()
    nav = re.findall(r'<nav class="sidebar".*?</nav>', page, re.DOTALL)[0]
    assert ">Reports<" in nav and "Report templates" not in nav and "Report schedules" not in nav
    assert client.get("/reports/templates/new/", **HTML).status_code == 403
    assert client.get("/reports/schedules/", **HTML).status_code == 403


def test_template_editor_with_live_preview(client_for: Any, tenant_a: Any):
    _, client = client_for("admin")
    page = client.get("/reports/templates/new/", **HTML).content.decode()
    assert 'name="template-preview"' in page and 'sandbox=""' in page and "data-template-form" in page
    assert 'formtarget="template-preview"' in page and 'enctype="multipart/form-data"' in page
    assert_csp_clean(page)
    preview = client.get("/reports/templates/preview/")
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]
    assert "sandbox" in preview["Content-Security-Policy"]
    assert "sample-utils" in preview.content.decode()
    draft = client.post("/reports/templates/preview/", {"title": "Board pack", "accent_color": "#be123c",
                                                        "sections": ["executive_summary", "remediation"],
                                                        "custom_css": "h2 { color: #111 }"})
    text = draft.content.decode()
    assert draft.status_code == 200 and "Board pack" in text and "#be123c" in text and "Remediation plan" in text
    assert "Known vulnerabilities" not in text
    refused = client.post("/reports/templates/preview/", {"custom_css": "@import url(file:///etc/passwd);"})
    assert refused.status_code == 200 and "The preview cannot be shown" in refused.content.decode()
    assert "@import" in refused.content.decode()

    created = client.post("/reports/templates/new/", {
        "name": "Board", "title": "Board pack", "accent_color": "#be123c", "sections": ["executive_summary",
                                                                                       "scores", "remediation"],
        "footer_text": "Confidential", "custom_css": "", "logo": SimpleUploadedFile("l.png", png_bytes(50, 20))})
    with schema_context(tenant_a.schema_name):
        template = ReportTemplate.objects.get(name="Board")
    assert created.status_code == 302 and created["Location"] == f"/reports/templates/{template.pk}/"
    assert template.logo_width == 50 and template.sections == ["executive_summary", "scores", "remediation"]
    edit = client.get(f"/reports/templates/{template.pk}/", **HTML).content.decode()
    assert 'src="data:image/png;base64,' in edit and f"/reports/templates/preview/?template={template.pk}" in edit
    stored = client.get(f"/reports/templates/preview/?template={template.pk}").content.decode()
    assert "Board pack" in stored and 'class="logo" src="data:image/png;base64,' in stored
    bad = client.post(f"/reports/templates/{template.pk}/", {
        "name": "Board", "title": "Board pack", "accent_color": "#be123c", "sections": ["scores"],
        "custom_css": "p { background: url(http://127.0.0.1:9/) }"}, **HTML)
    assert bad.status_code == 200 and "only data:image/png or data:image/jpeg" in bad.content.decode()
    listing = client.get("/reports/templates/", **HTML).content.decode()
    assert "Board" in listing and "3 of 10" in listing
    assert client.post(f"/reports/templates/{template.pk}/delete/").status_code == 302
    with schema_context(tenant_a.schema_name):
        assert not ReportTemplate.objects.filter(pk=template.pk).exists()


def test_schedules_pages(client_for: Any, tenant_a: Any):
    _, client = client_for("admin")
    page = client.get("/reports/schedules/", **HTML).content.decode()
    assert "Add a schedule" in page
    assert_csp_clean(page)
    created = client.post("/reports/schedules/", {
        "name": "Weekly", "frequency": "weekly", "weekday": "0", "day_of_month": "1", "hour": "7", "format": "pdf",
        "template": "", "recipients": "sec@acme.example, ciso@acme.example", "enabled": "on"})
    assert created.status_code == 302
    with schema_context(tenant_a.schema_name):
        schedule = ReportSchedule.objects.get(name="Weekly")
    assert schedule.recipients == ["sec@acme.example", "ciso@acme.example"] and schedule.next_run_at.hour == 7
    listing = client.get("/reports/schedules/", **HTML).content.decode()
    assert "Every Monday at 07:00" in listing
    run = client.post(f"/reports/schedules/{schedule.pk}/run/")
    with schema_context(tenant_a.schema_name):
        report = Report.objects.get(schedule=schedule)
    assert run.status_code == 302 and run["Location"] == f"/reports/{report.pk}/"
    edited = client.post(f"/reports/schedules/{schedule.pk}/", {
        "name": "Weekly", "frequency": "monthly", "weekday": "0", "day_of_month": "5", "hour": "7", "format": "csv",
        "template": "", "recipients": "sec@acme.example"})
    assert edited.status_code == 302
    with schema_context(tenant_a.schema_name):
        schedule.refresh_from_db()
    assert (schedule.frequency, schedule.day_of_month, schedule.format) == ("monthly", 5, "csv")
    assert (schedule.enabled, schedule.next_run_at) == (False, None), "an unticked box pauses the schedule"
    assert client.post(f"/reports/schedules/{schedule.pk}/delete/").status_code == 302


def test_forms_need_the_csrf_token(client_for: Any, tenant_a: Any):
    user, _ = client_for("admin")
    from accounts.middleware import SESSION_MFA_OK, SESSION_TENANT

    strict = Client(HTTP_HOST=tenant_a.primary_host, enforce_csrf_checks=True)
    with schema_context(tenant_a.schema_name):
        strict.force_login(user, backend="accounts.backends.EmailBackend")
        session = strict.session
        session[SESSION_TENANT] = str(tenant_a.pk)
        session[SESSION_MFA_OK] = True
        session.save()
        scan = make_scan(name="csrf", version="1.0", submitted_by=user)
    for url, data in ((f"/reports/scan/{scan.pk}/", {"format": "pdf"}),
                      ("/reports/templates/new/", {"name": "x", "title": "x", "accent_color": "#000000",
                                                   "sections": ["scores"]}),
                      ("/reports/schedules/", {"name": "x"}),
                      ("/api/v1/report-templates", {"name": "x"})):
        response = strict.post(url, data)
        assert response.status_code == 403, url
    with schema_context(tenant_a.schema_name):
        assert not Report.objects.filter(scan=scan).exists()
        assert not ReportTemplate.objects.filter(name="x").exists()
