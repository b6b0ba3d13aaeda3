"""The bridge as a real process: org/+/# -> the organization's channel-layer group, persistent
session, de-duplication on event id, bad input counted and dropped."""

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from channels.layers import get_channel_layer
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from config.testing.processes import ManagedProcess, start_bridge
from messaging import counters, mqtt
from messaging.events import build_envelope, encode
from messaging.mqtt import Backoff, LoopDriver, broker_address
from messaging.services import tenant_group
from messaging.tests.helpers import WAIT, wait_until


def forget_session(client_id: str) -> None:
    """Remove a persistent session from the broker (clean start, no expiry)."""
    from django.conf import settings

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.username_pw_set(settings.MQTT_USERNAME, settings.MQTT_PASSWORD)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    address = broker_address()
    client.connect(address.host, address.port, clean_start=True, properties=properties)
    client.loop_start()
    wait_until(client.is_connected)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def bridge_factory(mqtt_ready, tmp_path) -> Iterator:
    client_id = f"test-bridge-{uuid.uuid4().hex[:8]}"
    started: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        process = start_bridge(tmp_path, MQTT_BRIDGE_CLIENT_ID=client_id, MQTT_BRIDGE_MAX_PAYLOAD_BYTES="2048")
        started.append(process)
        return process

    start.client_id = client_id
    yield start
    for process in started:
        process.stop()
    forget_session(client_id)


async def receive(layer, channel, timeout=WAIT):
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def joined(tenant):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(tenant_group(tenant.pk), channel)
    return layer, channel


def dropped_counts():
    found = {}
    for key, value in counters.read()[0].items():
        name, _, labels = key.partition("|")
        if name == "bridge_dropped_total":
            found[labels.removeprefix("reason=")] = value
    return found


async def test_bridge_forwards_dedupes_and_drops_bad_messages(live_tenant, bridge_factory, probe):
    bridge = bridge_factory()
    slug = live_tenant.schema_name
    layer, channel = await joined(live_tenant)
    before = dropped_counts()
    platform = probe()

    first = build_envelope(tenant=live_tenant, type="scan.completed", subject="s1",
                           data={"scan_id": "s1", "submitted_by": "u1"})
    platform.publish(f"org/{slug}/events/scan.completed", encode(first))
    platform.publish(f"org/{slug}/events/scan.completed", encode(first))  # the same event again
    platform.publish(f"org/{slug}/events/scan.completed", b"{not json")
    platform.publish(f"org/{slug}/events/scan.completed", b"\xff\xfe")
    platform.publish(f"org/{slug}/events/scan.completed", json.dumps({"x": "y" * 4096}))
    platform.publish(f"org/{slug}/events/scan.completed", json.dumps([1, 2, 3]))
    forged = {**first, "id": str(uuid.uuid4()), "tenant": "globex"}
    platform.publish(f"org/{slug}/events/scan.completed", encode(forged))
    renamed = {**first, "id": str(uuid.uuid4()), "type": "scan.failed"}
    platform.publish(f"org/{slug}/events/scan.completed", encode(renamed))
    platform.publish("org/no_such_org/events/scan.completed", encode(first))
    platform.publish(f"org/{slug}/feeds/sensors/door", json.dumps({"id": "f1", "open": True}))
    platform.publish(f"org/{slug}/feeds/sensors/door", json.dumps({"id": "f1", "open": True}))
    platform.publish(f"org/{slug}/feeds/sensors/door", b"plain text")
    last = build_envelope(tenant=live_tenant, type="policy.blocked", subject="s1", data={"scan_id": "s1"})
    platform.publish(f"org/{slug}/events/policy.blocked", encode(last))

    got = [await receive(layer, channel) for _ in range(3)]
    assert [(m["kind"], m["payload"].get("id")) for m in got] == [
        ("event", first["id"]), ("feed", "f1"), ("event", last["id"])]
    assert got[0] == {"type": "gatehouse.message", "kind": "event", "topic": f"org/{slug}/events/scan.completed",
                      "payload": first}
    assert got[1]["feed"] == "sensors/door" and got[1]["payload"] == {"id": "f1", "open": True}
    # Nothing else arrives: the duplicates and the bad messages were dropped.
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout=1.0)

    expected = {"malformed": 4, "oversized": 1, "misaddressed": 2, "unknown_tenant": 1}

    def counted() -> bool:
        now = dropped_counts()
        return all(now.get(k, 0) - before.get(k, 0) >= v for k, v in expected.items())

    assert await asyncio.to_thread(wait_until, counted, timeout=WAIT)
    now = dropped_counts()
    assert {k: now.get(k, 0) - before.get(k, 0) for k in expected} == expected
    assert bridge.alive()
    assert "Traceback" not in bridge.log()


