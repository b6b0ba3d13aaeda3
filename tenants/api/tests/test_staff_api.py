"""The staff tenant API on the platform host: staff only (session or a `platform:tenants` key)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from tenants.models import Tenant

pytestmark = pytest.mark.django_db
STAFF_PASSWORD = "Staff-Secret-Pass-1"


@pytest.fixture
def staff(public_client):
    connection.set_schema_to_public()
    return get_user_model().objects.create_user(email="ops@gatehouse.test", password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def staff_api(staff, settings):
    client = APIClient(HTTP_HOST=settings.BASE_DOMAIN)
    client.login(email="ops@gatehouse.test", password=STAFF_PASSWORD)
    return client


def staff_key(staff, scopes):
    from accounts import services
    from audit.context import Actor

    connection.set_schema_to_public()
    _key, secret = services.api_key_create(actor=Actor.for_user(staff, staff=True), name="ops script",
                                           scopes=scopes, platform=True)
    return secret


def test_staff_create_list_update_suspend_reactivate(staff_api, staff, settings):
    created = staff_api.post("/api/v1/tenants", {"slug": "scripted", "name": "Scripted Inc",
                                                  "subscription_tier": "basic",
                                                  "owner_email": "founder@scripted.test"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "scripted" and body["status"] == "active" and body["host"] == "scripted.localhost"
    assert created["Location"] == "/api/v1/tenants/scripted"
    assert "owner" in body["provisioning_steps"]
    dup = staff_api.post("/api/v1/tenants", {"slug": "scripted", "name": "Again"}, format="json")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "tenant_exists"
    bad = staff_api.post("/api/v1/tenants", {"slug": "Bad-Slug", "name": "x"}, format="json")
    assert bad.status_code == 400 and "slug" in bad.json()["error"]["details"]
    bad_settings = staff_api.post("/api/v1/tenants", {"slug": "badsettings", "name": "x",
                                                       "settings": {"nope": 1}}, format="json")
    assert bad_settings.status_code == 400

    listing = staff_api.get("/api/v1/tenants?search=script").json()
    assert [t["slug"] for t in listing["results"]] == ["scripted"]
    assert "_template" not in str(staff_api.get("/api/v1/tenants").json())
    updated = staff_api.patch("/api/v1/tenants/scripted", {"name": "Scripted", "settings": {"require_mfa": True}},
                              format="json")
    assert updated.status_code == 200 and updated.json()["settings"]["require_mfa"] is True
    suspended = staff_api.post("/api/v1/tenants/scripted/suspend", {"reason": "unpaid"}, format="json")
    assert suspended.json()["status"] == "suspended"
    assert APIClient(HTTP_HOST="scripted.localhost").get("/api/v1/system/info").status_code == 403
    assert staff_api.post("/api/v1/tenants/scripted/reactivate").json()["status"] == "active"
    assert staff_api.get("/api/v1/tenants/nothere").status_code == 404


def test_only_staff(public_client, settings, tenant_a):
    connection.set_schema_to_public()
    get_user_model().objects.create_user(email="plain@gatehouse.test", password=STAFF_PASSWORD)
    client = APIClient(HTTP_HOST=settings.BASE_DOMAIN)
    assert client.get("/api/v1/tenants").status_code in (401, 403)
    client.login(email="plain@gatehouse.test", password=STAFF_PASSWORD)
    assert client.get("/api/v1/tenants").status_code == 403
    # The tenant API is not served on an organization's host.
    assert APIClient(HTTP_HOST=tenant_a.primary_host).get("/api/v1/tenants").status_code in (401, 404)


def test_staff_api_key_with_the_platform_scope(staff, settings):
    secret = staff_key(staff, ["platform:tenants"])
    client = APIClient(HTTP_HOST=settings.BASE_DOMAIN)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert client.get("/api/v1/tenants").status_code == 200
    created = client.post("/api/v1/tenants", {"slug": "keymade", "name": "Key Made"}, format="json")
    assert created.status_code == 201
    assert Tenant.objects.get(schema_name="keymade").is_ready
    # The staff key means nothing on an organization's host.
    other = APIClient(HTTP_HOST="keymade.localhost")
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert other.get("/api/v1/auth/me").status_code == 401
