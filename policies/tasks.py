"""Thin Celery tasks of the policies app (queue `default`): load, call a service.

- `policies.reevaluate_recent` (sent in an organization's schema after a policy or waiver
  change, or on request) lists the completed scans of the last N days and fans them out
  in chunks of POLICIES_REEVALUATE_CHUNK to `policies.reevaluate_chunk`, so several
  workers share a large run and each chunk is one short transaction.
- `policies.expire_waivers` (beat, public schema) queues `policies.expire_waivers_tenant`
  in every active organization.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from audit.context import Actor
from policies import selectors, services

logger = logging.getLogger(__name__)

REEVALUATION_ACTOR = "policy-reevaluation"


@shared_task(name="policies.reevaluate_recent")
def reevaluate_recent(*, days: int, trigger: str, ecosystem: str = "", name: str = "") -> dict[str, Any]:
    ids = selectors.recent_completed_scan_ids(days=int(days), ecosystem=ecosystem, name=name)
    size = max(1, int(settings.POLICIES_REEVALUATE_CHUNK))
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    for chunk in chunks:
        reevaluate_chunk.delay(scan_ids=chunk, trigger=trigger)
    services.bulk_reevaluation_record(actor=Actor.system(REEVALUATION_ACTOR), trigger=trigger, days=int(days),
                                      scans=len(ids), chunks=len(chunks), ecosystem=ecosystem, name=name)
    return {"schema": connection.schema_name, "scans": len(ids), "chunks": len(chunks)}


@shared_task(name="policies.reevaluate_chunk")
def reevaluate_chunk(*, scan_ids: list[str], trigger: str) -> dict[str, Any]:
    result = services.scans_reevaluate(tenant=services.current_tenant(), actor=Actor.system(REEVALUATION_ACTOR),
                                       scan_ids=scan_ids, trigger=trigger)
    return {"schema": connection.schema_name, **result.as_dict()}


@shared_task(name="policies.expire_waivers")
def expire_waivers() -> list[dict[str, str]]:
    """Beat task (public schema): queue the expiry sweep in every active organization."""
    from tenants.models import Tenant

    queued = []
    for schema in Tenant.objects.active().values_list("schema_name", flat=True):
        with schema_context(schema):
            result = expire_waivers_tenant.delay()
        queued.append({"schema": schema, "task_id": result.id})
    connection.set_schema_to_public()
    return queued


@shared_task(name="policies.expire_waivers_tenant")
def expire_waivers_tenant() -> dict[str, Any]:
    expired = services.waivers_expire_due(tenant=services.current_tenant())
    if expired:
        logger.info("waivers expired", extra={"schema": connection.schema_name, "waivers": expired})
    return {"schema": connection.schema_name, "expired": expired}
