"""Requests reach their organization's schema and nothing else."""

import json

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from conftest import host_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def probes(settings):
    settings.ROOT_URLCONF = "tenants.tests.probe_urls"


def test_row_written_through_one_host_is_invisible_through_another(probes, client_a, client_b, tenant_b):
    created = client_a.post("/probe/write", {"email": "only-in-acme@example.com"})
    assert created.status_code == 201

    assert "only-in-acme@example.com" in client_a.get("/probe/read").json()["emails"]
    assert "only-in-acme@example.com" not in client_b.get("/probe/read").json()["emails"]
    with schema_context(tenant_b.schema_name):
        assert not get_user_model().objects.filter(email="only-in-acme@example.com").exists()


def test_search_path_is_the_hosts_schema(probes, client_a, client_b):
    assert client_a.get("/probe/search-path").json() == {"search_path": "acme, public", "schema": "acme"}
    assert client_b.get("/probe/search-path").json() == {"search_path": "globex, public", "schema": "globex"}


def test_unknown_host_is_404_envelope_not_the_public_site(db):
    for host in ("nobody.localhost", "_template.localhost", "public.localhost", "evil.example.com"):
        response = host_client(host).get("/admin/")
        assert response.status_code == 404, host
        body = response.json()
        assert body["error"]["code"] == "unknown_host"
        assert body["error"]["request_id"] == response["X-Request-ID"]


def test_admin_is_404_on_tenant_hosts_and_served_on_the_public_host(client_a, public_client):
    response = client_a.get("/admin/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert public_client.get("/admin/").status_code == 302  # to the staff login
    assert public_client.get("/admin/login/").status_code == 200


def test_suspended_tenant_host_answers_403(client_a, tenant_a):
    from tenants.services import tenant_reactivate, tenant_suspend

    tenant_suspend(tenant=tenant_a, reason="unpaid")
    response = client_a.get("/api/v1/system/info")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_suspended"
    tenant_reactivate(tenant=tenant_a)
    assert client_a.get("/api/v1/system/info").status_code == 200


def test_errors_use_the_envelope(probes, client_a):
    not_found = client_a.get("/no/such/page")
    assert not_found.status_code == 404
    assert set(not_found.json()["error"]) == {"code", "message", "details", "request_id"}

    not_allowed = client_a.post("/health")
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"]["code"] == "method_not_allowed"
    assert not_allowed["Allow"] == "GET"

    client_a.raise_request_exception = False
    crashed = client_a.get("/probe/explode")
    assert crashed.status_code == 500
    error = crashed.json()["error"]
    assert error["code"] == "server_error"
    assert "hunter2" not in json.dumps(error) and "RuntimeError" not in json.dumps(error)


def test_browsers_get_an_html_error_page(client_a):
    response = client_a.get("/no/such/page", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"The requested resource was not found." in response.content


def test_slug_with_underscore_is_served_at_its_hyphenated_host(db):
    from tenants.services import tenant_create

    tenant = tenant_create(slug="big_corp", name="Big Corp").tenant
    assert tenant.primary_host == "big-corp.localhost"
    response = host_client("big-corp.localhost").get("/api/v1/system/info")
    assert response.status_code == 200
    assert host_client("big_corp.localhost").get("/api/v1/system/info").status_code == 404
