"""Every write to organizations: create (provision), update, suspend, reactivate, delete.

Provisioning is a sequence of idempotent steps recorded on the tenant row as they
complete: the schema (a clone of the always-migrated template), the primary
domain, then the steps other apps register in `tenants.hooks`. A crash at any
point leaves a tenant in state `provisioning` that `tenant_create` (or
`tenant_provision`) completes when run again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from audit.context import Actor
from audit.services import audit_record
from audit.services import diff as audit_diff
from config.errors import Conflict, NotFound, ValidationFailed
from tenants import hooks
from tenants.clone import clone_template_schema
from tenants.models import Domain, Tenant
from tenants.tenant_settings import DEFAULTS as SETTINGS_DEFAULTS
from tenants.tenant_settings import clean_settings
from tenants.validators import validate_slug

logger = logging.getLogger(__name__)

STEP_SCHEMA = "schema"
STEP_DOMAIN = "domain"
DROP_ATTEMPTS = 5
DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True)
class ProvisionResult:
    tenant: Tenant
    created: bool
    steps_run: list[str]
    seconds: float


def _validate_new_tenant(*, slug: str, name: str, tier: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        validate_slug(slug)
    except ValidationError as exc:
        errors["slug"] = exc.messages
    if not name or not name.strip():
        errors["name"] = ["A name is required."]
    elif len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    if tier not in Tenant.Tier.values:
        errors["subscription_tier"] = [f"Choose one of: {', '.join(Tenant.Tier.values)}."]
    if errors:
        raise ValidationFailed(details=errors)


def tenant_create(
    *,
    slug: str,
    name: str,
    tier: str = Tenant.Tier.FREE,
    owner_email: str | None = None,
    owner_name: str | None = None,
    owner_password: str | None = None,
    settings_doc: dict[str, Any] | None = None,
    fail_if_exists: bool = False,
    actor: Actor | None = None,
) -> ProvisionResult:
    """Create and provision an organization, or finish provisioning one a crash interrupted.

    With `fail_if_exists`, an organization that already exists and is ready is a
    Conflict (the API's answer); otherwise its provisioning is verified and it is
    returned unchanged (the CLI's answer: running the command twice is safe).
    """
    actor = actor or Actor.system()
    slug = (slug or "").strip()
    _validate_new_tenant(slug=slug, name=name, tier=tier)
    clean = clean_settings({}, settings_doc or {})

    connection.set_schema_to_public()
    created = False
    tenant = Tenant.objects.filter(schema_name=slug).first()
    if tenant is None:
        try:
            with transaction.atomic():
                tenant = Tenant(schema_name=slug, name=name.strip(), subscription_tier=tier, settings=clean)
                tenant.full_clean(exclude=["schema_name"])
                tenant.save()
                audit_record(actor=actor, action="tenant.create", resource_type="tenant", resource_id=str(tenant.pk),
                             changes={field: {"after": value} for field, value in _snapshot(tenant).items()},
                             metadata={"slug": slug, "owner_email": owner_email or ""})
            created = True
        except IntegrityError as exc:
            raise Conflict(f"An organization with slug '{slug}' already exists.", code="tenant_exists") from exc
        except ValidationError as exc:
            raise ValidationFailed(details=exc.message_dict) from exc
    elif tenant.is_ready and fail_if_exists:
        raise Conflict(f"An organization with slug '{slug}' already exists.", code="tenant_exists")

    options = hooks.ProvisioningOptions(owner_email=owner_email, owner_name=owner_name, owner_password=owner_password)
    result = tenant_provision(tenant=tenant, options=options)
    if result.steps_run:
        with schema_context(settings.PUBLIC_SCHEMA_NAME):
            audit_record(actor=actor, action="tenant.provision", resource_type="tenant",
                         resource_id=str(tenant.pk), metadata={"slug": slug, "steps": result.steps_run})
    return ProvisionResult(tenant=result.tenant, created=created, steps_run=result.steps_run, seconds=result.seconds)


def tenant_provision(*, tenant: Tenant, options: hooks.ProvisioningOptions | None = None) -> ProvisionResult:
    """Run every provisioning step this tenant has not completed (all of them are idempotent)."""
    if tenant.is_public or tenant.is_template:
        raise ValidationFailed("The platform schemas are not provisioned as organizations.")
    options = options or hooks.ProvisioningOptions()
    started = time.perf_counter()
    done = set(tenant.provisioning_steps or [])
    steps_run: list[str] = []

    def mark(step: str) -> None:
        done.add(step)
        steps_run.append(step)
        tenant.provisioning_steps = sorted(done)
        Tenant.objects.filter(pk=tenant.pk).update(provisioning_steps=tenant.provisioning_steps,
                                                    updated_at=timezone.now())

    if STEP_SCHEMA not in done:
        if schema_exists(tenant.schema_name):
            # Left by an interrupted run before the step was recorded: nothing of the
            # organization's can be in it yet, so start it afresh.
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA "{tenant.schema_name}" CASCADE')
        clone_template_schema(tenant.schema_name)
        mark(STEP_SCHEMA)

    if STEP_DOMAIN not in done:
        Domain.objects.get_or_create(domain=tenant.primary_host, defaults={"tenant": tenant, "is_primary": True})
        mark(STEP_DOMAIN)

    for step in hooks.provisioning_steps():
        # Steps that depend on per-tenant input (the owner) always get a chance to run.
        if step.name in done and not (step.name == "owner" and options.owner_email):
            continue
        with schema_context(tenant.schema_name), transaction.atomic():
            step.func(tenant, options)
        connection.set_schema_to_public()
        mark(step.name)

    if not tenant.is_ready:
        tenant.provisioning_state = Tenant.ProvisioningState.READY
        tenant.provisioned_at = timezone.now()
        tenant.save(update_fields=["provisioning_state", "provisioned_at", "updated_at"])
    seconds = time.perf_counter() - started
    logger.info("tenant provisioned", extra={"slug": tenant.schema_name, "steps": steps_run,
                                             "seconds": round(seconds, 3)})
    return ProvisionResult(tenant=tenant, created=False, steps_run=steps_run, seconds=seconds)


def tenant_get(*, slug: str) -> Tenant:
    tenant = Tenant.objects.organizations().filter(schema_name=slug).first()
    if tenant is None:
        raise NotFound(f"No organization with slug '{slug}'.")
    return tenant


def _snapshot(tenant: Tenant) -> dict[str, Any]:
    """The audited fields of an organization (its settings document included)."""
    return {"name": tenant.name, "schema_name": tenant.schema_name, "subscription_tier": tenant.subscription_tier,
            "settings": dict(tenant.settings or {}), "is_active": tenant.is_active}


def tenant_update(*, tenant: Tenant, name: str | None = None, tier: str | None = None,
                  settings_changes: dict[str, Any] | None = None, actor: Actor | None = None) -> Tenant:
    """Change an organization's name, tier or settings. The slug never changes."""
    actor = actor or Actor.system()
    before = _snapshot(Tenant.objects.get(pk=tenant.pk)) if tenant.pk else _snapshot(tenant)
    fields: list[str] = []
    if name is not None:
        if not name.strip() or len(name) > 120:
            raise ValidationFailed(details={"name": ["Use 1 to 120 characters."]})
        tenant.name = name.strip()
        fields.append("name")
    if tier is not None:
        if tier not in Tenant.Tier.values:
            raise ValidationFailed(details={"subscription_tier": [f"Choose one of: {', '.join(Tenant.Tier.values)}."]})
        tenant.subscription_tier = tier
        fields.append("subscription_tier")
    if settings_changes is not None:
        tenant.settings = clean_settings(tenant.settings, settings_changes)
        fields.append("settings")
    if fields:
        with schema_context(settings.PUBLIC_SCHEMA_NAME), transaction.atomic():
            tenant.save(update_fields=[*fields, "updated_at"])
            changes = audit_diff(before, _snapshot(tenant))
            if changes:
                audit_record(actor=actor, action="tenant.update", resource_type="tenant", resource_id=str(tenant.pk),
                             changes=changes, metadata={"slug": tenant.schema_name})
    return tenant


def tenant_suspend(*, tenant: Tenant, reason: str = "", actor: Actor | None = None) -> Tenant:
    """Block the organization at once: its hosts answer 403, its tokens, keys and MQTT clients stop."""
    actor = actor or Actor.system()
    if not tenant.is_active:
        return tenant
    with schema_context(settings.PUBLIC_SCHEMA_NAME), transaction.atomic():
        tenant.is_active = False
        tenant.suspended_at = timezone.now()
        tenant.suspended_reason = reason[:255]
        tenant.save(update_fields=["is_active", "suspended_at", "suspended_reason", "updated_at"])
        audit_record(actor=actor, action="tenant.suspend", resource_type="tenant", resource_id=str(tenant.pk),
                     changes={"is_active": {"before": True, "after": False}}, reason=reason[:255],
                     metadata={"slug": tenant.schema_name})
    _run_lifecycle("suspended", tenant)
    return tenant


def tenant_reactivate(*, tenant: Tenant, actor: Actor | None = None) -> Tenant:
    actor = actor or Actor.system()
    if tenant.is_active:
        return tenant
    with schema_context(settings.PUBLIC_SCHEMA_NAME), transaction.atomic():
        previous_reason = tenant.suspended_reason
        tenant.is_active = True
        tenant.suspended_at = None
        tenant.suspended_reason = ""
        tenant.save(update_fields=["is_active", "suspended_at", "suspended_reason", "updated_at"])
        audit_record(actor=actor, action="tenant.reactivate", resource_type="tenant", resource_id=str(tenant.pk),
                     changes={"is_active": {"before": False, "after": True}},
                     metadata={"slug": tenant.schema_name, "suspended_reason": previous_reason})
    _run_lifecycle("reactivated", tenant)
    return tenant


def tenant_delete(*, tenant: Tenant, confirm: str, actor: Actor | None = None) -> None:
    """Drop the organization's schema and every row in it. `confirm` must repeat the slug."""
    if tenant.is_public or tenant.is_template:
        raise ValidationFailed("The platform schemas cannot be deleted.")
    if confirm != tenant.schema_name:
        raise ValidationFailed(
            f"Deleting drops every scan, user and audit event of '{tenant.schema_name}'. "
            f"Confirm by repeating the slug.",
            details={"confirm": [f"Type '{tenant.schema_name}' to confirm."]},
        )
    actor = actor or Actor.system()
    _run_lifecycle("deleting", tenant)
    connection.set_schema_to_public()
    tenant_id, snapshot = str(tenant.pk), _snapshot(tenant)
    for attempt in range(1, DROP_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # Deferred foreign-key checks still pending from rows written earlier in this
                    # transaction (provisioning, in tests) would make DROP SCHEMA fail: run them now.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                tenant.delete(force_drop=True)
                # The organization's own trail is dropped with its schema; the platform's records the deletion.
                audit_record(actor=actor, action="tenant.delete", resource_type="tenant", resource_id=tenant_id,
                             changes={field: {"before": value} for field, value in snapshot.items()},
                             metadata={"slug": snapshot["schema_name"]})
            break
        except OperationalError as exc:
            # DROP SCHEMA ... CASCADE locks the schema's tables one by one, so a worker still
            # finishing a scan of this organization can deadlock with it. PostgreSQL aborts one
            # side; once the worker's transaction ends, the drop goes through.
            if getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_DETECTED or attempt == DROP_ATTEMPTS:
                raise
            logger.warning("tenant delete deadlocked; retrying",
                           extra={"slug": tenant.schema_name, "attempt": attempt})
            time.sleep(0.2 * attempt)
    logger.info("tenant deleted", extra={"slug": tenant.schema_name})


def _run_lifecycle(event: hooks.LifecycleEvent, tenant: Tenant) -> None:
    for name, func in hooks.lifecycle_hooks(event):
        try:
            func(tenant)
        except Exception:
            # One failing integration (say the broker is down) must not undo a suspension;
            # the hook is retried by its own app's reconciliation.
            logger.exception("tenant lifecycle hook failed", extra={"hook": name, "event": event,
                                                                    "slug": tenant.schema_name})


# --- Platform schemas ------------------------------------------------------------

def ensure_platform_tenants() -> None:
    """Make sure the public and template tenant rows exist (called by migrate)."""
    connection.set_schema_to_public()
    Tenant.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        defaults={"name": "Gatehouse platform", "provisioning_state": Tenant.ProvisioningState.READY,
                  "settings": dict(SETTINGS_DEFAULTS)},
    )
    Tenant.objects.get_or_create(
        schema_name=settings.TEMPLATE_SCHEMA_NAME,
        defaults={"name": "Template for new organizations", "is_active": False,
                  "provisioning_state": Tenant.ProvisioningState.READY},
    )


def seed_template() -> list[str]:
    """Run the steps that pre-seed the template, so every clone starts with their rows."""
    ran = []
    template = Tenant.objects.get(schema_name=settings.TEMPLATE_SCHEMA_NAME)
    for step in hooks.provisioning_steps():
        if step.in_template:
            with schema_context(template.schema_name), transaction.atomic():
                step.func(template, hooks.ProvisioningOptions())
            ran.append(step.name)
    connection.set_schema_to_public()
    return ran
