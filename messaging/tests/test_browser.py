"""static/js/live.js in a real browser (Debian's Chromium through Playwright) against real processes:
the connection indicator, the home page's live stream, and the scan-progress data attributes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from accounts.tests.factories import PASSWORD, make_member
from config.testing.processes import start_bridge, start_relay, start_web
from messaging.events import publish_event, publish_progress
from messaging.tests.test_bridge import forget_session

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def site(live_tenant, django_db_blocker, mqtt_ready, tmp_path) -> Iterator[dict]:
    with django_db_blocker.unblock():
        owner = make_member(live_tenant, "owner", email="owner@live-js.test")
        connection.set_schema_to_public()
    bridge_id = f"browser-bridge-{uuid.uuid4().hex[:6]}"
    relay = start_relay(tmp_path)
    bridge = start_bridge(tmp_path, MQTT_BRIDGE_CLIENT_ID=bridge_id)
    web, port = start_web(tmp_path, ACCOUNTS_LOGIN_RATE_IP="1000/60")
    try:
        yield {"base": f"http://{live_tenant.primary_host}:{port}", "tenant": live_tenant, "owner": owner}
    finally:
        for process in (web, bridge, relay):
            process.stop()
        forget_session(bridge_id)


def commit_event(django_db_blocker, tenant, event_type, subject, data):
    """A service's write, committed on a connection of its own (this test's is inside a transaction)."""
    from django.db import connections

    def write() -> None:
        try:
            with schema_context(tenant.schema_name), transaction.atomic():
                publish_event(tenant=tenant, type=event_type, subject=subject, data=data)
        finally:
            connections.close_all()

    with django_db_blocker.unblock(), ThreadPoolExecutor(1) as pool:
        pool.submit(write).result()


def test_live_indicator_stream_and_scan_progress(site, django_db_blocker, db):
    # `db` after `site`: the organization is committed for the server processes first.
    from playwright.sync_api import expect, sync_playwright

    tenant, owner = site["tenant"], site["owner"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(20_000)
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            page.goto(f"{site['base']}/login/")
            page.fill("#id_email", "owner@live-js.test")
            page.fill("#id_password", PASSWORD)
            page.click("main form.stack button[type=submit]")
            expect(page.locator(".user-email")).to_have_text("owner@live-js.test")

            page.goto(f"{site['base']}/")
            indicator = page.locator("[data-live-indicator]").first
            expect(indicator).to_have_attribute("data-live-state", "live")

            # A domain event committed by a service appears in the home page's stream.
            subject = str(uuid.uuid4())
            commit_event(django_db_blocker, tenant, "scan.completed", subject,
                         {"scan_id": subject, "submitted_by": str(owner.pk), "status": "completed"})
            expect(page.locator("[data-live-stream] li", has_text=subject)).to_have_count(1)

            # The scan page contract: progress bar, progress text, stage and status badge.
            scan = str(uuid.uuid4())
            page.evaluate("""scan => {
                const section = document.createElement('section');
                section.setAttribute('data-live-scan', scan);
                section.innerHTML = '<span class="badge badge-queued" data-live-status>queued</span>' +
                  '<div class="progress" data-live-progress><span></span></div>' +
                  '<span data-live-progress-text></span> <span data-live-stage></span>';
                document.querySelector('main').appendChild(section);
                window.GatehouseLive.subscribeScan(scan);
            }""", scan)
            expect(page.locator("[data-live-scan]").first).to_be_attached()

            def tick() -> None:
                publish_progress(tenant=tenant, scan_id=scan,
                                 data={"percent": 40, "stage": "analyzers", "submitted_by": str(owner.pk)})

            # Progress ticks are QoS 0 and best effort: tick until the page shows one.
            for _ in range(20):
                tick()
                try:
                    expect(page.locator("[data-live-progress-text]")).to_have_text("40%", timeout=1_000)
                    break
                except AssertionError:
                    continue
            expect(page.locator("[data-live-progress-text]")).to_have_text("40%")
            expect(page.locator("[data-live-stage]")).to_have_text("analyzers")
            expect(page.locator("[data-live-progress]")).to_have_attribute("aria-valuenow", "40")
            expect(page.locator("[data-live-status]")).to_have_text("running")

            commit_event(django_db_blocker, tenant, "scan.failed", scan,
                         {"scan_id": scan, "submitted_by": str(owner.pk), "error": "timeout"})
            status = page.locator("[data-live-status]")
            expect(status).to_have_text("failed")
            expect(status).to_have_class("badge badge-failed")
            assert not problems, problems
        finally:
            browser.close()
