"""/ws/events/ through the real ASGI application (Channels' WebsocketCommunicator), committed data:
who may connect, what each member receives, and how connections end."""

import asyncio
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import connection
from django_tenants.utils import schema_context

from messaging.consumers import SUBPROTOCOL
from messaging.events import build_envelope
from messaging.services import tenant_group
from messaging.tests.asgi_client import WebsocketCommunicator
from messaging.tests.helpers import WAIT, access_token, in_thread, make_user, session_cookie


@dataclass
class Org:
    tenant: Any
    admin: Any
    engineer: Any
    dev: Any
    tokens: dict[str, str]

    @property
    def host(self) -> bytes:
        return self.tenant.primary_host.encode()


@pytest.fixture
def org(live_tenant, db_unblocked) -> Org:
    with schema_context(live_tenant.schema_name):
        admin = make_user("admin@live.test", superuser=True)
        engineer = make_user("engineer@live.test", permissions=("scanning.view_all_scans", "accounts.view_members"))
        dev = make_user("dev@live.test")
        tokens = {name: access_token(live_tenant, user) for name, user in
                  (("admin", admin), ("engineer", engineer), ("dev", dev))}
    connection.set_schema_to_public()
    return Org(live_tenant, admin, engineer, dev, tokens)


def application():
    from config.asgi import application as app

    return app


async def open_socket(host: bytes, *, token: str | None = None, cookie: str | None = None,
                      origin: bytes | None = None, path: str = "/ws/events/") -> WebsocketCommunicator:
    headers = [(b"host", host)]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if origin:
        headers.append((b"origin", origin))
    subprotocols = [SUBPROTOCOL, token] if token else None
    communicator = WebsocketCommunicator(application(), path, headers=headers, subprotocols=subprotocols)
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    """Read until the server closes; its close code."""
    while True:
        output = await communicator.receive_output(timeout=WAIT)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def welcomed(communicator: WebsocketCommunicator) -> dict:
    message = await communicator.receive_json_from(timeout=WAIT)
    assert message["type"] == "welcome", message
    return message


async def test_jwt_in_the_subprotocol_is_accepted(org):
    communicator = WebsocketCommunicator(application(), "/ws/events/", headers=[(b"host", org.host)],
                                         subprotocols=[SUBPROTOCOL, org.tokens["dev"]])
    connected, subprotocol = await communicator.connect(timeout=WAIT)
    assert connected and subprotocol == SUBPROTOCOL  # the token itself is never echoed
    welcome = await welcomed(communicator)
    assert welcome["user"] == str(org.dev.pk) and welcome["tenant"] == org.tenant.schema_name
    assert welcome["auth"] == "jwt" and welcome["expires_at"]
    await communicator.disconnect()


async def test_jwt_in_the_first_message_is_accepted(org):
    communicator = await open_socket(org.host)
    assert (await communicator.receive_json_from(timeout=WAIT))["type"] == "auth_required"
    await communicator.send_json_to({"type": "auth", "token": org.tokens["engineer"]})
    assert (await welcomed(communicator))["user"] == str(org.engineer.pk)
    await communicator.send_json_to({"type": "ping", "id": 7})
    pong = await communicator.receive_json_from(timeout=WAIT)
    assert pong["type"] == "pong" and pong["id"] == 7
    await communicator.disconnect()


async def test_session_cookie_from_the_same_origin_is_accepted_not_from_another(org):
    cookie = await in_thread(session_cookie, org.tenant, org.dev)
    same = await open_socket(org.host, cookie=cookie, origin=b"http://" + org.host)
    assert (await welcomed(same))["auth"] == "session"
    await same.disconnect()
    # A page on another site cannot ride on the member's cookie.
    foreign = await open_socket(org.host, cookie=cookie, origin=b"https://evil.example")
    assert (await foreign.receive_json_from(timeout=WAIT))["type"] == "auth_required"
    await foreign.send_json_to({"type": "subscribe", "scan": "*"})
    assert (await foreign.receive_json_from(timeout=WAIT))["type"] == "error"
    assert await closed_with(foreign) == 4401


