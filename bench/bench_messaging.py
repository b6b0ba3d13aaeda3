"""Real-time messaging: service write -> WebSocket receive, beside raw Mosquitto publish -> subscribe.

Runs the real processes (uvicorn, `mqtt_bridge`, `mqtt_relay`) against the bench database and a
private Mosquitto, opens BENCH_MSG_CLIENTS WebSockets (default 200) spread over BENCH_MSG_TENANTS
organizations (default 10), and writes events through `publish_event` (one committed transaction
each, round-robin over the organizations) at BENCH_MSG_RATE per second (default 200) for
BENCH_MSG_SECONDS (default 15), from BENCH_MSG_WRITERS threads (default 4, as several web and
worker processes would). The WebSocket clients run in BENCH_MSG_CLIENT_PROCESSES processes
(default 2) so they share no interpreter lock with the writers; uvicorn runs BENCH_MSG_WEB_WORKERS
worker processes (default 2). Latency = from the start of the service's write to each client's
receipt (every event reaches every client of its organization). The raw reference is a paho
publisher and subscriber (QoS 1, same payload size, same rate) on the same broker, in the same run;
a second pass with one client per organization shows the pipeline without the fan-out.
Nothing is asserted; the target (p99 <= 25 ms) is printed beside the figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import figure, percentile, section

TARGET = "p99 <= 25ms"


def _latency_line(title: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    if not ms:
        print(f"  {title:<58} no samples", flush=True)
        return
    print(f"  {title:<58} n={len(ms):<6} p50={percentile(ms, 50):8.2f}ms p95={percentile(ms, 95):8.2f}ms "
          f"p99={percentile(ms, 99):8.2f}ms max={max(ms):8.2f}ms   [target {TARGET}]", flush=True)


def _paced(rate: float, seconds: float) -> Any:
    """Yield at `rate` per second for `seconds` (absolute schedule: no drift)."""
    interval = 1.0 / rate
    start = time.perf_counter()
    count = int(rate * seconds)
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def raw_mosquitto(rate: float, seconds: float, payload_size: int) -> None:
    import paho.mqtt.client as paho
    from django.conf import settings
    from paho.mqtt.enums import CallbackAPIVersion

    from messaging.mqtt import broker_address, no_delay

    address = broker_address()
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    done = threading.Event()
    expected = int(rate * seconds)
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        seq = int(message.payload[:12])
        latencies.append(now - sent_at[seq])
        if len(latencies) >= expected:
            done.set()

    def client(name: str) -> Any:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{name}-{uuid.uuid4().hex[:6]}",
                        protocol=paho.MQTTv5)
        c.username_pw_set(settings.MQTT_USERNAME, settings.MQTT_PASSWORD)
        c.on_socket_open = no_delay  # as the platform's own clients do
        c.connect(address.host, address.port)
        c.loop_start()
        return c

    subscriber = client("sub")
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.subscribe("org/bench_raw/#", qos=1)
    subscribed.wait(10)
    publisher = client("pub")
    filler = b"x" * max(payload_size - 12, 0)
    started = time.perf_counter()
    for i in _paced(rate, seconds):
        sent_at[i] = time.perf_counter()
        publisher.publish("org/bench_raw/events/bench.raw", b"%012d" % i + filler, qos=1)
    done.wait(30)
    elapsed = time.perf_counter() - started
    for c in (publisher, subscriber):
        c.disconnect()
        c.loop_stop()
    _latency_line("raw Mosquitto publish -> subscribe (QoS 1)", latencies)
    figure("raw Mosquitto messages received per second", len(latencies) / elapsed, "msg/s")


def _cpu_by_role(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each role's process trees, and by the services (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}  # pid -> (parent, command, cpu seconds)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        command = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / tick)
    children: dict[int, list[int]] = {}
    for pid, (parent, _command, _cpu) in stats.items():
        children.setdefault(parent, []).append(pid)

    services = ("postgres", "redis-server", "mosquitto")
    separate = {pid for pids in roots.values() for pid in pids}

    def tree(pid: int) -> list[int]:
        """The process and its descendants, leaving out other roles' roots and the services."""
        found, todo = [], [pid]
        while todo:
            current = todo.pop()
            found.append(current)
            todo += [c for c in children.get(current, []) if c not in separate and stats[c][1] not in services]
        return found

    usage = {role: sum(stats[p][2] for root in pids for p in tree(root) if p in stats) for role, pids in roots.items()}
    for service in services:
        usage[service] = sum(cpu for _parent, command, cpu in stats.values() if command == service)
    return usage


