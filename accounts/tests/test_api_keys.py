"""API keys: shown once, stored hashed, looked up by prefix, limited by scopes, refused once revoked or expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.tests.factories import api_key_client, jwt_client, make_member

pytestmark = pytest.mark.django_db


def keyed(tenant, secret: str) -> APIClient:
    client = APIClient(HTTP_HOST=tenant.primary_host)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def test_create_shows_the_secret_once_and_stores_only_its_hash(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    created = admin.post("/api/v1/api-keys", {"name": "GitLab CI", "scopes": ["read", "scans:write"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["key"]
    assert secret.startswith(body["prefix"]) and body["prefix"].startswith("gh_")
    with schema_context(tenant_a.schema_name):
        stored = ApiKey.objects.get(pk=body["id"])
        assert secret.split("_")[2] not in stored.secret_hash and len(stored.secret_hash) == 64
    listed = admin.get("/api/v1/api-keys").json()["results"]
    assert listed[0]["name"] == "GitLab CI" and "key" not in listed[0]
    assert "key" not in admin.get(f"/api/v1/api-keys/{body['id']}").json()

    me = keyed(tenant_a, secret).get("/api/v1/auth/me")
    assert me.status_code == 200
    assert admin.get(f"/api/v1/api-keys/{body['id']}").json()["last_used_at"] is not None


def test_scopes_limit_what_a_key_may_do(tenant_a):
    admin = make_member(tenant_a, "admin")
    reader = api_key_client(tenant_a, admin, ["read"])
    assert reader.get("/api/v1/tenants/me/members").status_code == 200
    assert reader.post("/api/v1/tenants/me/members", {"email": "x@example.test", "role": "viewer"},
                       format="json").status_code == 403
    assert reader.get("/api/v1/api-keys").status_code == 403  # no scope manages keys
    members = api_key_client(tenant_a, admin, ["members:write"])
    assert members.get("/api/v1/tenants/me/members").status_code == 403  # no "read" scope
    assert members.post("/api/v1/tenants/me/members", {"email": "x@example.test", "role": "viewer"},
                        format="json").status_code == 201
    # A key never does more than its creator.
    viewer_key = api_key_client(tenant_a, make_member(tenant_a, "viewer"), ["read"])
    assert viewer_key.post("/api/v1/tenants/me/roles", {"name": "custom"}, format="json").status_code == 403


def test_a_member_cannot_grant_scopes_beyond_their_permissions(tenant_a):
    developer = make_member(tenant_a, "developer")
    from accounts import services
    from audit.context import Actor
    from config.errors import PermissionDenied

    with schema_context(tenant_a.schema_name), pytest.raises(PermissionDenied):
        services.api_key_create(actor=Actor.for_user(developer), name="too much", scopes=["members:write"])


def test_revoked_expired_and_forged_keys_are_refused_at_once(tenant_a, tenant_b):
    admin = make_member(tenant_a, "admin")
    client = api_key_client(tenant_a, admin, ["read"])
    assert client.get("/api/v1/auth/me").status_code == 200
    admin_client = jwt_client(tenant_a, admin)
    assert admin_client.delete(f"/api/v1/api-keys/{client.api_key.pk}").status_code == 204
    revoked = client.get("/api/v1/auth/me")
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "api_key_revoked"

    expiring = api_key_client(tenant_a, admin, ["read"])
    with schema_context(tenant_a.schema_name):
        ApiKey.objects.filter(pk=expiring.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expiring.get("/api/v1/auth/me").json()["error"]["code"] == "api_key_expired"

    live = api_key_client(tenant_a, admin, ["read"])
    prefix, secret = live.secret.split("_")[1:]
    forged = keyed(tenant_a, f"gh_{prefix}_{'0' * len(secret)}").get("/api/v1/auth/me")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "api_key_invalid"
    assert keyed(tenant_a, "nonsense").get("/api/v1/auth/me").status_code == 401
    # The same key on another organization's host: unknown there.
    other = keyed(tenant_b, live.secret).get("/api/v1/auth/me")
    assert other.status_code == 401 and other.json()["error"]["code"] == "api_key_invalid"


def test_a_deactivated_creators_keys_stop_working(tenant_a):
    owner = make_member(tenant_a, "owner")
    creator = make_member(tenant_a, "admin")
    client = api_key_client(tenant_a, creator, ["read"])
    assert jwt_client(tenant_a, owner).post(f"/api/v1/tenants/me/members/{creator.pk}/deactivate").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401


def test_keys_cannot_manage_credentials(tenant_a):
    client = api_key_client(tenant_a, make_member(tenant_a, "owner"), ["read", "members:write", "settings:write"])
    assert client.post("/api/v1/auth/mfa/setup").status_code == 403
    assert client.post("/api/v1/auth/password/change", {"current_password": "x", "new_password": "y"},
                       format="json").status_code == 403
    assert client.patch("/api/v1/auth/me", {"full_name": "Robot"}, format="json").status_code == 403


def test_api_key_audit_trail(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    key_id = admin.post("/api/v1/api-keys", {"name": "SIEM", "scopes": ["audit:read"]}, format="json").json()["id"]
    admin.delete(f"/api/v1/api-keys/{key_id}")
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        actions = list(AuditEvent.objects.filter(resource_id=key_id).values_list("action", flat=True))
        assert sorted(actions) == ["api_key.create", "api_key.revoke"]
        assert "secret" not in str(AuditEvent.objects.filter(resource_id=key_id).values_list("changes", flat=True))
