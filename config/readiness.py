"""Readiness checks for /ready: each dependency's status and latency.

Every check has a short timeout so that a dead dependency makes /ready answer
503 quickly instead of hanging the probe.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    required: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok" if self.ok else "fail", "latency_ms": round(self.latency_ms, 2),
                               "required": self.required}
        if self.detail:
            out["detail"] = self.detail
        return out


def _timed(name: str, required: bool, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # any failure of a dependency is a failed check, described briefly
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        ok = False
    return CheckResult(name, ok, (time.perf_counter() - started) * 1000, required, detail)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ""


def check_redis() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                                  socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        if not client.ping():
            raise ConnectionError("no PONG")
    finally:
        client.close()
    return ""


def _mqtt_connect_packet(client_id: str, username: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT packet (clean session, keepalive 5 s)."""

    def field(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    flags = 0x02
    payload = field(client_id)
    if username:
        flags |= 0x80
        payload += field(username)
        if password:
            flags |= 0x40
            payload += field(password)
    variable = field("MQTT") + bytes([0x04, flags]) + (5).to_bytes(2, "big")
    body = variable + payload
    length = len(body)
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x10]) + bytes(encoded) + body


def check_mqtt() -> str:
    """A real MQTT handshake with the platform's credentials: CONNECT, expect CONNACK 0."""
    url = urlsplit(settings.MQTT_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    client_id = f"{settings.MQTT_CLIENT_ID_PREFIX}-ready-{time.monotonic_ns() % 10**9}"
    with socket.create_connection((host, port), timeout=CHECK_TIMEOUT_SECONDS) as sock:
        sock.settimeout(CHECK_TIMEOUT_SECONDS)
        sock.sendall(_mqtt_connect_packet(client_id, settings.MQTT_USERNAME, settings.MQTT_PASSWORD))
        reply = sock.recv(4)
        if len(reply) < 4 or reply[0] != 0x20:
            raise ConnectionError("the broker did not answer CONNECT")
        if reply[3] != 0:
            raise PermissionError(f"the broker refused the platform's credentials (CONNACK code {reply[3]})")
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return ""


def check_disk() -> str:
    path = settings.DATA_ROOT
    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    if free_mb < settings.READY_MIN_FREE_DISK_MB:
        raise OSError(f"{free_mb} MB free under the data directory; {settings.READY_MIN_FREE_DISK_MB} MB required")
    return f"{free_mb} MB free"


def run_checks() -> list[CheckResult]:
    return [
        _timed("database", True, check_database),
        _timed("redis", True, check_redis),
        _timed("mqtt", settings.MQTT_REQUIRED_FOR_READY, check_mqtt),
        _timed("disk", True, check_disk),
    ]
