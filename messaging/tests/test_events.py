"""The envelope, the topics and the one publishing module."""

import json
import uuid

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from audit.context import Actor
from config.logging import request_id_var
from messaging import counters
from messaging.events import (
    EventError,
    build_envelope,
    event_topic,
    feed_topic,
    parse_topic,
    progress_topic,
    publish_event,
    publish_progress,
)
from messaging.models import OutboxEvent

pytestmark = pytest.mark.django_db

CLOUDEVENT_FIELDS = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data",
                     "tenant", "correlationid"}


def test_publish_event_writes_a_cloudevent_to_the_tenants_outbox(tenant_a):
    token = request_id_var.set("req-123")
    try:
        connection.set_schema_to_public()  # the caller's schema does not matter: the row goes to the tenant's
        event = publish_event(tenant=tenant_a, type="scan.completed", subject="scan-1",
                              data={"scan_id": uuid.UUID(int=1), "score": 9.5},
                              actor=Actor.system("pipeline"))
    finally:
        request_id_var.reset(token)
    with schema_context(tenant_a.schema_name):
        row = OutboxEvent.objects.get(id=event.id)
    envelope = row.envelope
    assert set(envelope) == CLOUDEVENT_FIELDS
    assert envelope["specversion"] == "1.0" and envelope["datacontenttype"] == "application/json"
    assert envelope["id"] == str(row.id) and envelope["type"] == "scan.completed"
    assert envelope["source"] == "/gatehouse/acme" and envelope["tenant"] == "acme"
    assert envelope["correlationid"] == "req-123"
    assert envelope["subject"] == "scan-1"
    assert envelope["time"].endswith("+00:00")
    assert envelope["data"] == {"scan_id": str(uuid.UUID(int=1)), "score": 9.5,
                                "actor": {"type": "system", "id": "pipeline"}}
    assert row.topic == "org/acme/events/scan.completed" and row.sent_at is None


def test_publish_event_rolls_back_with_the_callers_transaction(tenant_a):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        publish_event(tenant=tenant_a, type="member.invited", subject="x", data={})
        raise Boom
    with schema_context(tenant_a.schema_name):
        assert not OutboxEvent.objects.filter(type="member.invited").exists()


def test_events_keep_their_order_of_writing(tenant_a):
    ids = [publish_event(tenant=tenant_a, type="scan.progress_note", subject=str(i), data={"i": i}).id
           for i in range(5)]
    with schema_context(tenant_a.schema_name):
        assert list(OutboxEvent.objects.filter(id__in=ids).values_list("id", flat=True)) == ids


@pytest.mark.parametrize("kind,data", [("Scan Completed", {}), ("scan", {}), ("scan.completed", {"x": object()}),
                                       ("scan.completed", {"blob": "x" * 40000})])
def test_invalid_events_are_refused(tenant_a, kind, data):
    with pytest.raises(EventError):
        publish_event(tenant=tenant_a, type=kind, subject="s", data=data)


def test_topics_have_no_leading_slash_and_parse_back():
    assert event_topic("acme", "scan.queued") == "org/acme/events/scan.queued"
    assert progress_topic("acme", "abc") == "org/acme/scans/abc/progress"
    assert feed_topic("acme", "sensors/door") == "org/acme/feeds/sensors/door"
    assert parse_topic("org/acme/events/scan.queued") == ("acme", "event", "scan.queued")
    assert parse_topic("org/acme/scans/abc/progress") == ("acme", "progress", "abc")
    assert parse_topic("org/acme/feeds/sensors/door") == ("acme", "feed", "sensors/door")
    for bad in ("/org/acme/events/scan.queued", "org/acme/events/Bad Type", "org/acme/other/x",
                "org//events/scan.queued", "org/acme/scans/abc/other", "org/acme/feeds/", "org/acme"):
        assert parse_topic(bad) is None


def test_progress_ticks_are_published_directly_at_qos0(tenant_a, probe):
    listener = probe()
    assert not listener.subscribe("org/acme/scans/+/progress").is_failure
    scan_id = str(uuid.uuid4())
    publish_progress(tenant=tenant_a, scan_id=scan_id, data={"percent": 40, "stage": "analyzers",
                                                             "submitted_by": "u1"})
    messages = listener.wait_for(f"org/acme/scans/{scan_id}/progress")
    assert len(messages) == 1
    envelope = json.loads(messages[0][1])
    assert envelope["type"] == "scan.progress" and envelope["tenant"] == "acme" and envelope["subject"] == scan_id
    assert envelope["data"] == {"percent": 40, "stage": "analyzers", "submitted_by": "u1", "scan_id": scan_id}
    # Not an outbox event: nothing was written.
    with schema_context(tenant_a.schema_name):
        assert not OutboxEvent.objects.filter(type="scan.progress").exists()


def test_progress_with_the_broker_down_is_dropped_and_counted(tenant_a, settings):
    counters.flush()
    before = counters.read()[0].get("progress_dropped_total", 0)
    settings.MQTT_URL = "mqtt://127.0.0.1:1"
    for i in range(3):
        publish_progress(tenant=tenant_a, scan_id="s1", data={"percent": i})
    counters.flush()
    assert counters.read()[0].get("progress_dropped_total", 0) == before + 3


def test_build_envelope_accepts_an_explicit_id_and_correlation(tenant_b):
    envelope = build_envelope(tenant=tenant_b, type="waiver.approved", subject="w1", data={},
                              correlation_id="corr", event_id="00000000-0000-0000-0000-000000000001")
    assert envelope["id"] == "00000000-0000-0000-0000-000000000001"
    assert envelope["correlationid"] == "corr" and envelope["tenant"] == "globex"
