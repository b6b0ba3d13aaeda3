"""Who is on the other end of a WebSocket: a browser session or a JWT, inside one organization.

Both functions are synchronous and run inside the organization's schema (the
consumer calls them through `database_sync_to_async`). They return an `Identity`
or raise `AuthenticationFailed` with a message safe to show; never a token or a cookie.

JWTs are validated by the accounts app's entry point (`accounts.tokens.validate_access`:
signature, expiry, type, tenant and tid claims, revocation, user state) when it is
installed; otherwise with SimpleJWT's backend plus our own check of the `tenant` claim.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user as django_get_user
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from messaging.selectors import user_permissions

if TYPE_CHECKING:
    from tenants.models import Tenant

logger = logging.getLogger(__name__)


class AuthenticationFailed(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    user_id: str
    email: str
    permissions: frozenset[str]
    method: str  # "session" | "jwt"
    expires_at: float | None = None  # Unix time after which the connection must re-authenticate


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


class _SessionRequest:
    """The little of a request that `django.contrib.auth.get_user` reads."""

    def __init__(self, session: Any) -> None:
        self.session = session


def authenticate_session(*, tenant: Tenant, session_key: str) -> Identity:
    """The member logged in with this session cookie on this organization's host."""
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    with schema_context(tenant.schema_name):
        session = engine.SessionStore(session_key)
        user = django_get_user(_SessionRequest(session))  # checks the backend and the password hash
        if user is None or not user.is_authenticated or not user.is_active:
            raise AuthenticationFailed("The session is not signed in.")
        # The accounts app binds each session to the organization it was opened on.
        tenant_key = _optional("accounts.middleware", "SESSION_TENANT")
        if tenant_key and session.get(tenant_key) != str(tenant.pk):
            raise AuthenticationFailed("The session belongs to another organization.")
        mfa_ok_key = _optional("accounts.middleware", "SESSION_MFA_OK")
        if mfa_ok_key and tenant.setting("require_mfa") and not session.get(mfa_ok_key):
            has_mfa = _optional("accounts.selectors", "user_has_mfa")
            if has_mfa is None or not has_mfa(user=user):
                raise AuthenticationFailed("Your organization requires two-factor authentication.")
        return Identity(user_id=str(user.pk), email=user.email, permissions=user_permissions(user), method="session")


def authenticate_jwt(*, tenant: Tenant, token: str) -> Identity:
    """The member an access token names, if it is valid for this organization."""
    if not token or len(token) > 8192:
        raise AuthenticationFailed("No valid token was given.")
    with schema_context(tenant.schema_name):
        validate_access = _optional("accounts.tokens", "validate_access")
        if validate_access is not None:
            try:
                user, claims = validate_access(token, tenant=tenant)
            except Exception as exc:  # the accounts app raises its 401 error family
                raise AuthenticationFailed(getattr(exc, "message", None) or "The token is invalid.") from exc
            expires = claims["exp"] if "exp" in claims.payload else None
        else:
            user, expires = _validate_with_simplejwt(token, tenant)
        return Identity(user_id=str(user.pk), email=user.email, permissions=user_permissions(user), method="jwt",
                        expires_at=float(expires) if expires is not None else None)


def _validate_with_simplejwt(token: str, tenant: Tenant) -> tuple[Any, Any]:
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    try:
        access = AccessToken(token)
    except TokenError as exc:
        raise AuthenticationFailed("The token is invalid or has expired.") from exc
    if access.get("tenant") not in (tenant.schema_name, str(tenant.pk)):
        raise AuthenticationFailed("The token was issued for another organization.")
    user_id = access.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first() if user_id else None
    if user is None or not user.is_active:
        raise AuthenticationFailed("The token's user does not exist here or is deactivated.")
    return user, access.get("exp")


def still_valid(identity: Identity) -> bool:
    return identity.expires_at is None or identity.expires_at > time.time()


def refresh_permissions(*, tenant: Tenant, user_id: str) -> frozenset[str] | None:
    """The member's current permissions; None when they are gone or deactivated."""
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None or not user.is_active:
            return None
        return user_permissions(user)
