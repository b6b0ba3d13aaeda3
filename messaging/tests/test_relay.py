"""The outbox relay: QoS 1 in per-organization order, marked sent on PUBACK, never lost."""

import json

import pytest
from django_tenants.utils import schema_context

from messaging.events import publish_event
from messaging.models import OutboxEvent
from messaging.relay import ADVISORY_LOCK_CLASS, BatchPublisher, direct_connection, drain_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher():
    made = BatchPublisher(role="test-relay")
    yield made
    made.close()


def events_of(probe_client, prefix):
    return [json.loads(p) for _t, p in probe_client.received(prefix)]


def test_drain_publishes_pending_rows_in_order_and_marks_them_sent(tenant_a, tenant_b, probe, publisher):
    listener = probe()
    assert not listener.subscribe("org/+/events/#").is_failure
    ids = [str(publish_event(tenant=tenant_a, type="scan.queued", subject=f"s{i}", data={"i": i}).id)
           for i in range(7)]
    other = str(publish_event(tenant=tenant_b, type="scan.queued", subject="b", data={}).id)

    result = drain_tenant("acme", publisher, batch_size=3)  # three batches
    assert result.published == 7 and not result.error and not result.locked
    listener.wait_for("org/acme/events/scan.queued", 7)
    assert [e["id"] for e in events_of(listener, "org/acme/")] == ids
    with schema_context("acme"):
        rows = OutboxEvent.objects.filter(id__in=ids)
        assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    # Another organization's outbox is its own: untouched by acme's drain.
    with schema_context("globex"):
        assert OutboxEvent.objects.get(id=other).sent_at is None
    assert drain_tenant("acme", publisher).published == 0  # nothing left: nothing sent twice


def test_broker_down_leaves_rows_pending_with_the_error(tenant_a, settings, publisher):
    event = publish_event(tenant=tenant_a, type="scan.failed", subject="s", data={})
    settings.MQTT_URL = "mqtt://127.0.0.1:1"
    result = drain_tenant("acme", publisher)
    assert result.published == 0 and "127.0.0.1:1" in result.error
    with schema_context("acme"):
        row = OutboxEvent.objects.get(id=event.id)
    assert row.sent_at is None and row.attempts == 1 and "127.0.0.1:1" in row.last_error


def test_a_second_relay_skips_an_organization_another_relay_is_draining(tenant_a, publisher):
    publish_event(tenant=tenant_a, type="scan.queued", subject="s", data={})
    other = direct_connection()
    other.autocommit = False  # the lease is transaction-scoped: hold it until the rollback below
    try:
        # The lease another relay holds while it publishes acme's batch.
        other.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [ADVISORY_LOCK_CLASS, "acme"])
        result = drain_tenant("acme", publisher)
        assert result.locked and result.published == 0
    finally:
        other.rollback()
        other.close()
    assert drain_tenant("acme", publisher).published == 1


def test_one_cycle_serves_every_organization_in_one_transaction(tenant_a, tenant_b, probe, publisher):
    from messaging.relay import relay_cycle

    listener = probe()
    assert not listener.subscribe("org/+/events/#").is_failure
    a = [str(publish_event(tenant=tenant_a, type="scan.queued", subject="a", data={"i": i}).id) for i in range(3)]
    b = [str(publish_event(tenant=tenant_b, type="scan.queued", subject="b", data={}).id)]
    cycle = relay_cycle(["acme", "globex"], publisher, batch_size=2)
    # A batch of at most two each: acme filled its batch (more may wait), globex did not.
    assert cycle.published == 3 and cycle.more == {"acme"} and not cycle.locked and not cycle.error
    listener.wait_for("org/", 3)
    assert [e["id"] for e in events_of(listener, "org/acme/")] == a[:2]
    assert [e["id"] for e in events_of(listener, "org/globex/")] == b
    assert relay_cycle(["acme", "globex"], publisher, batch_size=2).published == 1
    listener.wait_for("org/acme/", 3)
    assert [e["id"] for e in events_of(listener, "org/acme/")] == a


def test_platform_clients_send_small_packets_at_once(publisher):
    """Nagle's algorithm off on every platform connection and in the broker's config.

    With it on, a PUBLISH written while the previous one is unacknowledged waits for the
    peer's delayed ACK (about 40 ms): the bench showed it as the live feed's p99.
    """
    import socket
    from pathlib import Path

    publisher.connect()
    sock = publisher._client.socket()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    conf = (Path(__file__).resolve().parents[2] / "docker" / "mosquitto" / "mosquitto.conf").read_text()
    assert "\nset_tcp_nodelay true\n" in conf


def test_the_publisher_has_no_network_thread_and_keeps_an_idle_connection_alive(tenant_a, settings, probe):
    """The relay's thread writes and reads its own MQTT connection; `service()` keeps it alive while idle."""
    import socket
    import threading
    import time

    settings.MQTT_KEEPALIVE_SECONDS = 2  # the broker drops a client silent for 1.5 keepalives
    listener = probe()
    assert not listener.subscribe("org/acme/events/#").is_failure
    threads = threading.active_count()
    publisher = BatchPublisher(role="test-relay-idle")
    try:
        publisher.connect()
        client = publisher._client
        assert threading.active_count() == threads
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # idle, as between notifications
            publisher.service()
            time.sleep(0.2)
        assert publisher.connected and publisher._client is client  # still the first connection
        event = publish_event(tenant=tenant_a, type="scan.queued", subject="idle", data={})
        assert drain_tenant("acme", publisher).published == 1 and publisher._client is client
        listener.wait_for("org/acme/events/", 1)
        assert [e["id"] for e in events_of(listener, "org/acme/")] == [str(event.id)]

        # A connection that died while idle is noticed by the next batch, and the one after reconnects.
        client.socket().shutdown(socket.SHUT_RDWR)
        publish_event(tenant=tenant_a, type="scan.queued", subject="after", data={})
        result = drain_tenant("acme", publisher)
        if result.published == 0:
            assert result.error
            result = drain_tenant("acme", publisher)
        assert result.published == 1 and publisher._client is not client
    finally:
        publisher.close()
