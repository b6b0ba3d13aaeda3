"""The relay as a real process (committed data, no test transaction): woken by NOTIFY on commit."""

import json

import psycopg
import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from config.testing.processes import start_relay
from messaging.events import NOTIFY_CHANNEL, publish_event
from messaging.models import OutboxEvent
from messaging.relay import ADVISORY_LOCK_CLASS, BatchPublisher, direct_connection, ready_schemas, relay_cycle
from messaging.tests.helpers import WAIT, wait_until


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


def _listener() -> psycopg.Connection:
    conn = direct_connection()
    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return conn


def test_the_outbox_notify_leaves_at_commit_and_never_on_rollback(live_tenant, db_unblocked):
    class Boom(Exception):
        pass

    listener = _listener()
    try:
        with transaction.atomic():
            publish_event(tenant=live_tenant, type="scan.queued", subject="kept", data={})
            assert not list(listener.notifies(timeout=0.3))  # nothing before the commit
        assert [n.payload for n in listener.notifies(timeout=WAIT, stop_after=1)] == [live_tenant.schema_name]

        with pytest.raises(Boom), transaction.atomic():
            publish_event(tenant=live_tenant, type="scan.queued", subject="dropped", data={})
            raise Boom
        assert not list(listener.notifies(timeout=0.5))
    finally:
        listener.close()
    with schema_context(live_tenant.schema_name):
        assert [e["subject"] for e in OutboxEvent.objects.values_list("envelope", flat=True)] == ["kept"]


class Exploding(BatchPublisher):
    def publish(self, messages, *, timeout=10.0):
        raise RuntimeError("publisher broke mid-cycle")


def _lease_is_free(slug: str) -> bool:
    other = _listener()
    try:
        return other.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [ADVISORY_LOCK_CLASS, slug]
                             ).fetchone()[0]
    finally:
        other.close()


def test_a_relay_cycle_of_its_own_is_two_round_trips_and_leaves_nothing_open(live_tenant, db_unblocked, probe):
    """Outside any transaction (the relay process) a cycle is BEGIN + leases + batches, then marks + COMMIT."""
    slug = live_tenant.schema_name
    listener = probe()
    assert not listener.subscribe(f"org/{slug}/#").is_failure
    ids = [str(publish_event(tenant=live_tenant, type="scan.queued", subject=f"s{i}", data={}).id) for i in range(3)]
    connection.set_schema_to_public()
    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    publisher = BatchPublisher(role="test-relay")
    try:
        connection.cursor().close()  # the search path is set once per connection, not per cycle
        with connection.execute_wrapper(count):
            cycle = relay_cycle([slug], publisher)
        assert cycle.published == 3 and not cycle.error
        assert len(statements) == 2
        assert statements[0].startswith("BEGIN;") and statements[1].endswith("COMMIT")
        listener.wait_for(f"org/{slug}/events/", 3)
        assert [e["id"] for e in events_of(listener, f"org/{slug}/")] == ids

        # A cycle with nothing to do still ends its transaction.
        assert relay_cycle([slug], publisher).published == 0
        assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert _lease_is_free(slug)

        # A failure mid-cycle rolls back: nothing marked, no transaction or lease left behind.
        pending = str(publish_event(tenant=live_tenant, type="scan.failed", subject="x", data={}).id)
        connection.set_schema_to_public()
        with pytest.raises(RuntimeError, match="mid-cycle"):
            relay_cycle([slug], Exploding(role="test-relay-broken"))
        assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert _lease_is_free(slug)
        with schema_context(slug):
            assert OutboxEvent.objects.get(id=pending).sent_at is None
        assert relay_cycle([slug], publisher).published == 1
    finally:
        publisher.close()
