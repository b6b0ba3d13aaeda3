"""Thin Celery tasks of the reports app: load by id, call a service.

- `reports.generate` (queue REPORTS_QUEUE, `acks_late`, `reject_on_worker_lost`, time
  limits REPORTS_SOFT_TIME_LIMIT / REPORTS_TIME_LIMIT) generates one report in the
  schema it was sent from, then emails it when it belongs to a schedule.
- `reports.run_due_schedules` (beat, public schema) looks for due schedules in every
  active organization and queues `reports.run_due_schedules_tenant` where there are some.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from scanning.reports import services
from scanning.reports.models import Report, ReportSchedule

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="reports.generate",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.REPORTS_SOFT_TIME_LIMIT,
    time_limit=settings.REPORTS_TIME_LIMIT,
)
def generate_report(self, report_id: str) -> str:  # noqa: ANN001 - Celery's bound task
    status = services.report_generate(report_id=report_id, task_id=self.request.id or "")
    if status == Report.Status.COMPLETED:
        report = Report.objects.select_related("schedule").filter(pk=report_id).first()
        if report is not None and report.schedule_id and report.delivered_at is None:
            services.report_deliver(tenant=services.current_tenant(), report=report)
    return status


@shared_task(name="reports.run_due_schedules")
def run_due_schedules() -> list[dict[str, str]]:
    """Beat task (public schema): queue the due schedules of every active organization."""
    from tenants.models import Tenant

    now = timezone.now()
    queued = []
    for schema in Tenant.objects.active().values_list("schema_name", flat=True):
        try:
            with schema_context(schema):
                if not ReportSchedule.objects.filter(enabled=True, next_run_at__lte=now).exists():
                    continue
                result = run_due_schedules_tenant.delay()
        except Exception:
            logger.exception("looking for due report schedules failed", extra={"schema": schema})
            continue
        queued.append({"schema": schema, "task_id": result.id})
    connection.set_schema_to_public()
    return queued


@shared_task(name="reports.run_due_schedules_tenant")
def run_due_schedules_tenant() -> dict[str, Any]:
    reports = services.schedules_run_due(tenant=services.current_tenant())
    return {"schema": connection.schema_name, "reports": [str(r.pk) for r in reports]}
