"""Scheduled posture reports: when they run, what they cover, the beat sweep, and email delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.models import AuditEvent
from config.schedules import declared
from scanning.reports import services
from scanning.reports.models import Report, ReportSchedule
from scanning.reports.tests.factories import make_scan


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("weekday, hour, after, expected", [
    (0, 7, "2026-11-23 06:59:00", "2026-11-23 07:00:00"),   # a Monday, before the hour
    (0, 7, "2026-11-23 07:00:00", "2026-11-30 07:00:00"),   # exactly at it: next week
    (4, 0, "2026-11-22 12:00:00", "2026-11-27 00:00:00"),   # Sunday -> Friday
    (6, 23, "2026-12-31 23:30:00", "2027-01-03 23:00:00"),  # across the year
])
def test_next_weekly_run(weekday: int, hour: int, after: str, expected: str):
    schedule = ReportSchedule(frequency="weekly", weekday=weekday, hour=hour)
    assert services.next_run(schedule, after=_at(after)) == _at(expected)


@pytest.mark.parametrize("day, after, expected", [
    (1, "2026-11-22 10:00:00", "2026-12-01 06:00:00"),
    (28, "2026-02-27 10:00:00", "2026-02-28 06:00:00"),
    (15, "2026-12-20 00:00:00", "2027-01-15 06:00:00"),
    (22, "2026-11-22 05:59:59", "2026-11-22 06:00:00"),
])
def test_next_monthly_run(day: int, after: str, expected: str):
    schedule = ReportSchedule(frequency="monthly", day_of_month=day, hour=6)
    assert services.next_run(schedule, after=_at(after)) == _at(expected)


def test_what_a_run_covers():
    weekly = ReportSchedule(frequency="weekly")
    assert services.schedule_period(weekly, run_at=_at("2026-11-23 07:00:00")) == (
        _at("2026-11-16 07:00:00"), _at("2026-11-23 07:00:00"))
    monthly = ReportSchedule(frequency="monthly")
    assert services.schedule_period(monthly, run_at=_at("2026-03-01 06:00:00")) == (
        _at("2026-02-01 06:00:00"), _at("2026-03-01 06:00:00"))
    assert services.schedule_period(monthly, run_at=_at("2026-01-28 06:00:00")) == (
        _at("2025-12-28 06:00:00"), _at("2026-01-28 06:00:00"))


def test_the_beat_task_is_declared():
    [schedule] = [s for s in declared() if s.task == "reports.run_due_schedules"]
    assert schedule.every_seconds and schedule.queue == "default"


@pytest.mark.django_db
def test_a_due_schedule_runs_once_per_slot(tenant_a: Any):
    from accounts.tests.factories import make_member

    owner = make_member(tenant_a, "owner")
    with schema_context(tenant_a.schema_name):
        make_scan(name="in-period", version="1.0", submitted_by=owner, age_days=2)
        make_scan(name="too-old", version="1.0", submitted_by=owner, age_days=30)
        schedule = services.schedule_create(actor=Actor.for_user(owner), data={
            "name": "Weekly", "frequency": "weekly", "recipients": ["sec@acme.example"], "format": "json"})
        slot = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
        ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=slot)
        [report] = services.schedules_run_due(tenant=tenant_a, enqueue_task=False)
        assert services.schedules_run_due(tenant=tenant_a, enqueue_task=False) == [], "the slot is not run twice"
        schedule.refresh_from_db()
        assert schedule.next_run_at > timezone.now() and schedule.last_run_at is not None
        assert (report.scope, report.format, report.schedule_id) == ("period", "json", schedule.pk)
        assert report.period_end - report.period_start == timedelta(days=7)
        assert report.all_scans and report.requested_by is None
        assert services.report_generate(report_id=str(report.pk)) == "completed"
        report.refresh_from_db()
        assert report.summary["scans"] == 1, "the 30-day-old scan is outside the week"
        [event] = AuditEvent.objects.filter(action="report_schedule.run", resource_id=str(schedule.pk))
        assert event.actor_type == "system" and event.metadata["trigger"] == "schedule"


@pytest.mark.django_db
def test_a_disabled_schedule_never_runs(tenant_a: Any):
    with schema_context(tenant_a.schema_name):
        schedule = services.schedule_create(actor=Actor.system("tests"), data={
            "name": "Paused", "frequency": "monthly", "recipients": ["sec@acme.example"], "enabled": False})
        assert schedule.next_run_at is None
        ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(days=1))
        ReportSchedule.objects.filter(pk=schedule.pk).update(enabled=False)
        assert services.schedules_run_due(tenant=tenant_a, enqueue_task=False) == []


@pytest.mark.django_db
def test_the_beat_sweep_finds_due_schedules_in_each_organization(tenant_a: Any, tenant_b: Any, settings: Any):
    """`reports.run_due_schedules` looks in every active organization and runs the due ones there (eagerly here)."""
    from config.celery import app
    from scanning.reports.tasks import run_due_schedules

    with schema_context(tenant_a.schema_name):
        due = services.schedule_create(actor=Actor.system("tests"), data={
            "name": "Due", "frequency": "weekly", "recipients": ["a@acme.example"]})
        ReportSchedule.objects.filter(pk=due.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    with schema_context(tenant_b.schema_name):
        services.schedule_create(actor=Actor.system("tests"), data={
            "name": "Not yet", "frequency": "weekly", "recipients": ["b@globex.example"]})
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        queued = run_due_schedules()
    finally:
        app.conf.task_always_eager = previous
    assert [q["schema"] for q in queued] == [tenant_a.schema_name]
    with schema_context(tenant_a.schema_name):
        assert Report.objects.filter(schedule=due).count() == 1
    with schema_context(tenant_b.schema_name):
        assert not Report.objects.filter(schedule__isnull=False).exists()


@pytest.mark.django_db
def test_a_scheduled_report_is_emailed_with_the_file(tenant_a: Any, settings: Any):
    from accounts.tests.factories import make_member

    settings.ACCOUNTS_LINK_URL_TEMPLATE = "https://{host}"
    owner = make_member(tenant_a, "owner")
    with schema_context(tenant_a.schema_name):
        make_scan(name="weekly-pkg", version="1.0", submitted_by=owner, age_days=1)
        schedule = services.schedule_create(actor=Actor.for_user(owner), data={
            "name": "Board", "frequency": "weekly", "recipients": ["ciso@acme.example", "cto@acme.example"]})
        report = services.schedule_run_now(tenant=tenant_a, actor=Actor.for_user(owner), schedule=schedule,
                                           enqueue_task=False)
        assert services.report_generate(report_id=str(report.pk)) == "completed"
        report.refresh_from_db()
        assert services.report_deliver(tenant=tenant_a, report=report)
        report.refresh_from_db()
        assert report.delivered_at is not None and report.delivery_error == ""
        [event] = AuditEvent.objects.filter(action="report.deliver", resource_id=str(report.pk))
        assert event.metadata["recipients"] == ["ciso@acme.example", "cto@acme.example"] and event.metadata["attached"]
    [message] = mail.outbox
    assert message.to == ["ciso@acme.example", "cto@acme.example"]
    assert message.subject.startswith("Acme Corp: Weekly posture report (Board)")
    assert "Verdict: BLOCK" in message.body and f"https://{tenant_a.primary_host}/reports/{report.pk}/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and "Open the report in Gatehouse" in html
    [(filename, content, content_type)] = message.attachments
    assert filename.endswith(".pdf") and content.startswith(b"%PDF-") and content_type == "application/pdf"


@pytest.mark.django_db
def test_a_report_too_large_to_attach_is_linked(tenant_a: Any, settings: Any):
    settings.REPORTS_EMAIL_MAX_ATTACHMENT_MB = 0
    with schema_context(tenant_a.schema_name):
        schedule = services.schedule_create(actor=Actor.system("tests"), data={
            "name": "Big", "frequency": "monthly", "recipients": ["a@acme.example"], "format": "csv"})
        report = services.schedule_run_now(tenant=tenant_a, actor=Actor.system("tests"), schedule=schedule,
                                           enqueue_task=False)
        services.report_generate(report_id=str(report.pk))
        report.refresh_from_db()
        assert services.report_deliver(tenant=tenant_a, report=report)
    [message] = mail.outbox
    assert message.attachments == [] and "too large to attach" in message.body
