"""In a real browser (Debian's Chromium through Playwright) against a real server process:
sign in, set up MFA, sign out, sign in with a TOTP code, invite a member, who accepts and signs in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from accounts import mfa
from accounts.tests.factories import PASSWORD, make_member
from config.testing.processes import start_web

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def site(live_tenant, django_db_blocker, tmp_path) -> Iterator[dict]:
    """The live organization, its owner, and a real uvicorn serving it."""
    host = live_tenant.primary_host
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        make_member(live_tenant, "owner", email="owner@browser.test")
        connection.set_schema_to_public()
    web, port = start_web(tmp_path, GATEHOUSE_TEST_EMAIL_DIR=str(mail_dir), ACCOUNTS_LOGIN_RATE_IP="1000/60")
    try:
        yield {"base": f"http://{host}:{port}", "mail_dir": mail_dir, "tenant": live_tenant, "web": web}
    finally:
        web.stop()


def latest_invitation_link(mail_dir: Path) -> str:
    text = "\n".join(p.read_text(errors="replace") for p in sorted(mail_dir.iterdir()))
    links = re.findall(r"http://[^\s\"<>]+/invitations/[A-Za-z0-9_-]+/", text)
    assert links, f"no invitation email in {mail_dir}"
    return links[-1]


def test_sign_in_mfa_invite_and_accept(site, db):
    # `db` comes after `site` on purpose: the organization and its owner are committed (the server
    # process must see them) before this test's own, rolled-back transaction begins; asking for
    # `db` also makes pytest-django create the test database when this test runs alone.
    from playwright.sync_api import expect, sync_playwright

    base = site["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(20_000)

            # Sign in with a password.
            page.goto(f"{base}/login/")
            page.fill("#id_email", "owner@browser.test")
            page.fill("#id_password", PASSWORD)
            page.click("main form.stack button[type=submit]")
            expect(page.locator(".user-email")).to_have_text("owner@browser.test")

            # Set up MFA from the profile page.
            page.goto(f"{base}/account/")
            page.click("[data-testid=mfa-setup-link]")
            expect(page.locator("svg.qr")).to_be_visible()
            secret = page.locator("[data-testid=totp-secret]").inner_text().strip()
            page.fill("#id_code", mfa.code_for_base32(secret))
            page.click("main form.stack button[type=submit]")
            expect(page.locator("[data-testid=recovery-codes] li")).to_have_count(10)

            # Sign out, then sign in again: now the TOTP step is required.
            page.click("[data-testid=sign-out]")
            expect(page).to_have_url(re.compile(r"/login/$"))
            page.fill("#id_email", "owner@browser.test")
            page.fill("#id_password", PASSWORD)
            page.click("main form.stack button[type=submit]")
            expect(page).to_have_url(re.compile(r"/login/mfa/$"))
            # The code of the next time step: the one used at set-up is spent.
            page.fill("#id_code", mfa.code_for_base32(secret, offset_steps=1))
            page.click("main form.stack button[type=submit]")
            expect(page.locator(".user-email")).to_have_text("owner@browser.test")

            # Invite a member.
            page.goto(f"{base}/members/")
            page.fill("#id_email", "newcomer@browser.test")
            page.select_option("#id_role", "developer")
            page.click("main form.stack button[type=submit]")
            expect(page.locator(".flash")).to_contain_text("Invitation sent to newcomer@browser.test")
            link = latest_invitation_link(site["mail_dir"])
            assert link.startswith(base)
            page.click("[data-testid=sign-out]")

            # The member accepts in their own browser, is signed in, signs out and back in.
            member = browser.new_context().new_page()
            member.set_default_timeout(20_000)
            member.goto(link)
            expect(member.locator("h1")).to_contain_text("Join")
            member.fill("#id_full_name", "New Comer")
            member.fill("#id_new_password", "Harbor-Lights-77")
            member.fill("#id_new_password_again", "Harbor-Lights-77")
            member.click("main form.stack button[type=submit]")
            expect(member.locator(".user-email")).to_have_text("newcomer@browser.test")
            member.click("[data-testid=sign-out]")
            member.fill("#id_email", "newcomer@browser.test")
            member.fill("#id_password", "Harbor-Lights-77")
            member.click("main form.stack button[type=submit]")
            expect(member.locator(".user-email")).to_have_text("newcomer@browser.test")
            member.goto(f"{base}/members/")
            expect(member.locator("table")).to_contain_text("owner@browser.test")
            # A developer sees members but cannot invite.
            expect(member.locator("#id_email")).to_have_count(0)
        finally:
            browser.close()
