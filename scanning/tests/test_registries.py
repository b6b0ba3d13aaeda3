"""Referenced artifacts fetched through connections, against a local server imitating each registry."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from scanning import crypto
from scanning.models import Connection, Finding, Scan
from scanning.pipeline import scan_run
from scanning.registries import apk_control_sha1
from scanning.samples import apk, deb, npm, rpm, sdist, wheel
from scanning.tasks import run_scan
from scanning.tests.conftest import ADMIN, DEVELOPER
from scanning.tests.registry_server import FakeRegistry

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry():
    server = FakeRegistry().start()
    yield server
    server.stop()


def add_connection(client, registry, kind, path="", **extra):
    body = {"name": f"{kind}-{path or 'root'}", "kind": kind, "base_url": f"{registry.url}{path}", **extra}
    response = client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def reference(client, ecosystem, name, version, **extra):
    response = client.post("/api/v1/scans", {"ecosystem": ecosystem, "name": name, "version": version, **extra},
                           content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def run(tenant, scan_id):
    with schema_context(tenant.schema_name):
        status = scan_run(scan_id=scan_id)
        return status, Scan.objects.select_related("artifact").get(pk=scan_id)


CASES = ["pypi", "pypi_simple", "npm", "debian", "rpm", "alpine"]


@pytest.mark.parametrize("kind", CASES)
def test_fetch_from_each_registry_kind(kind, registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    if kind in ("pypi", "pypi_simple"):
        filename, data = wheel("fetched-lib", "1.2.0")
        registry.pypi("fetched-lib", "1.2.0", filename, data)
        add_connection(admin, registry, kind, "/simple" if kind == "pypi_simple" else "")
        scan_id = reference(admin, "pypi", "fetched-lib", "1.2.0")
    elif kind == "npm":
        filename, data = npm("fetched-widget", "2.0.0")
        registry.npm("fetched-widget", "2.0.0", filename, data)
        add_connection(admin, registry, "npm", "/npm")
        scan_id = reference(admin, "npm", "fetched-widget", "2.0.0")
    elif kind == "debian":
        filename, data = deb("fetched-daemon", "3.0-1")
        registry.debian("fetched-daemon", "3.0-1", filename, data)
        add_connection(admin, registry, "debian", "/debian", options={"suite": "stable", "arch": "amd64"})
        scan_id = reference(admin, "debian", "fetched-daemon", "3.0-1")
    elif kind == "rpm":
        filename, data = rpm("fetched-agent", "5.0", "2")
        registry.rpm("fetched-agent", "5.0", "2", filename, data)
        add_connection(admin, registry, "rpm", "/rpm")
        scan_id = reference(admin, "rpm", "fetched-agent", "5.0-2")
    else:
        filename, data = apk("fetched-cli", "1.1-r3")
        with tempfile.NamedTemporaryFile(suffix=".apk") as handle:
            handle.write(data)
            handle.flush()
            control = apk_control_sha1(Path(handle.name))
        registry.alpine("fetched-cli", "1.1-r3", data, control)
        add_connection(admin, registry, "alpine", "/alpine", options={"arch": "x86_64"})
        scan_id = reference(admin, "alpine", "fetched-cli", "1.1")
    status, scan = run(tenant_a, scan_id)
    assert status == "completed", scan.error_message
    assert scan.sha256 == hashlib.sha256(data).hexdigest() and scan.size == len(data)
    assert scan.artifact is not None and scan.filename == filename
    assert scan.expected_digests, "the registry's digest was recorded and verified"
    with schema_context(tenant_a.schema_name):
        assert not Finding.objects.filter(scan=scan, check_id="PKG-META-001", status="failed").exists()


def test_same_artifact_fetched_twice_is_recognised(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    filename, data = npm("twice", "1.0.0")
    registry.npm("twice", "1.0.0", filename, data)
    add_connection(admin, registry, "npm", "/npm")
    first = run(tenant_a, reference(admin, "npm", "twice", "1.0.0"))[1]
    second = run(tenant_a, reference(admin, "npm", "twice", "1.0.0"))[1]
    assert first.artifact_id == second.artifact_id and second.previous_scan_id == first.id


def test_credentials_are_sent_to_the_registry_host_only(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    filename, data = wheel("private-lib", "0.1.0")
    registry.pypi("private-lib", "0.1.0", filename, data)
    # The file lives on another host name of the same server: credentials must not follow the redirect.
    registry.add("/pypi/private-lib/0.1.0/json", (
        '{"urls": [{"filename": "%s", "url": "http://localhost:%d/files/%s", "digests": {"sha256": "%s"}}]}'
        % (filename, registry.port, filename, hashlib.sha256(data).hexdigest())).encode())
    token = "Basic " + base64.b64encode(b"ci:s3cret-pass").decode()
    registry.required_auth["/pypi/"] = token
    add_connection(admin, registry, "pypi", auth_type="basic", username="ci", secret="s3cret-pass")
    status, scan = run(tenant_a, reference(admin, "pypi", "private-lib", "0.1.0"))
    assert status == "completed", scan.error_message
    by_path = {r["path"]: r for r in registry.requests}
    assert by_path["/pypi/private-lib/0.1.0/json"]["authorization"] == token
    assert by_path[f"/files/{filename}"]["authorization"] is None


def test_bearer_token_and_refused_credentials(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    registry.required_auth["/npm/"] = "Bearer good-token"
    conn = add_connection(admin, registry, "npm", "/npm", auth_type="token", secret="bad-token")
    response = admin.post(f"/api/v1/connections/{conn['id']}/test")
    assert response.status_code == 200 and response.json()["ok"] is False
    assert "credentials" in response.json()["message"]
    assert admin.patch(f"/api/v1/connections/{conn['id']}", {"secret": "good-token"},
                       content_type="application/json").status_code == 200
    registry.add("/npm/", b"{}")
    assert admin.post(f"/api/v1/connections/{conn['id']}/test").json()["ok"] is True


def test_transient_errors_are_retried_with_backoff(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    filename, data = npm("flaky", "1.0.0")
    registry.npm("flaky", "1.0.0", filename, data)
    registry.routes["/npm/flaky"].failures = [503, 502]
    add_connection(admin, registry, "npm", "/npm")
    scan_id = reference(admin, "npm", "flaky", "1.0.0")
    with schema_context(tenant_a.schema_name):
        assert run_scan.apply(args=[scan_id]).get() == "completed"
        scan = Scan.objects.get(pk=scan_id)
    assert scan.status == "completed" and scan.attempts == 3 and scan.error_code == ""


def test_retries_give_up(registry, tenant_a, member, login, allow_private, settings):
    admin = login(member(ADMIN))
    filename, data = npm("down", "1.0.0")
    registry.npm("down", "1.0.0", filename, data)
    registry.routes["/npm/down"].failures = [503] * 10
    add_connection(admin, registry, "npm", "/npm")
    scan_id = reference(admin, "npm", "down", "1.0.0")
    with schema_context(tenant_a.schema_name):
        run_scan.apply(args=[scan_id])
        scan = Scan.objects.get(pk=scan_id)
    assert scan.status == "failed" and scan.error_code == "fetch_failed"
    assert f"{settings.SCANNING_FETCH_RETRIES} retries" in scan.error_message


def test_permanent_errors_fail_at_once(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    add_connection(admin, registry, "npm", "/npm")
    scan_id = reference(admin, "npm", "missing", "9.9.9")
    with schema_context(tenant_a.schema_name):
        run_scan.apply(args=[scan_id])
        scan = Scan.objects.get(pk=scan_id)
    assert scan.status == "failed" and scan.error_code == "fetch_not_found" and scan.attempts == 1
    assert "404" in scan.error_message and "name" in scan.error_message


def test_digest_mismatch_is_an_integrity_failure(registry, tenant_a, member, login, allow_private):
    admin = login(member(ADMIN))
    filename, data = sdist("tampered", "1.0")
    registry.pypi("tampered", "1.0", filename, data, sha256="0" * 64)
    add_connection(admin, registry, "pypi")
    status, scan = run(tenant_a, reference(admin, "pypi", "tampered", "1.0"))
    assert status == "failed" and scan.error_message.startswith("PKG-INT-001")
    with schema_context(tenant_a.schema_name):
        assert Finding.objects.get(scan=scan).check_id == "PKG-INT-001"


def test_private_addresses_are_refused_by_default(registry, tenant_a, member, login):
    admin = login(member(ADMIN))
    add_connection(admin, registry, "npm", "/npm")
    status, scan = run(tenant_a, reference(admin, "npm", "anything", "1.0.0"))
    assert status == "failed" and scan.error_code == "fetch_address_refused"
    assert "private or local address" in scan.error_message
    assert registry.requests == []


def test_connections_crud_with_encrypted_secret(tenant_a, member, login, settings):
    admin = login(member(ADMIN))
    created = admin.post("/api/v1/connections", {"name": "corp pypi", "kind": "pypi_simple",
                                                 "base_url": "https://pypi.corp.example/simple",
                                                 "auth_type": "basic", "username": "svc",
                                                 "secret": "hunter2-very-secret", "is_default": True},
                         content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    assert body["has_secret"] is True and "secret" not in body and "hunter2" not in created.content.decode()
    with schema_context(tenant_a.schema_name):
        stored = Connection.objects.get(pk=body["id"]).secret_encrypted
        assert "hunter2" not in stored and crypto.decrypt(stored) == "hunter2-very-secret"
        audit = AuditEvent.objects.get(action="connection.create", resource_id=body["id"])
        assert "hunter2" not in str(audit.changes)
    listed = admin.get("/api/v1/connections").json()
    assert listed["count"] == 1 and "hunter2" not in str(listed)
    assert admin.post("/api/v1/connections", {"name": "corp pypi", "kind": "npm",
                                              "base_url": "https://x.example"},
                      content_type="application/json").status_code == 409
    bad = admin.post("/api/v1/connections", {"name": "d", "kind": "debian", "base_url": "https://x.example",
                                             "options": {"colour": "red"}}, content_type="application/json")
    assert bad.status_code == 400 and "options" in bad.json()["error"]["details"]
    updated = admin.patch(f"/api/v1/connections/{body['id']}", {"timeout_seconds": 10},
                          content_type="application/json")
    assert updated.json()["timeout_seconds"] == 10 and updated.json()["has_secret"] is True
    developer = login(member(DEVELOPER))
    assert developer.get("/api/v1/connections").status_code == 200
    assert developer.post("/api/v1/connections", {}, content_type="application/json").status_code == 403
    assert admin.delete(f"/api/v1/connections/{body['id']}").status_code == 204
    assert admin.get(f"/api/v1/connections/{body['id']}").status_code == 404


def test_key_rotation_re_encrypts_every_secret(tenant_a, member, login, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    admin = login(member(ADMIN))
    conn_id = admin.post("/api/v1/connections", {"name": "npm corp", "kind": "npm", "base_url": "https://n.example",
                                                 "auth_type": "token", "secret": "tok-123"},
                         content_type="application/json").json()["id"]
    old = list(settings.FERNET_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *old]
    call_command("rotate_connection_keys", tenant=tenant_a.schema_name)
    settings.FERNET_KEYS = [new_key]
    with schema_context(tenant_a.schema_name):
        assert crypto.decrypt(Connection.objects.get(pk=conn_id).secret_encrypted) == "tok-123"
    settings.FERNET_KEYS = old
    with schema_context(tenant_a.schema_name), pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(Connection.objects.get(pk=conn_id).secret_encrypted)
