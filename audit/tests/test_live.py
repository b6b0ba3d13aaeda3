"""The trail across connections and processes.

Most tests here are not wrapped in a rolled-back transaction (no django_db mark): what
they write is committed, in `live_tenant`, whose schema is dropped afterwards.
pytest-django creates the test database only when a database test is selected, so
this module keeps one (the lock test), and audit/tests/conftest.py refuses to run the
committed-data tests alone.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.integrity import verify_chain
from audit.models import AuditEvent
from audit.services import CHAIN_LOCK_CLASS, audit_record


@pytest.mark.django_db
def test_the_chain_lock_is_per_schema_and_held_until_the_transaction_ends(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        audit_record(actor=Actor.system("test"), action="scan.create", resource_type="scan")
    seen: dict[str, bool] = {}

    def probe() -> None:
        try:
            with connections["default"].cursor() as cursor:
                for schema in ("acme", "globex"):
                    cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [CHAIN_LOCK_CLASS, schema])
                    seen[schema] = cursor.fetchone()[0]
                cursor.execute("SELECT pg_advisory_unlock_all()")
        finally:
            connections.close_all()

    other = threading.Thread(target=probe)
    other.start()
    other.join(timeout=30)
    # This test's transaction recorded in acme: acme's writers wait for it; globex's do not.
    assert seen == {"acme": False, "globex": True}


@pytest.mark.django_db
def test_a_writer_that_cannot_get_the_lock_fails_clearly_instead_of_hanging(tenant_a, in_tenant, settings):
    from config.errors import ServiceUnavailable

    settings.AUDIT_CHAIN_LOCK_WAIT_MS = 300
    with in_tenant(tenant_a):
        audit_record(actor=Actor.system("holder"), action="scan.create", resource_type="scan")
    outcome: dict[str, object] = {}

    def blocked_writer() -> None:
        try:
            with schema_context("acme"):
                audit_record(actor=Actor.system("waiter"), action="scan.create", resource_type="scan")
            outcome["result"] = "recorded"
        except ServiceUnavailable as exc:
            outcome["result"] = (exc.status_code, exc.code, exc.headers.get("Retry-After"))
        finally:
            connections.close_all()

    other = threading.Thread(target=blocked_writer)
    other.start()
    other.join(timeout=30)
    assert outcome["result"] == (503, "audit_busy", "5")


def test_concurrent_writers_are_chained_one_after_another(live_tenant, django_db_blocker):
    """Writers in separate connections and transactions never fork the chain (the advisory lock)."""
    errors: list[BaseException] = []
    per_thread, threads = 15, 6

    def writer(index: int) -> None:
        try:
            with django_db_blocker.unblock(), schema_context(live_tenant.schema_name):
                for i in range(per_thread):
                    with transaction.atomic():
                        audit_record(actor=Actor.system(f"writer-{index}"), action="scan.update",
                                     resource_type="scan", resource_id=f"{index}-{i}")
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a writer is stuck"
    assert not errors, errors
    with django_db_blocker.unblock(), schema_context(live_tenant.schema_name):
        sequences = list(AuditEvent.objects.filter(action="scan.update").order_by("sequence")
                         .values_list("sequence", flat=True))
        writers = set(AuditEvent.objects.filter(action="scan.update").values_list("actor_id", flat=True))
        report = verify_chain(AuditEvent.objects.all(), schema=live_tenant.schema_name)
    assert len(sequences) == per_thread * threads
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert writers == {f"writer-{n}" for n in range(threads)}
    assert report.ok, report.broken




@pytest.mark.worker
def test_the_retention_beat_task_fans_out_to_every_active_schema(live_tenant, celery_worker, django_db_blocker):
    from celery.result import AsyncResult

    from audit.tasks import purge_expired
    from config.schedules import declared
    from tenants.services import tenant_update

    schedule = next(s for s in declared() if s.name == "audit-retention")
    assert schedule.task == "audit.purge_expired" and schedule.crontab

    with django_db_blocker.unblock():
        tenant_update(tenant=live_tenant, settings_changes={"audit_retention_days": 45})
        queued = purge_expired.delay().get(timeout=60)
    schemas = {item["schema"] for item in queued}
    assert {"public", "acme", "globex", live_tenant.schema_name} <= schemas
    assert "_template" not in schemas
    results = {item["schema"]: AsyncResult(item["task_id"]).get(timeout=60) for item in queued}
    assert results[live_tenant.schema_name] == {"schema": live_tenant.schema_name, "retention_days": 45, "deleted": 0}
    assert results["acme"]["schema"] == "acme" and results["acme"]["retention_days"] == 365


@pytest.fixture
def live_web(tmp_path, django_db_setup, django_db_blocker):
    """A committed organization whose slug is a valid host label, a member who may read the
    trail with a session cookie, and a real uvicorn process serving it."""
    import uuid

    from django.conf import settings as django_settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    from audit.tests.helpers import make_member
    from config.testing.processes import start_web
    from tenants.services import tenant_create, tenant_delete

    slug = f"liveweb{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        tenant = tenant_create(slug=slug, name="Live web").tenant
        user = make_member(tenant, "audit.view_audit")
        with schema_context(slug):
            session = SessionStore()
            session["_auth_user_id"] = str(user.pk)
            session["_auth_user_backend"] = django_settings.AUTHENTICATION_BACKENDS[0]
            session["_auth_user_hash"] = user.get_session_auth_hash()
            try:
                from accounts.middleware import SESSION_TENANT
                session[SESSION_TENANT] = str(tenant.pk)
            except ImportError:
                pass
            session.create()
        connection.set_schema_to_public()
    web, port = start_web(tmp_path, AUDIT_EXPORT_CHUNK_ROWS="100")
    yield {"tenant": tenant, "port": port, "cookie": f"sessionid={session.session_key}", "web": web}
    web.stop()
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        tenant_delete(tenant=tenant, confirm=slug)


def test_export_streams_through_uvicorn_without_buffering(live_web, django_db_blocker):
    import csv
    import http.client
    import io

    tenant = live_web["tenant"]
    with django_db_blocker.unblock(), schema_context(tenant.schema_name):
        for i in range(450):
            audit_record(actor=Actor.system("bulk"), action="scan.update", resource_type="scan", resource_id=str(i))
    conn = http.client.HTTPConnection("127.0.0.1", live_web["port"], timeout=60)
    conn.request("GET", "/api/v1/audit-events/export.csv?action=scan.update",
                  headers={"Host": tenant.primary_host, "Cookie": live_web["cookie"]})
    response = conn.getresponse()
    assert response.status == 200, response.read()[:2000]
    assert response.getheader("Transfer-Encoding") == "chunked" and response.getheader("Content-Length") is None
    body = response.read().decode()
    conn.close()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["resource_id"]) for r in rows] == list(range(450))
    # The async iterator was used: Django did not fall back to collecting a sync iterator in memory.
    assert "must consume synchronous iterators" not in live_web["web"].log()
