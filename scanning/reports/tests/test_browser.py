"""In a real browser (Debian's Chromium through Playwright) against a real server process: the template
editor's preview frame loads (same-origin, sandboxed, under its own CSP) and follows the form as you type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from accounts.tests.factories import PASSWORD, make_member
from config.testing.processes import start_web

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def site(live_tenant: Any, django_db_blocker: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        make_member(live_tenant, "admin", email="admin@reports-browser.test")
        connection.set_schema_to_public()
    web, port = start_web(tmp_path, ACCOUNTS_LOGIN_RATE_IP="1000/60")
    try:
        yield {"base": f"http://{live_tenant.primary_host}:{port}"}
    finally:
        web.stop()


def test_the_template_preview_follows_the_form(site: dict[str, Any], db: None):
    from playwright.sync_api import expect, sync_playwright

    base = site["base"]
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(20_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/login/")
            page.fill("#id_email", "admin@reports-browser.test")
            page.fill("#id_password", PASSWORD)
            page.click("main form.stack button[type=submit]")
            expect(page.locator(".user-email")).to_have_text("admin@reports-browser.test")

            page.goto(f"{base}/reports/templates/new/")
            preview = page.frame_locator("iframe[name=template-preview]")
            expect(preview.locator("h1")).to_have_text("Security report")
            expect(preview.locator(".scope")).to_have_text("Scan of sample-utils 1.2.0 (pypi)")
            page.fill("#id_title", "Quarterly supply-chain review")
            expect(preview.locator("h1")).to_have_text("Quarterly supply-chain review", timeout=15_000)
            page.uncheck("input[name=sections][value=appendix]")
            expect(preview.locator("#appendix")).to_have_count(0, timeout=15_000)
            expect(preview.locator("#remediation")).to_have_count(1)
        finally:
            browser.close()
    assert not [m for m in problems if "Content Security Policy" in m or "Refused" in m], problems
