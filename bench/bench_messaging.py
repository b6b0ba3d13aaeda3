"""Real-time messaging: service write -> WebSocket receive, beside raw Mosquitto publish -> subscribe.

Runs the real processes (uvicorn, `mqtt_bridge`, `mqtt_relay`) against the bench database and a
private Mosquitto, opens BENCH_MSG_CLIENTS WebSockets (default 200) spread over BENCH_MSG_TENANTS
organizations (default 10), and writes events through `publish_event` (one committed transaction
each, round-robin over the organizations) at BENCH_MSG_RATE per second (default 200) for
BENCH_MSG_SECONDS (default 15). Latency = from the start of the service's write to each client's
receipt (every event reaches every client of its organization). The raw reference is a paho
publisher and subscriber (QoS 1, same payload size, same rate) on the same broker, in the same run;
a second pass with one client per organization shows the pipeline without the fan-out.

The load generator stays out of the platform's way as far as one machine allows:
- writers are BENCH_MSG_WRITERS separate processes (default 4), as the web and worker processes
  that write events are, each on its share of one schedule; threads would queue on one
  interpreter lock and count that wait as write latency;
- the WebSocket clients, which stand for browsers on other machines, run in
  BENCH_MSG_CLIENT_PROCESSES processes (default 2) with a minimal RFC 6455 client on uvloop, so
  receiving 4,000 frames/s costs the machine as little as possible;
- a tap subscriber in its own process notes when each event reached the broker, splitting the
  latency into commit -> broker (the relay) and broker -> WebSocket (bridge, channel layer, web).
Writing starts with BENCH_MSG_WARMUP_SECONDS (default 1) at the same rate whose events are delivered
and checked but not counted in the latencies (first connections, caches, first code paths), as a
platform that has been running for a while would be; the p99 with them is printed too.
uvicorn runs BENCH_MSG_WEB_WORKERS worker processes (default 2). Each role's CPU while writing is
printed. BENCH_MSG_SAMPLES=<path> also writes every raw timestamp to <path>.<clients>.json.
Nothing is asserted; the target (p99 <= 25 ms) is printed beside the figures.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import os
import sys
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


def _paced(rate: float, seconds: float, start: float | None = None, *, share: int = 0, shares: int = 1) -> Any:
    """Yield the slots of a schedule at `rate` per second for `seconds` from `start` (absolute: no drift).

    `start` is a time.perf_counter() value (CLOCK_MONOTONIC, shared by every process here); with
    `shares`, only every `shares`-th slot from `share` is yielded (and waited for).
    """
    interval = 1.0 / rate
    start = time.perf_counter() if start is None else start
    for i in range(share, int(rate * seconds), shares):
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
            _service_path(orgs, n_clients, rate, seconds, port, SUBPROTOCOL, pids)
            print(f"  -- {len(orgs)} clients (one per organization: the pipeline without the fan-out)", flush=True)
            _service_path(orgs, len(orgs), rate, seconds, port, SUBPROTOCOL, pids)
        finally:
            for process in (relay, bridge, web):
                process.stop()
        print(f"  (process logs in {log_dir})", flush=True)



# --- The load generator's processes (spawned: no state shared with this one) -----------------------

def _child_django() -> None:
    """Django in a spawned child: the environment bench.common set up is inherited."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()


def _writer_process(orgs: list[tuple[str, str]], worker: int, writers: int, rate: float, seconds: float,
                    ready: Any, go: Any, results: Any, stop: Any) -> None:
    """Every `writers`-th event of the shared schedule, written as a service in its own process would."""
    _child_django()
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from messaging.events import publish_event
    from tenants.models import Tenant

    tenants = [(Tenant.objects.get(schema_name=slug), user_id) for slug, user_id in orgs]
    connection.ensure_connection()
    gc.collect()
    gc.freeze()
    ready.put(worker)
    start = go.get()
    samples: list[tuple[str, str, float, float]] = []  # (event id, organization, started, committed)
    for i in _paced(rate, seconds, start, share=worker, shares=writers):
        tenant, user_id = tenants[i % len(tenants)]
        scan = str(uuid.uuid4())
        started = time.perf_counter()
        with schema_context(tenant.schema_name), transaction.atomic():
            event = publish_event(tenant=tenant, type="scan.completed", subject=scan,
                                  data={"scan_id": scan, "submitted_by": user_id, "status": "completed",
                                        "score": 8.5})
        samples.append((str(event.id), tenant.schema_name, started, time.perf_counter()))
    results.put(samples)
    stop.wait()  # stay connected until every delivery is in: no teardown during the last events
    connection.close()


