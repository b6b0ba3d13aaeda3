"""The bridge: Mosquitto `org/+/#` -> each organization's channel-layer group -> its WebSockets.

- A persistent MQTT v5 session (fixed client id, clean start off, session expiry),
  subscribed at QoS 1: while the bridge is away the broker keeps its messages.
- Each message is acknowledged (manual PUBACK) only after it has been forwarded,
  so a crash redelivers rather than loses it; the connection is re-established
  with backoff. The MQTT client runs on the bridge's event loop (no network
  thread): a message and its PUBACK cost no hand-over between threads.
- De-duplication on the event id (a Redis key per id with a TTL), namespaced by
  organization so nobody can suppress another organization's events; marking
  the id seen and publishing to the group is one Redis round trip.
- The group is `messaging.services.tenant_group(tenant.id)`, built from the
  organization's UUID, never from the slug in the topic.
- Malformed, oversized, misaddressed or unknown-organization messages are counted
  (`gatehouse_bridge_dropped_total{reason}`) and dropped; nothing crashes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from messaging import counters, dynsec, mqtt
from messaging.events import EVENT_TYPE_RE, PROGRESS_TYPE, SPEC_VERSION, parse_topic
from messaging.mqtt import Backoff, LoopDriver
from messaging.services import tenant_group

logger = logging.getLogger(__name__)

SUBSCRIPTION = "org/+/#"
TENANT_CACHE_SECONDS = 30.0
UNKNOWN_REFRESH_SECONDS = 2.0
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class TenantRef:
    id: str
    slug: str
    active: bool


@dataclass(frozen=True)
class Incoming:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes


class Dropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_envelope(body: Any, *, slug: str, kind: str, name: str) -> dict[str, Any]:
    """The CloudEvents envelope of an event or progress message, or Dropped("malformed"/"misaddressed")."""
    if not isinstance(body, dict):
        raise Dropped("malformed")
    required = ("specversion", "id", "source", "type", "time", "datacontenttype")
    if any(not isinstance(body.get(key), str) or not body.get(key) for key in required):
        raise Dropped("malformed")
    if body["specversion"] != SPEC_VERSION or len(body["id"]) > MAX_ID_LENGTH or not EVENT_TYPE_RE.match(body["type"]):
        raise Dropped("malformed")
    if "data" in body and not isinstance(body["data"], dict):
        raise Dropped("malformed")
    if body.get("tenant") != slug:
        raise Dropped("misaddressed")
    if kind == "event" and body["type"] != name:
        raise Dropped("misaddressed")
    if kind == "progress":
        data = body.get("data") or {}
        if body["type"] != PROGRESS_TYPE or str(data.get("scan_id") or body.get("subject") or "") != name:
            raise Dropped("misaddressed")
    return body


class Bridge:
    def __init__(self, *, heartbeat: Path | None = None, on_ready: Callable[[], None] | None = None) -> None:
        self.heartbeat = heartbeat
        self.on_ready = on_ready
        self.max_payload = settings.MQTT_BRIDGE_MAX_PAYLOAD_BYTES
        self.dedup_ttl = settings.MQTT_BRIDGE_DEDUP_TTL_SECONDS
        self._stop = asyncio.Event()
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self._client: Any = None
        self._generation = 0
        self._subscribed_once = False
        self._tenants: dict[str, TenantRef] = {}
        self._tenants_loaded = 0.0
        self._layer: Any = None

    # -- MQTT side (paho callbacks, on the event loop) -------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.warning("bridge: broker refused the connection", extra={"reason": str(reason_code)})
            return
        self._generation += 1
        logger.info("bridge connected", extra={"resumed": bool(getattr(flags, "session_present", False))})
        # Subscribing again on a resumed session is harmless and repairs a lost one.
        client.subscribe(SUBSCRIPTION, qos=1)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if any(rc.is_failure for rc in reason_codes):
            logger.error("bridge: the broker refused the subscription to org/+/# (run `manage.py mqtt_setup`)")
            return
        if not self._subscribed_once and self.on_ready is not None:
            self._subscribed_once = True
            self.on_ready()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not self._stop.is_set():
            logger.warning("bridge: disconnected from the broker; reconnecting", extra={"reason": str(reason_code)})

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        item = Incoming(self._generation, message.mid, message.qos, message.topic, bytes(message.payload))
        self._queue.put_nowait(item)

    def _start_mqtt(self) -> asyncio.Task[None]:
        client = mqtt.new_client(settings.MQTT_BRIDGE_CLIENT_ID, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = settings.MQTT_BRIDGE_SESSION_EXPIRY_SECONDS
        properties.ReceiveMaximum = 100
        address = mqtt.broker_address()
        client.connect_async(address.host, address.port, keepalive=settings.MQTT_KEEPALIVE_SECONDS,
                             clean_start=False, properties=properties)
        self._client = client
        return asyncio.create_task(LoopDriver(client).run(self._stop))

    def _ack(self, item: Incoming) -> None:
        if item.qos == 0 or self._client is None:
            return
        # A message received on an earlier connection is redelivered by the broker on the
        # resumed session; its old packet id may now name another message: never ack it.
        if item.generation == self._generation:
            self._client.ack(item.mid, item.qos)

    # -- Organizations -------------------------------------------------------------------
    @database_sync_to_async
    def _load_tenants(self) -> dict[str, TenantRef]:
        from django.db import connection

        from tenants.models import Tenant

        connection.set_schema_to_public()
        rows = Tenant.objects.organizations().filter(provisioning_state=Tenant.ProvisioningState.READY)
        return {slug: TenantRef(id=str(pk), slug=slug, active=active)
                for pk, slug, active in rows.values_list("pk", "schema_name", "is_active")}

    async def _tenant(self, slug: str) -> TenantRef | None:
        now = time.monotonic()
        stale = now - self._tenants_loaded > TENANT_CACHE_SECONDS
        unknown = slug not in self._tenants and now - self._tenants_loaded > UNKNOWN_REFRESH_SECONDS
        if stale or unknown:
            self._tenants = await self._load_tenants()
            self._tenants_loaded = now
        return self._tenants.get(slug)

    # -- Forwarding ------------------------------------------------------------------------
    async def handle(self, item: Incoming) -> str:
        """Forward one message; returns the outcome ("forwarded", "duplicate") or raises Dropped."""
        if len(item.payload) > self.max_payload:
            raise Dropped("oversized")
        parsed = parse_topic(item.topic)
        if parsed is None:
            raise Dropped("bad_topic")
        slug, kind, name = parsed
        tenant = await self._tenant(slug)
        if tenant is None:
            raise Dropped("unknown_tenant")
        if not tenant.active:
            raise Dropped("tenant_suspended")
        try:
            body = json.loads(item.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Dropped("malformed") from exc
        dedup_key = None
        message: dict[str, Any] = {"type": "gatehouse.message", "kind": kind, "topic": item.topic, "payload": body}
        if kind in ("event", "progress"):
            validate_envelope(body, slug=slug, kind=kind, name=name)
            dedup_key = counters.redis_key("seen", slug, "event", body["id"])
            if kind == "progress":
                message["scan_id"] = name
        else:
            message["feed"] = name
            if isinstance(body, dict) and isinstance(body.get("id"), str) and 0 < len(body["id"]) <= MAX_ID_LENGTH:
                dedup_key = counters.redis_key("seen", slug, "feed", name, body["id"])
        group = tenant_group(tenant.id)
        if dedup_key is None:
            await self._layer.group_send(group, message)
        elif not await self._layer.group_send_once(group, message, key=dedup_key, ttl=self.dedup_ttl):
            return "duplicate"
        return "forwarded"

    async def _consume(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            while True:
                try:
                    outcome = await self.handle(item)
                    counters.incr("bridge_messages_total", kind=_kind(item.topic), outcome=outcome)
                    break
                except Dropped as exc:
                    counters.incr("bridge_dropped_total", reason=exc.reason)
                    logger.info("bridge dropped a message", extra={"reason": exc.reason, "topic": item.topic[:200]})
                    break
                except Exception as exc:  # noqa: BLE001 - Redis or the database is down: retry this message
                    delay = backoff.next()
                    logger.warning("bridge: cannot forward yet; retrying",
                                   extra={"error": type(exc).__name__, "retry_in": round(delay, 2)})
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                        return
                    except TimeoutError:
                        continue
            backoff.reset()
            self._ack(item)

    async def _housekeeping(self) -> None:
        while not self._stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat.touch()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=5.0)
            except TimeoutError:
                counters.flush()

    def stop(self) -> None:
        """Stop the bridge (call on its event loop, e.g. from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        self._layer = get_channel_layer()
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(_ensure_platform)
                break
            except (mqtt.BrokerUnavailable, dynsec.DynsecError) as exc:
                delay = backoff.next()
                logger.warning("bridge: broker not ready; retrying", extra={"error": str(exc)[:200]})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        if self._stop.is_set():
            return
        # Know the organizations (and have the database connection open) before the first message.
        try:
            self._tenants = await self._load_tenants()
            self._tenants_loaded = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - the database may be down: each message retries it
            logger.warning("bridge: organizations not loaded yet", extra={"error": type(exc).__name__})
        network = self._start_mqtt()
        try:
            await asyncio.gather(self._consume(), self._housekeeping())
        finally:
            self._stop.set()
            await network
            self._client = None
            counters.flush()


def _ensure_platform() -> None:
    with dynsec.DynsecAdmin() as admin:
        dynsec.ensure_platform_access_once(admin)


def _kind(topic: str) -> str:
    parsed = parse_topic(topic)
    return parsed[1] if parsed else "unknown"