def _broker_tap(arrivals: dict[str, float]) -> Any:
    """A platform subscriber on every organization's events: when each event reached the broker."""
    import paho.mqtt.client as paho
    from django.conf import settings
    from paho.mqtt.enums import CallbackAPIVersion

    from messaging.mqtt import broker_address, no_delay

    address = broker_address()
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            arrivals[json.loads(message.payload)["id"]] = now
        except (ValueError, KeyError, TypeError):
            pass

    tap = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-tap-{uuid.uuid4().hex[:6]}", protocol=paho.MQTTv5)
    tap.username_pw_set(settings.MQTT_USERNAME, settings.MQTT_PASSWORD)
    tap.on_socket_open = no_delay
    tap.on_message = on_message
    tap.on_subscribe = lambda *args: subscribed.set()
    tap.connect(address.host, address.port)
    tap.loop_start()
    tap.subscribe("org/+/events/#", qos=0)
    subscribed.wait(10)
    return tap


def run() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import schema_context

    from config.testing.processes import start_bridge, start_relay, start_web
    from messaging.consumers import SUBPROTOCOL
    from messaging.events import build_envelope, encode
    from tenants.services import tenant_create

    n_tenants = int(os.environ.get("BENCH_MSG_TENANTS", "10"))
    n_clients = int(os.environ.get("BENCH_MSG_CLIENTS", "200"))
    rate = float(os.environ.get("BENCH_MSG_RATE", "200"))
    seconds = float(os.environ.get("BENCH_MSG_SECONDS", "15"))

    with section(f"Messaging: {n_clients} WebSockets over {n_tenants} organizations, {rate:.0f} events/s "
                 f"for {seconds:.0f} s"):
        print(f"  (load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)", flush=True)
        call_command("mqtt_setup", verbosity=0)
        orgs = []
        for i in range(n_tenants):
            tenant = tenant_create(slug=f"bench_msg_{i:02d}", name=f"Bench messaging {i}").tenant
            with schema_context(tenant.schema_name):
                from django.contrib.auth import get_user_model

                from accounts import tokens

                user, _ = get_user_model().objects.get_or_create(
                    email=f"bench@{tenant.schema_name}.test", defaults={"is_superuser": True})
                token = tokens.issue_pair(user=user, tenant=tenant).access
            orgs.append((tenant, user, token))
        connection.set_schema_to_public()

        size = len(encode(build_envelope(  # a typical event's size, for the raw reference
            tenant=orgs[0][0], type="scan.completed", subject=str(uuid.uuid4()),
            data={"scan_id": str(uuid.uuid4()), "submitted_by": str(orgs[0][1].pk), "status": "completed",
                  "score": 8.5})))

        raw_mosquitto(rate, seconds, size)

        log_dir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-messaging-"))
        bridge_id = f"bench-bridge-{uuid.uuid4().hex[:6]}"
        web, port = start_web(log_dir, workers=int(os.environ.get("BENCH_MSG_WEB_WORKERS", "2")))
        bridge = start_bridge(log_dir, MQTT_BRIDGE_CLIENT_ID=bridge_id)
        relay = start_relay(log_dir)
        try:
            print(f"  -- {n_clients} clients ({n_clients // len(orgs)} per organization: every event fans out to "
                  f"each of them)", flush=True)
            pids = {"web": web.process.pid, "bridge": bridge.process.pid, "relay": relay.process.pid}
            asyncio.run(_service_path(orgs, n_clients, rate, seconds, port, SUBPROTOCOL, pids))
            print(f"  -- {len(orgs)} clients (one per organization: the pipeline without the fan-out)", flush=True)
            asyncio.run(_service_path(orgs, len(orgs), rate, seconds, port, SUBPROTOCOL, pids))
        finally:
            for process in (relay, bridge, web):
                process.stop()
        print(f"  (process logs in {log_dir})", flush=True)


def _client_process(assignments: list[tuple[str, str]], port: int, subprotocol: str, ready: Any, stop: Any,
                    counts: Any, slot: int, results: Any) -> None:
    """WebSocket clients in their own process (no GIL shared with the writers): receipt times of events."""
    from websockets.asyncio.client import connect

    received: list[tuple[str, float]] = []

    async def main() -> None:
        sockets = []
        for host, token in assignments:
            socket = await connect(f"ws://{host}:{port}/ws/events/", host="127.0.0.1", port=port, proxy=None,
                                   subprotocols=[subprotocol, token], max_queue=None, compression=None)
            welcome = json.loads(await socket.recv())
            if welcome.get("type") != "welcome":
                raise RuntimeError(f"not welcomed: {welcome}")
            sockets.append(socket)
        # These processes stand in for 200 browsers: a collector pause here is not the platform's.
        gc.collect()
        gc.freeze()
        ready.put(slot)

        async def reader(socket: Any) -> None:
            async for raw in socket:
                now = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the writers' process
                message = json.loads(raw)
                if message.get("type") == "event":
                    received.append((message["event"]["id"], now))

        async def progress() -> None:
            while not stop.is_set():
                counts[slot] = len(received)
                await asyncio.sleep(0.2)
            counts[slot] = len(received)
            for socket in sockets:
                await socket.close()

        await asyncio.gather(progress(), *(reader(s) for s in sockets), return_exceptions=True)

    asyncio.run(main())
    results.put(received)


