"""Audit coverage of the reports API (see docs/contributing.md, "Audit coverage of mutating routes")."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import schema_context

from audit.testing import AuditCase, CaseContext, Expected, NotAudited


def _scan(ctx: CaseContext) -> None:
    from scanning.reports.tests.factories import make_scan

    with schema_context(ctx.tenant.schema_name):
        ctx.data["scan"] = make_scan(name="audited-pkg", version="1.0.0", submitted_by=ctx.user)


def _report(ctx: CaseContext) -> None:
    from audit.context import Actor
    from scanning.reports import services

    _scan(ctx)
    with schema_context(ctx.tenant.schema_name):
        ctx.data["report"] = services.report_request(tenant=ctx.tenant, actor=Actor.for_user(ctx.user), scope="scan",
                                                     fmt="json", scan_id=ctx.data["scan"].pk, enqueue_task=False)


def _template(ctx: CaseContext) -> None:
    from scanning.reports.tests.factories import ReportTemplateFactory

    with schema_context(ctx.tenant.schema_name):
        ctx.data["template"] = ReportTemplateFactory(name="Audited template")


def _schedule(ctx: CaseContext) -> None:
    from audit.context import Actor
    from scanning.reports import services

    with schema_context(ctx.tenant.schema_name):
        ctx.data["schedule"] = services.schedule_create(actor=Actor.system("audit-case"), data={
            "name": "Audited schedule", "frequency": "weekly", "recipients": ["audit@acme.example"]})


def _id(response: Any) -> str:
    return str(response.json()["id"])


CASES = [
    AuditCase(
        route="reports-api:report-list", method="POST", setup=_scan,
        call=lambda ctx: ctx.json("post", "/api/v1/reports", {"scan": str(ctx.data["scan"].pk), "format": "sarif"}),
        expect=lambda ctx, response: Expected(action="report.create", resource_type="report",
                                              resource_id=_id(response),
                                              changes={"scope": {"after": "scan"}, "format": {"after": "sarif"},
                                                       "scan": {"after": str(ctx.data["scan"].pk)}}),
    ),
    AuditCase(
        route="reports-api:report-detail", method="DELETE", setup=_report,
        call=lambda ctx: ctx.client.delete(f"/api/v1/reports/{ctx.data['report'].pk}"),
        expect=lambda ctx, response: Expected(action="report.delete", resource_type="report",
                                              resource_id=str(ctx.data["report"].pk),
                                              changes={"format": {"before": "json"}}),
    ),
    AuditCase(
        route="reports-api:report-template-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/report-templates", {"name": "Audit", "accent_color": "#112233"}),
        expect=lambda ctx, response: Expected(action="report_template.create", resource_type="report_template",
                                              resource_id=_id(response),
                                              changes={"name": {"after": "Audit"},
                                                       "accent_color": {"after": "#112233"}}),
    ),
    AuditCase(
        route="reports-api:report-template-detail", method="PATCH", setup=_template,
        call=lambda ctx: ctx.json("patch", f"/api/v1/report-templates/{ctx.data['template'].pk}",
                                  {"footer_text": "Internal"}),
        expect=lambda ctx, response: Expected(action="report_template.update", resource_type="report_template",
                                              resource_id=str(ctx.data["template"].pk),
                                              changes={"footer_text": {"before": "", "after": "Internal"}}),
    ),
    AuditCase(
        route="reports-api:report-template-detail", method="PUT", setup=_template,
        call=lambda ctx: ctx.json("put", f"/api/v1/report-templates/{ctx.data['template'].pk}",
                                  {"name": "Renamed template", "sections": ["scores"]}),
        expect=lambda ctx, response: Expected(action="report_template.update", resource_type="report_template",
                                              resource_id=str(ctx.data["template"].pk),
                                              changes={"name": {"before": "Audited template",
                                                                "after": "Renamed template"}}),
    ),
    AuditCase(
        route="reports-api:report-template-detail", method="DELETE", setup=_template,
        call=lambda ctx: ctx.client.delete(f"/api/v1/report-templates/{ctx.data['template'].pk}"),
        expect=lambda ctx, response: Expected(action="report_template.delete", resource_type="report_template",
                                              resource_id=str(ctx.data["template"].pk),
                                              changes={"name": {"before": "Audited template"}}),
    ),
    NotAudited(route="reports-api:report-template-preview-draft", method="POST",
               reason="Renders a sample scan through a draft template and returns the HTML; nothing is stored."),
    AuditCase(
        route="reports-api:report-schedule-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/report-schedules", {
            "name": "Audit weekly", "frequency": "weekly", "recipients": ["audit@acme.example"]}),
        expect=lambda ctx, response: Expected(action="report_schedule.create", resource_type="report_schedule",
                                              resource_id=_id(response),
                                              changes={"name": {"after": "Audit weekly"},
                                                       "recipients": {"after": ["audit@acme.example"]}}),
    ),
    AuditCase(
        route="reports-api:report-schedule-detail", method="PATCH", setup=_schedule,
        call=lambda ctx: ctx.json("patch", f"/api/v1/report-schedules/{ctx.data['schedule'].pk}", {"hour": 9}),
        expect=lambda ctx, response: Expected(action="report_schedule.update", resource_type="report_schedule",
                                              resource_id=str(ctx.data["schedule"].pk),
                                              changes={"hour": {"before": 6, "after": 9}}),
    ),
    AuditCase(
        route="reports-api:report-schedule-detail", method="PUT", setup=_schedule,
        call=lambda ctx: ctx.json("put", f"/api/v1/report-schedules/{ctx.data['schedule'].pk}",
                                  {"frequency": "monthly", "day_of_month": 2}),
        expect=lambda ctx, response: Expected(action="report_schedule.update", resource_type="report_schedule",
                                              resource_id=str(ctx.data["schedule"].pk),
                                              changes={"frequency": {"before": "weekly", "after": "monthly"}}),
    ),
    AuditCase(
        route="reports-api:report-schedule-detail", method="DELETE", setup=_schedule,
        call=lambda ctx: ctx.client.delete(f"/api/v1/report-schedules/{ctx.data['schedule'].pk}"),
        expect=lambda ctx, response: Expected(action="report_schedule.delete", resource_type="report_schedule",
                                              resource_id=str(ctx.data["schedule"].pk),
                                              changes={"name": {"before": "Audited schedule"}}),
    ),
    AuditCase(
        route="reports-api:report-schedule-run", method="POST", setup=_schedule,
        call=lambda ctx: ctx.client.post(f"/api/v1/report-schedules/{ctx.data['schedule'].pk}/run"),
        expect=lambda ctx, response: Expected(action="report_schedule.run", resource_type="report_schedule",
                                              resource_id=str(ctx.data["schedule"].pk)),
    ),
]
