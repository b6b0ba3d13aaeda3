"""Connections to Gatehouse's Mosquitto with the platform's account (paho-mqtt 2.x, MQTT v5).

- `broker_address()` / `new_client()` / `connect()` build and open a client.
- `LoopDriver` runs a client's network I/O on an asyncio loop instead of a thread
  (the bridge), and `connect(network_thread=False)` / `pump` let a synchronous caller drive it
  itself (the relay): no hand-over between threads for each message and its PUBACK.
- `ProgressPublisher` is the per-process, lazily connected client that
  `messaging.events.publish_progress` uses for QoS 0 ticks: it never blocks the
  caller for more than a moment when the broker is down, and survives `fork()`
  (Celery's prefork workers) by reconnecting in the child.

The password is never logged: errors name the broker address and the MQTT reason only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties

logger = logging.getLogger(__name__)


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached or refused the platform's credentials."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_address(url: str | None = None) -> BrokerAddress:
    parts = urlsplit(url or settings.MQTT_URL)
    tls = parts.scheme in ("mqtts", "ssl", "tls")
    return BrokerAddress(host=parts.hostname or "127.0.0.1", port=parts.port or (8883 if tls else 1883), tls=tls)


def public_broker_url() -> str:
    """The address integrators connect to (MQTT_PUBLIC_URL, else the platform's own)."""
    return settings.MQTT_PUBLIC_URL or settings.MQTT_URL


def client_id(role: str) -> str:
    """A unique client id for a short-lived or per-process connection."""
    return f"{settings.MQTT_CLIENT_ID_PREFIX}-{role}-{os.getpid()}-{secrets.token_hex(3)}"


def new_client(identifier: str, *, manual_ack: bool = False, reconnect_on_failure: bool = True) -> paho.Client:
    """A paho client for the platform account (MQTT v5); not connected yet."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=identifier, protocol=paho.MQTTv5,
                         manual_ack=manual_ack, reconnect_on_failure=reconnect_on_failure)
    client.username_pw_set(settings.MQTT_USERNAME, settings.MQTT_PASSWORD or None)
    client.connect_timeout = settings.MQTT_CONNECT_TIMEOUT_SECONDS
    if broker_address().tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.on_socket_open = no_delay
    return client


def no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Send each small MQTT packet at once (on every connection, reconnections included).

    With Nagle's algorithm a PUBLISH or PUBACK written while an earlier one is still
    unacknowledged waits for the peer's delayed ACK: about 40 ms, the live feed's tail.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        logger.debug("TCP_NODELAY not available on the MQTT socket", exc_info=True)


class Backoff:
    """Exponential delays with jitter: 0.5 s doubling to 30 s by default."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial, self.maximum = initial, maximum
        self.current = initial

    def next(self) -> float:
        delay = self.current
        self.current = min(self.current * 2, self.maximum)
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        self.current = self.initial


class LoopDriver:
    """A paho client whose network I/O runs on the running asyncio loop, not in a thread.

    The socket is read when readable and written when paho has packets queued (paho's
    external-loop callbacks); keepalive runs once a second; a lost connection is
    re-established with backoff. Callbacks (on_connect, on_message...) run on the
    loop, so they must not block.
    """

    def __init__(self, client: paho.Client, *, backoff: Backoff | None = None) -> None:
        self.client = client
        self.backoff = backoff or Backoff(initial=1.0)
        self._loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._written

    def _opened(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        no_delay(client, userdata, sock)
        self._loop.add_reader(sock, self._readable)

    def _readable(self) -> None:
        self.client.loop_read()
        # TLS may hold decrypted bytes that epoll cannot see: read them now, not with the next packet.
        sock = self.client.socket()
        while sock is not None and getattr(sock, "pending", None) and sock.pending():
            self.client.loop_read()
            sock = self.client.socket()

    def _closed(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._lost.set()

    def _want_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.add_writer(sock, client.loop_write)

    def _written(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_writer(sock)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the client connected until `stop` is set; then disconnect cleanly."""
        while not stop.is_set():
            self._lost.clear()
            try:
                # A blocking TCP connect, bounded by client.connect_timeout; CONNECT/CONNACK
                # then go through the loop like any other packet.
                self.client.reconnect()
            except (OSError, ValueError) as exc:
                delay = self.backoff.next()
                logger.warning("MQTT broker unreachable; retrying", extra={"broker": str(broker_address()),
                                                                          "error": type(exc).__name__,
                                                                          "retry_in": round(delay, 2)})
                await _first_of(stop.wait(), timeout=delay)
                continue
            established = False
            while not stop.is_set() and not self._lost.is_set():
                self.client.loop_misc()
                established = established or self.client.is_connected()
                await _first_of(stop.wait(), self._lost.wait(), timeout=1.0)
            if established:
                self.backoff.reset()
            if not stop.is_set():
                await _first_of(stop.wait(), timeout=self.backoff.next())
        await self.close()

    async def close(self, timeout: float = 2.0) -> None:
        """Send DISCONNECT (waiting briefly for it to leave) and close the socket."""
        if self.client.socket() is None:
            return
        self.client.disconnect()
        deadline = self._loop.time() + timeout
        while self.client.want_write() and self.client.socket() is not None and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        sock = self.client.socket()
        if sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
            with contextlib.suppress(OSError):
                sock.close()


async def _first_of(*awaitables: Any, timeout: float) -> None:
    """Wait until one of `awaitables` finishes or `timeout` passes; cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class ConnectWaiter:
    """Installs on_connect/on_disconnect callbacks that record the outcome of CONNECT."""

    def __init__(self, client: paho.Client) -> None:
        self.connected = threading.Event()
        self.failed = threading.Event()
        self.done = threading.Event()
        self.reason = ""
        self.session_present = False
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self.reason = str(reason_code)
            self.failed.set()
        else:
            self.session_present = bool(getattr(flags, "session_present", False))
            self.connected.set()
        self.done.set()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self.reason = "connection failed"
        self.failed.set()
        self.done.set()


def connect(client: paho.Client, *, timeout: float | None = None, clean_start: bool = True,
            properties: Properties | None = None, network_thread: bool = True) -> ConnectWaiter:
    """Connect `client` and wait for a successful CONNACK.

    With `network_thread`, paho's thread then runs the connection. Without it, the
    caller's thread drives it: paho writes each packet at once (there is no thread to
    hand it to) and `pump` reads what the broker sends (the relay).
    Raises BrokerUnavailable (after closing the client) when the broker cannot be
    reached in time or refuses the connection.
    """
    timeout = settings.MQTT_CONNECT_TIMEOUT_SECONDS if timeout is None else timeout
    address = broker_address()
    waiter = ConnectWaiter(client)
    try:
        client.connect(address.host, address.port, keepalive=settings.MQTT_KEEPALIVE_SECONDS,
                       clean_start=clean_start, properties=properties)
    except (OSError, ValueError) as exc:
        raise BrokerUnavailable(f"cannot reach the MQTT broker at {address}: {type(exc).__name__}") from exc
    if network_thread:
        client.loop_start()
        waiter.done.wait(timeout)
    else:
        pump(client, waiter.done.is_set, timeout)
    if not waiter.connected.is_set() or waiter.failed.is_set():
        reason = waiter.reason or "no CONNACK in time"
        close(client)
        raise BrokerUnavailable(f"the MQTT broker at {address} did not accept the platform's connection ({reason})")
    return waiter


def pump(client: paho.Client, done: Callable[[], bool], timeout: float) -> bool:
    """Drive a thread-less client's socket until `done()` or `timeout`; whether `done()`.

    With `timeout` 0, one non-blocking pass: what has arrived is read, keepalive is kept.
    """
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        sock = client.socket()
        if sock is None:
            return done()
        remaining = deadline - time.monotonic()
        # TLS may hold decrypted bytes that select() cannot see.
        buffered = bool(getattr(sock, "pending", None) and sock.pending())
        wait = 0.0 if buffered else max(min(remaining, 1.0), 0.0)
        readable, writable, _ = select.select([sock], [sock] if client.want_write() else [], [], wait)
        if readable or buffered:
            client.loop_read()
        if writable:
            client.loop_write()
        client.loop_misc()
        if remaining <= 0:
            return done()


def close(client: paho.Client) -> None:
    try:
        client.disconnect()
    finally:
        client.loop_stop()


class ProgressPublisher:
    """One shared, lazily connected QoS 0 publisher per process.

    The first publish starts a background connection and waits for it at most
    `first_wait` seconds; afterwards publishing never waits: while the broker is
    down, ticks are dropped (and counted) and paho reconnects in the background.
    """

    def __init__(self, first_wait: float = 0.5) -> None:
        self._lock = threading.Lock()
        self._client: paho.Client | None = None
        self._pid: int | None = None
        self._url: tuple[str, str, str] | None = None
        self._ready = threading.Event()
        self._first_wait = first_wait

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.warning("progress publisher refused by the broker", extra={"reason": str(reason_code)})
        else:
            self._ready.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._ready.clear()

    def _ensure(self) -> paho.Client | None:
        identity = (settings.MQTT_URL, settings.MQTT_USERNAME, settings.MQTT_PASSWORD)
        with self._lock:
            if self._client is not None and self._pid == os.getpid() and self._url == identity:
                return self._client
            if self._client is not None and self._pid == os.getpid():
                self._stop_locked()
            # After fork() the parent's network thread does not exist here: start afresh.
            self._client = None
            self._ready.clear()
            client = new_client(client_id("progress"))
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.reconnect_delay_set(min_delay=1, max_delay=30)
            address = broker_address()
            try:
                client.connect_async(address.host, address.port, keepalive=settings.MQTT_KEEPALIVE_SECONDS)
                client.loop_start()
            except (OSError, ValueError) as exc:
                logger.warning("progress publisher cannot start", extra={"broker": str(address),
                                                                          "error": type(exc).__name__})
                return None
            self._client, self._pid, self._url = client, os.getpid(), identity
            first = True
        if first:
            self._ready.wait(self._first_wait)
        return self._client

    def publish(self, topic: str, payload: bytes) -> bool:
        client = self._ensure()
        if client is None or not self._ready.is_set():
            return False
        info = client.publish(topic, payload, qos=0)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _stop_locked(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()
                self._client.loop_stop()
            except Exception:  # noqa: BLE001 - shutting down a client must never raise into the caller
                logger.debug("progress publisher stop failed", exc_info=True)
        self._client = None
        self._ready.clear()

    def stop(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._stop_locked()


progress_publisher = ProgressPublisher()