async def _service_path(orgs: list[tuple[Any, Any, str]], n_clients: int, rate: float, seconds: float, port: int,
                        subprotocol: str, pids: dict[str, int]) -> None:
    import multiprocessing

    from django.db import connection, connections, transaction
    from django_tenants.utils import schema_context

    from messaging.events import publish_event

    written_at: dict[str, float] = {}
    committed_at: dict[str, float] = {}
    committed_after: list[float] = []
    slug_of: dict[str, str] = {}
    per_tenant_clients: dict[str, int] = {}
    assignments: list[tuple[str, str]] = []
    for i in range(n_clients):
        tenant, _user, token = orgs[i % len(orgs)]
        per_tenant_clients[tenant.schema_name] = per_tenant_clients.get(tenant.schema_name, 0) + 1
        assignments.append((tenant.primary_host, token))

    n_procs = max(1, min(int(os.environ.get("BENCH_MSG_CLIENT_PROCESSES", "2")), n_clients))
    ctx = multiprocessing.get_context("spawn")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    counts = ctx.Array("l", n_procs)
    procs = [ctx.Process(target=_client_process, daemon=True,
                         args=(assignments[k::n_procs], port, subprotocol, ready, stop, counts, k, results))
             for k in range(n_procs)]
    for proc in procs:
        proc.start()
    for _ in procs:
        await asyncio.to_thread(ready.get, True, 120)

    writers = int(os.environ.get("BENCH_MSG_WRITERS", "4"))
    at_broker: dict[str, float] = {}
    tap = _broker_tap(at_broker)

    def write(worker: int) -> int:
        """Every `writers`-th event of the schedule, as a service in its own process would."""
        count = 0
        try:
            for i in _paced(rate, seconds):
                if i % writers != worker:
                    continue
                tenant, user, _token = orgs[i % len(orgs)]
                scan = str(uuid.uuid4())
                started = time.perf_counter()
                with schema_context(tenant.schema_name), transaction.atomic():
                    event = publish_event(tenant=tenant, type="scan.completed", subject=scan,
                                          data={"scan_id": scan, "submitted_by": str(user.pk),
                                                "status": "completed", "score": 8.5})
                committed = time.perf_counter()
                committed_after.append(committed - started)
                written_at[str(event.id)] = started
                committed_at[str(event.id)] = committed
                slug_of[str(event.id)] = tenant.schema_name
                count += 1
            connection.set_schema_to_public()
            return count
        finally:
            connections.close_all()

    roots = {**{name: [pid] for name, pid in pids.items()}, "bench clients": [p.pid for p in procs if p.pid],
             "bench writers": [os.getpid()]}
    cpu_before = _cpu_by_role(roots)
    started = time.perf_counter()
    written = sum(await asyncio.gather(*(asyncio.to_thread(write, k) for k in range(writers))))
    write_seconds = time.perf_counter() - started
    cpu_after = _cpu_by_role(roots)
    expected_deliveries = sum(per_tenant_clients[slug_of[e]] for e in written_at)
    deadline = time.perf_counter() + 60
    while sum(counts[:]) < expected_deliveries and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    received: list[tuple[str, float]] = []
    for _ in procs:
        received.extend(await asyncio.to_thread(results.get, True, 60))
    for proc in procs:
        proc.join(10)

    tap.disconnect()
    tap.loop_stop()
    latencies = [at - written_at[event_id] for event_id, at in received if event_id in written_at]
    to_broker = [at - committed_at[event_id] for event_id, at in at_broker.items() if event_id in committed_at]
    from_broker = [at - at_broker[event_id] for event_id, at in received if event_id in at_broker]
    span = (max(at for _e, at in received) - started) if received else float("nan")
    complete = Counter(event_id for event_id, _at in received)
    fully = sum(1 for event_id, n in complete.items() if n >= per_tenant_clients.get(slug_of.get(event_id, ""), 0))
    _latency_line("service write (transaction + commit) only", committed_after)
    _latency_line("  of which: commit -> broker (outbox relay)", to_broker)
    _latency_line("  of which: broker -> WebSocket receive (bridge, layer, web)", from_broker)
    _latency_line("service write -> WebSocket receive (every client)", latencies)
    figure(f"events written per second (offered {rate:.0f}/s)", written / write_seconds, "events/s")
    busy = {role: (cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0)) / write_seconds * 100 for role in cpu_after}
    print("  CPU while writing (% of one core): " + ", ".join(
        f"{role} {share:.0f}" for role, share in sorted(busy.items(), key=lambda kv: -kv[1])) +
        f"; all {sum(busy.values()):.0f} of {100 * (os.cpu_count() or 1)}", flush=True)
    figure("deliveries received / expected", len(received) / max(expected_deliveries, 1) * 100, "%")
    figure("events delivered to all their clients, per second", fully / span, "events/s")
    figure("WebSocket messages delivered per second", len(received) / span, "msg/s")
