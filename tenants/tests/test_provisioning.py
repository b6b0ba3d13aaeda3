"""Provisioning: clone of the template, idempotent, resumable; suspend and delete."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_exists

from config.errors import Conflict, ValidationFailed
from tenants import hooks
from tenants.models import Domain, Tenant
from tenants.services import tenant_create, tenant_delete, tenant_provision

pytestmark = pytest.mark.django_db


def schema_shape(schema: str) -> dict[str, object]:
    """Tables with their columns, indexes and constraints (names normalised to the schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY 1, 2", [schema])
        columns = cursor.fetchall()
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2", [schema])
        indexes = sorted((t, d.replace(f'"{schema}".', "S.").replace(f"{schema}.", "S."))
                         for t, d in cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = %s::regnamespace ORDER BY 1, 2, 3", [schema])
        constraints = sorted((t.split(".")[-1], c, d.replace(f"{schema}.", "S.")) for t, c, d in cursor.fetchall())
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY 1, 2')
        migrations = cursor.fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints, "migrations": migrations}


def test_clone_has_everything_a_fully_migrated_schema_has():
    cloned = tenant_create(slug="clonecheck", name="Clone check").tenant
    assert cloned.is_ready and cloned.provisioning_steps

    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "migratedcheck"')
    call_command("migrate_schemas", schema_name="migratedcheck", interactive=False, verbosity=0)

    cloned_shape, migrated_shape = schema_shape("clonecheck"), schema_shape("migratedcheck")
    assert cloned_shape["columns"], "the clone has no tables"
    assert cloned_shape == migrated_shape


def test_provisioning_twice_is_safe_and_conflicts_only_when_asked():
    first = tenant_create(slug="twice", name="Twice")
    second = tenant_create(slug="twice", name="Twice")
    assert first.created and not second.created
    assert second.steps_run == []
    assert Domain.objects.filter(tenant=first.tenant).count() == 1
    with pytest.raises(Conflict):
        tenant_create(slug="twice", name="Twice", fail_if_exists=True)


def test_a_crash_half_way_is_completed_by_a_rerun(monkeypatch):
    calls = []

    def flaky(tenant, options):
        calls.append(tenant.schema_name)
        if len(calls) == 1:
            raise RuntimeError("power cut")

    monkeypatch.setitem(hooks._steps, "flaky", hooks.ProvisioningStep("flaky", 999, flaky))
    with pytest.raises(RuntimeError):
        tenant_create(slug="halfway", name="Half way")
    tenant = Tenant.objects.get(schema_name="halfway")
    assert tenant.provisioning_state == Tenant.ProvisioningState.PROVISIONING
    assert {"schema", "domain"} <= set(tenant.provisioning_steps)
    assert "flaky" not in tenant.provisioning_steps

    result = tenant_create(slug="halfway", name="Half way")
    assert result.steps_run == ["flaky"]
    assert result.tenant.is_ready and "flaky" in result.tenant.provisioning_steps


def test_a_schema_left_without_its_step_recorded_is_rebuilt():
    tenant = Tenant.objects.create(schema_name="orphan", name="Orphan")
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "orphan"')
        cursor.execute('CREATE TABLE "orphan".half_copied (id int)')
    tenant_provision(tenant=tenant)
    assert schema_shape("orphan") == schema_shape("acme")


@pytest.mark.parametrize("slug", ["ab", "Acme", "1acme", "acme-corp", "public", "admin", "pg_catalog", "a" * 49, ""])
def test_invalid_or_reserved_slugs_are_refused(slug):
    with pytest.raises(ValidationFailed) as exc:
        tenant_create(slug=slug, name="Nope")
    assert "slug" in exc.value.details
    assert not Tenant.objects.organizations().filter(schema_name=slug).exists()


def test_settings_are_validated():
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError):
        tenant_create(slug="badsettings", name="Bad", settings_doc={"requier_mfa": True})
    with pytest.raises(ValidationError):
        tenant_create(slug="badsettings", name="Bad", settings_doc={"cors_allowed_origins": ["https://x.com/path"]})
    ok = tenant_create(slug="goodsettings", name="Good", settings_doc={"cors_allowed_origins": ["https://CI.example.com:8443"]})
    assert ok.tenant.setting("cors_allowed_origins") == ["https://ci.example.com:8443"]
    assert ok.tenant.setting("audit_retention_days") == 365


def test_delete_needs_the_slug_repeated():
    tenant = tenant_create(slug="doomed", name="Doomed").tenant
    with pytest.raises(ValidationFailed):
        tenant_delete(tenant=tenant, confirm="yes")
    assert schema_exists("doomed")
    tenant_delete(tenant=tenant, confirm="doomed")
    assert not schema_exists("doomed")
    assert not Tenant.objects.filter(schema_name="doomed").exists()


def test_platform_schemas_cannot_be_deleted():
    template = Tenant.objects.get(schema_name=settings.TEMPLATE_SCHEMA_NAME)
    with pytest.raises(ValidationFailed):
        tenant_delete(tenant=template, confirm=template.schema_name)


def test_template_is_migrated_by_migrate_schemas():
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{settings.TEMPLATE_SCHEMA_NAME}".django_migrations')
        template_count = cursor.fetchone()[0]
        cursor.execute('SELECT count(*) FROM "acme".django_migrations')
        acme_count = cursor.fetchone()[0]
    assert template_count == acme_count > 0
