"""The whole path with real processes: service write -> outbox -> relay -> Mosquitto -> bridge ->
channel layer -> uvicorn -> WebSocket clients (the `websockets` library), on committed data.

- 1,000 events over 3 organizations: every client receives exactly what its member may see.
- The broker restarted mid-stream and the relay killed mid-batch: every event is still
  delivered, and each client sees each event id once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context
from websockets.asyncio.client import connect as ws_connect

from config.testing.mosquitto import start_private_broker
from config.testing.processes import ManagedProcess, start_bridge, start_relay, start_web
from messaging.consumers import SUBPROTOCOL
from messaging.events import publish_event
from messaging.models import OutboxEvent
from messaging.tests.helpers import access_token, in_thread, make_user, wait_until
from messaging.tests.test_bridge import forget_session

pytestmark = pytest.mark.slow
DELIVERY_WAIT = 180.0


@dataclass
class Org:
    tenant: Any
    admin: Any
    dev: Any
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def live_orgs(django_db_setup: None, django_db_blocker: Any, mqtt_ready: None) -> Iterator[list[Org]]:
    """Three committed organizations, each with an admin (sees everything) and a developer."""
    from tenants.services import tenant_create, tenant_delete

    orgs = []
    with django_db_blocker.unblock():
        for _ in range(3):
            slug = f"e2e_{uuid.uuid4().hex[:8]}"
            tenant = tenant_create(slug=slug, name=f"E2E {slug}", tier="premium").tenant
            with schema_context(slug):
                admin = make_user(f"admin@{slug}.test", superuser=True)
                dev = make_user(f"dev@{slug}.test")
                org = Org(tenant, admin, dev)
                org.tokens = {"admin": access_token(tenant, admin), "dev": access_token(tenant, dev)}
            orgs.append(org)
        connection.set_schema_to_public()
    yield orgs
    with django_db_blocker.unblock():
        for org in orgs:
            connection.set_schema_to_public()
            tenant_delete(tenant=org.tenant, confirm=org.tenant.schema_name)
        connection.set_schema_to_public()


@pytest.fixture
def bridge_id() -> Iterator[str]:
    client_id = f"e2e-bridge-{uuid.uuid4().hex[:8]}"
    yield client_id


@dataclass
class Listener:
    """One WebSocket client: every event id it received, in order."""

    name: str
    received: list[str] = field(default_factory=list)
    sentinels: set[str] = field(default_factory=set)


async def listen(port: int, org: Org, who: str, listener: Listener, ready: asyncio.Event,
                 stop: asyncio.Event) -> None:
    uri = f"ws://{org.tenant.primary_host}:{port}/ws/events/"
    async with ws_connect(uri, host="127.0.0.1", port=port, proxy=None,
                          subprotocols=[SUBPROTOCOL, org.tokens[who]], max_queue=None) as socket:
        welcome = json.loads(await socket.recv())
        assert welcome["type"] == "welcome", welcome
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(socket.recv(), timeout=0.5)
            except TimeoutError:
                continue
            message = json.loads(raw)
            if message["type"] != "event":
                continue
            event = message["event"]
            if event["type"] == "system.sentinel":
                listener.sentinels.add(event["id"])
            else:
                listener.received.append(event["id"])


def write_events(orgs: list[Org], count: int, *, per_transaction: int = 25, pause: float = 0.0,
                 on_progress: Any = None) -> dict[str, dict[str, set[str]]]:
    """Publish `count` events round-robin over the organizations through publish_event, committed.

    Returns, per organization, the ids the admin and the developer may see.
    """
    expected: dict[str, dict[str, set[str]]] = {o.tenant.schema_name: {"admin": set(), "dev": set()} for o in orgs}
    written = 0
    while written < count:
        for org in orgs:
            slug = org.tenant.schema_name
            with schema_context(slug), transaction.atomic():
                for _ in range(per_transaction):
                    if written >= count:
                        break
                    kind = written % 3
                    scan = str(uuid.uuid4())
                    if kind == 0:  # the developer's own scan: both see it
                        event = publish_event(tenant=org.tenant, type="scan.queued", subject=scan,
                                              data={"scan_id": scan, "submitted_by": str(org.dev.pk)})
                        expected[slug]["dev"].add(str(event.id))
                    elif kind == 1:  # someone else's scan: the developer may not see it
                        event = publish_event(tenant=org.tenant, type="scan.completed", subject=scan,
                                              data={"scan_id": scan, "submitted_by": str(uuid.uuid4())})
                    else:  # membership: needs accounts.view_members
                        event = publish_event(tenant=org.tenant, type="member.invited", subject=scan,
                                              data={"email": f"{scan}@example.test"})
                    expected[slug]["admin"].add(str(event.id))
                    written += 1
            connection.set_schema_to_public()
            if on_progress is not None:
                on_progress(written)
            if pause:
                time.sleep(pause)
            if written >= count:
                break
    return expected


def send_sentinels(orgs: list[Org]) -> dict[str, str]:
    """One event per organization that everyone may see: once it arrives, all before it has too."""
    ids = {}
    for org in orgs:
        with schema_context(org.tenant.schema_name), transaction.atomic():
            ids[org.tenant.schema_name] = str(publish_event(tenant=org.tenant, type="system.sentinel",
                                                            subject="end", data={}).id)
        connection.set_schema_to_public()
    return ids


async def wait_for(predicate: Any, tasks: list[asyncio.Task[Any]], timeout: float = DELIVERY_WAIT) -> bool:
    """Wait for `predicate`; a client that failed (its task ended) fails the test at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        for task in tasks:
            if task.done():
                task.result()  # raises the client's error
                raise AssertionError("a WebSocket client stopped early")
        await asyncio.sleep(0.1)
    return predicate()