async def test_another_tenants_jwt_is_refused(org, tenant_a_committed):
    tenant_a, user_a = tenant_a_committed
    foreign_token = await in_thread(access_token, tenant_a, user_a)
    communicator = await open_socket(org.host, token=foreign_token)
    message = await communicator.receive_json_from(timeout=WAIT)
    assert message["type"] == "error" and message["code"] == "not_authenticated"
    assert await closed_with(communicator) == 4401


async def test_an_expired_jwt_is_refused(org):
    expired = await in_thread(access_token, org.tenant, org.dev, expired=True)
    communicator = await open_socket(org.host, token=expired)
    assert await closed_with(communicator) == 4401
    communicator = await open_socket(org.host)
    await communicator.receive_json_from(timeout=WAIT)
    await communicator.send_json_to({"type": "auth", "token": expired})
    assert await closed_with(communicator) == 4401


@pytest.mark.parametrize("first_message", [{"type": "subscribe", "scan": "*"}, {"type": "auth", "token": "x.y.z"},
                                           {"type": "auth"}, {"type": "ping"}])
async def test_no_valid_credentials_is_refused(org, first_message):
    communicator = await open_socket(org.host)
    assert (await communicator.receive_json_from(timeout=WAIT))["type"] == "auth_required"
    await communicator.send_json_to(first_message)
    assert await closed_with(communicator) == 4401


async def test_silence_is_refused_after_the_auth_timeout(org, settings):
    settings.WEBSOCKET_AUTH_TIMEOUT_SECONDS = 0.2
    communicator = await open_socket(org.host)
    assert await closed_with(communicator) == 4401


async def test_a_token_in_the_url_is_ignored(org):
    communicator = await open_socket(org.host, path=f"/ws/events/?token={org.tokens['dev']}")
    assert (await communicator.receive_json_from(timeout=WAIT))["type"] == "auth_required"
    await communicator.disconnect()


async def test_unknown_hosts_are_refused(org):
    communicator = await open_socket(b"nosuch.localhost", token=org.tokens["dev"])
    assert await closed_with(communicator) == 4404


def scan_event(tenant, event_type, scan_id, submitted_by, **data):
    return build_envelope(tenant=tenant, type=event_type, subject=scan_id,
                          data={"scan_id": scan_id, "submitted_by": submitted_by, **data})


async def drain_until(communicator, sentinel_id):
    """Every message up to (excluding) the sentinel event."""
    received = []
    while True:
        message = await communicator.receive_json_from(timeout=WAIT)
        if message.get("type") == "event" and message["event"]["id"] == sentinel_id:
            return received
        received.append(message)


