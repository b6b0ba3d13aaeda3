"""RS256 JWTs bound to one organization.

Access and refresh tokens are SimpleJWT tokens signed with the platform's RSA key
(header `kid` = JWT_KEY_ID, published at /.well-known/jwks.json). Claims:

    sub          the user's id (a UUID; the same UUID may exist in another schema)
    tenant       the organization's slug; refused on any other host
    tid          the organization's id (a deleted and re-created slug is a new organization)
    role         the member's role; `permissions` the permissions it grants (informational:
                 every request re-reads the user's permissions from the database)
    sid          the sign-in session: every token refreshed from one login shares it
    ver          the user's auth_version: a password change, deactivation or suspension
                 bumps it, refusing every older token
    jti, iat, exp, typ ("access" | "refresh"), iss ("gatehouse")

A token is refused (401) unless every one of these holds: signature and algorithm,
expiry, type, tenant and tid, jti and sid not denylisted, the user exists here, is
active and has the same `ver`, and the organization is active.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken
from rest_framework_simplejwt.tokens import RefreshToken as SimpleRefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import redis_store
from config.errors import Unauthenticated

if TYPE_CHECKING:
    from accounts.models import User
    from tenants.models import Tenant

WWW_AUTHENTICATE = 'Bearer realm="api"'


class TokenRejected(Unauthenticated):
    """401 with the error envelope and a WWW-Authenticate challenge."""

    code = "token_invalid"
    default_message = "The token is invalid."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


class GatehouseTokenBackend(TokenBackend):
    """SimpleJWT's backend, plus a `kid` header on every token and a check of it on decode."""

    def __init__(self, *, key_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_id = key_id

    def encode(self, payload: dict[str, Any]) -> str:
        body = dict(payload)
        if self.issuer is not None:
            body["iss"] = self.issuer
        return jwt.encode(body, self.prepared_signing_key, algorithm=self.algorithm, headers={"kid": self.key_id})

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if verify and (header.get("alg") != self.algorithm or header.get("kid") != self.key_id):
            raise TokenBackendError("Token is invalid")
        return super().decode(token, verify=verify)


@lru_cache(maxsize=4)
def _backend(private_key: str, public_key: str, key_id: str) -> GatehouseTokenBackend:
    if not private_key or not public_key:
        raise ImproperlyConfigured(
            "No JWT signing key: set JWT_PRIVATE_KEY/JWT_PUBLIC_KEY or JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE "
            "(`make demo` generates keys/ with scripts/write_env.py)."
        )
    jwt_settings = settings.SIMPLE_JWT
    return GatehouseTokenBackend(
        algorithm="RS256", signing_key=private_key, verifying_key=public_key, key_id=key_id,
        issuer=jwt_settings.get("ISSUER"), leeway=jwt_settings.get("LEEWAY", 0),
    )


def token_backend() -> GatehouseTokenBackend:
    return _backend(settings.JWT_PRIVATE_KEY, settings.JWT_PUBLIC_KEY, settings.JWT_KEY_ID)


class _GatehouseToken:
    @property
    def token_backend(self) -> TokenBackend:
        return token_backend()

    def get_token_backend(self) -> TokenBackend:
        return token_backend()


class AccessToken(_GatehouseToken, SimpleAccessToken):
    pass


class RefreshToken(_GatehouseToken, SimpleRefreshToken):
    access_token_class = AccessToken


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    sid: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "token_type": "Bearer",
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
        }


def user_claims(user: User, tenant: Tenant) -> dict[str, Any]:
    from accounts.selectors import user_permission_names

    return {
        "sub": str(user.pk),
        "tenant": tenant.schema_name,
        "tid": str(tenant.pk),
        "role": user.role_name,
        "permissions": user_permission_names(user=user),
        "ver": user.auth_version,
    }