def _tap_process(host: str, port: int, username: str, password: str, ready: Any, stop: Any, results: Any) -> None:
    """A platform subscriber on every organization's events: when each event reached the broker."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from messaging.mqtt import no_delay  # needs no settings

    arrivals: dict[str, float] = {}
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            arrivals[json.loads(message.payload)["id"]] = now
        except (ValueError, KeyError, TypeError):
            pass

    tap = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-tap-{uuid.uuid4().hex[:6]}",
                      protocol=paho.MQTTv5)
    tap.username_pw_set(username, password)
    tap.on_socket_open = no_delay
    tap.on_message = on_message
    tap.on_subscribe = lambda *args: subscribed.set()
    tap.connect(host, port)
    tap.subscribe("org/+/events/#", qos=0)
    tap.loop_start()
    subscribed.wait(10)
    ready.put("tap")
    stop.wait()
    tap.disconnect()
    tap.loop_stop()
    results.put(arrivals)


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _LeanClient(asyncio.Protocol):
    """Just enough RFC 6455 to stand for a browser: handshake, text frames, ping -> pong, close.

    Each event's receipt time is taken when its bytes arrive, before any decoding.
    """

    def __init__(self, host: str, token: str, subprotocol: str, index: int,
                 received: list[tuple[str, float, int]]) -> None:
        self.host, self.token, self.subprotocol, self.index = host, token, subprotocol, index
        self.received = received
        self.key = base64.b64encode(os.urandom(16))
        self.buffer = b""
        self.upgraded = False
        self.transport: Any = None
        loop = asyncio.get_running_loop()
        self.welcomed: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"GET /ws/events/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                        b"Sec-WebSocket-Protocol: %s, %s\r\n\r\n"
                        % (self.host.encode(), self.key, self.subprotocol.encode(), self.token.encode()))

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.welcomed, self.closed):
            if not future.done():
                future.set_exception(ConnectionError(f"client {self.index}: connection lost ({exc})"))

    def _fail(self, reason: str) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(RuntimeError(f"client {self.index}: {reason}"))
        self.transport.close()

    def _send_frame(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)  # client frames are masked (RFC 6455, 5.3); payloads here are short
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if not self.transport.is_closing():
            self._send_frame(0x8, (1000).to_bytes(2, "big"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the writers' processes
        buffer = self.buffer + data
        if not self.upgraded:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            lines = head.split(b"\r\n")
            headers = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
            accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest())  # noqa: S324 - the protocol's
            if not lines[0].startswith(b"HTTP/1.1 101") or headers.get(b"Sec-WebSocket-Accept") != accept:
                self._fail(f"upgrade refused: {lines[0]!r}")
                return
            self.upgraded = True
            buffer = rest
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                if size - offset < 4:
                    break
                length, header = int.from_bytes(buffer[offset + 2:offset + 4], "big"), 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, header = int.from_bytes(buffer[offset + 2:offset + 10], "big"), 10
            if size - offset < header + length:
                break
            payload = buffer[offset + header:offset + header + length]
            offset += header + length
            opcode = first & 0x0F
            if not first & 0x80:
                self._fail("fragmented frame (the server sends whole messages)")
                return
            if opcode == 0x1:
                self._on_text(payload, now)
            elif opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                self.transport.close()
                if not self.closed.done():
                    self.closed.set_result(None)
                return
        self.buffer = buffer[offset:]

    def _on_text(self, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        kind = message.get("type")
        if kind == "event":
            self.received.append((message["event"]["id"], now, self.index))
        elif kind == "welcome" and not self.welcomed.done():
            self.welcomed.set_result(None)
        elif not self.welcomed.done():
            self._fail(f"not welcomed: {message}")


def _client_process(assignments: list[tuple[str, str]], port: int, subprotocol: str, slot: int, ready: Any,
                    stop: Any, counts: Any, results: Any) -> None:
    """WebSocket clients in their own process: receipt times of events."""
    import uvloop

    received: list[tuple[str, float, int]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clients = []
        for k, (host, token) in enumerate(assignments):
            index = slot * 1000 + k
            _transport, client = await loop.create_connection(
                lambda host=host, token=token, index=index: _LeanClient(host, token, subprotocol, index, received),
                "127.0.0.1", port)
            await asyncio.wait_for(client.welcomed, 30)
            clients.append(client)
        # These processes stand for 200 browsers: a collector pause here is not the platform's.
        gc.collect()
        gc.freeze()
        ready.put(slot)
        while not stop.is_set():
            counts[slot] = len(received)
            await asyncio.sleep(0.2)
        counts[slot] = len(received)
        for client in clients:
            client.close()
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in clients], timeout=5)

    uvloop.run(main())
    results.put(received)


def _service_path(orgs: list[tuple[Any, Any, str]], n_clients: int, rate: float, seconds: float, port: int,
                  subprotocol: str, pids: dict[str, int]) -> None:
    import multiprocessing

    warmup = float(os.environ.get("BENCH_MSG_WARMUP_SECONDS", "1"))

    from django.conf import settings

    from messaging.mqtt import broker_address

    per_tenant_clients: dict[str, int] = {}
    assignments: list[tuple[str, str]] = []
    for i in range(n_clients):
        tenant, _user, token = orgs[i % len(orgs)]
        per_tenant_clients[tenant.schema_name] = per_tenant_clients.get(tenant.schema_name, 0) + 1
        assignments.append((tenant.primary_host, token))

    ctx = multiprocessing.get_context("spawn")
    n_procs = max(1, min(int(os.environ.get("BENCH_MSG_CLIENT_PROCESSES", "2")), n_clients))
    writers = int(os.environ.get("BENCH_MSG_WRITERS", "4"))
    ready, results, stop, go = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Queue()
    tap_results, writer_results = ctx.Queue(), ctx.Queue()
    counts = ctx.Array("l", n_procs)
    clients = [ctx.Process(target=_client_process, daemon=True,
                           args=(assignments[k::n_procs], port, subprotocol, k, ready, stop, counts, results))
               for k in range(n_procs)]
    address = broker_address()
    tap = ctx.Process(target=_tap_process, daemon=True, args=(
        address.host, address.port, settings.MQTT_USERNAME, settings.MQTT_PASSWORD, ready, stop, tap_results))
    org_ids = [(tenant.schema_name, str(user.pk)) for tenant, user, _token in orgs]
    writer_procs = [ctx.Process(target=_writer_process, daemon=True,
                                args=(org_ids, k, writers, rate, warmup + seconds, ready, go, writer_results, stop))
                    for k in range(writers)]
    for proc in (*clients, tap, *writer_procs):
        proc.start()
    for _ in (*clients, tap, *writer_procs):
        ready.get(True, 120)

    roots = {**{name: [pid] for name, pid in pids.items()}, "bench clients": [p.pid for p in clients if p.pid],
             "bench writers": [p.pid for p in writer_procs if p.pid], "bench tap": [tap.pid] if tap.pid else []}
    cpu_before = _cpu_by_role(roots)
    started = time.perf_counter() + 0.2
    for _ in writer_procs:
        go.put(started)
    written: list[tuple[str, str, float, float]] = []
    for _ in writer_procs:
        written.extend(writer_results.get(True, warmup + seconds + 120))
    write_seconds = time.perf_counter() - started
    cpu_after = _cpu_by_role(roots)

    written_at = {event_id: at for event_id, _slug, at, _done in written}
    committed_at = {event_id: done for event_id, _slug, _at, done in written}
    slug_of = {event_id: slug for event_id, slug, _at, _done in written}
    counted = {event_id for event_id, at in written_at.items() if at >= started + warmup}
    expected_deliveries = sum(per_tenant_clients[slug] for slug in slug_of.values())
    deadline = time.perf_counter() + 60
    while sum(counts[:]) < expected_deliveries and time.perf_counter() < deadline:
        time.sleep(0.1)
    stop.set()
    received: list[tuple[str, float, int]] = []
    for _ in clients:
        received.extend(results.get(True, 60))
    at_broker: dict[str, float] = tap_results.get(True, 60)
    for proc in (*clients, tap, *writer_procs):
        proc.join(10)

    every_latency = [at - written_at[event_id] for event_id, at, _client in received if event_id in written_at]
    latencies = [at - written_at[event_id] for event_id, at, _client in received if event_id in counted]
    to_broker = [at - committed_at[event_id] for event_id, at in at_broker.items() if event_id in counted]
    from_broker = [at - at_broker[event_id] for event_id, at, _client in received
                   if event_id in counted and event_id in at_broker]
    span = (max(at for _e, at, _c in received) - started) if received else float("nan")
    complete = Counter(event_id for event_id, _at, _c in received)
    fully = sum(1 for event_id, n in complete.items() if n >= per_tenant_clients.get(slug_of.get(event_id, ""), 0))
    if os.environ.get("BENCH_MSG_SAMPLES"):
        Path(f"{os.environ['BENCH_MSG_SAMPLES']}.{n_clients}.json").write_text(json.dumps({
            "started": started, "written": written, "broker": at_broker, "received": received}))
    print(f"  (the first {warmup:g} s of writing warms the pipeline: {len(written) - len(counted)} events delivered "
          f"and checked, not counted below; counting them, write -> WebSocket p99 = "
          f"{percentile([x * 1000 for x in every_latency], 99):.2f}ms)", flush=True)
    _latency_line("service write (transaction + commit) only",
                  [done - at for event_id, _s, at, done in written if event_id in counted])
    _latency_line("  of which: commit -> broker (outbox relay)", to_broker)
    _latency_line("  of which: broker -> WebSocket receive (bridge, layer, web)", from_broker)
    _latency_line("service write -> WebSocket receive (every client)", latencies)
    figure(f"events written per second (offered {rate:.0f}/s)", len(written) / write_seconds, "events/s")
    busy = {role: (cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0)) / write_seconds * 100 for role in cpu_after}
    print("  CPU while writing (% of one core): " + ", ".join(
        f"{role} {share:.0f}" for role, share in sorted(busy.items(), key=lambda kv: -kv[1])) +
        f"; all {sum(busy.values()):.0f} of {100 * (os.cpu_count() or 1)}", flush=True)
    figure("deliveries received / expected", len(received) / max(expected_deliveries, 1) * 100, "%")
    figure("events delivered to all their clients, per second", fully / span, "events/s")
    figure("WebSocket messages delivered per second", len(received) / span, "msg/s")
