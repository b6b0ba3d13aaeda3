"""Test helpers: an MQTT client that records what happens to it, users, sessions and tokens."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import paho.mqtt.client as paho
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from messaging.mqtt import broker_address

WAIT = 20.0  # upper bound for anything to arrive; tests never assert on durations


def wait_until(predicate: Callable[[], bool], *, timeout: float = WAIT, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class MqttProbe:
    """A real MQTT v5 client for tests: connect, subscribe, publish and remember everything."""

    def __init__(self, username: str | None = None, password: str | None = None, *, url: str | None = None) -> None:
        self.username = username if username is not None else settings.MQTT_USERNAME
        self.password = password if password is not None else settings.MQTT_PASSWORD
        self.address = broker_address(url)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:10]}",
                                  protocol=paho.MQTTv5, reconnect_on_failure=False)
        self.client.username_pw_set(self.username, self.password)
        self.messages: list[tuple[str, bytes]] = []
        self.connack: Any = None
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        self._connected = threading.Event()
        self._subacks: dict[int, list[Any]] = {}
        self._pubacks: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.connack = reason_code
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.disconnect_reason = reason_code
        self.disconnected.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        with self._lock:
            self._subacks[mid] = list(reason_codes)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._lock:
            self._pubacks[mid] = reason_code

    def connect(self) -> MqttProbe:
        self.client.connect(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        assert self._connected.wait(WAIT), "no CONNACK"
        return self

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure and not self.disconnected.is_set()

    def subscribe(self, topic: str, qos: int = 1) -> Any:
        """The SUBACK reason code for `topic`."""
        _rc, mid = self.client.subscribe(topic, qos=qos)
        assert wait_until(lambda: mid in self._subacks), f"no SUBACK for {topic}"
        return self._subacks[mid][0]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> Any:
        """Publish; for QoS 1 the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=qos)
        if qos == 0:
            return None
        assert wait_until(lambda: info.mid in self._pubacks), f"no PUBACK for {topic}"
        return self._pubacks[info.mid]

    def received(self, topic_prefix: str = "") -> list[tuple[str, bytes]]:
        with self._lock:
            return [m for m in self.messages if m[0].startswith(topic_prefix)]

    def payloads(self, topic_prefix: str = "") -> list[dict[str, Any]]:
        return [json.loads(p) for _t, p in self.received(topic_prefix)]

    def wait_for(self, topic_prefix: str, count: int = 1, timeout: float = WAIT) -> list[tuple[str, bytes]]:
        wait_until(lambda: len(self.received(topic_prefix)) >= count, timeout=timeout)
        return self.received(topic_prefix)

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def make_user(email: str, *, superuser: bool = False, permissions: tuple[str, ...] = (), password: str = "") -> Any:
    """A member of the current schema, with the given permissions (app_label.codename)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(email=email, password=password or None, is_superuser=superuser)
    for name in permissions:
        app_label, codename = name.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def session_cookie(tenant: Any, user: Any) -> str:
    """A signed-in session of `user` on `tenant`'s host (in its schema), as the accounts app makes them."""
    from importlib import import_module

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_tenants.utils import schema_context

    from messaging.auth import _optional

    engine = import_module(settings.SESSION_ENGINE)
    with schema_context(tenant.schema_name):
        session = engine.SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0] if getattr(
            settings, "AUTHENTICATION_BACKENDS", None) else "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        tenant_key = _optional("accounts.middleware", "SESSION_TENANT")
        if tenant_key:
            session[tenant_key] = str(tenant.pk)
        session.create()
        return session.session_key


def access_token(tenant: Any, user: Any, *, expired: bool = False) -> str:
    """An access JWT for `user` on `tenant`, issued the way the accounts app issues them."""
    from django_tenants.utils import schema_context

    try:
        from accounts import tokens
    except ImportError:
        tokens = None
    with schema_context(tenant.schema_name):
        user.refresh_from_db()  # claims carry the user's current state (e.g. auth_version)
        if tokens is not None and hasattr(tokens, "issue_pair"):
            raw = tokens.issue_pair(user=user, tenant=tenant).access
            token = tokens.AccessToken(raw)
        else:
            from rest_framework_simplejwt.tokens import AccessToken

            token = AccessToken.for_user(user)
            token["tenant"] = tenant.schema_name
        if expired:
            token.set_exp(from_time=token.current_time - timedelta(hours=1), lifetime=timedelta(minutes=5))
        return str(token)


async def in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking database code in a worker thread, closing that thread's connection afterwards."""
    from django.db import connections

    def call() -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)
