"""Tenant slug rules: the slug is the PostgreSQL schema name and the host label."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,47}$")


def validate_slug(value: str) -> None:
    if not SLUG_PATTERN.match(value or ""):
        raise ValidationError(
            "Use 3 to 48 characters: lowercase letters, digits and underscores, starting with a letter.",
            code="invalid_slug",
        )
    if value in settings.RESERVED_TENANT_SLUGS or value.startswith("pg_"):
        raise ValidationError(f"'{value}' is reserved; choose another slug.", code="reserved_slug")
