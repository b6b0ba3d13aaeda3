"""Dashboard pages: scans list, new scan (upload and reference), scan detail, checks, connections."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from scanning.models import Connection, Scan
from scanning.pipeline import scan_run
from scanning.tests.conftest import ADMIN, DEVELOPER, VIEWER

pytestmark = pytest.mark.django_db
HTML = {"HTTP_ACCEPT": "text/html"}


def no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert " style=" not in html, "inline style attribute"


def test_scan_pages(tenant_a, member, login, upload):
    dev = member(DEVELOPER)
    client = login(dev)
    scan_id = upload(client, "npm", malicious=True).json()["id"]
    queued = client.get(f"/scans/{scan_id}/", **HTML).content.decode()
    assert f'data-live-scan="{scan_id}"' in queued and "data-live-progress" in queued
    assert "data-live-status" in queued and "data-live-reload-on-final" in queued
    with schema_context(tenant_a.schema_name):
        scan_run(scan_id=scan_id)
    page = client.get(f"/scans/{scan_id}/", **HTML)
    assert page.status_code == 200
    html = page.content.decode()
    no_inline_code(html)
    assert "<svg" in html and "install hooks" in html, "category scores chart"
    assert "PKG-HOOK-003" in html and "Evidence" in html
    assert 'value="100"' in html
    only_critical = client.get(f"/scans/{scan_id}/?severity=critical", **HTML).content.decode()
    assert "<code>PKG-HOOK-003</code>" in only_critical and "<code>PKG-HOOK-001</code>" not in only_critical
    listing = client.get("/scans/?status=completed", **HTML).content.decode()
    no_inline_code(listing)
    assert f"/scans/{scan_id}/" in listing and "badge-completed" in listing
    assert client.get("/scans/?status=bogus", **HTML).status_code == 400


def test_new_scan_upload_and_reference(tenant_a, member, login, artifacts):
    client = login(member(DEVELOPER))
    page = client.get("/scans/new/", **HTML).content.decode()
    no_inline_code(page)
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page
    with open(artifacts.get("alpine"), "rb") as handle:
        response = client.post("/scans/new/", {"mode": "upload", "file": handle, "ecosystem": "", "name": "",
                                               "version": ""})
    assert response.status_code == 302
    with schema_context(tenant_a.schema_name):
        scan = Scan.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
        assert scan.ecosystem == "alpine" and scan.status == "queued"
    missing = client.post("/scans/new/", {"mode": "reference", "ecosystem": "npm", "name": "x", "version": "1.0.0"},
                          **HTML).content.decode()
    assert "No registry connection serves npm packages" in missing
    bad = artifacts.write("notes.txt", b"hello")
    with open(bad, "rb") as handle:
        refused = client.post("/scans/new/", {"mode": "upload", "file": handle}, **HTML).content.decode()
    assert "not a supported artifact type" in refused


def test_viewer_cannot_submit(member, login):
    assert login(member(VIEWER)).get("/scans/new/", **HTML).status_code == 403


def test_checks_page_shows_the_formula(member, login):
    html = login(member(VIEWER)).get("/checks/", **HTML).content.decode()
    no_inline_code(html)
    assert "PKG-META-001" in html and "How scores are computed" in html and "critical → at most 40" in html


def test_connections_page(tenant_a, member, login):
    client = login(member(ADMIN))
    html = client.get("/connections/", **HTML).content.decode()
    no_inline_code(html)
    response = client.post("/connections/", {"name": "Debian", "kind": "debian",
                                             "base_url": "https://deb.example.org/debian", "auth_type": "basic",
                                             "username": "u", "secret": "p4ss-word", "suite": "bookworm",
                                             "component": "main", "arch": "arm64", "timeout_seconds": 20})
    assert response.status_code == 302
    with schema_context(tenant_a.schema_name):
        conn = Connection.objects.get(name="Debian")
        assert conn.options == {"suite": "bookworm", "component": "main", "arch": "arm64"} and conn.has_secret
    listed = client.get("/connections/", **HTML).content.decode()
    assert "secret stored" in listed and "p4ss-word" not in listed
    edit = client.get(f"/connections/{conn.id}/", **HTML).content.decode()
    assert "p4ss-word" not in edit and "bookworm" in edit
    assert login(member(DEVELOPER)).get("/connections/", **HTML).status_code == 403


def test_navigation_and_home_panel(tenant_a, member, login, upload):
    admin = member(ADMIN)
    client = login(admin)
    upload(client, "rpm")
    home = client.get("/", **HTML).content.decode()
    assert 'href="/scans/"' in home and 'href="/checks/"' in home and 'href="/connections/"' in home
    assert "sample-agent" in home or "rpm" in home
    dev_home = login(member(DEVELOPER)).get("/", **HTML).content.decode()
    assert 'href="/connections/"' not in dev_home


def test_cli_scan_inline_prints_verdict_and_findings(tenant_a, artifacts, capsys):
    code = 0
    try:
        call_command("scan", str(artifacts.get("debian", malicious=True)), tenant=tenant_a.schema_name, inline=True)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr().out
    assert "Score" in out and "grade F" in out and "Verdict:" in out
    # Exit status 2 when the organization's policy blocks the package, 0 otherwise.
    assert code == (2 if "Verdict: block" in out else 0)
    assert "PKG-HOOK-008" in out and "CRITICAL" in out


def test_cli_refuses_unknown_tenant_and_target(tenant_a):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("scan", "x.whl", tenant="nope_nope")
    with pytest.raises(CommandError):
        call_command("scan", "/no/such/file.whl", tenant=tenant_a.schema_name)


def test_demo_step_creates_completed_sample_scans(tenant_a):
    from scanning.demo import seed_sample_scans

    with schema_context(tenant_a.schema_name):
        created = seed_sample_scans(tenant_a)
        scans = Scan.objects.filter(pk__in=created)
        assert len(created) == 7 and all(s.status == "completed" for s in scans)
        assert {s.grade for s in scans} >= {"A", "F"}
        assert seed_sample_scans(tenant_a) == [], "idempotent"
