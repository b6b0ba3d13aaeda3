"""The organization settings document (Tenant.settings), validated by one serializer.

Unknown keys are refused rather than stored, so a typo never silently does nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rest_framework import serializers

DEFAULTS: dict[str, Any] = {
    "require_mfa": False,
    "cors_allowed_origins": [],
    "audit_retention_days": 365,
    "scan_retention_days": 365,
    "waiver_max_days": 90,
}


def validate_origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise serializers.ValidationError(f"'{value}' is not an origin such as https://ci.example.com.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise serializers.ValidationError(f"'{value}' must be an origin only: scheme, host and optional port.")
    origin = f"{parts.scheme}://{parts.hostname}"
    if parts.port:
        origin += f":{parts.port}"
    return origin


class TenantSettingsSerializer(serializers.Serializer):
    require_mfa = serializers.BooleanField(required=False)
    cors_allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=255, validators=[]), required=False, max_length=50
    )
    audit_retention_days = serializers.IntegerField(required=False, min_value=30, max_value=3650)
    scan_retention_days = serializers.IntegerField(required=False, min_value=7, max_value=3650)
    waiver_max_days = serializers.IntegerField(required=False, min_value=1, max_value=365)

    def validate_cors_allowed_origins(self, value: list[str]) -> list[str]:
        return sorted({validate_origin(origin) for origin in value})

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Settings must be a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown setting."] for key in unknown})
        return super().to_internal_value(data)


def clean_settings(current: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into `current` after validation; raises DRF ValidationError."""
    serializer = TenantSettingsSerializer(data=changes)
    serializer.is_valid(raise_exception=True)
    merged = {**DEFAULTS, **(current or {})}
    merged.update(serializer.validated_data)
    return merged
