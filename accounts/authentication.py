"""DRF authentication: RS256 JWTs bound to the organization, API keys, and browser sessions.

Every failure is a 401 in the error envelope with a WWW-Authenticate challenge.
When the organization requires MFA, a JWT or session user without it may only
reach the endpoints that set it up (403 `mfa_setup_required` elsewhere).

DRF imports these classes while `config.errors` itself is importing DRF, so this
module imports the rest of Gatehouse inside its functions.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework.request import Request

# Endpoints a member without MFA may still use when the organization requires it.
MFA_SETUP_PATHS = ("/api/v1/auth/mfa/", "/api/v1/auth/me", "/api/v1/auth/logout", "/api/v1/auth/refresh",
                   "/api/v1/auth/password/change")
MFA_SETUP_MESSAGE = ("Your organization requires two-factor authentication: set it up with "
                     "POST /api/v1/auth/mfa/setup and /api/v1/auth/mfa/confirm first.")


def enforce_tenant_mfa(request: Any, user: Any) -> None:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.is_public or not tenant.setting("require_mfa"):
        return
    if request.path.startswith(MFA_SETUP_PATHS):
        return
    from accounts.selectors import user_has_mfa
    from config.errors import PermissionDenied

    if not user_has_mfa(user=user):
        raise PermissionDenied(MFA_SETUP_MESSAGE, code="mfa_setup_required")


class JWTAuthentication(authentication.BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword:
            return None
        from accounts import tokens

        tenant = getattr(request, "tenant", None)
        if tenant is None:
            raise tokens.TokenRejected("No organization answers at this host.")
        user, token = tokens.validate_access(raw.strip(), tenant=tenant)
        enforce_tenant_mfa(request, user)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key gh_<prefix>_<secret>`: the key's creator, narrowed to its scopes."""

    keyword = "api-key"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword:
            return None
        from accounts import services
        from audit.context import client_ip
        from config.errors import Unauthenticated

        try:
            key = services.api_key_authenticate(raw=raw.strip(), ip=client_ip(request))
        except Unauthenticated as exc:
            exc.headers = {"WWW-Authenticate": 'Api-Key realm="api"'}
            raise
        request._request.api_key = key  # type: ignore[attr-defined]
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The dashboard's session (CSRF enforced on unsafe methods), with the MFA requirement."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            enforce_tenant_mfa(request, result[0])
        return result
