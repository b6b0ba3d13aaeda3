from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tenants.models import Tenant
from tenants.tenant_settings import DEFAULTS as SETTINGS_DEFAULTS


class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=48, help_text="Also the schema and host label; never changes.")
    name = serializers.CharField(max_length=120)
    subscription_tier = serializers.ChoiceField(choices=Tenant.Tier.choices, default=Tenant.Tier.FREE)
    owner_email = serializers.EmailField(required=False, allow_null=True,
                                         help_text="Invited by email as the first owner.")
    owner_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    settings = serializers.DictField(required=False)


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    subscription_tier = serializers.ChoiceField(choices=Tenant.Tier.choices, required=False)
    settings = serializers.DictField(required=False)


class TenantSuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class TenantSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="schema_name")
    host = serializers.CharField(source="primary_host")
    status = serializers.SerializerMethodField()
    settings = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "subscription_tier", "status", "host", "settings", "provisioning_steps",
                  "provisioned_at", "suspended_at", "suspended_reason", "created_at", "updated_at"]

    def get_status(self, obj: Tenant) -> str:
        if not obj.is_active:
            return "suspended"
        return "active" if obj.is_ready else "provisioning"

    def get_settings(self, obj: Tenant) -> dict[str, Any]:
        return {**SETTINGS_DEFAULTS, **(obj.settings or {})}
