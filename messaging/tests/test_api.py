"""Integrator MQTT credentials (API and dashboard) and the recent-events API."""

import uuid

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from messaging.events import publish_event
from messaging.models import MqttCredential

pytestmark = pytest.mark.django_db
URL = "/api/v1/mqtt/credentials"


@pytest.fixture
def admin_api(api_client_as):
    return api_client_as("admin")


def create(client, name="CI mirror", capture=None):
    with capture(execute=True):
        return client.post(URL, {"name": name}, format="json")


def test_create_shows_the_password_once_and_it_works_on_the_broker(admin_api, probe,
                                                                   django_capture_on_commit_callbacks):
    response = create(admin_api, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "CI mirror" and body["status"] == "active"
    assert body["username"].startswith("acme.") and len(body["password"]) >= 24
    assert body["topics"] == {"subscribe": "org/acme/#", "publish": "org/acme/feeds/#"}
    assert response["Location"].endswith(body["id"]) and response["Cache-Control"] == "no-store"
    assert probe(body["username"], body["password"]).accepted

    listed = admin_api.get(URL).json()
    assert listed["count"] == 1 and "password" not in listed["results"][0]
    assert "password" not in admin_api.get(f"{URL}/{body['id']}").json()
    with schema_context("acme"):
        assert AuditEvent.objects.filter(action="mqtt_credential.create", resource_id=body["id"]).exists()
        stored = MqttCredential.objects.get(pk=body["id"])
    assert stored.broker_synced and body["password"] not in stored.password_encrypted


def test_revoke_disconnects_the_live_session(admin_api, probe, django_capture_on_commit_callbacks):
    body = create(admin_api, capture=django_capture_on_commit_callbacks).json()
    client = probe(body["username"], body["password"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.delete(f"{URL}/{body['id']}")
    assert response.status_code == 204
    assert client.disconnected.wait(20)
    assert probe(body["username"], body["password"]).connack.is_failure
    assert admin_api.get(f"{URL}/{body['id']}").json()["status"] == "revoked"
    assert admin_api.get(URL, {"status": "active"}).json()["count"] == 0
    assert admin_api.get(URL, {"status": "revoked"}).json()["count"] == 1
    with schema_context("acme"):
        assert AuditEvent.objects.filter(action="mqtt_credential.revoke", resource_id=body["id"]).exists()


@pytest.mark.parametrize("role", ["developer", "viewer", "security_engineer"])
def test_members_without_the_permission_are_refused(api_client_as, role):
    client = api_client_as(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "x"}, format="json").status_code == 403


def test_another_tenants_credential_is_not_found(admin_api, api_client_as, tenant_b,
                                                 django_capture_on_commit_callbacks):
    theirs = create(api_client_as("admin", tenant=tenant_b), capture=django_capture_on_commit_callbacks).json()
    assert admin_api.get(f"{URL}/{theirs['id']}").status_code == 404
    assert admin_api.delete(f"{URL}/{theirs['id']}").status_code == 404
    assert admin_api.get(URL).json()["count"] == 0
    # A token for globex is refused on acme's host.
    globex = api_client_as("admin", tenant=tenant_b)
    globex.defaults["HTTP_HOST"] = "acme.localhost"
    assert globex.get(URL).status_code == 401


def test_validation_errors(admin_api):
    response = admin_api.post(URL, {"name": "  "}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert admin_api.post(URL, {"name": "x" * 101}, format="json").status_code == 400


def test_list_is_paginated_ordered_and_free_of_n_plus_one(admin_api, django_assert_max_num_queries,
                                                         django_capture_on_commit_callbacks):
    for name in ("b", "a", "c"):
        create(admin_api, name, capture=django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(12):
        body = admin_api.get(URL, {"ordering": "name", "page_size": 2}).json()
    assert body["count"] == 3 and [r["name"] for r in body["results"]] == ["a", "b"] and body["next"]


def test_dashboard_page_creates_lists_and_revokes(session_client_as, probe, django_capture_on_commit_callbacks):
    client = session_client_as("owner")
    page = client.get("/mqtt/credentials/")
    assert page.status_code == 200 and b"MQTT credentials" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/mqtt/credentials/", {"name": "Door sensors"})
    assert created.status_code == 200
    html = created.content.decode()
    assert "Copy the password now" in html
    with schema_context("acme"):
        credential = MqttCredential.objects.get(name="Door sensors")
    # The password is on this one response only.
    assert credential.username in html
    assert "Copy the password now" not in client.get("/mqtt/credentials/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        revoked = client.post(f"/mqtt/credentials/{credential.pk}/revoke")
    assert revoked.status_code == 302
    with schema_context("acme"):
        credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert client.post(f"/mqtt/credentials/{uuid.uuid4()}/revoke").status_code == 404
    assert client.post("/mqtt/credentials/", {"name": ""}).status_code == 400


def test_dashboard_page_is_refused_without_the_permission(session_client_as):
    assert session_client_as("developer").get("/mqtt/credentials/").status_code == 403


def test_navigation_shows_the_page_only_to_managers(session_client_as):
    assert b'href="/mqtt/credentials/"' in session_client_as("admin").get("/").content
    assert b'href="/mqtt/credentials/"' not in session_client_as("developer").get("/").content


def test_recent_events_are_filtered_for_the_member(api_client_as, tenant_a, make_member):
    developer = make_member(tenant_a, "developer")
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    publish_event(tenant=tenant_a, type="scan.queued", subject=mine,
                  data={"scan_id": mine, "submitted_by": str(developer.pk)})
    publish_event(tenant=tenant_a, type="scan.queued", subject=theirs,
                  data={"scan_id": theirs, "submitted_by": str(uuid.uuid4())})
    publish_event(tenant=tenant_a, type="audit.recorded", subject="a", data={})

    def seen(client, **params):
        return [(e["type"], e["subject"]) for e in client.get("/api/v1/events", params).json()["results"]]

    dev_client = api_client_as(user=developer)
    assert seen(dev_client) == [("scan.queued", mine)]
    engineer = seen(api_client_as("security_engineer"))
    assert engineer == [("audit.recorded", "a"), ("scan.queued", theirs), ("scan.queued", mine)]
    assert seen(api_client_as("security_engineer"), scan=theirs) == [("scan.queued", theirs)]
    assert api_client_as("viewer").get("/api/v1/events", {"limit": 0}).status_code == 400


def test_home_page_has_the_live_panel(session_client_as, tenant_a):
    client = session_client_as("security_engineer")
    publish_event(tenant=tenant_a, type="scan.completed", subject="home-scan", data={"scan_id": "home-scan"})
    html = client.get("/").content.decode()
    assert "data-live-stream" in html and "data-live-indicator" in html and "js/live.js" in html
    assert "scan.completed" in html and "home-scan" in html
