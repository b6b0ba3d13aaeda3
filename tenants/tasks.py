"""Tenant-level Celery tasks."""

from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task(name="tenants.diagnose")
def diagnose() -> dict[str, str]:
    """Report the schema and search_path a task runs in (operations: check a worker's tenant routing)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        search_path = cursor.fetchone()[0]
    return {"schema": connection.schema_name, "search_path": search_path}
