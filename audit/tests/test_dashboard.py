"""The audit trail page: same filters as the API, export buttons, navigation only for auditors."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.services import audit_record
from audit.tests.helpers import member_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(tenant_a):
    with schema_context(tenant_a.schema_name):
        return [
            audit_record(actor=Actor(type="user", id="1", email="ada@acme.test"), action="scan.create",
                         resource_type="scan", resource_id="s-1", changes={"status": {"after": "queued"}}),
            audit_record(actor=Actor(type="user", id="2", email="bob@acme.test"), action="auth.login_failed",
                         resource_type="user", outcome="failure", reason="wrong password"),
        ]


def test_page_lists_filters_and_links_exports_with_the_same_filters(tenant_a, trail):
    client, _ = member_client(tenant_a, "audit.view_audit")
    page = client.get("/audit/", {"outcome": "failure"}, HTTP_ACCEPT="text/html")
    html = page.content.decode()
    assert page.status_code == 200
    assert "auth.login_failed" in html and "scan.create" not in html
    assert 'href="/api/v1/audit-events/export.csv?outcome=failure"' in html
    assert 'href="/api/v1/audit-events/export.jsonl?outcome=failure"' in html
    assert ">Audit trail</a>" in html  # the navigation entry
    assert "<script>" not in html and "style=" not in html


def test_page_shows_filter_errors_next_to_the_field(tenant_a, trail):
    client, _ = member_client(tenant_a, "audit.view_audit")
    html = client.get("/audit/", {"since": "yesterday-ish"}).content.decode()
    assert "is not a date" in html and "No events match" in html


def test_detail_page_shows_changes_and_integrity(tenant_a, trail):
    client, _ = member_client(tenant_a, "audit.view_audit")
    html = client.get(f"/audit/{trail[0].pk}/").content.decode()
    assert "scan.create" in html and "queued" in html and trail[0].hash in html
    assert client.get("/audit/00000000-0000-0000-0000-000000000000/", HTTP_ACCEPT="text/html").status_code == 404


def test_members_without_the_permission_neither_see_nor_open_it(tenant_a, trail):
    client, _ = member_client(tenant_a, "scanning.submit_scan")
    assert client.get("/audit/", HTTP_ACCEPT="text/html").status_code == 403
    assert client.get(f"/audit/{trail[0].pk}/").status_code == 403
    home = client.get("/", HTTP_ACCEPT="text/html").content.decode()
    assert ">Audit trail</a>" not in home


def test_anonymous_visitors_are_sent_to_sign_in(client_a):
    response = client_a.get("/audit/")
    assert response.status_code == 302 and "/login/" in response["Location"]
