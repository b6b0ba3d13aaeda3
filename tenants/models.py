"""Organizations (tenants) and the hosts that route to them.

Each organization owns a PostgreSQL schema named after its slug. The public schema
holds this table, the staff users and the shared advisory database; the
`_template` tenant is an always-migrated schema that new tenants are cloned from.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from tenants.plans import Plan, plan_for
from tenants.tenant_settings import DEFAULTS as SETTINGS_DEFAULTS


class TenantQuerySet(models.QuerySet["Tenant"]):
    def organizations(self) -> TenantQuerySet:
        """Real customer organizations: not the public schema, not the template."""
        return self.exclude(schema_name__in=[settings.PUBLIC_SCHEMA_NAME, settings.TEMPLATE_SCHEMA_NAME])

    def active(self) -> TenantQuerySet:
        return self.organizations().filter(is_active=True, provisioning_state=Tenant.ProvisioningState.READY)


class Tenant(TenantMixin):
    class Tier(models.TextChoices):
        FREE = "free", "Free"
        BASIC = "basic", "Basic"
        PREMIUM = "premium", "Premium"

    class ProvisioningState(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True, db_index=True)
    subscription_tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)
    settings = models.JSONField(default=dict, blank=True)
    provisioning_state = models.CharField(
        max_length=16, choices=ProvisioningState.choices, default=ProvisioningState.PROVISIONING
    )
    # Names of the provisioning steps already completed, so a re-run resumes.
    provisioning_steps = models.JSONField(default=list, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Schemas are created and dropped only by tenants.services, explicitly.
    auto_create_schema = False
    auto_drop_schema = False

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "organization"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(subscription_tier__in=["free", "basic", "premium"]),
                name="tenant_tier_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def slug(self) -> str:
        """The organization's slug is its schema name (and its host label)."""
        return self.schema_name

    @property
    def is_template(self) -> bool:
        return self.schema_name == settings.TEMPLATE_SCHEMA_NAME

    @property
    def is_public(self) -> bool:
        return self.schema_name == settings.PUBLIC_SCHEMA_NAME

    @property
    def is_ready(self) -> bool:
        return self.provisioning_state == self.ProvisioningState.READY

    @property
    def plan(self) -> Plan:
        return plan_for(self.subscription_tier)

    def setting(self, key: str) -> Any:
        return (self.settings or {}).get(key, SETTINGS_DEFAULTS.get(key))

    @property
    def host_label(self) -> str:
        """The slug as a DNS label: underscores are not allowed in host names, hyphens are
        not allowed in slugs, so mapping one to the other is unambiguous."""
        return self.schema_name.replace("_", "-")

    @property
    def primary_host(self) -> str:
        return f"{self.host_label}.{settings.BASE_DOMAIN}"


class Domain(DomainMixin):
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
