"""Staff actions are recorded in the platform's (public) trail: the tenant services and the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from audit.context import Actor
from audit.models import AuditEvent
from tenants.models import Tenant
from tenants.services import tenant_create, tenant_delete, tenant_reactivate, tenant_suspend, tenant_update

pytestmark = pytest.mark.django_db


def public_events(**filters):
    connection.set_schema_to_public()
    return list(AuditEvent.objects.filter(**filters).order_by("sequence"))


def test_tenant_life_cycle_is_recorded_with_the_actor():
    staff = Actor(type="staff", id="staff-1", email="ops@gatehouse.test", ip="192.0.2.10")
    result = tenant_create(slug="lifecycle", name="Life Cycle", tier="basic", actor=staff)
    tenant = result.tenant
    tenant_id = str(tenant.pk)  # delete() clears the instance's pk
    tenant_update(tenant=tenant, name="Life Cycle Ltd", settings_changes={"audit_retention_days": 90}, actor=staff)
    tenant_suspend(tenant=tenant, reason="unpaid invoice", actor=staff)
    tenant_reactivate(tenant=tenant, actor=staff)
    tenant_delete(tenant=tenant, confirm="lifecycle", actor=staff)

    events = public_events(resource_id=tenant_id)
    assert [e.action for e in events] == ["tenant.create", "tenant.provision", "tenant.update", "tenant.suspend",
                                          "tenant.reactivate", "tenant.delete"]
    assert {(e.actor_type, e.actor_id, e.actor_email, e.ip) for e in events} == {
        ("staff", "staff-1", "ops@gatehouse.test", "192.0.2.10")}
    created, _, updated, suspended, reactivated, deleted = events
    assert created.changes["schema_name"] == {"after": "lifecycle"}
    assert created.changes["subscription_tier"] == {"after": "basic"}
    assert updated.changes["name"] == {"before": "Life Cycle", "after": "Life Cycle Ltd"}
    assert updated.changes["settings"]["before"]["audit_retention_days"] == 365
    assert updated.changes["settings"]["after"]["audit_retention_days"] == 90
    assert suspended.changes == {"is_active": {"before": True, "after": False}}
    assert suspended.reason == "unpaid invoice"
    assert reactivated.changes == {"is_active": {"before": False, "after": True}}
    assert deleted.changes["name"] == {"before": "Life Cycle Ltd"} and deleted.metadata["slug"] == "lifecycle"


def test_without_an_actor_the_services_record_gatehouse_itself():
    tenant = tenant_create(slug="sysmade", name="System made").tenant
    event = public_events(resource_id=str(tenant.pk), action="tenant.create")[0]
    assert (event.actor_type, event.actor_id) == ("system", "system")


def test_a_no_op_is_not_recorded(tenant_a):
    tenant_update(tenant=tenant_a, name=tenant_a.name)
    assert public_events(resource_id=str(tenant_a.pk), action="tenant.update") == []


@pytest.fixture
def staff_client(public_client):
    connection.set_schema_to_public()
    user = get_user_model().objects.create_superuser(email="root@gatehouse.test", password="Sup3r-secret-pass!")
    public_client.force_login(user)
    return public_client, user


def test_admin_changes_are_recorded_as_the_staff_member(staff_client, tenant_a):
    client, user = staff_client
    response = client.post(f"/admin/tenants/tenant/{tenant_a.pk}/change/", {
        "name": "Acme Renamed", "subscription_tier": "premium", "settings": '{"audit_retention_days": 400}',
        "domains-TOTAL_FORMS": "0", "domains-INITIAL_FORMS": "0",
    }, HTTP_USER_AGENT="staff-browser/1.0", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302, response.content[:3000]
    update = public_events(action="tenant.update", resource_id=str(tenant_a.pk))[-1]
    assert (update.actor_type, update.actor_id, update.actor_email) == ("staff", str(user.pk), user.email)
    assert update.ip == "198.51.100.7" and update.user_agent == "staff-browser/1.0"
    assert update.changes["name"] == {"before": "Acme Corp", "after": "Acme Renamed"}
    logged = public_events(action="admin.update", resource_id=str(tenant_a.pk))[-1]
    assert logged.resource_type == "tenants.tenant" and logged.actor_id == str(user.pk)
    assert "name" in {field.lower() for field in logged.changes} and logged.ip == "198.51.100.7"

    client.post("/admin/tenants/tenant/", {"action": "suspend_tenants", "_selected_action": [str(tenant_a.pk)]})
    suspended = public_events(action="tenant.suspend", resource_id=str(tenant_a.pk))[-1]
    assert suspended.actor_type == "staff" and suspended.actor_email == user.email
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=True)


def test_admin_additions_and_bulk_deletions_are_recorded(staff_client):
    client, user = staff_client
    assert client.post("/admin/auth/group/add/", {"name": "auditors"}).status_code == 302
    group = Group.objects.get(name="auditors")
    added = public_events(action="admin.create", resource_id=str(group.pk))
    assert len(added) == 1 and added[0].resource_type == "auth.group" and added[0].actor_id == str(user.pk)

    other = Group.objects.create(name="temporary")
    response = client.post("/admin/auth/group/", {"action": "delete_selected", "post": "yes",
                                                 "_selected_action": [str(group.pk), str(other.pk)]})
    assert response.status_code == 302
    assert not Group.objects.filter(pk__in=[group.pk, other.pk]).exists()
    deleted = public_events(action="admin.delete", resource_type="auth.group")
    assert {e.resource_id for e in deleted} == {str(group.pk), str(other.pk)}
    assert all(e.actor_id == str(user.pk) for e in deleted)


def test_the_platform_trail_is_read_only_in_the_admin(staff_client):
    client, _ = staff_client
    tenant_create(slug="adminview", name="Admin view")
    event = public_events(action="tenant.create")[-1]
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and b"tenant.create" in listing.content
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
