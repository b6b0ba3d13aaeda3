"""Dashboard pages: sign-in with the MFA step, CSRF on every form, errors next to their field."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django_tenants.utils import schema_context

from accounts import mfa
from accounts.tests.factories import PASSWORD, jwt_client, make_member, session_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(tenant_a):
    return Client(HTTP_HOST=tenant_a.primary_host, HTTP_ACCEPT="text/html")


def csrf_browser(tenant):
    return Client(HTTP_HOST=tenant.primary_host, HTTP_ACCEPT="text/html", enforce_csrf_checks=True)


def csrf_token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def test_sign_in_page_needs_csrf_and_shows_errors(tenant_a):
    make_member(tenant_a, "viewer", email="page@acme.test")
    client = csrf_browser(tenant_a)
    page = client.get("/login/")
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content
    assert b"<script>" not in page.content and b" style=" not in page.content
    forged = client.post("/login/", {"email": "page@acme.test", "password": PASSWORD})
    assert forged.status_code == 403 and b"form expired" in forged.content
    wrong = client.post("/login/", {"email": "page@acme.test", "password": "nope",
                                    "csrfmiddlewaretoken": csrf_token(page)})
    assert wrong.status_code == 401 and b"Email or password is incorrect." in wrong.content
    empty = client.post("/login/", {"email": "", "password": "", "csrfmiddlewaretoken": csrf_token(page)})
    assert empty.status_code == 200
    assert re.search(rb'<div class="field has-error">\s*<label for="id_email">', empty.content)
    ok = client.post("/login/?next=/members/", {"email": "page@acme.test", "password": PASSWORD,
                                                "csrfmiddlewaretoken": csrf_token(page)})
    assert ok.status_code == 302 and ok["Location"] == "/members/"
    assert client.get("/members/").status_code == 200


def test_sign_in_with_the_mfa_step(tenant_a, browser, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = make_member(tenant_a, "developer", email="mfa-page@acme.test")
    api = jwt_client(tenant_a, user)
    secret = api.post("/api/v1/auth/mfa/setup").json()["secret"]
    api.post("/api/v1/auth/mfa/confirm", {"code": mfa.code_for_base32(secret)}, format="json")

    step = browser.post("/login/", {"email": "mfa-page@acme.test", "password": PASSWORD})
    assert step.status_code == 302 and step["Location"] == "/login/mfa/"
    assert browser.get("/account/").status_code == 302  # not signed in before the second factor
    wrong = browser.post("/login/mfa/", {"code": "000000"})
    assert wrong.status_code == 401 and b"has-error" in wrong.content
    done = browser.post("/login/mfa/", {"code": mfa.code_for_base32(secret, offset_steps=1)})
    assert done.status_code == 302
    assert browser.get("/account/").status_code == 200
    out = browser.post("/logout/")
    assert out.status_code == 302 and browser.get("/account/").status_code == 302


def test_mfa_setup_page_shows_an_inline_qr_and_then_recovery_codes(tenant_a):
    user = make_member(tenant_a, "viewer")
    client = session_client(tenant_a, user)
    page = client.get("/account/mfa/setup/")
    assert page.status_code == 200 and b"<svg " in page.content
    secret = re.search(rb'data-testid="totp-secret">([A-Z2-7]+)<', page.content).group(1).decode()
    assert client.get("/account/mfa/setup/").content.count(secret.encode()) == 1  # same pending secret
    done = client.post("/account/mfa/setup/", {"code": mfa.code_for_base32(secret)})
    assert done.status_code == 200 and b'data-testid="recovery-codes"' in done.content
    assert b"On</span>" in client.get("/account/").content


def test_invitation_and_password_reset_pages(tenant_a, browser):
    admin = session_client(tenant_a, make_member(tenant_a, "admin"))
    sent = admin.post("/members/", {"email": "joiner@acme.test", "role": "developer", "full_name": ""})
    assert sent.status_code == 302
    link = re.search(r"http://[^\s]+/invitations/[^\s/]+/", mail.outbox[-1].body).group(0)
    path = "/" + link.split("/", 3)[3]
    page = browser.get(path)
    assert page.status_code == 200 and b"joiner@acme.test" in page.content
    mismatch = browser.post(path, {"full_name": "J", "new_password": "Harbor-Lights-91", "new_password_again": "x"})
    assert mismatch.status_code == 200 and b"The two passwords differ." in mismatch.content
    weak = browser.post(path, {"full_name": "J", "new_password": "weak", "new_password_again": "weak"})
    assert b"has-error" in weak.content
    joined = browser.post(path, {"full_name": "Joiner", "new_password": "Harbor-Lights-91",
                                 "new_password_again": "Harbor-Lights-91"})
    assert joined.status_code == 302
    assert browser.get("/account/").status_code == 200
    assert browser.get(path).status_code == 404  # used once

    anonymous = Client(HTTP_HOST=tenant_a.primary_host, HTTP_ACCEPT="text/html")
    known = anonymous.post("/password/forgot/", {"email": "joiner@acme.test"})
    unknown = anonymous.post("/password/forgot/", {"email": "nobody@acme.test"})
    assert known.status_code == unknown.status_code == 200
    strip = lambda r: re.sub(rb"(csrfmiddlewaretoken\" value=\")[^\"]+", b"", r.content)  # noqa: E731
    assert strip(known).replace(b"joiner", b"X") == strip(unknown).replace(b"nobody", b"X")
    reset = re.search(r"/password/reset/[^\s]+/", mail.outbox[-1].body).group(0)
    assert anonymous.get(reset).status_code == 200
    changed = anonymous.post(reset, {"new_password": "Harbor-Lights-92", "new_password_again": "Harbor-Lights-92"})
    assert changed.status_code == 302
    assert anonymous.get(reset).status_code == 400


def test_members_page_invites_and_protects_the_last_owner(tenant_a):
    owner = make_member(tenant_a, "owner")
    client = session_client(tenant_a, owner)
    bad = client.post("/members/", {"email": "not-an-email", "role": "viewer"}, HTTP_ACCEPT="text/html")
    assert bad.status_code == 400 and b"Enter a valid email address." in bad.content
    demote = client.post(f"/members/{owner.pk}/role/", {"role": "admin"}, follow=True)
    assert b"last owner" in demote.content
    with schema_context(tenant_a.schema_name):
        owner.refresh_from_db()
        assert owner.role_name == "owner"


def test_api_keys_page_shows_the_secret_once(tenant_a):
    client = session_client(tenant_a, make_member(tenant_a, "admin"))
    created = client.post("/api-keys/", {"name": "Jenkins", "scopes": ["read"], "expires_in_days": 30})
    assert created.status_code == 200
    secret = re.search(rb'data-testid="new-api-key">(gh_[a-z0-9]+_[a-z0-9]+)<', created.content).group(1)
    listing = client.get("/api-keys/")
    assert secret not in listing.content and b"Jenkins" in listing.content


def test_settings_page_validates_next_to_the_field(tenant_a):
    client = session_client(tenant_a, make_member(tenant_a, "owner"))
    response = client.post("/settings/", {"name": "Acme Corp", "cors_allowed_origins": "ftp://nope",
                                          "audit_retention_days": 365, "scan_retention_days": 365,
                                          "waiver_max_days": 90})
    assert response.status_code == 400
    assert re.search(rb'has-error">\s*<label for="id_cors_allowed_origins">', response.content)
    ok = client.post("/settings/", {"name": "Acme Corp", "cors_allowed_origins": "https://ci.example.com",
                                    "audit_retention_days": 365, "scan_retention_days": 365,
                                    "waiver_max_days": 90, "require_mfa": ""})
    assert ok.status_code == 302


def test_navigation_shows_only_what_the_role_may_open(tenant_a):
    viewer = session_client(tenant_a, make_member(tenant_a, "viewer")).get("/account/").content
    owner = session_client(tenant_a, make_member(tenant_a, "owner")).get("/account/").content
    assert b'href="/members/"' in viewer and b'href="/api-keys/"' not in viewer and b'href="/settings/"' not in viewer
    assert b'href="/api-keys/"' in owner and b'href="/settings/"' in owner
    assert b"Sign out" in viewer


def test_a_session_is_bound_to_its_organization(tenant_a, tenant_b):
    user = make_member(tenant_a, "owner")
    client = session_client(tenant_a, user)
    cookie = client.cookies["sessionid"].value
    other = Client(HTTP_HOST=tenant_b.primary_host, HTTP_ACCEPT="text/html")
    other.cookies["sessionid"] = cookie
    assert other.get("/account/").status_code == 302