async def run_clients(port: int, orgs: list[Org]) -> tuple[dict[tuple[str, str], Listener], asyncio.Event, list]:
    listeners: dict[tuple[str, str], Listener] = {}
    stop = asyncio.Event()
    tasks = []
    for org in orgs:
        for who in ("admin", "dev"):
            listener = Listener(f"{org.tenant.schema_name}/{who}")
            listeners[(org.tenant.schema_name, who)] = listener
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(listen(port, org, who, listener, ready, stop)))
            await asyncio.wait_for(ready.wait(), 30)
    return listeners, stop, tasks


def assert_exact(listeners: dict[tuple[str, str], Listener], expected: dict[str, dict[str, set[str]]]) -> None:
    every_id = {i for per in expected.values() for i in per["admin"]}
    for (slug, who), listener in listeners.items():
        counts = Counter(listener.received)
        duplicates = [i for i, n in counts.items() if n > 1]
        assert not duplicates, f"{listener.name} saw {len(duplicates)} event ids more than once"
        got = set(listener.received)
        want = expected[slug][who]
        foreign = (got & every_id) - {i for i in expected[slug]["admin"]}
        assert not foreign, f"{listener.name} received {len(foreign)} events of another organization"
        assert got == want, (f"{listener.name}: {len(want - got)} missing, {len(got - want)} not permitted")


@pytest.mark.django_db
def test_the_processes_share_the_session_database(tenant_a):
    # Also makes pytest-django create the test database when this module runs alone.
    from config.testing.processes import process_env

    env = process_env()
    assert env["DATABASE_URL"].endswith("/" + connection.settings_dict["NAME"])
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.test"


async def test_a_thousand_events_over_three_tenants_reach_exactly_the_permitted_clients(
        live_orgs, tmp_path, bridge_id, db_unblocked):
    web, port = start_web(tmp_path)
    bridge = start_bridge(tmp_path, MQTT_BRIDGE_CLIENT_ID=bridge_id)
    relay = start_relay(tmp_path)
    processes: list[ManagedProcess] = [web, bridge, relay]
    try:
        listeners, stop, tasks = await run_clients(port, live_orgs)
        expected = await in_thread(write_events, live_orgs, 1000)
        sentinels = await in_thread(send_sentinels, live_orgs)
        arrived = await wait_for(lambda: all(sentinels[slug] in listener.sentinels
                                             for (slug, _who), listener in listeners.items()), tasks)
        stop.set()
        await asyncio.gather(*tasks)
        assert arrived, {name: len(listener.received) for name, listener in listeners.items()}
        assert sum(len(per["admin"]) for per in expected.values()) == 1000
        assert_exact(listeners, expected)
        for process in processes:
            assert process.alive() and "Traceback" not in process.log(), process.log()[-3000:]
    finally:
        for process in processes:
            process.stop()
        forget_session(bridge_id)


