"""TOTP MFA: set-up with a server-made QR code, sign-in with a code or a recovery code, the tenant rule."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts import mfa
from accounts.tests.factories import PASSWORD, jwt_client, make_member, session_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_otp_backoff(settings):
    """django-otp delays the next check after a wrong code (exponential back-off); these tests
    send a right code straight after a wrong one on purpose."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def enable_mfa(tenant, user) -> tuple[str, list[str]]:
    client = jwt_client(tenant, user)
    setup = client.post("/api/v1/auth/mfa/setup")
    assert setup.status_code == 200, setup.content
    secret = setup.json()["secret"]
    confirmed = client.post("/api/v1/auth/mfa/confirm", {"code": mfa.code_for_base32(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return secret, confirmed.json()["recovery_codes"]


def login(tenant, email, password=PASSWORD, **extra):
    return APIClient(HTTP_HOST=tenant.primary_host).post(
        "/api/v1/auth/login", {"email": email, "password": password, **extra}, format="json")


def test_setup_returns_an_inline_svg_qr_code_and_confirm_gives_recovery_codes(tenant_a, no_otp_backoff):
    user = make_member(tenant_a, "developer", email="mfa@acme.test")
    client = jwt_client(tenant_a, user)
    setup = client.post("/api/v1/auth/mfa/setup").json()
    assert setup["qr_svg"].startswith("<svg ") and "<script" not in setup["qr_svg"]
    assert setup["otpauth_url"].startswith("otpauth://totp/") and f"secret={setup['secret']}" in setup["otpauth_url"]
    wrong = client.post("/api/v1/auth/mfa/confirm", {"code": "000000"}, format="json")
    assert wrong.status_code == 400 and "code" in wrong.json()["error"]["details"]
    codes = client.post("/api/v1/auth/mfa/confirm", {"code": mfa.code_for_base32(setup["secret"])},
                        format="json").json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/api/v1/auth/me").json()["mfa_enabled"] is True
    again = client.post("/api/v1/auth/mfa/setup")
    assert again.status_code == 409 and again.json()["error"]["code"] == "mfa_already_enabled"


def test_login_with_mfa_needs_a_code_and_accepts_recovery_codes_once(tenant_a, no_otp_backoff):
    user = make_member(tenant_a, "developer", email="twofactor@acme.test")
    secret, codes = enable_mfa(tenant_a, user)
    missing = login(tenant_a, "twofactor@acme.test")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "mfa_required"
    wrong = login(tenant_a, "twofactor@acme.test", otp="123456")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_mfa_code"
    # The code of the next time step (apps run slightly ahead; the one used at set-up is spent).
    assert login(tenant_a, "twofactor@acme.test", otp=mfa.code_for_base32(secret, offset_steps=1)).status_code == 200
    assert login(tenant_a, "twofactor@acme.test", otp=codes[0]).status_code == 200
    reused = login(tenant_a, "twofactor@acme.test", otp=codes[0])
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "invalid_mfa_code"
    # Wrong password with a good code still says only "invalid credentials".
    assert login(tenant_a, "twofactor@acme.test", "Wrong-pass-1", otp=codes[1]).json()["error"]["code"] == \
        "invalid_credentials"
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        actions = set(AuditEvent.objects.filter(resource_id=str(user.pk)).values_list("action", flat=True))
        assert {"mfa.setup_started", "mfa.enable", "mfa.recovery_code_used", "auth.login"} <= actions


def test_disable_needs_password_and_code(tenant_a):
    user = make_member(tenant_a, "developer")
    secret, codes = enable_mfa(tenant_a, user)
    client = jwt_client(tenant_a, user)
    bad = client.post("/api/v1/auth/mfa/disable", {"password": "nope", "code": codes[0]}, format="json")
    assert bad.status_code == 400 and "password" in bad.json()["error"]["details"]
    assert client.post("/api/v1/auth/mfa/disable", {"password": PASSWORD, "code": codes[0]},
                       format="json").status_code == 204
    assert client.get("/api/v1/auth/me").json()["mfa_enabled"] is False


def test_recovery_codes_can_be_replaced(tenant_a):
    user = make_member(tenant_a, "developer", email="codes@acme.test")
    secret, old_codes = enable_mfa(tenant_a, user)
    client = jwt_client(tenant_a, user)
    new = client.post("/api/v1/auth/mfa/recovery-codes", {"code": old_codes[0]}, format="json")
    assert new.status_code == 200
    assert login(tenant_a, "codes@acme.test", otp=old_codes[1]).status_code == 401
    assert login(tenant_a, "codes@acme.test", otp=new.json()["recovery_codes"][0]).status_code == 200


def test_tenant_requiring_mfa_sends_members_to_setup_first(tenant_a, no_otp_backoff):
    from accounts import services
    from audit.context import Actor

    owner = make_member(tenant_a, "owner")
    services.tenant_settings_update(actor=Actor.system("tests"), tenant=tenant_a,
                                    settings_changes={"require_mfa": True})
    tenant_a.refresh_from_db()
    api = jwt_client(tenant_a, owner)
    blocked = api.get("/api/v1/tenants/me/members")
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "mfa_setup_required"
    assert api.get("/api/v1/auth/me").status_code == 200  # allowed: what set-up needs

    browser = session_client(tenant_a, owner)
    page = browser.get("/members/")
    assert page.status_code == 302 and page["Location"].startswith("/account/mfa/setup/")
    assert browser.get("/account/mfa/setup/").status_code == 200

    enable_mfa(tenant_a, owner)
    assert api.get("/api/v1/tenants/me/members").status_code == 200
    assert browser.get("/members/").status_code == 200
    refused = api.post("/api/v1/auth/mfa/disable", {"password": PASSWORD, "code": "000000"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "mfa_required_by_organization"
