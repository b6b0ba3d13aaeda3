"""Retention: a daily beat task fans out one purge per organization (and the platform's own trail)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.services import audit_purge

RETENTION_ACTOR = "audit-retention"


@shared_task(name="audit.purge_expired")
def purge_expired() -> list[dict[str, str]]:
    """Queue `audit.purge_tenant` in every active organization's schema and in the public schema."""
    from tenants.models import Tenant

    queued = []
    schemas = [settings.PUBLIC_SCHEMA_NAME, *Tenant.objects.active().values_list("schema_name", flat=True)]
    for schema in schemas:
        # A task sent inside a schema runs in that schema (tenant-schemas-celery).
        with schema_context(schema):
            result = purge_tenant.delay()
        queued.append({"schema": schema, "task_id": result.id})
    connection.set_schema_to_public()
    return queued


@shared_task(name="audit.purge_tenant")
def purge_tenant() -> dict[str, Any]:
    """Apply the current schema's retention (its `audit_retention_days` setting) and record the purge."""
    from tenants.models import Tenant

    schema = connection.schema_name
    tenant = Tenant.objects.filter(schema_name=schema).first()
    days = int(tenant.setting("audit_retention_days")) if tenant is not None else 365
    deleted = audit_purge(actor=Actor.system(RETENTION_ACTOR), retention_days=days)
    return {"schema": schema, "retention_days": days, "deleted": deleted}