def issue_pair(*, user: User, tenant: Tenant, sid: str | None = None) -> TokenPair:
    """A new refresh token (recorded as outstanding) and its access token."""
    refresh = RefreshToken()
    for claim, value in user_claims(user, tenant).items():
        refresh[claim] = value
    refresh["sid"] = sid or uuid.uuid4().hex
    OutstandingToken.objects.create(
        user=user, jti=refresh["jti"], token=str(refresh), created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    access = refresh.access_token
    # simplejwt dates the access token's `exp` from the refresh token's creation but its `iat`
    # from its own: across a second boundary the pair would claim a 14:59 lifetime.
    access.set_iat(at_time=refresh.current_time)
    return TokenPair(access=str(access), refresh=str(refresh), access_expires_at=datetime_from_epoch(access["exp"]),
                     refresh_expires_at=datetime_from_epoch(refresh["exp"]), sid=refresh["sid"])


def _decode(raw: str, token_class: type[AccessToken] | type[RefreshToken]) -> Any:
    if not raw or not isinstance(raw, str):
        raise TokenRejected("No token was given.", code="token_missing")
    try:
        # The blacklist is checked by the caller, so reuse can be told apart from forgery.
        token = token_class(raw, verify=False)
        token.token_backend.decode(raw, verify=True)
        token.check_exp()
        token.verify_token_type()
    except TokenError as exc:
        if "expired" in str(exc):
            raise TokenRejected("The token has expired; sign in or refresh again.", code="token_expired") from exc
        raise TokenRejected("The token is invalid or of the wrong type.") from exc
    except TokenBackendError as exc:
        if "expired" in str(exc).lower():
            raise TokenRejected("The token has expired; sign in or refresh again.", code="token_expired") from exc
        raise TokenRejected("The token's signature or algorithm is not valid.") from exc
    for claim in ("sub", "tenant", "tid", "sid", "jti", "ver"):
        if claim not in token.payload:
            raise TokenRejected(f"The token lacks the '{claim}' claim.")
    return token


def _check_tenant(token: Any, tenant: Tenant) -> None:
    if token["tenant"] != tenant.schema_name or token["tid"] != str(tenant.pk):
        raise TokenRejected("The token was issued for another organization.", code="token_wrong_tenant")
    if not tenant.is_active:
        raise TokenRejected("This organization is suspended.", code="tenant_suspended")


def _user_for(token: Any) -> User:
    User = get_user_model()
    try:
        user = User.objects.get(pk=uuid.UUID(str(token["sub"])))
    except (User.DoesNotExist, ValueError) as exc:
        raise TokenRejected("The token's user does not exist here.", code="user_not_found") from exc
    if not user.is_active:
        raise TokenRejected("This account is deactivated.", code="user_inactive")
    if token["ver"] != user.auth_version:
        raise TokenRejected("The token was revoked (password change or sign-out everywhere).", code="token_revoked")
    return user


def validate_access(raw: str, *, tenant: Tenant) -> tuple[User, AccessToken]:
    token = _decode(raw, AccessToken)
    _check_tenant(token, tenant)
    if redis_store.denied(jti=token["jti"], sid=token["sid"]):
        raise TokenRejected("The token was revoked by a sign-out.", code="token_revoked")
    return _user_for(token), token


def validate_refresh(raw: str, *, tenant: Tenant) -> tuple[User, RefreshToken, bool]:
    """The refresh token's user and token, and whether the token was already used (blacklisted)."""
    token = _decode(raw, RefreshToken)
    _check_tenant(token, tenant)
    if redis_store.denied(jti=token["jti"], sid=token["sid"]):
        raise TokenRejected("The token was revoked by a sign-out.", code="token_revoked")
    reused = BlacklistedToken.objects.filter(token__jti=token["jti"]).exists()
    return _user_for(token), token, reused


def seconds_left(token: Any) -> int:
    return max(int(token["exp"] - time.time()) + 1, 0)


def blacklist(token: Any, *, user: User | None) -> None:
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token["jti"],
        defaults={"user": user, "token": str(token), "created_at": token.current_time,
                  "expires_at": datetime_from_epoch(token["exp"])},
    )
    BlacklistedToken.objects.get_or_create(token=outstanding)


def blacklist_all_for(users: Any) -> int:
    """Blacklist every outstanding, unexpired refresh token of these users (a queryset or list)."""
    from django.utils import timezone

    pending = (OutstandingToken.objects.filter(user__in=users, expires_at__gt=timezone.now())
               .exclude(blacklistedtoken__isnull=False).values_list("pk", flat=True))
    rows = [BlacklistedToken(token_id=pk) for pk in pending]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- JWKS ------------------------------------------------------------------------------------

def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@lru_cache(maxsize=4)
def _jwks(public_key: str, key_id: str) -> dict[str, Any]:
    key = serialization.load_pem_public_key(public_key.encode())
    numbers = key.public_numbers()  # type: ignore[union-attr]
    return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": key_id,
                      "n": _b64(numbers.n), "e": _b64(numbers.e)}]}


def jwks() -> dict[str, Any]:
    if not settings.JWT_PUBLIC_KEY:
        raise ImproperlyConfigured("No JWT public key configured.")
    return _jwks(settings.JWT_PUBLIC_KEY, settings.JWT_KEY_ID)
