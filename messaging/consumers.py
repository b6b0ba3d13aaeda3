"""`/ws/events/`: an organization's live events, filtered for one member.

Protocol (JSON text frames; documented in docs/messaging.md):

- Authenticate with the session cookie (same-origin pages), with the subprotocols
  `["gatehouse.bearer", "<access JWT>"]` (the server answers `gatehouse.bearer`), or
  by sending `{"type": "auth", "token": "<access JWT>"}` as the first message within
  WEBSOCKET_AUTH_TIMEOUT_SECONDS. Never in the URL.
- Then the server sends `{"type": "welcome", ...}` and, as they happen, the events the
  member may see: `{"type": "event", "event": <CloudEvent>}`, progress ticks of the
  scans they subscribed to `{"type": "progress", "scan": id, "event": ...}` and
  integrator feed messages they subscribed to `{"type": "feed", "feed": name, "payload": ...}`.
- Client messages: `subscribe` / `unsubscribe` with `scan` (a scan id or "*") or
  `feed` (a feed name or "*"), and `ping` (answered with `pong`).
- Close codes: 4401 not authenticated (missing, invalid, expired or another organization's
  credentials, or anything but `auth` sent first), 4403 organization suspended, 4404
  unknown host (see tenants.asgi).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import random
import re
import time
from collections import OrderedDict
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from config.logging import log_context
from messaging import auth
from messaging.events import FEED_NAME_RE
from messaging.selectors import event_visible
from messaging.services import tenant_group

logger = logging.getLogger(__name__)

SUBPROTOCOL = "gatehouse.bearer"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_SUSPENDED = 4403
PERMISSION_REFRESH_SECONDS = 60.0
RECENT_IDS = 4096
MAX_SUBSCRIPTIONS = 100
SCAN_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
FRAME_CACHE_SIZE = 2048

# One event reaches every member of an organization connected to this process: its JSON
# frame is the same for all of them, so it is encoded once (keyed by organization, kind and id).
_frames: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()


def event_frame(kind: str, event_id: str, scan: str, payload: dict[str, Any]) -> str:
    key = (str(payload.get("tenant") or ""), kind, event_id, scan)
    frame = _frames.get(key)
    if frame is None:
        body: dict[str, Any] = {"type": kind, "event": payload}
        if kind == "progress":
            body = {"type": kind, "scan": scan, "event": payload}
        frame = json.dumps(body, separators=(",", ":"))
        if event_id:
            _frames[key] = frame
            while len(_frames) > FRAME_CACHE_SIZE:
                _frames.popitem(last=False)
    return frame


class EventsConsumer(AsyncJsonWebsocketConsumer):
    identity: auth.Identity | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer loop, with one long-lived task per source of messages.

        Channels waits on the socket and the channel layer together and starts a new task
        for each message; with every organization event fanned out to each open dashboard,
        that per-message task and wait were most of the web tier's work. Here the socket
        is read in this task and the channel in one other; each handles its messages in
        order, and ending either ends the connection.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        events = asyncio.create_task(self._channel_messages())
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            events.cancel()  # also unsubscribes the channel (the layer cleans up on cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await events

    async def _channel_messages(self) -> None:
        while True:
            message = await self.channel_receive()
            try:
                await self.dispatch(message)
            except Exception:
                logger.exception("websocket: handling a channel-layer message failed; closing",
                                 extra={"type": str(message.get("type"))[:80]})
                await self.close(code=1011)
                return

    # -- connection ----------------------------------------------------------------------
    async def connect(self) -> None:
        self.tenant = self.scope["tenant"]
        self.identity = None
        self.group = tenant_group(self.tenant.pk)
        self.scans: set[str] = set()
        self.feeds: set[str] = set()
        self.own_scans: set[str] = set()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.permissions_due = 0.0
        self.refreshing: asyncio.Task[None] | None = None
        self.timers: list[asyncio.Task[Any]] = []

        subprotocols = list(self.scope.get("subprotocols") or [])
        if SUBPROTOCOL in subprotocols:
            token = next((p for p in subprotocols if p != SUBPROTOCOL), "")
            await self.accept(subprotocol=SUBPROTOCOL)
            await self._authenticate_jwt(token)
            return
        session_key = self._session_key()
        if session_key and self._same_origin():
            await self.accept()
            try:
                identity = await self._call(auth.authenticate_session, tenant=self.tenant, session_key=session_key)
            except auth.AuthenticationFailed:
                identity = None
            if identity is not None:
                await self._start(identity)
                return
        else:
            await self.accept()
        # No usable credentials yet: the first message must carry a token.
        self.timers.append(asyncio.create_task(self._auth_deadline()))
        await self.send_json({"type": "auth_required", "timeout": settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS})

    async def disconnect(self, code: int) -> None:
        for timer in self.timers:
            timer.cancel()
        if self.identity is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _start(self, identity: auth.Identity) -> None:
        self.identity = identity
        # Spread from the start: sockets opened together (a page load, a reconnect storm) must
        # not all re-read their permissions in the same moment.
        self.permissions_due = time.monotonic() + PERMISSION_REFRESH_SECONDS * random.uniform(0.5, 1.0)  # noqa: S311
        for timer in self.timers:
            timer.cancel()
        self.timers = []
        await self.channel_layer.group_add(self.group, self.channel_name)
        if identity.expires_at is not None:
            self.timers.append(asyncio.create_task(self._expire_at(identity.expires_at)))
        with log_context(tenant=self.tenant.schema_name, user=identity.user_id):
            logger.info("websocket authenticated", extra={"method": identity.method})
        await self.send_json({"type": "welcome", "tenant": self.tenant.schema_name, "user": identity.user_id,
                              "auth": identity.method, "expires_at": identity.expires_at})

    async def _authenticate_jwt(self, token: str) -> None:
        try:
            identity = await self._call(auth.authenticate_jwt, tenant=self.tenant, token=token)
        except auth.AuthenticationFailed as exc:
            await self._refuse(str(exc))
            return
        await self._start(identity)

    async def _refuse(self, message: str, code: int = CLOSE_UNAUTHENTICATED) -> None:
        await self.send_json({"type": "error", "code": "not_authenticated" if code == CLOSE_UNAUTHENTICATED
                              else "refused", "message": message})
        await self.close(code=code)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS)
        if self.identity is None:
            await self._refuse("Authenticate within the time allowed: send {\"type\": \"auth\", \"token\": ...}.")

    async def _expire_at(self, when: float) -> None:
        await asyncio.sleep(max(when - time.time(), 0))
        await self._refuse("The token has expired; reconnect with a fresh one.")

    @staticmethod
    @database_sync_to_async
    def _call(func: Any, **kwargs: Any) -> Any:
        return func(**kwargs)

    def _headers(self) -> dict[bytes, bytes]:
        return {k.lower(): v for k, v in self.scope.get("headers") or []}

    def _session_key(self) -> str:
        raw = self._headers().get(b"cookie", b"").decode("latin-1")
        if not raw:
            return ""
        cookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # noqa: BLE001 - a malformed cookie header is simply no session
            return ""
        morsel = cookie.get(settings.SESSION_COOKIE_NAME)
        return morsel.value if morsel else ""

    def _same_origin(self) -> bool:
        """Cookies ride along with cross-site WebSockets: accept them only from our own pages."""
        headers = self._headers()
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if not origin:
            return False
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc.lower() == host

    # -- client messages -----------------------------------------------------------------
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("bad_message", "Send a JSON object with a 'type'.")
            return
        kind = content.get("type")
        if self.identity is None:
            if kind == "auth":
                await self._authenticate_jwt(str(content.get("token") or ""))
            else:
                await self._refuse("Authenticate first: send {\"type\": \"auth\", \"token\": ...}.")
            return
        if kind == "ping":
            await self.send_json({"type": "pong", "id": content.get("id"), "time": time.time()})
        elif kind in ("subscribe", "unsubscribe"):
            await self._subscription(kind, content)
        elif kind == "auth":
            await self._error("already_authenticated", "This connection is already authenticated.")
        else:
            await self._error("bad_message", f"Unknown message type {str(kind)[:40]!r}.")

    async def decode_json(self, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def _subscription(self, kind: str, content: dict[str, Any]) -> None:
        adding = kind == "subscribe"
        if "scan" in content:
            target, value, valid = self.scans, str(content["scan"]), SCAN_ID_RE.match(str(content["scan"]))
        elif "feed" in content:
            target, value, valid = self.feeds, str(content["feed"]), FEED_NAME_RE.match(str(content["feed"]))
        else:
            await self._error("bad_message", "Subscribe to a 'scan' (id or \"*\") or a 'feed' (name or \"*\").")
            return
        if not (valid or value == "*"):
            await self._error("bad_message", "That is not a valid scan id or feed name.")
            return
        if adding:
            if len(self.scans) + len(self.feeds) >= MAX_SUBSCRIPTIONS:
                await self._error("too_many_subscriptions", f"At most {MAX_SUBSCRIPTIONS} subscriptions.")
                return
            target.add(value)
        else:
            target.discard(value)
        await self.send_json({"type": "subscribed" if adding else "unsubscribed",
                              "scan" if target is self.scans else "feed": value})

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, which costs a trip
        # to a worker thread per message. Events from the channel layer touch the database
        # only through database_sync_to_async (which does its own clean-up): skip it for them.
        if message.get("type") == "gatehouse.message":
            await self.gatehouse_message(message)
            return
        await super().dispatch(message)

    # -- channel-layer messages ----------------------------------------------------------
    async def tenant_closed(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "error", "code": "tenant_suspended",
                              "message": "This organization is suspended."})
        await self.close(code=int(message.get("code") or CLOSE_SUSPENDED))

    async def gatehouse_message(self, message: dict[str, Any]) -> None:
        identity = self.identity
        if identity is None:
            return
        kind = message.get("kind")
        payload = message.get("payload")
        if kind == "feed":
            name = str(message.get("feed") or "")
            if name in self.feeds or "*" in self.feeds:
                await self.send_json({"type": "feed", "feed": name, "payload": payload})
            return
        if not isinstance(payload, dict):
            return
        event_id = str(payload.get("id") or "")
        if event_id in self.recent:
            return
        self._refresh_permissions_when_due()
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        scan_id = str(data.get("scan_id") or "")
        if scan_id and str(data.get("submitted_by") or "") == identity.user_id:
            self.own_scans.add(scan_id)
        if not event_visible(payload, permissions=identity.permissions, user_id=identity.user_id,
                             own_scans=self.own_scans):
            return
        self._remember(event_id)
        if kind == "progress":
            scan = str(message.get("scan_id") or scan_id)
            if scan in self.scans or "*" in self.scans:
                await self.send(text_data=event_frame("progress", event_id, scan, payload))
        elif kind == "event":
            await self.send(text_data=event_frame("event", event_id, "", payload))

    def _remember(self, event_id: str) -> None:
        if not event_id:
            return
        self.recent[event_id] = None
        while len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    def _refresh_permissions_when_due(self) -> None:
        """Re-read the member's permissions now and then, off the event path.

        Events keep flowing with the permissions read last while the database answers;
        a member who was deactivated meanwhile is disconnected then.
        """
        if self.refreshing is None and time.monotonic() >= self.permissions_due:
            self.refreshing = asyncio.create_task(self._refresh_permissions())
            self.timers = [t for t in self.timers if not t.done()] + [self.refreshing]

    async def _refresh_permissions(self) -> None:
        identity = self.identity
        if identity is None:
            return
        try:
            permissions = await self._call(auth.refresh_permissions, tenant=self.tenant, user_id=identity.user_id)
        except Exception:  # noqa: BLE001 - the database is away: keep what we know, try again later
            logger.warning("websocket: permissions not refreshed", exc_info=True,
                           extra={"tenant": self.tenant.schema_name, "user": identity.user_id})
            permissions = identity.permissions
        finally:
            self.refreshing = None
            self.permissions_due = time.monotonic() + PERMISSION_REFRESH_SECONDS * random.uniform(0.8, 1.2)  # noqa: S311
        if permissions is None:
            await self._refuse("This account is no longer active.")
            return
        if self.identity is identity:
            self.identity = dataclasses.replace(identity, permissions=permissions)