async def test_each_member_receives_only_what_they_may_see(org, tenant_b_committed):
    sockets = {}
    for name in ("admin", "engineer", "dev"):
        sockets[name] = await open_socket(org.host, token=org.tokens[name])
        await welcomed(sockets[name])
    dev_scan, other_scan = str(uuid.uuid4()), str(uuid.uuid4())
    await sockets["dev"].send_json_to({"type": "subscribe", "scan": dev_scan})
    await sockets["engineer"].send_json_to({"type": "subscribe", "scan": "*"})
    await sockets["engineer"].send_json_to({"type": "subscribe", "feed": "sensors/door"})
    for name, expected in (("dev", {"type": "subscribed", "scan": dev_scan}),
                           ("engineer", {"type": "subscribed", "scan": "*"}),
                           ("engineer", {"type": "subscribed", "feed": "sensors/door"})):
        assert await sockets[name].receive_json_from(timeout=WAIT) == expected

    t = org.tenant
    dev_id, someone = str(org.dev.pk), str(uuid.uuid4())
    events = {
        "dev_queued": scan_event(t, "scan.queued", dev_scan, dev_id),
        "other_queued": scan_event(t, "scan.queued", other_scan, someone),
        "invited": build_envelope(tenant=t, type="member.invited", subject="x", data={"email": "n@live.test"}),
        "blocked": scan_event(t, "policy.blocked", dev_scan, dev_id),
        "dev_completed": scan_event(t, "scan.completed", dev_scan, dev_id),
    }
    progress_dev = build_envelope(tenant=t, type="scan.progress", subject=dev_scan,
                                  data={"scan_id": dev_scan, "percent": 50})
    progress_other = build_envelope(tenant=t, type="scan.progress", subject=other_scan,
                                    data={"scan_id": other_scan, "percent": 10, "submitted_by": someone})
    layer = get_channel_layer()
    group = tenant_group(t.pk)

    async def send(kind, payload, **extra):
        await layer.group_send(group, {"type": "gatehouse.message", "kind": kind, "topic": "t", "payload": payload,
                                       **extra})

    await send("event", events["dev_queued"])
    await send("event", events["other_queued"])
    await send("event", events["invited"])
    await send("event", events["blocked"])
    await send("progress", progress_dev, scan_id=dev_scan)
    await send("progress", progress_other, scan_id=other_scan)
    await send("feed", {"open": True}, feed="sensors/door")
    await send("feed", {"temp": 3}, feed="fridge")
    await send("event", events["dev_completed"])
    await send("event", events["dev_completed"])  # a duplicate reaches nobody twice
    # Another organization's group is another organization's: nothing of it arrives here.
    other_tenant, _ = tenant_b_committed
    await layer.group_send(tenant_group(other_tenant.pk), {
        "type": "gatehouse.message", "kind": "event", "topic": "t",
        "payload": scan_event(other_tenant, "scan.queued", "x", dev_id)})
    sentinel = build_envelope(tenant=t, type="system.notice", subject="end", data={})
    await send("event", sentinel)

    def summary(messages):
        out = []
        for m in messages:
            if m["type"] == "event":
                out.append(next(k for k, v in events.items() if v["id"] == m["event"]["id"]))
            elif m["type"] == "progress":
                out.append(f"progress:{'dev' if m['scan'] == dev_scan else 'other'}")
            else:
                out.append(f"feed:{m['feed']}")
        return out

    got = {name: summary(await drain_until(sock, sentinel["id"])) for name, sock in sockets.items()}
    assert got["admin"] == ["dev_queued", "other_queued", "invited", "blocked", "dev_completed"]
    assert got["engineer"] == ["dev_queued", "other_queued", "invited", "progress:dev", "progress:other",
                               "feed:sensors/door", "dev_completed"]
    assert got["dev"] == ["dev_queued", "progress:dev", "dev_completed"]
    for sock in sockets.values():
        await sock.disconnect()


async def test_subscription_requests_are_validated(org):
    sock = await open_socket(org.host, token=org.tokens["dev"])
    await welcomed(sock)
    for bad in ({"type": "subscribe"}, {"type": "subscribe", "scan": "../etc"}, {"type": "subscribe", "feed": "a/#"},
                {"type": "nonsense"}, ["not", "an", "object"]):
        await sock.send_json_to(bad)
        assert (await sock.receive_json_from(timeout=WAIT))["type"] == "error"
    await sock.send_json_to({"type": "unsubscribe", "scan": "*"})
    assert await sock.receive_json_from(timeout=WAIT) == {"type": "unsubscribed", "scan": "*"}
    await sock.disconnect()


async def test_suspension_closes_live_sockets_and_refuses_new_ones(org):
    from tenants.services import tenant_reactivate, tenant_suspend

    sock = await open_socket(org.host, token=org.tokens["dev"])
    await welcomed(sock)
    await in_thread(tenant_suspend, tenant=org.tenant, reason="test")
    try:
        assert await closed_with(sock) == 4403
        refused = await open_socket(org.host, token=org.tokens["dev"])
        assert await closed_with(refused) == 4403
    finally:
        await in_thread(tenant_reactivate, tenant=org.tenant)
    # Suspension revoked the member's tokens (accounts); a fresh one connects again.
    fresh = await in_thread(access_token, org.tenant, org.dev)
    again = await open_socket(org.host, token=fresh)
    await welcomed(again)
    await again.disconnect()


