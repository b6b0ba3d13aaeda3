"""JWTs are bound to one organization, and every forged, stale or revoked token is a 401 envelope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from django.conf import settings
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts import tokens
from accounts.tests.factories import PASSWORD, jwt_client, make_member, token_pair

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_401(response, code: str | None = None) -> dict:
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == response["X-Request-ID"]
    assert "WWW-Authenticate" in response
    if code:
        assert body["error"]["code"] == code, body
    return body


def bearer(client: APIClient, token: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def resign(payload: dict, **header: str) -> str:
    return jwt.encode(payload, settings.JWT_PRIVATE_KEY, algorithm="RS256",
                      headers={"kid": settings.JWT_KEY_ID, **header})


def test_login_issues_rs256_tokens_with_the_documented_claims(tenant_a):
    user = make_member(tenant_a, "developer", email="claims@acme.test")
    client = APIClient(HTTP_HOST=tenant_a.primary_host)
    response = client.post("/api/v1/auth/login", {"email": "Claims@Acme.test", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    header = jwt.get_unverified_header(body["access"])
    assert header == {"alg": "RS256", "kid": settings.JWT_KEY_ID, "typ": "JWT"}
    access = jwt.decode(body["access"], settings.JWT_PUBLIC_KEY, algorithms=["RS256"], issuer="gatehouse")
    assert access["sub"] == str(user.pk)
    assert access["tenant"] == "acme" and access["tid"] == str(tenant_a.pk)
    assert access["role"] == "developer"
    assert "accounts.view_members" in access["permissions"] and "accounts.manage_members" not in access["permissions"]
    with schema_context(tenant_a.schema_name):
        from accounts.selectors import user_permission_names

        assert access["permissions"] == user_permission_names(user=user)
    assert access["typ"] == "access" and access["jti"] and access["sid"]
    assert access["exp"] - access["iat"] == 15 * 60
    refresh = claims_of(body["refresh"])
    assert refresh["typ"] == "refresh" and refresh["sid"] == access["sid"]
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    me = bearer(client, body["access"]).get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["email"] == "claims@acme.test"


def test_jwks_publishes_the_verifying_key(client_a, tenant_a):
    response = client_a.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kid"] == settings.JWT_KEY_ID and key["alg"] == "RS256" and key["kty"] == "RSA"
    public = jwt.PyJWK(key).key
    pair = token_pair(tenant_a, make_member(tenant_a, "viewer"))
    assert jwt.decode(pair.access, public, algorithms=["RS256"], issuer="gatehouse")["tenant"] == "acme"


def test_token_from_one_tenant_is_refused_on_another_even_with_the_same_user_id(tenant_a, tenant_b):
    alice = make_member(tenant_a, "owner", email="alice@example.test")
    # A user with the very same UUID in globex: ids repeat across schemas.
    with schema_context(tenant_b.schema_name):
        from django.contrib.auth.models import Group

        twin = type(alice).objects.create_user(id=alice.pk, email="alice@example.test", password=PASSWORD)
        twin.groups.set(Group.objects.filter(name="owner"))
    pair = token_pair(tenant_a, alice)
    on_b = APIClient(HTTP_HOST=tenant_b.primary_host)
    assert_401(bearer(on_b, pair.access).get("/api/v1/auth/me"), "token_wrong_tenant")
    on_b.credentials()
    assert_401(on_b.post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json"), "token_wrong_tenant")
    assert_401(on_b.post("/api/v1/auth/verify", {"token": pair.access}, format="json"), "token_wrong_tenant")
    assert_401(on_b.post("/api/v1/auth/logout", {"refresh": pair.refresh}, format="json"), "token_wrong_tenant")
    # ... while it still works where it was issued.
    assert bearer(APIClient(HTTP_HOST=tenant_a.primary_host), pair.access).get("/api/v1/auth/me").status_code == 200


def test_token_is_refused_on_the_platform_host(tenant_a, public_client):
    pair = token_pair(tenant_a, make_member(tenant_a, "owner"))
    response = public_client.get("/api/v1/tenants", HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    assert_401(response, "token_wrong_tenant")


@pytest.mark.parametrize("attack", ["expired", "tampered_signature", "alg_none", "hs256_with_public_key",
                                    "unknown_kid", "refresh_as_access", "garbage", "other_issuer"])
def test_forged_or_stale_access_tokens_are_refused(tenant_a, attack):
    user = make_member(tenant_a, "owner")
    pair = token_pair(tenant_a, user)
    payload = claims_of(pair.access)
    if attack == "expired":
        token = resign({**payload, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60})
    elif attack == "tampered_signature":
        head, body, sig = pair.access.split(".")
        forged_body = b64(json.dumps({**payload, "role": "owner", "sub": payload["sub"], "extra": 1}).encode())
        token = f"{head}.{forged_body}.{sig}"
    elif attack == "alg_none":
        token = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': settings.JWT_KEY_ID}).encode())}." \
                f"{b64(json.dumps(payload).encode())}."
    elif attack == "hs256_with_public_key":
        signing_input = (f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': settings.JWT_KEY_ID}).encode())}."
                         f"{b64(json.dumps(payload).encode())}")
        sig = hmac.new(settings.JWT_PUBLIC_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(sig)}"
    elif attack == "unknown_kid":
        token = jwt.encode(payload, settings.JWT_PRIVATE_KEY, algorithm="RS256", headers={"kid": "someone-else"})
    elif attack == "refresh_as_access":
        token = pair.refresh
    elif attack == "other_issuer":
        token = resign({**payload, "iss": "evil"})
    else:
        token = "not-a-jwt"
    client = bearer(APIClient(HTTP_HOST=tenant_a.primary_host), token)
    body = assert_401(client.get("/api/v1/auth/me"))
    assert body["error"]["code"] in {"token_invalid", "token_expired"}
    if attack == "expired":
        assert body["error"]["code"] == "token_expired"


def test_refresh_rotates_and_reuse_revokes_the_whole_session(tenant_a):
    user = make_member(tenant_a, "developer")
    pair = token_pair(tenant_a, user)
    client = APIClient(HTTP_HOST=tenant_a.primary_host)
    rotated = client.post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json")
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()
    assert new["refresh"] != pair.refresh and claims_of(new["refresh"])["sid"] == claims_of(pair.refresh)["sid"]
    assert bearer(APIClient(HTTP_HOST=tenant_a.primary_host), new["access"]).get("/api/v1/auth/me").status_code == 200

    # The old refresh token again: refused, and everything from that sign-in is revoked.
    assert_401(client.post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json"), "token_reused")
    assert_401(client.post("/api/v1/auth/refresh", {"refresh": new["refresh"]}, format="json"), "token_revoked")
    assert_401(bearer(APIClient(HTTP_HOST=tenant_a.primary_host), new["access"]).get("/api/v1/auth/me"),
               "token_revoked")
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        assert AuditEvent.objects.filter(action="auth.refresh_reuse", resource_id=str(user.pk)).exists()


def test_logout_blacklists_refresh_and_denylists_the_access_token(tenant_a):
    client = jwt_client(tenant_a, make_member(tenant_a, "viewer"))
    pair = client.token_pair
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", {"refresh": pair.refresh}, format="json").status_code == 204
    assert_401(client.get("/api/v1/auth/me"), "token_revoked")
    anonymous = APIClient(HTTP_HOST=tenant_a.primary_host)
    assert_401(anonymous.post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json"))


def test_deactivated_users_tokens_are_refused(tenant_a):
    owner = make_member(tenant_a, "owner")
    victim = make_member(tenant_a, "developer")
    victim_client = jwt_client(tenant_a, victim)
    owner_client = jwt_client(tenant_a, owner)
    assert owner_client.post(f"/api/v1/tenants/me/members/{victim.pk}/deactivate").status_code == 200
    assert_401(victim_client.get("/api/v1/auth/me"))
    victim_client.credentials()
    assert_401(victim_client.post("/api/v1/auth/refresh", {"refresh": victim_client.token_pair.refresh},
                                  format="json"))
    # Reactivation does not bring the old tokens back.
    assert owner_client.post(f"/api/v1/tenants/me/members/{victim.pk}/reactivate").status_code == 200
    assert_401(bearer(victim_client, victim_client.token_pair.access).get("/api/v1/auth/me"), "token_revoked")


def test_suspended_tenant_refuses_and_revokes_tokens(tenant_a):
    from tenants.services import tenant_reactivate, tenant_suspend

    client = jwt_client(tenant_a, make_member(tenant_a, "owner"))
    assert client.get("/api/v1/auth/me").status_code == 200
    tenant_suspend(tenant=tenant_a, reason="unpaid")
    # The host itself answers 403 tenant_suspended before any token is read ...
    suspended = client.get("/api/v1/auth/me")
    assert suspended.status_code == 403 and suspended.json()["error"]["code"] == "tenant_suspended"
    # ... and the token check itself refuses the suspended organization (for any route that reaches it).
    with pytest.raises(tokens.TokenRejected) as refused:
        with schema_context(tenant_a.schema_name):
            tokens.validate_access(client.token_pair.access, tenant=tenant_a)
    assert refused.value.status_code == 401 and refused.value.code == "tenant_suspended"
    tenant_reactivate(tenant=tenant_a)
    # Suspension revoked every token for good.
    assert_401(client.get("/api/v1/auth/me"), "token_revoked")
    client.credentials()
    assert_401(client.post("/api/v1/auth/refresh", {"refresh": client.token_pair.refresh}, format="json"))


def test_password_change_revokes_other_tokens_and_returns_new_ones(tenant_a):
    user = make_member(tenant_a, "developer")
    other_device = jwt_client(tenant_a, user)
    client = jwt_client(tenant_a, user)
    response = client.post("/api/v1/auth/password/change",
                           {"current_password": PASSWORD, "new_password": "Another-Strong-Pass-7"}, format="json")
    assert response.status_code == 200, response.content
    assert_401(other_device.get("/api/v1/auth/me"), "token_revoked")
    assert_401(client.get("/api/v1/auth/me"), "token_revoked")
    assert bearer(client, response.json()["access"]).get("/api/v1/auth/me").status_code == 200


def test_verify_endpoint(tenant_a, client_a):
    pair = token_pair(tenant_a, make_member(tenant_a, "viewer"))
    ok = APIClient(HTTP_HOST=tenant_a.primary_host).post("/api/v1/auth/verify", {"token": pair.access}, format="json")
    assert ok.status_code == 200 and ok.json()["sub"]
    assert_401(APIClient(HTTP_HOST=tenant_a.primary_host).post("/api/v1/auth/verify", {"token": pair.refresh},
                                                               format="json"))


def test_missing_credentials_is_401_with_a_bearer_challenge(client_a):
    response = client_a.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_pair_issued_across_a_second_boundary_keeps_its_lifetimes(tenant_a, monkeypatch):
    """The access token is dated from the pair's one instant, even when the clock ticks in between."""
    from datetime import timedelta

    from rest_framework_simplejwt import tokens as simplejwt_tokens

    from accounts.tokens import issue_pair

    user = make_member(tenant_a, "developer", email="ticking@acme.test")
    start = simplejwt_tokens.aware_utcnow().replace(microsecond=999_000)
    ticks = iter(start + timedelta(seconds=n) for n in range(10))  # each token created a second later
    monkeypatch.setattr(simplejwt_tokens, "aware_utcnow", lambda: next(ticks))
    with schema_context(tenant_a.schema_name):
        pair = issue_pair(user=user, tenant=tenant_a)
    access, refresh = claims_of(pair.access), claims_of(pair.refresh)
    assert access["iat"] == refresh["iat"]
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
