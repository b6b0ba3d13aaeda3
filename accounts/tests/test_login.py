"""Sign-in: same answer for unknown emails, lockout after 5 failures, throttles, password reset and rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, make_member
from config.testing.windows import start_in_fresh_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a):
    return APIClient(HTTP_HOST=tenant_a.primary_host)


def login(api, email, password, **extra):
    return api.post("/api/v1/auth/login", {"email": email, "password": password, **extra}, format="json")


def test_wrong_password_and_unknown_email_get_the_same_answer(tenant_a, api):
    make_member(tenant_a, "viewer", email="known@acme.test")
    known = login(api, "known@acme.test", "Wrong-password-1")
    unknown = login(api, "nobody@acme.test", "Wrong-password-1")
    assert known.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(known) == strip(unknown) == {"code": "invalid_credentials",
                                              "message": "Email or password is incorrect.", "details": {}}
    with schema_context(tenant_a.schema_name):
        from audit.models import AuditEvent

        failures = AuditEvent.objects.filter(action="auth.login", outcome="failure")
        assert {e.metadata["email"] for e in failures} == {"known@acme.test", "nobody@acme.test"}


def test_inactive_member_cannot_sign_in(tenant_a, api):
    user = make_member(tenant_a, "viewer", email="gone@acme.test")
    with schema_context(tenant_a.schema_name):
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert login(api, "gone@acme.test", PASSWORD).json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("email", ["locked@acme.test", "ghost@acme.test"])
def test_lockout_after_five_failures_and_unlock_after_the_window(tenant_a, tenant_b, api, email):
    make_member(tenant_a, "developer", email="locked@acme.test")
    for attempt in range(4):
        assert login(api, email, f"Wrong-password-{attempt}").status_code == 401
    fifth = login(api, email, "Wrong-password-5")
    assert fifth.status_code == 429
    assert fifth.json()["error"]["code"] == "account_locked"
    assert 0 < int(fifth["Retry-After"]) <= 15 * 60
    # Locked even with the right password (and the same for an unknown email).
    locked = login(api, email, PASSWORD)
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "account_locked"
    # Per organization: the same address is not locked on globex.
    make_member(tenant_b, "developer", email="locked@acme.test")
    other = APIClient(HTTP_HOST=tenant_b.primary_host)
    assert login(other, "locked@acme.test", PASSWORD).status_code == 200
    # After the 15-minute window the lock is gone.
    with schema_context(tenant_a.schema_name):
        AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
        from audit.models import AuditEvent

        assert AuditEvent.objects.filter(action="auth.lockout").exists()
    after = login(api, email, PASSWORD)
    assert after.status_code == (200 if email.startswith("locked") else 401), after.content


def test_login_is_throttled_per_account_with_retry_after(tenant_a, api, settings):
    settings.ACCOUNTS_LOGIN_RATE_ACCOUNT = "3/60"
    start_in_fresh_window(60)
    settings.AXES_FAILURE_LIMIT = 100
    for _ in range(3):
        assert login(api, "target@acme.test", "Wrong-password-1").status_code == 401
    throttled = login(api, "target@acme.test", "Wrong-password-1")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Another account from the same address is still allowed.
    assert login(api, "other@acme.test", "Wrong-password-1").status_code == 401


def test_login_is_throttled_per_ip(tenant_a, api, settings):
    settings.ACCOUNTS_LOGIN_RATE_IP = "4/60"
    start_in_fresh_window(60)
    for i in range(4):
        assert login(api, f"user{i}@acme.test", "Wrong-password-1").status_code == 401
    throttled = login(api, "user9@acme.test", "Wrong-password-1")
    assert throttled.status_code == 429 and "Retry-After" in throttled
    elsewhere = APIClient(HTTP_HOST=tenant_a.primary_host, REMOTE_ADDR="10.1.2.3")
    assert login(elsewhere, "user9@acme.test", "Wrong-password-1").status_code == 401


def test_password_reset_answers_identically_and_the_link_works_once(tenant_a, api):
    make_member(tenant_a, "developer", email="forgetful@acme.test")
    known = api.post("/api/v1/auth/password/reset", {"email": "forgetful@acme.test"}, format="json")
    unknown = api.post("/api/v1/auth/password/reset", {"email": "stranger@acme.test"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["forgetful@acme.test"]
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    uid, token = re.search(r"/password/reset/([^/]+)/([^/]+)/", message.body).groups()
    assert f"http://{tenant_a.primary_host}/password/reset/" in message.body

    weak = api.post("/api/v1/auth/password/reset/confirm", {"uid": uid, "token": token, "new_password": "short"},
                    format="json")
    assert weak.status_code == 400 and "new_password" in weak.json()["error"]["details"]
    done = api.post("/api/v1/auth/password/reset/confirm",
                    {"uid": uid, "token": token, "new_password": "Brand-New-Secret-9"}, format="json")
    assert done.status_code == 200, done.content
    again = api.post("/api/v1/auth/password/reset/confirm",
                     {"uid": uid, "token": token, "new_password": "Brand-New-Secret-10"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_reset_token"
    assert login(api, "forgetful@acme.test", "Brand-New-Secret-9").status_code == 200


@pytest.mark.parametrize("password, message", [
    ("short-1A", "too short"),
    ("alllowercaseletters", "at least 3"),
    ("123456789012345", "at least 3"),
])
def test_password_rules(tenant_a, password, message):
    from accounts.tests.factories import jwt_client

    client = jwt_client(tenant_a, make_member(tenant_a, "viewer"))
    response = client.post("/api/v1/auth/password/change", {"current_password": PASSWORD, "new_password": password},
                           format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["error"]["details"]["new_password"])


def test_the_last_five_passwords_cannot_be_reused(tenant_a):
    from accounts.tests.factories import jwt_client

    user = make_member(tenant_a, "viewer")
    passwords = [PASSWORD] + [f"Rotating-Secret-{i}!" for i in range(5)]
    for current, new in zip(passwords, passwords[1:], strict=False):
        client = jwt_client(tenant_a, user)
        assert client.post("/api/v1/auth/password/change", {"current_password": current, "new_password": new},
                           format="json").status_code == 200
        with schema_context(tenant_a.schema_name):
            user.refresh_from_db()
    client = jwt_client(tenant_a, user)
    for reused in passwords[-5:]:
        refused = client.post("/api/v1/auth/password/change",
                              {"current_password": passwords[-1], "new_password": reused}, format="json")
        assert refused.status_code == 400, reused
        assert "recently" in refused.json()["error"]["details"]["new_password"][0]
    # The sixth most recent one is allowed again.
    assert client.post("/api/v1/auth/password/change",
                       {"current_password": passwords[-1], "new_password": passwords[0]},
                       format="json").status_code == 200


def test_wrong_current_password(tenant_a):
    from accounts.tests.factories import jwt_client

    client = jwt_client(tenant_a, make_member(tenant_a, "viewer"))
    response = client.post("/api/v1/auth/password/change",
                           {"current_password": "nope", "new_password": "Whatever-Strong-1"}, format="json")
    assert response.status_code == 400 and "current_password" in response.json()["error"]["details"]


def test_passwords_are_hashed_with_bcrypt_by_default(tenant_a, settings):
    from config.settings import base

    # The test settings swap in a fast hasher; production uses what base.py lists first.
    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS
    user = make_member(tenant_a, "viewer", password="Bcrypt-Hashed-Pass-1")
    assert user.password.startswith("bcrypt_sha256$$2b$12$")
    assert user.check_password("Bcrypt-Hashed-Pass-1")
