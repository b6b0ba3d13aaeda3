"""The scans API: submission, limits, visibility, lists without N+1, findings, cancel/rescan/delete, downloads."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from messaging.models import OutboxEvent
from scanning.models import Finding, Scan
from scanning.pipeline import scan_run
from scanning.samples import npm
from scanning.tests.conftest import ADMIN, DEVELOPER, SECURITY, VIEWER

pytestmark = pytest.mark.django_db


def run(tenant, scan_id):
    with schema_context(tenant.schema_name):
        return scan_run(scan_id=str(scan_id))


def test_upload_answers_202_with_location_and_records_everything(tenant_a, member, login, upload):
    user = member(DEVELOPER)
    client = login(user)
    response = upload(client, "pypi-wheel")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == f"/api/v1/scans/{body['id']}"
    assert body["status"] == "queued" and body["ecosystem"] == "pypi"
    assert len(body["sha256"]) == 64 and body["size"] > 0
    assert body["submitted_by"]["id"] == str(user.pk)
    with schema_context(tenant_a.schema_name):
        scan = Scan.objects.get(pk=body["id"])
        assert scan.artifact is not None and scan.artifact.sha256 == body["sha256"]
        audit = AuditEvent.objects.get(action="scan.create", resource_id=body["id"])
        assert audit.actor_id == str(user.pk)
        event = OutboxEvent.objects.get(type="scan.queued", envelope__data__scan_id=body["id"])
        assert event.envelope["data"]["submitted_by"] == str(user.pk)


def test_same_artifact_is_recognised(tenant_a, member, login, upload):
    client = login(member(DEVELOPER))
    first = upload(client, "npm").json()
    second = upload(client, "npm").json()
    assert first["artifact"]["id"] == second["artifact"]["id"]
    assert second["previous_scan"] == first["id"] and first["previous_scan"] is None


def test_idempotency_key_replays_and_refuses_reuse(member, login, upload):
    client = login(member(DEVELOPER))
    headers = {"Idempotency-Key": "build-1234"}
    first = upload(client, "npm", headers=headers)
    again = upload(client, "npm", headers=headers)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    other = upload(client, "debian", headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_reference_submission_needs_a_connection(member, login):
    client = login(member(DEVELOPER))
    response = client.post("/api/v1/scans", {"ecosystem": "pypi", "name": "requests", "version": "2.31.0"},
                           content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_connection"


def test_submission_without_file_or_reference_is_400(member, login):
    response = login(member(DEVELOPER)).post("/api/v1/scans", {"ecosystem": "npm"}, content_type="application/json")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["details"]


def test_unsupported_type_is_415_listing_the_supported(member, login, artifacts):
    client = login(member(DEVELOPER))
    path = artifacts.write("tool.exe", b"MZ not a package")
    with open(path, "rb") as handle:
        response = client.post("/api/v1/scans", {"file": handle})
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_artifact_type"
    assert error["details"]["supported"]["npm"] == [".tgz", ".tar.gz"]
    assert ".whl" in error["message"]


def test_upload_over_the_limit_is_413(settings, member, login, upload, tenant_a):
    settings.SCANNING_MAX_UPLOAD_MB = 1
    client = login(member(DEVELOPER))
    filename, data = npm("big", "1.0.0", padding=2 * 1024 * 1024)
    handle = BytesIO(data)
    handle.name = filename
    response = client.post("/api/v1/scans", {"file": handle})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "artifact_too_large"
    with schema_context(tenant_a.schema_name):
        assert not Scan.objects.filter(target=filename).exists()
    uploads = settings.DATA_ROOT / tenant_a.schema_name / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())


def test_daily_quota_is_429_with_a_clear_message(tenant_a, member, login, upload):
    from tenants.models import Tenant

    client = login(member(DEVELOPER))
    Tenant.objects.filter(pk=tenant_a.pk).update(subscription_tier="free")
    with schema_context(tenant_a.schema_name):
        used = Scan.objects.filter(created_at__date=timezone.now().date()).count()
        Scan.objects.bulk_create([Scan(source="upload", target=f"x{i}", ecosystem="npm", status="completed")
                                  for i in range(max(0, 50 - used))])
    response = upload(client, "npm")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "scan_quota_exceeded"
    assert "50 scans per day" in error["message"]
    assert int(response["Retry-After"]) > 0


def test_developer_sees_only_their_scans(tenant_a, member, login, upload):
    alice, bob = member(DEVELOPER), member(DEVELOPER)
    alice_scan = upload(login(alice), "npm").json()["id"]
    bob_client = login(bob)
    assert bob_client.get(f"/api/v1/scans/{alice_scan}").status_code == 404
    assert bob_client.get(f"/api/v1/scans/{alice_scan}/findings").status_code == 404
    assert bob_client.get(f"/api/v1/scans/{alice_scan}/artifact").status_code == 404
    assert bob_client.post(f"/api/v1/scans/{alice_scan}/cancel").status_code == 404
    assert alice_scan not in [s["id"] for s in bob_client.get("/api/v1/scans").json()["results"]]
    viewer = login(member(VIEWER))
    assert viewer.get(f"/api/v1/scans/{alice_scan}").status_code == 200
    assert viewer.post(f"/api/v1/scans/{alice_scan}/cancel").status_code == 403


def test_list_filters_ordering_and_no_n_plus_1(tenant_a, member, login, upload, django_assert_max_num_queries):
    security = member(SECURITY)
    client = login(security)
    devs = [member(DEVELOPER) for _ in range(3)]
    ids = []
    for dev in devs:
        for key in ("npm", "debian"):
            ids.append(upload(login(dev), key).json()["id"])
    run(tenant_a, ids[0])
    with schema_context(tenant_a.schema_name):
        Scan.objects.filter(pk=ids[1]).update(verdict="block")
    with django_assert_max_num_queries(12) as few:
        response = client.get("/api/v1/scans?page_size=50")
    assert response.status_code == 200 and response.json()["count"] >= 6
    for _ in range(6):
        upload(login(devs[0]), "rpm")
    with django_assert_max_num_queries(12) as more:
        assert client.get("/api/v1/scans?page_size=50").json()["count"] >= 12
    assert len(more.captured_queries) == len(few.captured_queries), "the query count grows with the rows"
    assert {s["id"] for s in client.get("/api/v1/scans?ecosystem=debian&page_size=100").json()["results"]} >= \
        set(ids[1::2])
    assert all(s["ecosystem"] == "npm" for s in client.get("/api/v1/scans?ecosystem=npm").json()["results"])
    done = client.get("/api/v1/scans?status=completed").json()["results"]
    assert ids[0] in [s["id"] for s in done] and all(s["status"] == "completed" for s in done)
    assert [s["id"] for s in client.get("/api/v1/scans?verdict=block").json()["results"]] == [ids[1]]
    mine = client.get(f"/api/v1/scans?submitted_by={devs[1].pk}").json()["results"]
    assert {s["id"] for s in mine} == set(ids[2:4])
    assert client.get("/api/v1/scans?name=sample-daemon").json()["count"] >= 0
    today = timezone.now().date().isoformat()
    assert client.get(f"/api/v1/scans?created_after={today}").json()["count"] >= 6
    assert client.get("/api/v1/scans?created_before=2000-01-01").json()["count"] == 0
    ordered = client.get("/api/v1/scans?ordering=created_at").json()["results"]
    assert [s["created_at"] for s in ordered] == sorted(s["created_at"] for s in ordered)
    bad = client.get("/api/v1/scans?status=exploded")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]


def test_detail_has_category_scores_and_findings_filter(tenant_a, member, login, upload,
                                                        django_assert_max_num_queries):
    client = login(member(DEVELOPER))
    scan_id = upload(client, "npm", malicious=True).json()["id"]
    assert run(tenant_a, scan_id) == "completed"
    detail = client.get(f"/api/v1/scans/{scan_id}").json()
    assert detail["status"] == "completed" and detail["grade"] == "F" and detail["score"] <= 40
    categories = {c["category"]: c for c in detail["category_scores"]}
    assert categories["install_hooks"]["score"] < 100 and categories["integrity"]["score"] == 100
    assert detail["package_metadata"]["install_scripts"] == ["postinstall", "preinstall"]
    with django_assert_max_num_queries(12):
        findings = client.get(f"/api/v1/scans/{scan_id}/findings?page_size=200").json()
    assert findings["count"] > 10
    critical = client.get(f"/api/v1/scans/{scan_id}/findings?severity=critical&category=install_hooks").json()
    assert critical["count"] >= 3
    assert all(f["severity"] == "critical" and f["category"] == "install_hooks" for f in critical["results"])
    hook = client.get(f"/api/v1/scans/{scan_id}/findings?check=PKG-HOOK-003").json()["results"]
    assert hook and hook[0]["evidence"]["snippet"].startswith("curl")
    passed = client.get(f"/api/v1/scans/{scan_id}/findings?status=passed").json()["results"]
    assert passed and all(f["status"] == "passed" for f in passed)
    assert client.get(f"/api/v1/scans/{scan_id}/findings?severity=nope").status_code == 400


def test_cancel_rescan_and_delete(tenant_a, member, login, upload):
    dev = member(DEVELOPER)
    client = login(dev)
    scan_id = upload(client, "debian").json()["id"]
    cancelled = client.post(f"/api/v1/scans/{scan_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/scans/{scan_id}/cancel").status_code == 409
    assert run(tenant_a, scan_id) == "cancelled"
    again = client.post(f"/api/v1/scans/{scan_id}/rescan")
    assert again.status_code == 202 and again.json()["id"] != scan_id
    assert again.json()["artifact"]["sha256"] == cancelled.json()["sha256"]
    assert client.delete(f"/api/v1/scans/{scan_id}").status_code == 403
    admin = login(member(ADMIN))
    assert admin.delete(f"/api/v1/scans/{scan_id}").status_code == 204
    assert admin.get(f"/api/v1/scans/{scan_id}").status_code == 404
    with schema_context(tenant_a.schema_name):
        assert AuditEvent.objects.filter(action="scan.delete", resource_id=scan_id).exists()
        assert AuditEvent.objects.filter(action="scan.cancel", resource_id=scan_id).exists()
        assert Scan.objects.filter(pk=again.json()["id"]).exists()


def test_artifact_download_is_permission_checked_and_audited(tenant_a, member, login, upload, artifacts):
    dev = member(DEVELOPER)
    client = login(dev)
    scan_id = upload(client, "rpm").json()["id"]
    response = client.get(f"/api/v1/scans/{scan_id}/artifact")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == artifacts.get("rpm").read_bytes()
    assert response["Content-Disposition"].startswith("attachment")
    with schema_context(tenant_a.schema_name):
        assert AuditEvent.objects.filter(action="artifact.download", metadata__scan=scan_id).count() == 1
    viewer = login(member(VIEWER))
    assert viewer.get(f"/api/v1/scans/{scan_id}/artifact").status_code == 403


def test_checks_catalog(member, login):
    client = login(member(VIEWER))
    body = client.get("/api/v1/checks?page_size=200").json()
    ids = {c["id"] for c in body["results"]}
    assert {"PKG-META-001", "PKG-HOOK-001", "PKG-INT-007"} <= ids
    one = client.get("/api/v1/checks/PKG-HOOK-003").json()
    assert one["severity"] == "critical" and one["fix"] and one["description"]
    hooks = client.get("/api/v1/checks?category=install_hooks").json()["results"]
    assert hooks and all(c["category"] == "install_hooks" for c in hooks)
    assert client.get("/api/v1/checks/NOPE-1").status_code == 404


def test_cross_tenant_scan_findings_and_artifact_are_404(tenant_a, tenant_b, member, login, upload):
    scan_id = upload(login(member(ADMIN)), "npm").json()["id"]
    run(tenant_a, scan_id)
    connection.set_schema_to_public()
    other = login(member(ADMIN, tenant=tenant_b), tenant=tenant_b)
    for url in (f"/api/v1/scans/{scan_id}", f"/api/v1/scans/{scan_id}/findings",
                f"/api/v1/scans/{scan_id}/artifact", f"/scans/{scan_id}/", f"/scans/{scan_id}/artifact/"):
        response = other.get(url)
        assert response.status_code == 404, url
    assert other.post(f"/api/v1/scans/{scan_id}/cancel").status_code == 404
    assert other.delete(f"/api/v1/scans/{scan_id}").status_code == 404
    assert scan_id not in str(other.get("/api/v1/scans").content)
    # Globex's session cookie on Acme's host is no one there.
    intruder = Client(HTTP_HOST=tenant_a.primary_host)
    intruder.cookies = other.cookies
    for url in (f"/api/v1/scans/{scan_id}", f"/api/v1/scans/{scan_id}/findings", f"/api/v1/scans/{scan_id}/artifact"):
        assert intruder.get(url).status_code in (401, 403, 404), url
    with schema_context(tenant_a.schema_name):
        assert Finding.objects.filter(scan_id=scan_id).exists()
