"""The reports API: generate, status, download (audited), delete; templates; visibility; the permission matrix."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from scanning.models import Scan
from scanning.reports import services
from scanning.reports.models import Report, ReportSchedule, ReportTemplate
from scanning.reports.tests.factories import make_scan, png_bytes, scan_with_findings

pytestmark = pytest.mark.django_db


def _generate(tenant: Any, report_id: str) -> Report:
    """What the Celery task does, in-process (the end-to-end test runs the real worker)."""
    with schema_context(tenant.schema_name):
        assert services.report_generate(report_id=report_id) in ("completed", "failed")
        return Report.objects.get(pk=report_id)


def _events(tenant: Any, action: str, resource_id: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action, resource_id=resource_id))


def test_generate_poll_and_download_a_report(client_for: Any, tenant_a: Any):
    user, client = client_for("developer")
    with schema_context(tenant_a.schema_name):
        scan = scan_with_findings(submitted_by=user)
    response = client.post("/api/v1/reports", {"scan": str(scan.pk), "format": "pdf"},
                           content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["scope"] == "scan" and body["scan"]["id"] == str(scan.pk)
    assert response["Location"] == body["urls"]["self"] == f"/api/v1/reports/{body['id']}"
    assert body["template"]["name"] == "Default", "the seeded default template"

    early = client.get(body["urls"]["download"])
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "report_not_ready"

    report = _generate(tenant_a, body["id"])
    assert report.status == "completed", report.error_message
    status = client.get(body["urls"]["self"]).json()
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["summary"]["verdict"] == "block" and status["summary"]["problems"] == 12
    assert status["sha256"] == report.sha256

    download = client.get(body["urls"]["download"])
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    assert data.startswith(b"%PDF-") and len(data) == status["file_size"]
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith('attachment; filename="gatehouse-report-acme-widgets-2-0-1-')
    assert download["X-Content-SHA256"] == report.sha256
    [created] = _events(tenant_a, "report.create", body["id"])
    assert (created.actor_type, created.actor_id) == ("user", str(user.pk))
    assert created.changes["format"] == {"after": "pdf"}
    [generated] = _events(tenant_a, "report.generate", body["id"])
    assert generated.actor_type == "system" and generated.metadata["sha256"] == report.sha256
    [downloaded] = _events(tenant_a, "report.download", body["id"])
    assert downloaded.actor_id == str(user.pk)


@pytest.mark.parametrize("fmt, content_type, start", [
    ("html", "text/html; charset=utf-8", b"<!doctype html>"), ("json", "application/json", b"{"),
    ("sarif", "application/sarif+json", b"{"), ("csv", "text/csv; charset=utf-8", b"scan_id,")])
def test_every_format_downloads_with_its_type(client_for: Any, tenant_a: Any, fmt: str, content_type: str,
                                              start: bytes):
    user, client = client_for("security_engineer")
    with schema_context(tenant_a.schema_name):
        scan = scan_with_findings(submitted_by=user)
    body = client.post("/api/v1/reports", {"scan": str(scan.pk), "format": fmt},
                       content_type="application/json").json()
    _generate(tenant_a, body["id"])
    download = client.get(body["urls"]["download"])
    assert download.status_code == 200 and download["Content-Type"] == content_type
    assert b"".join(download.streaming_content).lstrip().startswith(start)
    if fmt == "html":
        policy = download["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "sandbox" in policy and "'sha256-" in policy


def test_a_report_of_someone_elses_scan_is_404_for_a_developer(client_for: Any, tenant_a: Any):
    owner, owner_client = client_for("owner")
    _, developer = client_for("developer")
    with schema_context(tenant_a.schema_name):
        scan = scan_with_findings(submitted_by=owner)
    body = owner_client.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json").json()
    _generate(tenant_a, body["id"])
    for url in (body["urls"]["self"], body["urls"]["download"], f"/reports/{body['id']}/",
                f"/reports/{body['id']}/download/"):
        response = developer.get(url)
        assert response.status_code == 404, url
    assert developer.get("/api/v1/reports").json()["count"] == 0
    refused = developer.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert not _events(tenant_a, "report.download", body["id"])


def test_another_organizations_report_template_and_schedule_are_404(client_for: Any, tenant_a: Any, tenant_b: Any):
    owner, client = client_for("owner")
    with schema_context(tenant_a.schema_name):
        scan = scan_with_findings(submitted_by=owner)
        template = ReportTemplate.objects.get(is_default=True)
    body = client.post("/api/v1/reports", {"scan": str(scan.pk), "format": "json"},
                       content_type="application/json").json()
    _generate(tenant_a, body["id"])
    schedule = client.post("/api/v1/report-schedules", {"name": "Weekly", "frequency": "weekly",
                                                        "recipients": ["sec@acme.example"]},
                           content_type="application/json").json()
    _, other = client_for("owner", tenant=tenant_b)
    own_template = other.get("/api/v1/report-templates").json()["results"][0]
    assert own_template["id"] == str(template.pk), "the default template is cloned with the same id..."
    custom = client.post("/api/v1/report-templates", {"name": "Acme only"}, content_type="application/json").json()
    for url in (f"/api/v1/reports/{body['id']}", f"/api/v1/reports/{body['id']}/download",
                f"/api/v1/report-templates/{custom['id']}", f"/api/v1/report-schedules/{schedule['id']}",
                f"/reports/{body['id']}/", f"/reports/{body['id']}/download/", f"/reports/templates/{custom['id']}/"):
        response = other.get(url)
        assert response.status_code == 404, url
    assert other.delete(f"/api/v1/reports/{body['id']}").status_code == 404
    assert other.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json").status_code == 404
    assert client.get(f"/api/v1/reports/{body['id']}").status_code == 200, "...but each organization's own rows"


ROLES = ["owner", "admin", "security_engineer", "developer", "viewer"]
MATRIX = {
    # (method, what): {role: status}
    ("GET", "reports"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 200, "viewer": 403},
    ("POST", "reports"): {"owner": 202, "admin": 202, "security_engineer": 202, "developer": 202, "viewer": 403},
    ("GET", "report"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 404, "viewer": 403},
    ("GET", "download"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 404, "viewer": 403},
    ("DELETE", "report"): {"owner": 204, "admin": 204, "security_engineer": 204, "developer": 404, "viewer": 403},
    ("GET", "templates"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 200, "viewer": 403},
    ("POST", "templates"): {"owner": 201, "admin": 201, "security_engineer": 201, "developer": 403, "viewer": 403},
    ("PATCH", "template"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 403, "viewer": 403},
    ("GET", "preview"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 200, "viewer": 403},
    ("GET", "schedules"): {"owner": 200, "admin": 200, "security_engineer": 200, "developer": 403, "viewer": 403},
    ("POST", "schedules"): {"owner": 201, "admin": 201, "security_engineer": 201, "developer": 403, "viewer": 403},
    ("POST", "run"): {"owner": 202, "admin": 202, "security_engineer": 202, "developer": 403, "viewer": 403},
}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role: str, client_for: Any, tenant_a: Any):
    owner, owner_client = client_for("owner")
    user, client = client_for(role)
    with schema_context(tenant_a.schema_name):
        others = make_scan(name="others-pkg", version="1.0.0", submitted_by=owner)
        own = make_scan(name="own-pkg", version="1.0.0", submitted_by=user)
        template = ReportTemplate.objects.get(is_default=True)
    report = owner_client.post("/api/v1/reports", {"scan": str(others.pk), "format": "csv"},
                               content_type="application/json").json()
    _generate(tenant_a, report["id"])
    schedule = owner_client.post("/api/v1/report-schedules", {"name": f"S {role}", "frequency": "monthly",
                                                              "recipients": ["a@acme.example"]},
                                 content_type="application/json").json()
    calls = {
        ("GET", "reports"): lambda: client.get("/api/v1/reports"),
        ("POST", "reports"): lambda: client.post("/api/v1/reports", {"scan": str(own.pk)},
                                                 content_type="application/json"),
        ("GET", "report"): lambda: client.get(f"/api/v1/reports/{report['id']}"),
        ("GET", "download"): lambda: client.get(f"/api/v1/reports/{report['id']}/download"),
        ("GET", "templates"): lambda: client.get("/api/v1/report-templates"),
        ("POST", "templates"): lambda: client.post("/api/v1/report-templates", {"name": f"T {role}"},
                                                   content_type="application/json"),
        ("PATCH", "template"): lambda: client.patch(f"/api/v1/report-templates/{template.pk}",
                                                    {"footer_text": "Confidential"},
                                                    content_type="application/json"),
        ("GET", "preview"): lambda: client.get(f"/api/v1/report-templates/{template.pk}/preview"),
        ("GET", "schedules"): lambda: client.get("/api/v1/report-schedules"),
        ("POST", "schedules"): lambda: client.post("/api/v1/report-schedules",
                                                   {"name": f"Mine {role}", "frequency": "weekly",
                                                    "recipients": ["b@acme.example"]},
                                                   content_type="application/json"),
        ("POST", "run"): lambda: client.post(f"/api/v1/report-schedules/{schedule['id']}/run"),
        ("DELETE", "report"): lambda: client.delete(f"/api/v1/reports/{report['id']}"),
    }
    for key, call in calls.items():
        response = call()
        expected = MATRIX[key][role]
        assert response.status_code == expected, (key, role, response.status_code, response.content[:300])
        if expected >= 400:
            assert response.json()["error"]["code"] in ("permission_denied", "not_found")


def test_period_and_package_reports(client_for: Any, tenant_a: Any):
    developer, dev_client = client_for("developer")
    engineer, eng_client = client_for("security_engineer")
    with schema_context(tenant_a.schema_name):
        mine = [make_scan(name="lib-a", version=v, submitted_by=developer, age_days=d)
                for v, d in (("1.0.0", 3), ("1.1.0", 2))]
        theirs = make_scan(name="lib-b", version="3.0.0", submitted_by=engineer, age_days=1)
        make_scan(name="lib-a", version="0.9.0", submitted_by=engineer, age_days=60)
    today = timezone.now().date()
    period = {"scope": "period", "from": str(today - timedelta(days=7)), "to": str(today), "format": "json"}
    everything = eng_client.post("/api/v1/reports", period, content_type="application/json").json()
    own_only = dev_client.post("/api/v1/reports", period, content_type="application/json").json()
    package = eng_client.post("/api/v1/reports", {"scope": "package", "ecosystem": "pypi", "package": "LIB_A",
                                                  "format": "json"}, content_type="application/json").json()
    documents = {}
    for name, body in (("everything", everything), ("own", own_only), ("package", package)):
        assert _generate(tenant_a, body["id"]).status == "completed"
        client = dev_client if name == "own" else eng_client
        documents[name] = json.loads(b"".join(client.get(body["urls"]["download"]).streaming_content))
    ids = {name: [s["id"] for s in doc["scans"]] for name, doc in documents.items()}
    assert ids["everything"] == [str(mine[0].pk), str(mine[1].pk), str(theirs.pk)]
    assert ids["own"] == [str(mine[0].pk), str(mine[1].pk)], "a developer's period report covers their scans"
    assert len(ids["package"]) == 3 and {s["version"] for s in documents["package"]["scans"]} == {"0.9.0", "1.0.0",
                                                                                                  "1.1.0"}
    assert "posture" in everything["title"] or everything["title"].startswith("Security report:")
    assert documents["everything"]["report"]["scope_text"] == \
        f"Every scan from {today - timedelta(days=7)} to {today}", "the end date is inclusive"
    summary = documents["everything"]["executive_summary"]["paragraphs"][0]
    assert "Gatehouse completed 3 scans of 2 packages for Acme Corp" in summary
    assert documents["package"]["report"]["scope_text"] == "Every scanned version of LIB_A (pypi)"


@pytest.mark.parametrize("payload, status, code, field", [
    ({"scope": "scan"}, 400, "validation_error", "scan"),
    ({"scope": "period", "from": "2026-01-10"}, 400, "validation_error", "period"),
    ({"scope": "period", "from": "2026-01-10", "to": "2026-01-01"}, 400, "validation_error", "period"),
    ({"scope": "period", "from": "2020-01-01", "to": "2026-01-01"}, 400, "validation_error", "period"),
    ({"scope": "period", "from": "yesterday", "to": "2026-01-01"}, 400, "validation_error", "from"),
    ({"scope": "package", "ecosystem": "cargo", "package": "x"}, 400, "validation_error", "ecosystem"),
    ({"scope": "package", "ecosystem": "npm", "package": "../etc"}, 400, "validation_error", "package"),
    ({"format": "docx", "scope": "period", "from": "2026-01-01", "to": "2026-01-02"}, 400, "validation_error",
     "format"),
    ({"scope": "period", "from": "2026-01-01", "to": "2026-01-02", "template": "8d7f2a9e-2f5e-4f59-9d5b-000000000000"},
     400, "validation_error", "template"),
])
def test_invalid_requests_are_refused_with_the_field(client_for: Any, payload: dict[str, Any], status: int,
                                                     code: str, field: str):
    _, client = client_for("admin")
    response = client.post("/api/v1/reports", payload, content_type="application/json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and field in error["details"], error


def test_a_running_scan_cannot_be_reported_yet(client_for: Any, tenant_a: Any):
    user, client = client_for("admin")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="busy", version="1.0", submitted_by=user)
        Scan.objects.filter(pk=scan.pk).update(status=Scan.StatusChoices.RUNNING)
    response = client.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json")
    assert response.status_code == 409
    assert response.json()["error"] == {**response.json()["error"], "code": "scan_not_finished",
                                        "details": {"status": "running"}}


def test_a_failure_is_recorded_without_internals(client_for: Any, tenant_a: Any):
    user, client = client_for("admin")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="fails", version="1.0", submitted_by=user)
    body = client.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json").json()
    # Storage fails: where the report's directory should be, there is a file.
    with schema_context(tenant_a.schema_name):
        Report.objects.filter(pk=body["id"]).update(created_at=timezone.now().replace(year=1999, month=1))
    blocker = services.tenant_root(tenant_a.schema_name) / "reports" / "1999"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    try:
        report = _generate(tenant_a, body["id"])
    finally:
        blocker.unlink()
    assert report.status == "failed" and report.error_code == "internal_error"
    assert body["id"] in report.error_message and "Traceback" not in report.error_message
    status = client.get(body["urls"]["self"]).json()
    assert status["error"] == {"code": "internal_error", "message": report.error_message}
    [event] = _events(tenant_a, "report.generate", body["id"])
    assert event.outcome == "failure" and event.reason == "internal_error"
    assert client.get(body["urls"]["download"]).status_code == 409


def test_a_report_redelivered_too_often_is_given_up(client_for: Any, tenant_a: Any, settings: Any):
    user, client = client_for("admin")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="crashy", version="1.0", submitted_by=user)
    body = client.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json").json()
    with schema_context(tenant_a.schema_name):
        Report.objects.filter(pk=body["id"]).update(status="generating", attempts=settings.REPORTS_MAX_ATTEMPTS)
    report = _generate(tenant_a, body["id"])
    assert report.status == "failed" and report.error_code == "too_many_attempts"


def test_delete_removes_the_file_and_is_audited(client_for: Any, tenant_a: Any, django_capture_on_commit_callbacks):
    user, client = client_for("developer")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="gone", version="1.0", submitted_by=user)
    body = client.post("/api/v1/reports", {"scan": str(scan.pk), "format": "csv"},
                       content_type="application/json").json()
    report = _generate(tenant_a, body["id"])
    with schema_context(tenant_a.schema_name):
        path = services.report_file(report)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(body["urls"]["self"]).status_code == 204
    assert not path.exists()
    assert client.get(body["urls"]["self"]).status_code == 404
    [event] = _events(tenant_a, "report.delete", body["id"])
    assert event.changes["format"] == {"before": "csv"}


def test_generation_is_queued_on_the_reports_queue_after_commit(client_for: Any, tenant_a: Any,
                                                               django_capture_on_commit_callbacks: Any):
    """The task is published to the real broker's `reports` queue after commit, with the report's id and schema.

    Read from Celery's own after-publish signal rather than the Redis list: a worker started by
    another test may already have taken the message (it finds no committed report and drops it).
    """
    from celery.signals import after_task_publish

    user, client = client_for("admin")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="queued", version="1.0", submitted_by=user)
    published: list[dict[str, Any]] = []

    def record(sender: str | None = None, headers: dict | None = None, routing_key: str = "", **_: Any) -> None:
        published.append({"task": sender, "headers": headers or {}, "routing_key": routing_key})

    after_task_publish.connect(record, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            body = client.post("/api/v1/reports", {"scan": str(scan.pk)}, content_type="application/json").json()
        assert len(callbacks) == 1 and published == []  # nothing is sent before the commit
        callbacks[0]()
    finally:
        after_task_publish.disconnect(record)
    with schema_context(tenant_a.schema_name):
        task_id = Report.objects.get(pk=body["id"]).task_id
    assert [(p["task"], p["routing_key"], p["headers"]["id"], p["headers"]["_schema_name"]) for p in published] == [
        ("reports.generate", "reports", task_id, tenant_a.schema_name)]


def test_report_list_filters_orders_and_does_not_query_per_row(client_for: Any, tenant_a: Any,
                                                               django_assert_max_num_queries: Any):
    user, client = client_for("admin")
    with schema_context(tenant_a.schema_name):
        scans = [make_scan(name=f"p{i}", version="1.0", submitted_by=user) for i in range(3)]
    ids = [client.post("/api/v1/reports", {"scan": str(s.pk), "format": f}, content_type="application/json")
           .json()["id"] for s in scans for f in ("pdf", "json")]
    _generate(tenant_a, ids[0])
    with django_assert_max_num_queries(12):
        listing = client.get("/api/v1/reports?ordering=created_at")
    assert listing.json()["count"] == 6 and [r["id"] for r in listing.json()["results"]] == ids
    assert client.get("/api/v1/reports?status=completed").json()["count"] == 1
    assert client.get("/api/v1/reports?report_format=json").json()["count"] == 3
    assert client.get("/api/v1/reports?report_format=pdf&report_format=json").json()["count"] == 6
    assert client.get(f"/api/v1/reports?scan={scans[1].pk}").json()["count"] == 2
    assert client.get("/api/v1/reports/").status_code == 200, "with or without the trailing slash"


# --- templates ------------------------------------------------------------------------------------------------

def test_template_crud_and_one_default(client_for: Any, tenant_a: Any):
    _, client = client_for("security_engineer")
    created = client.post("/api/v1/report-templates", {
        "name": "Customers", "accent_color": "#0F766E", "sections": ["remediation", "executive_summary"],
        "custom_css": "h2 { letter-spacing: .02em }", "logo": _upload(png_bytes(80, 20)), "is_default": "true"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["accent_color"] == "#0f766e" and body["sections"] == ["executive_summary", "remediation"]
    assert body["is_default"] and body["logo"]["width"] == 80
    assert created["Location"] == body["urls"]["self"]
    logo = client.get(body["logo"]["url"])
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png"
    listing = client.get("/api/v1/report-templates").json()["results"]
    assert [t["name"] for t in listing if t["is_default"]] == ["Customers"]
    default = next(t for t in listing if t["name"] == "Default")
    assert client.delete(body["urls"]["self"]).status_code == 409, "the default cannot be deleted"
    patched = client.patch(default["urls"]["self"], {"is_default": True}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["is_default"]
    unset = client.patch(default["urls"]["self"], {"is_default": False}, content_type="application/json")
    assert unset.status_code == 409 and unset.json()["error"]["code"] == "default_template_required"
    removed = client.patch(body["urls"]["self"], {"remove_logo": True, "name": "Clients"},
                           content_type="application/json")
    assert removed.status_code == 200 and removed.json()["logo"] is None and removed.json()["name"] == "Clients"
    assert client.delete(body["urls"]["self"]).status_code == 204
    duplicate = client.post("/api/v1/report-templates", {"name": "default"}, content_type="application/json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["error"]["details"]
    bad = client.post("/api/v1/report-templates", {"name": "Bad", "accent_color": "blue", "sections": ["cover"]},
                      content_type="application/json")
    assert bad.status_code == 400 and {"accent_color", "sections"} <= set(bad.json()["error"]["details"])
    with schema_context(tenant_a.schema_name):
        actions = list(AuditEvent.objects.filter(resource_type="report_template").values_list("action", flat=True))
    assert actions.count("report_template.create") == 1 and actions.count("report_template.update") == 2
    assert actions.count("report_template.delete") == 1


def test_template_preview_renders_the_sample_through_the_pipeline(client_for: Any, tenant_a: Any):
    _, client = client_for("developer")
    with schema_context(tenant_a.schema_name):
        template = ReportTemplate.objects.get(is_default=True)
    stored = client.get(f"/api/v1/report-templates/{template.pk}/preview")
    assert stored.status_code == 200 and stored["Content-Type"] == "text/html; charset=utf-8"
    assert "sandbox" in stored["Content-Security-Policy"] and "default-src 'none'" in stored["Content-Security-Policy"]
    page = stored.content.decode()
    assert "Acme Corp" in page and "sample-utils 1.2.0" in page and "Remediation plan" in page
    draft = client.post("/api/v1/report-templates/preview", {"accent_color": "#7c3aed", "sections": ["scores"],
                                                              "title": "Draft look"},
                        content_type="application/json")
    assert draft.status_code == 200
    page = draft.content.decode()
    assert "#7c3aed" in page and "Draft look" in page and "Scores by category" in page
    assert "Remediation plan" not in page
    hostile = client.post("/api/v1/report-templates/preview", {"custom_css": "@import url(http://127.0.0.1:9/x)"},
                          content_type="application/json")
    assert hostile.status_code == 400 and "custom_css" in hostile.json()["error"]["details"]


def _upload(data: bytes, name: str = "logo.png") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


def test_schedules_api(client_for: Any, tenant_a: Any):
    _, client = client_for("admin")
    bad = client.post("/api/v1/report-schedules", {"name": "x", "frequency": "daily", "recipients": ["a@b.example"]},
                      content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"frequency"}
    bad = client.post("/api/v1/report-schedules", {"name": "x", "frequency": "weekly",
                                                   "recipients": ["nope", "ok@acme.example"]},
                      content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {"recipients": ["'nope' is not an email address."]}
    created = client.post("/api/v1/report-schedules", {
        "name": "Monthly board pack", "frequency": "monthly", "day_of_month": 3, "hour": 5, "format": "pdf",
        "recipients": ["CISO@acme.example", "ciso@acme.example", "board@acme.example"]},
        content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["recipients"] == ["ciso@acme.example", "board@acme.example"]
    with schema_context(tenant_a.schema_name):
        schedule = ReportSchedule.objects.get(pk=body["id"])
    assert schedule.next_run_at.day == 3 and schedule.next_run_at.hour == 5 and schedule.next_run_at > timezone.now()
    paused = client.patch(body["urls"]["self"], {"enabled": False}, content_type="application/json")
    assert paused.status_code == 200 and paused.json()["next_run_at"] is None
    run = client.post(body["urls"]["run"])
    assert run.status_code == 202 and run.json()["schedule"] == body["id"] and run.json()["scope"] == "period"
    assert client.delete(body["urls"]["self"]).status_code == 204
    with schema_context(tenant_a.schema_name):
        actions = set(AuditEvent.objects.filter(resource_id=body["id"]).values_list("action", flat=True))
    assert actions == {"report_schedule.create", "report_schedule.update", "report_schedule.run",
                       "report_schedule.delete"}