async def test_broker_restart_and_relay_kill_lose_nothing_and_duplicate_nothing(
        live_orgs, tmp_path, bridge_id, django_db_blocker, settings):
    broker = start_private_broker(tmp_path / "broker")
    settings.MQTT_URL, settings.MQTT_PASSWORD = broker.url, broker.password
    processes: list[ManagedProcess] = []
    try:
        from messaging.services import mqtt_reconcile

        def setup_broker() -> None:
            with django_db_blocker.unblock():
                mqtt_reconcile(full=True)  # `mqtt_setup` on the new broker: platform access, every role
                connection.set_schema_to_public()

        await in_thread(setup_broker)
        web, port = start_web(tmp_path)
        bridge = start_bridge(tmp_path, MQTT_BRIDGE_CLIENT_ID=bridge_id)
        relay = start_relay(tmp_path, name="relay-1", args=["--batch-size", "5"])
        processes += [web, bridge, relay]
        listeners, stop, tasks = await run_clients(port, live_orgs)

        restarted = threading.Event()

        def pending() -> int:
            total = 0
            for org in live_orgs:
                with schema_context(org.tenant.schema_name):
                    total += OutboxEvent.objects.filter(sent_at__isnull=True).count()
            connection.set_schema_to_public()
            return total

        def restart_midway(written: int) -> None:
            if written >= 120 and not restarted.is_set():
                restarted.set()
                broker.restart()  # same port and data: persistent sessions and dynsec survive

        def write_all() -> tuple[dict[str, dict[str, set[str]]], int]:
            with django_db_blocker.unblock():
                # 1. a steady stream, the broker restarted in the middle of it;
                parts = [write_events(live_orgs, 240, per_transaction=10, pause=0.02, on_progress=restart_midway)]
                # 2. a burst the relay drains batch after batch: killed while it is at it
                #    (rows published but not yet marked sent are published again by the next relay);
                parts.append(write_events(live_orgs, 240, per_transaction=80))
                wait_until(lambda: pending() < 240, timeout=DELIVERY_WAIT, interval=0.005)
                left = pending()
                relay.kill()
                replacement.append(start_relay(tmp_path, name="relay-2", args=["--batch-size", "5"]))
                # 3. and the stream goes on.
                parts.append(write_events(live_orgs, 120, per_transaction=10, pause=0.02))
                connection.set_schema_to_public()
            merged: dict[str, dict[str, set[str]]] = {}
            for part in parts:
                for slug, per in part.items():
                    for who, ids in per.items():
                        merged.setdefault(slug, {}).setdefault(who, set()).update(ids)
            return merged, left

        replacement: list[ManagedProcess] = []
        expected, left_at_kill = await in_thread(write_all)
        processes += replacement
        assert restarted.is_set() and left_at_kill > 0  # the relay died with work in hand

        def all_sent() -> bool:
            with django_db_blocker.unblock():
                return pending() == 0

        assert await in_thread(wait_until, all_sent, timeout=DELIVERY_WAIT)

        def sentinels_now() -> dict[str, str]:
            with django_db_blocker.unblock():
                result = send_sentinels(live_orgs)
                connection.set_schema_to_public()
                return result

        sentinels = await in_thread(sentinels_now)
        arrived = await wait_for(lambda: all(sentinels[slug] in listener.sentinels
                                             for (slug, _who), listener in listeners.items()), tasks)
        stop.set()
        await asyncio.gather(*tasks)
        assert arrived, {name: len(listener.received) for name, listener in listeners.items()}
        assert_exact(listeners, expected)
        assert bridge.alive() and replacement[0].alive()
    finally:
        for process in processes:
            process.stop()
        try:
            forget_session(bridge_id)
        finally:
            broker.stop()
