"""Members, invitations and roles: owner rules, the last owner, expiring one-time invitations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.models import Invitation
from accounts.tests.factories import jwt_client, make_member

pytestmark = pytest.mark.django_db


def invite(client, email, role="developer"):
    return client.post("/api/v1/tenants/me/members", {"email": email, "role": role}, format="json")


def token_from_mail() -> str:
    return re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)


def test_invitation_is_emailed_accepted_once_and_publishes_events(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    response = invite(admin, "New.Person@Example.test", "security_engineer")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new.person@example.test" and body["role"] == "security_engineer"
    assert body["status"] == "pending"
    message = mail.outbox[-1]
    assert message.to == ["new.person@example.test"] and "Acme Corp" in message.subject
    assert message.alternatives[0][1] == "text/html" and "/invitations/" in message.alternatives[0][0]
    token = token_from_mail()
    with schema_context(tenant_a.schema_name):
        invitation = Invitation.objects.get(pk=body["id"])
        assert token not in invitation.token_hash  # only the hash is stored
        from messaging.models import OutboxEvent

        event = OutboxEvent.objects.get(type="member.invited")
        assert event.envelope["data"]["email"] == "new.person@example.test"
        assert event.topic == "org/acme/events/member.invited"

    anonymous = APIClient(HTTP_HOST=tenant_a.primary_host)
    accepted = anonymous.post("/api/v1/auth/invitations/accept",
                              {"token": token, "password": "Joining-Secret-77", "full_name": "New Person"},
                              format="json")
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["role"] == "security_engineer"
    again = anonymous.post("/api/v1/auth/invitations/accept", {"token": token, "password": "Joining-Secret-78"},
                           format="json")
    assert again.status_code == 404 and again.json()["error"]["code"] == "invitation_invalid"
    signed_in = anonymous.post("/api/v1/auth/login", {"email": "new.person@example.test",
                                                      "password": "Joining-Secret-77"}, format="json")
    assert signed_in.status_code == 200
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        assert {"member.invite", "invitation.accept"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_invitations_expire(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    assert invite(admin, "late@example.test").status_code == 201
    token = token_from_mail()
    with schema_context(tenant_a.schema_name):
        Invitation.objects.filter(email="late@example.test").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = APIClient(HTTP_HOST=tenant_a.primary_host).post(
        "/api/v1/auth/invitations/accept", {"token": token, "password": "Joining-Secret-77"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "invitation_invalid"
    assert admin.get("/api/v1/tenants/me/invitations").json()["count"] == 0


def test_revoked_invitation_cannot_be_accepted(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    invitation_id = invite(admin, "revoked@example.test").json()["id"]
    token = token_from_mail()
    assert admin.delete(f"/api/v1/tenants/me/invitations/{invitation_id}").status_code == 204
    response = APIClient(HTTP_HOST=tenant_a.primary_host).post(
        "/api/v1/auth/invitations/accept", {"token": token, "password": "Joining-Secret-77"}, format="json")
    assert response.status_code == 404


def test_an_invitation_token_is_useless_on_another_tenant(tenant_a, tenant_b):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    invite(admin, "cross@example.test")
    response = APIClient(HTTP_HOST=tenant_b.primary_host).post(
        "/api/v1/auth/invitations/accept", {"token": token_from_mail(), "password": "Joining-Secret-77"},
        format="json")
    assert response.status_code == 404


def test_inviting_an_existing_member_conflicts(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    make_member(tenant_a, "viewer", email="already@example.test")
    response = invite(admin, "already@example.test")
    assert response.status_code == 409 and response.json()["error"]["code"] == "member_exists"


def test_only_owners_grant_or_remove_owner(tenant_a):
    owner = make_member(tenant_a, "owner")
    admin_user = make_member(tenant_a, "admin")
    admin = jwt_client(tenant_a, admin_user)
    dev = make_member(tenant_a, "developer")
    refused = admin.patch(f"/api/v1/tenants/me/members/{dev.pk}", {"role": "owner"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "owner_required"
    assert invite(admin, "boss@example.test", "owner").status_code == 403
    assert admin.patch(f"/api/v1/tenants/me/members/{owner.pk}", {"role": "viewer"}, format="json").status_code == 403
    assert admin.post(f"/api/v1/tenants/me/members/{owner.pk}/deactivate").status_code == 403
    # An admin may still manage everyone else.
    assert admin.patch(f"/api/v1/tenants/me/members/{dev.pk}", {"role": "viewer"}, format="json").status_code == 200

    owner_client = jwt_client(tenant_a, owner)
    granted = owner_client.patch(f"/api/v1/tenants/me/members/{dev.pk}", {"role": "owner"}, format="json")
    assert granted.status_code == 200 and granted.json()["role"] == "owner"
    assert invite(owner_client, "boss@example.test", "owner").status_code == 201


def test_the_last_owner_cannot_be_demoted_or_deactivated(tenant_a):
    with schema_context(tenant_a.schema_name):
        from django.contrib.auth import get_user_model

        assert not get_user_model().objects.filter(groups__name="owner").exists()
    owner = make_member(tenant_a, "owner")
    client = jwt_client(tenant_a, owner)
    demote = client.patch(f"/api/v1/tenants/me/members/{owner.pk}", {"role": "admin"}, format="json")
    assert demote.status_code == 409 and demote.json()["error"]["code"] == "last_owner"
    second = make_member(tenant_a, "owner")
    assert client.post(f"/api/v1/tenants/me/members/{second.pk}/deactivate").status_code == 200
    # With the second owner deactivated, the first is the last active one again.
    assert client.patch(f"/api/v1/tenants/me/members/{owner.pk}", {"role": "admin"},
                        format="json").json()["error"]["code"] == "last_owner"
    assert client.post(f"/api/v1/tenants/me/members/{second.pk}/reactivate").status_code == 200
    assert client.patch(f"/api/v1/tenants/me/members/{owner.pk}", {"role": "admin"}, format="json").status_code == 200
    # The remaining owner cannot be deactivated by an admin (owner rule) nor by themself.
    with schema_context(tenant_a.schema_name):
        second.refresh_from_db()  # deactivation bumped its auth_version
    second_client = jwt_client(tenant_a, second)
    self_off = second_client.post(f"/api/v1/tenants/me/members/{second.pk}/deactivate")
    assert self_off.status_code == 409


def test_custom_roles(tenant_a):
    admin = jwt_client(tenant_a, make_member(tenant_a, "admin"))
    created = admin.post("/api/v1/tenants/me/roles", {
        "name": "auditor", "description": "Reads the audit trail",
        "permissions": ["audit.view_audit", "accounts.view_members"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json() == {"name": "auditor", "description": "Reads the audit trail", "is_system": False,
                              "permissions": ["accounts.view_members", "audit.view_audit"], "member_count": 0}
    assert admin.post("/api/v1/tenants/me/roles", {"name": "auditor"}, format="json").status_code == 409
    assert admin.post("/api/v1/tenants/me/roles", {"name": "owner"}, format="json").status_code == 400
    assert admin.post("/api/v1/tenants/me/roles", {"name": "x", "permissions": ["nope.nothing"]},
                      format="json").status_code == 400
    assert admin.patch("/api/v1/tenants/me/roles/owner", {"description": "mine"}, format="json").status_code == 409

    member = make_member(tenant_a, "auditor")
    member_client = jwt_client(tenant_a, member)
    assert member_client.get("/api/v1/tenants/me/members").status_code == 200
    assert member_client.get("/api/v1/api-keys").status_code == 403

    changed = admin.patch("/api/v1/tenants/me/roles/auditor", {"permissions": ["audit.view_audit"]}, format="json")
    assert changed.status_code == 200 and changed.json()["permissions"] == ["audit.view_audit"]
    # Permissions are read from the database on every request: the change applies at once.
    assert member_client.get("/api/v1/tenants/me/members").status_code == 403
    in_use = admin.delete("/api/v1/tenants/me/roles/auditor")
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "role_in_use"
    assert admin.patch(f"/api/v1/tenants/me/members/{member.pk}", {"role": "viewer"}, format="json").status_code == 200
    assert admin.delete("/api/v1/tenants/me/roles/auditor").status_code == 204
    assert admin.get("/api/v1/tenants/me/roles/auditor").status_code == 404


def test_system_roles_are_seeded_with_the_documented_permissions(tenant_a):
    from accounts.roles import ROLE_PERMISSIONS

    client = jwt_client(tenant_a, make_member(tenant_a, "viewer"))
    roles = {r["name"]: r for r in client.get("/api/v1/tenants/me/roles").json()}
    assert {"owner", "admin", "security_engineer", "developer", "viewer"} <= set(roles)
    for name, role in roles.items():
        assert role["is_system"] is True
        # Every seeded permission is documented for the role (apps that do not exist yet add theirs later).
        assert set(role["permissions"]) <= ROLE_PERMISSIONS[name]
    assert "accounts.manage_members" in roles["admin"]["permissions"]
    assert "accounts.manage_members" not in roles["viewer"]["permissions"]


def test_members_list_filters_orders_and_does_not_query_per_row(tenant_a, django_assert_max_num_queries):
    client = jwt_client(tenant_a, make_member(tenant_a, "admin", email="aaa-admin@example.test"))
    for i in range(6):
        make_member(tenant_a, "developer" if i % 2 else "viewer", email=f"m{i}@example.test")
    with django_assert_max_num_queries(12):
        listing = client.get("/api/v1/tenants/me/members?ordering=-email")
    assert listing.status_code == 200
    emails = [m["email"] for m in listing.json()["results"]]
    assert emails == sorted(emails, reverse=True) and len(emails) == 7
    developers = client.get("/api/v1/tenants/me/members?role=developer").json()
    assert developers["count"] == 3 and {m["role"] for m in developers["results"]} == {"developer"}
    assert client.get("/api/v1/tenants/me/members?search=m1@").json()["count"] == 1


def test_tenant_settings(tenant_a):
    owner = jwt_client(tenant_a, make_member(tenant_a, "owner"))
    bad = owner.patch("/api/v1/tenants/me", {"settings": {"require_mfa": True, "colour": "red"}}, format="json")
    assert bad.status_code == 400 and "colour" in str(bad.json()["error"]["details"])
    ok = owner.patch("/api/v1/tenants/me", {"name": "Acme Corporation",
                                            "settings": {"cors_allowed_origins": ["https://ci.example.com/"],
                                                         "audit_retention_days": 90}}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["name"] == "Acme Corporation"
    assert ok.json()["settings"]["cors_allowed_origins"] == ["https://ci.example.com"]
    assert ok.json()["settings"]["audit_retention_days"] == 90
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        event = AuditEvent.objects.get(action="tenant.settings_update")
        assert event.changes["name"] == {"before": "Acme Corp", "after": "Acme Corporation"}