async def test_the_connection_ends_when_its_token_expires(org):
    from accounts import tokens as account_tokens

    token = account_tokens.AccessToken(org.tokens["dev"])  # no database: signature and claims only
    token.set_exp(lifetime=timedelta(seconds=1))
    short = str(token)
    sock = await open_socket(org.host, token=short)
    await welcomed(sock)
    assert await closed_with(sock) == 4401


async def test_permissions_are_re_read_off_the_event_path_and_a_deactivated_member_is_disconnected(org, monkeypatch):
    from django.contrib.auth import get_user_model

    from messaging import auth, consumers

    monkeypatch.setattr(consumers, "PERMISSION_REFRESH_SECONDS", 0.3)
    database_answers = threading.Event()
    real_refresh = auth.refresh_permissions

    def slow_refresh(**kwargs):
        database_answers.wait(WAIT)
        return real_refresh(**kwargs)

    monkeypatch.setattr(auth, "refresh_permissions", slow_refresh)
    sock = await open_socket(org.host, token=org.tokens["engineer"])
    await welcomed(sock)
    layer, group, t = get_channel_layer(), tenant_group(org.tenant.pk), org.tenant

    async def send(payload):
        await layer.group_send(group, {"type": "gatehouse.message", "kind": "event", "topic": "t", "payload": payload})

    async def seen_before_sentinel(payload) -> bool:
        sentinel = build_envelope(tenant=t, type="test.sentinel", subject="s", data={})
        await send(payload)
        await send(sentinel)
        return any(m.get("event", {}).get("id") == payload["id"] for m in await drain_until(sock, sentinel["id"]))

    await asyncio.sleep(0.4)  # a re-read is due: the next event starts it, and does not wait for it
    someone_elses = scan_event(t, "scan.queued", str(uuid.uuid4()), str(uuid.uuid4()))
    assert await seen_before_sentinel(someone_elses)  # scanning.view_all_scans, still being re-read
    database_answers.set()

    def revoke() -> None:
        with schema_context(t.schema_name):
            org.engineer.user_permissions.clear()

    await in_thread(revoke)
    deadline = asyncio.get_running_loop().time() + WAIT
    while await seen_before_sentinel(scan_event(t, "scan.queued", str(uuid.uuid4()), str(uuid.uuid4()))):
        assert asyncio.get_running_loop().time() < deadline, "the revoked permission was never re-read"
        await asyncio.sleep(0.2)

    def deactivate() -> None:
        with schema_context(t.schema_name):
            get_user_model().objects.filter(pk=org.engineer.pk).update(is_active=False)

    await in_thread(deactivate)
    await asyncio.sleep(0.5)
    await send(build_envelope(tenant=t, type="test.sentinel", subject="s", data={}))  # an event prompts the re-read
    assert await closed_with(sock) == 4401


async def test_a_channel_message_it_cannot_handle_closes_the_connection_not_leaves_it_deaf(org):
    """Each source of messages has its own loop: a failure in the channel's must end the connection."""
    sock = await open_socket(org.host, token=org.tokens["admin"])
    await welcomed(sock)
    await sock.send_json_to({"type": "ping", "id": 1})
    assert (await sock.receive_json_from(timeout=WAIT))["type"] == "pong"
    await get_channel_layer().group_send(tenant_group(org.tenant.pk), {"type": "no.such.handler"})
    assert await closed_with(sock) == 1011


@pytest.mark.django_db
def test_close_codes_are_distinct_and_documented():
    from messaging import consumers
    from tenants import asgi

    codes = {consumers.CLOSE_UNAUTHENTICATED, consumers.CLOSE_SUSPENDED, asgi.CLOSE_UNKNOWN_HOST}
    assert codes == {4401, 4403, 4404}
    assert consumers.CLOSE_SUSPENDED == asgi.CLOSE_TENANT_SUSPENDED
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "messaging.md").read_text()
    live_js = (Path(__file__).resolve().parents[2] / "static" / "js" / "live.js").read_text()
    for code in codes:
        assert f"| {code} |" in doc
    # The dashboard script treats the same codes as final states.
    assert "e.code === 4401" in live_js and "e.code === 4403" in live_js
