"""Rate limits per user, per API key and per client address: 429 in the envelope with Retry-After."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from audit.tests.helpers import member_client
from config.api.throttling import parse_rate
from config.testing.windows import start_in_fresh_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    rates = {"ip": "4/min", "user": "3/min", "api_key": "2/min", "audit_export": "1/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    start_in_fresh_window(60)
    return rates


def fresh_ip() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def assert_throttled(response) -> None:
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled" and error["request_id"] == response["X-Request-ID"]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600 and error["details"]["retry_after"] >= retry_after


def test_parse_rate():
    assert parse_rate("100/min") == (100, 60)
    assert parse_rate("30/60") == (30, 60)
    assert parse_rate("5/hour") == (5, 3600)
    assert parse_rate(None) is None
    with pytest.raises(ValueError, match="not '<count>/<period>'"):
        parse_rate("lots/fortnight")


def test_anonymous_requests_are_limited_per_address(low_rates, client_a):
    ip = fresh_ip()
    for _ in range(4):
        assert client_a.get("/api/v1/system/info", REMOTE_ADDR=ip).status_code == 200
    assert_throttled(client_a.get("/api/v1/system/info", REMOTE_ADDR=ip))
    # Another address has its own window.
    assert client_a.get("/api/v1/system/info", REMOTE_ADDR=fresh_ip()).status_code == 200


def test_members_are_limited_per_user(low_rates, tenant_a):
    first, _ = member_client(tenant_a, "audit.view_audit")
    second, _ = member_client(tenant_a, "audit.view_audit")
    ip = fresh_ip()
    for _ in range(3):
        assert first.get("/api/v1/audit-events", REMOTE_ADDR=fresh_ip()).status_code == 200
    assert_throttled(first.get("/api/v1/audit-events", REMOTE_ADDR=fresh_ip()))
    assert second.get("/api/v1/audit-events", REMOTE_ADDR=ip).status_code == 200


def test_api_keys_are_limited_per_key(low_rates, tenant_a, settings):
    from django_tenants.utils import schema_context

    from accounts import services
    from audit.context import Actor

    _, user = member_client(tenant_a, "audit.view_audit", "accounts.manage_api_keys")
    with schema_context(tenant_a.schema_name):
        _, secret = services.api_key_create(actor=Actor.for_user(user), name="siem", scopes=["audit:read"])
        _, other_secret = services.api_key_create(actor=Actor.for_user(user), name="backup", scopes=["audit:read"])
    client = Client(HTTP_HOST=tenant_a.primary_host)
    for _ in range(2):
        ok = client.get("/api/v1/audit-events", HTTP_AUTHORIZATION=f"Api-Key {secret}", REMOTE_ADDR=fresh_ip())
        assert ok.status_code == 200, ok.content
    assert_throttled(client.get("/api/v1/audit-events", HTTP_AUTHORIZATION=f"Api-Key {secret}",
                                REMOTE_ADDR=fresh_ip()))
    assert client.get("/api/v1/audit-events", HTTP_AUTHORIZATION=f"Api-Key {other_secret}",
                      REMOTE_ADDR=fresh_ip()).status_code == 200


def test_scoped_limits_apply_to_views_that_name_a_scope(low_rates, tenant_a):
    client, _ = member_client(tenant_a, "audit.view_audit")
    first = client.get("/api/v1/audit-events/export.csv", REMOTE_ADDR=fresh_ip())
    assert first.status_code == 200
    b"".join(first.streaming_content)
    assert_throttled(client.get("/api/v1/audit-events/export.csv", REMOTE_ADDR=fresh_ip()))


def test_limits_are_per_organization(low_rates, client_a, client_b):
    ip = fresh_ip()
    for _ in range(4):
        client_a.get("/api/v1/system/info", REMOTE_ADDR=ip)
    assert client_a.get("/api/v1/system/info", REMOTE_ADDR=ip).status_code == 429
    assert client_b.get("/api/v1/system/info", REMOTE_ADDR=ip).status_code == 200
