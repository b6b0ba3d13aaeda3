"""Thin Celery tasks of the scanning app: load by id, call the pipeline."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from scanning import pipeline
from scanning.registries import TransientFetchError

logger = logging.getLogger(__name__)


def backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: base × 2^retries, at most 10 minutes."""
    return int(min(settings.SCANNING_RETRY_BACKOFF_SECONDS * (2 ** retries), 600))


@shared_task(
    bind=True,
    name="scanning.run_scan",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.SCANNING_SOFT_TIME_LIMIT,
    time_limit=settings.SCANNING_TIME_LIMIT,
    max_retries=settings.SCANNING_FETCH_RETRIES,
)
def run_scan(self, scan_id: str) -> str:  # noqa: ANN001 - Celery's bound task
    """Run one scan in the sender's tenant schema. Only transient fetch errors are retried."""
    try:
        return pipeline.scan_run(scan_id=scan_id, task_id=self.request.id or "")
    except TransientFetchError as exc:
        if self.request.retries >= self.max_retries:
            pipeline.fail_after_retries(scan_id=scan_id, message=exc.message)
            return "failed"
        countdown = backoff(self.request.retries)
        pipeline.mark_retrying(scan_id=scan_id, message=exc.message, countdown=countdown)
        logger.info("scan fetch will be retried", extra={"scan": scan_id, "countdown": countdown,
                                                         "retries": self.request.retries})
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="scanning.reap_stuck_scans")
def reap_stuck_scans() -> dict[str, list[str]]:
    """Beat task (public schema): fail scans stuck in `running` past their limit, in every organization."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenants.models import Tenant

    reaped: dict[str, list[str]] = {}
    for schema in Tenant.objects.organizations().filter(provisioning_state="ready").values_list("schema_name",
                                                                                                 flat=True):
        try:
            with schema_context(schema):
                ids = pipeline.reap_stuck()
        except Exception:
            logger.exception("reaping stuck scans failed", extra={"schema": schema})
            continue
        if ids:
            reaped[schema] = ids
            logger.warning("stuck scans failed", extra={"schema": schema, "scans": ids})
    connection.set_schema_to_public()
    return reaped