async def test_progress_ticks_are_forwarded_with_their_scan(live_tenant, bridge_factory, probe):
    bridge_factory()
    layer, channel = await joined(live_tenant)
    tick = build_envelope(tenant=live_tenant, type="scan.progress", subject="abc",
                          data={"scan_id": "abc", "percent": 50})
    probe().publish(f"org/{live_tenant.schema_name}/scans/abc/progress", encode(tick), qos=0)
    message = await receive(layer, channel)
    assert message["kind"] == "progress" and message["scan_id"] == "abc" and message["payload"] == tick


async def test_persistent_session_keeps_messages_while_the_bridge_is_away(live_tenant, bridge_factory, probe):
    bridge = bridge_factory()
    layer, channel = await joined(live_tenant)
    platform = probe()
    slug = live_tenant.schema_name
    bridge.stop()  # a clean stop keeps the session (fixed client id, session expiry)
    sent = []
    for i in range(5):
        envelope = build_envelope(tenant=live_tenant, type="scan.queued", subject=f"s{i}", data={"scan_id": f"s{i}"})
        platform.publish(f"org/{slug}/events/scan.queued", encode(envelope))
        sent.append(envelope["id"])
    bridge_factory()
    got = [await receive(layer, channel) for _ in range(5)]
    assert [m["payload"]["id"] for m in got] == sent


@pytest.mark.django_db
def test_group_names_come_from_the_tenant_id_not_the_slug(tenant_a, tenant_b):
    groups = {tenant_group(tenant_a.pk), tenant_group(tenant_b.pk)}
    assert groups == {f"gh.tenant.{tenant_a.pk.hex}", f"gh.tenant.{tenant_b.pk.hex}"}
    assert not any(slug in group for slug in ("acme", "globex") for group in groups)


async def test_the_loop_driver_needs_no_thread_and_reconnects_after_a_broker_restart(mqtt_broker, mqtt_ready,
                                                                                       probe):
    """The bridge's MQTT client runs on its event loop: messages arrive without a network thread,
    and a restarted broker is reconnected to with backoff."""
    topic = f"org/driver_{uuid.uuid4().hex[:8]}/events/test.ping"
    connections: list[bool] = []
    received: asyncio.Queue[bytes] = asyncio.Queue()
    client = mqtt.new_client(mqtt.client_id("test-driver"))

    def on_connect(client, userdata, flags, reason_code, properties):
        connections.append(not reason_code.is_failure)
        client.subscribe(topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: received.put_nowait(b"subscribed")
    client.on_message = lambda client, userdata, message: received.put_nowait(bytes(message.payload))
    address = broker_address()
    client.connect_async(address.host, address.port, keepalive=5)
    threads = threading.active_count()
    stop = asyncio.Event()
    running = asyncio.create_task(LoopDriver(client, backoff=Backoff(initial=0.2, maximum=1.0)).run(stop))
    try:
        assert await asyncio.wait_for(received.get(), WAIT) == b"subscribed"
        assert threading.active_count() == threads  # no network thread of paho's
        platform = probe()
        platform.publish(topic, b"before")
        assert await asyncio.wait_for(received.get(), WAIT) == b"before"
        assert client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0

        mqtt_broker.restart()  # from this thread: the broker dies with the thread that starts it
        assert await asyncio.wait_for(received.get(), WAIT) == b"subscribed"  # connected and subscribed again
        assert connections == [True, True]
        await asyncio.to_thread(probe().publish, topic, b"after")
        assert await asyncio.wait_for(received.get(), WAIT) == b"after"
    finally:
        stop.set()
        await asyncio.wait_for(running, WAIT)
    assert client.socket() is None or client.socket().fileno() == -1
