"""The relay as a real process (committed data, no test transaction): woken by NOTIFY on commit."""

import json

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from config.testing.processes import start_relay
from messaging.events import publish_event
from messaging.models import OutboxEvent
from messaging.relay import ready_schemas
from messaging.tests.helpers import wait_until


def events_of(probe_client, prefix):
    return [json.loads(p) for _t, p in probe_client.received(prefix)]


def test_relay_process_delivers_committed_events_woken_by_notify(live_tenant, django_db_blocker, probe,
                                                                 tmp_path):
    slug = live_tenant.schema_name
    listener = probe()
    assert not listener.subscribe(f"org/{slug}/#").is_failure
    # A poll interval far longer than the wait below: only the commit's NOTIFY can wake it.
    relay = start_relay(tmp_path, args=["--poll-seconds", "600"])
    try:
        with django_db_blocker.unblock():
            ids = [str(publish_event(tenant=live_tenant, type="scan.completed", subject=f"s{i}", data={"i": i}).id)
                   for i in range(20)]
            connection.set_schema_to_public()
        listener.wait_for(f"org/{slug}/events/", 20)
        assert [e["id"] for e in events_of(listener, f"org/{slug}/")] == ids
        with django_db_blocker.unblock():
            with schema_context(slug):
                assert wait_until(lambda: not OutboxEvent.objects.filter(sent_at__isnull=True).exists())
            connection.set_schema_to_public()
    finally:
        relay.stop()
    assert "Traceback" not in relay.log()


@pytest.mark.django_db
def test_the_relay_serves_ready_organizations_only(tenant_a, tenant_b):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=tenant_b.pk).update(provisioning_state=Tenant.ProvisioningState.PROVISIONING)
    schemas = ready_schemas()
    assert "acme" in schemas and "globex" not in schemas
    assert "public" not in schemas and "_template" not in schemas
