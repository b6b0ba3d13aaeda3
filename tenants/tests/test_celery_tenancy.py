"""Celery tasks run in the schema of the tenant that sent them, in a real worker."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tenants.tasks import diagnose

pytestmark = [pytest.mark.django_db, pytest.mark.worker]


def test_task_runs_in_the_senders_schema(celery_worker, tenant_a, tenant_b):
    with schema_context(tenant_a.schema_name):
        from_a = diagnose.delay()
    with schema_context(tenant_b.schema_name):
        from_b = diagnose.delay()
    connection.set_schema_to_public()
    from_public = diagnose.delay()

    assert from_a.get(timeout=30) == {"schema": "acme", "search_path": "acme, public"}
    assert from_b.get(timeout=30) == {"schema": "globex", "search_path": "globex, public"}
    assert from_public.get(timeout=30)["schema"] == "public"


def test_task_sent_during_a_request_runs_in_that_requests_tenant(celery_worker, client_a, settings):
    settings.ROOT_URLCONF = "tenants.tests.probe_urls"
    # A request switches the connection to its tenant; a task sent then carries that schema.
    client_a.get("/probe/search-path")
    assert connection.schema_name == "acme"
    assert diagnose.delay().get(timeout=30)["schema"] == "acme"
