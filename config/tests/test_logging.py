"""Structured logs: one JSON line per request with its context; no secret ever reaches a log line.

The secrets test drives the real sign-in, token refresh and API-key endpoints and captures
every log record at DEBUG, formatted by both formatters, plus every response body.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from audit.tests.helpers import PASSWORD, make_member, member_client
from config.logging import JsonFormatter, TextFormatter

pytestmark = pytest.mark.django_db


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        json_fmt, text_fmt = JsonFormatter(), TextFormatter()
        return [f(r) for r in self.records for f in (json_fmt.format, text_fmt.format)]


@pytest.fixture
def captured():
    handler = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def access_lines(handler: Capture) -> list[dict]:
    return [json.loads(JsonFormatter().format(r)) for r in handler.records if r.name == "gatehouse.access"]


def test_one_access_line_per_request_with_request_id_tenant_user_route_status_duration(tenant_a, captured):
    client, user = member_client(tenant_a, "audit.view_audit")
    client.get("/api/v1/audit-events", {"page_size": 1}, HTTP_X_REQUEST_ID="trace-audit-0001")
    lines = [line for line in access_lines(captured) if line["request_id"] == "trace-audit-0001"]
    assert len(lines) == 1
    line = lines[0]
    assert line["tenant"] == "acme" and line["user"] == str(user.pk)
    assert line["method"] == "GET" and line["route"] == "/api/v1/audit-events"
    assert line["status"] == 200 and line["duration_ms"] >= 0 and line["level"] == "INFO"


def test_lines_logged_during_a_request_name_the_authenticated_user(tenant_a, captured):
    client, user = member_client(tenant_a, "audit.view_audit")
    client.get("/api/v1/audit-events/not-a-uuid", HTTP_X_REQUEST_ID="trace-audit-0002")
    refused = [json.loads(JsonFormatter().format(r)) for r in captured.records
               if r.name == "gatehouse.errors" and r.request_id == "trace-audit-0002"]
    assert refused and refused[0]["user"] == str(user.pk) and refused[0]["status"] == 404


def test_django_request_logs_carry_the_route_not_the_path(tenant_a, captured, settings):
    settings.ROOT_URLCONF = "tenants.tests.probe_urls"
    client = Client(HTTP_HOST=tenant_a.primary_host, raise_request_exception=False)
    client.get("/probe/explode", HTTP_X_REQUEST_ID="trace-explode-01")
    errors = [json.loads(JsonFormatter().format(r)) for r in captured.records
              if r.name == "django.request" and r.request_id == "trace-explode-01"]
    assert errors and errors[0]["route"] == "/probe/explode"
    assert "hunter2" not in json.dumps(errors)


def test_no_secret_reaches_a_log_line_or_an_error_message(tenant_a, captured):
    """Sign in, refresh, use and misuse tokens and API keys; then look for every secret involved."""
    user = make_member(tenant_a, "audit.view_audit", "accounts.manage_api_keys")
    api = Client(HTTP_HOST=tenant_a.primary_host)
    bodies: list[str] = []

    def call(method: str, path: str, data=None, **headers) -> dict:
        response = getattr(api, method)(path, data, content_type="application/json", **headers) \
            if data is not None else getattr(api, method)(path, **headers)
        text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        bodies.append(text)
        return {"status": response.status_code, "json": json.loads(text) if text.startswith("{") else None,
                "cookies": {k: v.value for k, v in response.cookies.items()}}

    wrong_password = "Not-The-Password-99!"
    failed = call("post", "/api/v1/auth/login", {"email": user.email, "password": wrong_password})
    assert failed["status"] in (400, 401)
    login = call("post", "/api/v1/auth/login", {"email": user.email, "password": PASSWORD})
    assert login["status"] == 200, login
    access, refresh = login["json"]["access"], login["json"]["refresh"]

    refreshed = call("post", "/api/v1/auth/refresh", {"refresh": refresh})
    assert refreshed["status"] == 200, refreshed
    new_access, new_refresh = refreshed["json"]["access"], refreshed["json"]["refresh"]
    created = call("post", "/api/v1/api-keys", {"name": "siem export", "scopes": ["audit:read"]},
                   HTTP_AUTHORIZATION=f"Bearer {new_access}")
    assert created["status"] == 201, created
    key_secret = next(v for k, v in created["json"].items() if k in ("key", "secret", "api_key"))
    used = call("get", "/api/v1/audit-events", HTTP_AUTHORIZATION=f"Api-Key {key_secret}")
    assert used["status"] == 200, used
    forged = key_secret[:-6] + "AAAAAA"
    assert call("get", "/api/v1/audit-events", HTTP_AUTHORIZATION=f"Api-Key {forged}")["status"] == 401
    assert call("get", "/api/v1/audit-events", HTTP_AUTHORIZATION="Bearer not.a.valid-token")["status"] == 401
    reused = call("post", "/api/v1/auth/refresh", {"refresh": refresh})  # rotation: the old one is spent
    assert reused["status"] == 401

    dashboard = Client(HTTP_HOST=tenant_a.primary_host)
    dashboard.get("/login/")
    signed_in = dashboard.post("/login/", {"email": user.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    session_cookie = signed_in.cookies["sessionid"].value
    csrf_cookie = dashboard.cookies["csrftoken"].value

    secrets_used = {
        "password": PASSWORD, "wrong password": wrong_password, "access token": access, "refresh token": refresh,
        "rotated access token": new_access, "rotated refresh token": new_refresh, "API key": key_secret,
        "forged API key": forged, "session cookie": session_cookie, "CSRF cookie": csrf_cookie,
    }
    lines = captured.lines()
    assert len(access_lines(captured)) >= 9
    for name, secret in secrets_used.items():
        leaking = [line for line in lines if secret in line]
        assert not leaking, f"the {name} reached a log line: {leaking[0][:300]}"
    for name, secret in secrets_used.items():
        if name in ("access token", "refresh token", "rotated access token", "rotated refresh token", "API key"):
            continue  # returned on purpose by the endpoint that issues them
        assert not [b for b in bodies if secret in b], f"the {name} appears in a response body"
    for body in bodies:
        if '"error"' in body:
            for secret in secrets_used.values():
                assert secret not in body
    # The audit trail recorded the story without the secrets either.
    from audit.models import AuditEvent

    with schema_context(tenant_a.schema_name):
        trail = json.dumps(list(AuditEvent.objects.values("changes", "metadata", "reason", "user_agent")))
    assert all(secret not in trail for secret in secrets_used.values())
