"""The operator's ways in: management commands and the staff admin."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants.models import Domain, Tenant

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_tenant_create_suspend_delete_commands():
    out = run("tenant_create", "--slug", "cmdcorp", "--name", "Cmd Corp", "--tier", "basic")
    assert "Created cmdcorp" in out and "cmdcorp.localhost" in out
    assert "Verified cmdcorp" in run("tenant_create", "--slug", "cmdcorp", "--name", "Cmd Corp")
    tenant = Tenant.objects.get(schema_name="cmdcorp")
    assert tenant.subscription_tier == "basic"

    run("tenant_suspend", "cmdcorp", "--reason", "testing")
    tenant.refresh_from_db()
    assert not tenant.is_active and tenant.suspended_reason == "testing"
    run("tenant_suspend", "cmdcorp", "--reactivate")
    tenant.refresh_from_db()
    assert tenant.is_active

    with pytest.raises(CommandError, match="Confirm"):
        call_command("tenant_delete", "cmdcorp", "--confirm", "nope", "--noinput")
    with pytest.raises(CommandError, match="--confirm"):
        call_command("tenant_delete", "cmdcorp", "--noinput")
    run("tenant_delete", "cmdcorp", "--confirm", "cmdcorp")
    assert not schema_exists("cmdcorp")


def test_tenant_create_command_reports_bad_input_without_traceback():
    with pytest.raises(CommandError, match="slug"):
        call_command("tenant_create", "--slug", "Bad-Slug", "--name", "x")


@pytest.fixture
def staff_client(public_client):
    connection.set_schema_to_public()
    get_user_model().objects.create_superuser(email="staff@gatehouse.test", password="Sup3r-secret-pass")
    public_client.login(email="staff@gatehouse.test", password="Sup3r-secret-pass")
    return public_client


def test_admin_creates_and_provisions_a_tenant(staff_client):
    response = staff_client.post("/admin/tenants/tenant/add/", {
        "name": "Admin Made", "schema_name": "adminmade", "subscription_tier": "premium", "owner_email": "",
    })
    assert response.status_code == 302, response.content[:2000]
    tenant = Tenant.objects.get(schema_name="adminmade")
    assert tenant.is_ready and schema_exists("adminmade")
    assert Domain.objects.filter(tenant=tenant, domain="adminmade.localhost").exists()


def test_admin_refuses_a_duplicate_or_reserved_slug(staff_client):
    for slug in ("acme", "admin"):
        response = staff_client.post("/admin/tenants/tenant/add/", {
            "name": "Dup", "schema_name": slug, "subscription_tier": "free"})
        assert response.status_code == 200
        assert b"errorlist" in response.content


def test_admin_list_search_filter_and_suspend_action(staff_client, tenant_a):
    listing = staff_client.get("/admin/tenants/tenant/?q=acme")
    assert listing.status_code == 200 and b"Acme Corp" in listing.content and b"Globex" not in listing.content
    assert b"_template" not in staff_client.get("/admin/tenants/tenant/").content

    staff_client.post("/admin/tenants/tenant/", {"action": "suspend_tenants", "_selected_action": [str(tenant_a.pk)]})
    tenant_a.refresh_from_db()
    assert not tenant_a.is_active
    suspended = staff_client.get("/admin/tenants/tenant/?status=suspended")
    assert b"Acme Corp" in suspended.content
    staff_client.post("/admin/tenants/tenant/", {"action": "reactivate_tenants", "_selected_action": [str(tenant_a.pk)]})
    tenant_a.refresh_from_db()
    assert tenant_a.is_active
