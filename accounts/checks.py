"""System checks: the JWT key pair must be present and usable."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register("accounts")
def jwt_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not settings.JWT_PRIVATE_KEY or not settings.JWT_PUBLIC_KEY:
        return [Error(
            "No JWT signing key pair.",
            hint="Set JWT_PRIVATE_KEY/JWT_PUBLIC_KEY (PEM) or JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE; "
                 "`make demo` (scripts/write_env.py) generates keys/ for development.",
            id="accounts.E001",
        )]
    try:
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(settings.JWT_PRIVATE_KEY.encode(), password=None)
        public = serialization.load_pem_public_key(settings.JWT_PUBLIC_KEY.encode())
    except ValueError as exc:
        return [Error(f"The JWT keys are not valid PEM: {type(exc).__name__}.", id="accounts.E002")]
    if private.public_key().public_numbers() != public.public_numbers():  # type: ignore[union-attr]
        return [Error("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY.", id="accounts.E003")]
    return []
