"""Cross-process: scans in a real Celery worker, hostile archives, and a worker killed mid-scan.

These tests commit data (the `live_tenant` organization) because the worker is another
process; they never use transactional_db.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from scanning.tests.builders import ESCAPE_MARKERS, HOSTILE
from scanning.tests.conftest import ADMIN, make_user

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def live_client(tenant: Any, blocker: Any) -> Client:
    """A session client on the live organization's host."""
    from accounts.middleware import SESSION_TENANT

    host = tenant.primary_host
    with blocker.unblock(), schema_context(tenant.schema_name):
        user = make_user(tenant, ADMIN)
        client = Client(HTTP_HOST=host)
        client.force_login(user)
        session = client.session
        session[SESSION_TENANT] = str(tenant.pk)
        session.save()
    connection.set_schema_to_public()
    return client


def post_file(client: Client, blocker: Any, path: Path, **fields: str) -> str:
    with blocker.unblock(), open(path, "rb") as handle:
        response = client.post("/api/v1/scans", {"file": handle, **fields})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def wait_for(tenant: Any, blocker: Any, ids: list[str], *, statuses: tuple[str, ...] = ("completed", "failed",
                                                                                        "cancelled"),
             seconds: float = 180) -> dict[str, Any]:
    from scanning.models import Scan

    deadline = time.monotonic() + seconds
    while True:
        with blocker.unblock(), schema_context(tenant.schema_name):
            scans = {str(s.pk): s for s in Scan.objects.filter(pk__in=ids)}
        connection.set_schema_to_public()
        if all(scans[i].status in statuses for i in ids):
            return scans
        if time.monotonic() > deadline:
            raise AssertionError(f"scans did not finish: {[(i, scans[i].status, scans[i].stage) for i in ids]}")
        time.sleep(0.2)


def test_hostile_archives_fail_cleanly_and_the_worker_survives(celery_worker, live_tenant, django_db_blocker,
                                                               artifacts):
    from scanning.models import Finding

    client = live_client(live_tenant, django_db_blocker)
    expected = {}
    for case in HOSTILE:
        scan_id = post_file(client, django_db_blocker, artifacts.hostile(case), ecosystem=case.ecosystem)
        expected[scan_id] = case
    benign = post_file(client, django_db_blocker, artifacts.get("debian"))
    scans = wait_for(live_tenant, django_db_blocker, [*expected, benign])
    with django_db_blocker.unblock(), schema_context(live_tenant.schema_name):
        for scan_id, case in expected.items():
            scan = scans[scan_id]
            assert scan.status == "failed", (case.name, scan.status, scan.error_message)
            assert list(Finding.objects.filter(scan_id=scan_id).values_list("check_id", flat=True)) == \
                [case.check_id], (case.name, scan.error_code, scan.error_message)
    connection.set_schema_to_public()
    assert scans[benign].status == "completed"
    assert celery_worker.alive(), "the worker survived every hostile archive"
    data_root = Path(settings.DATA_ROOT)
    for marker in ESCAPE_MARKERS:
        assert not list(data_root.parent.rglob(marker)) and not Path("/tmp", marker).exists()
    assert not list((data_root / ".work").iterdir()), "every sandbox was removed"


def _finding_lock(schema: str) -> psycopg.Connection:
    db = connection.settings_dict
    conn = psycopg.connect(host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432,
                           user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
                           dbname=db["NAME"])
    conn.execute(f'LOCK TABLE "{schema}".scanning_finding IN ACCESS EXCLUSIVE MODE')
    return conn


def _wait_until_blocked(lock: psycopg.Connection, schema: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waiting = lock.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            [f'"{schema}".scanning_finding']).fetchone()[0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the worker never reached the point of writing findings")


def _kill_mid_scan(tmp_path: Path, live_tenant: Any, django_db_blocker: Any, artifacts: Any, queue: str,
                   ) -> tuple[str, Any]:
    """Submit a scan, hold the worker just before it stores results, kill -9 it; returns the stuck scan."""
    from config.testing.processes import start_worker

    client = live_client(live_tenant, django_db_blocker)
    worker = start_worker(tmp_path, queues=queue, concurrency=1, name=f"doomed-{uuid.uuid4().hex[:6]}")
    lock = _finding_lock(live_tenant.schema_name)
    try:
        scan_id = post_file(client, django_db_blocker, artifacts.get("npm", malicious=True))
        _wait_until_blocked(lock, live_tenant.schema_name)
        worker.kill()
        assert not worker.alive()
    finally:
        lock.rollback()
        lock.close()
        worker.stop()
    scans = wait_for(live_tenant, django_db_blocker, [scan_id], statuses=("running",), seconds=5)
    return scan_id, scans[scan_id]


def test_killed_worker_scan_is_retried_by_redelivery(tmp_path, live_tenant, django_db_blocker, artifacts, settings):
    from config.testing.processes import start_worker

    queue = f"scans-kill-{uuid.uuid4().hex[:8]}"
    settings.SCANNING_QUEUE = queue
    scan_id, stuck = _kill_mid_scan(tmp_path, live_tenant, django_db_blocker, artifacts, queue)
    assert stuck.status == "running" and stuck.attempts == 1
    time.sleep(1.5)  # let the unacknowledged delivery age past the new worker's 1 s visibility timeout
    rescuer = start_worker(tmp_path, queues=queue, concurrency=1, name="rescuer", CELERY_VISIBILITY_TIMEOUT="1")
    try:
        scans = wait_for(live_tenant, django_db_blocker, [scan_id], seconds=120)
    finally:
        rescuer.stop()
    assert scans[scan_id].status == "completed" and scans[scan_id].attempts == 2
    assert scans[scan_id].grade == "F"


def test_killed_worker_scan_is_failed_by_the_reaper(tmp_path, live_tenant, django_db_blocker, artifacts, settings):
    from scanning.pipeline import reap_stuck

    queue = f"scans-kill-{uuid.uuid4().hex[:8]}"
    settings.SCANNING_QUEUE = queue
    scan_id, stuck = _kill_mid_scan(tmp_path, live_tenant, django_db_blocker, artifacts, queue)
    with django_db_blocker.unblock(), schema_context(live_tenant.schema_name):
        assert reap_stuck() == [], "not before its time limit"
        # The killed worker's database session may hold the scan's row lock for a moment more
        # (until PostgreSQL notices the client is gone); the reaper skips locked rows.
        deadline = time.monotonic() + 30
        while (reaped := reap_stuck(older_than_seconds=0)) == []:
            assert time.monotonic() < deadline, "the dead worker's transaction never ended"
            time.sleep(0.1)
        assert reaped == [scan_id]
    connection.set_schema_to_public()
    scan = wait_for(live_tenant, django_db_blocker, [scan_id], seconds=5)[scan_id]
    assert scan.status == "failed" and scan.error_code == "stuck"
    # The broker still holds the dead worker's delivery: a later worker runs it, and leaves the scan alone.
    from config.testing.processes import start_worker

    time.sleep(1.5)  # older than the late worker's 1 s visibility timeout
    late = start_worker(tmp_path, queues=queue, concurrency=1, name="late", CELERY_VISIBILITY_TIMEOUT="1")
    try:
        deadline = time.monotonic() + 60
        while f"scanning.run_scan[{stuck.task_id}] succeeded" not in late.log():
            assert time.monotonic() < deadline, late.log()[-3000:]
            time.sleep(0.2)
    finally:
        late.stop()
    assert wait_for(live_tenant, django_db_blocker, [scan_id], seconds=5)[scan_id].status == "failed"


@pytest.mark.django_db
def test_task_and_schedule_are_declared_for_the_worker_and_beat(settings):
    """The scan task's delivery guarantees, and the reaper installed as a beat schedule.

    (Also marks this module as needing the test database: pytest-django sets up
    databases only for sessions that contain a django_db test.)
    """
    from django_celery_beat.models import PeriodicTask

    from config.schedules import install
    from scanning.tasks import run_scan

    assert run_scan.acks_late and run_scan.reject_on_worker_lost
    assert run_scan.soft_time_limit == settings.SCANNING_SOFT_TIME_LIMIT < run_scan.time_limit
    assert run_scan.max_retries == settings.SCANNING_FETCH_RETRIES
    install()
    reaper = PeriodicTask.objects.get(task="scanning.reap_stuck_scans")
    assert reaper.enabled and reaper.interval.every == settings.SCANNING_REAPER_INTERVAL


def test_submit_with_wait_answers_with_the_verdict(celery_worker, live_tenant, django_db_blocker, artifacts):
    """`POST /api/v1/scans?wait=N` (the CI gate): the finished scan and its verdict, in one request."""
    client = live_client(live_tenant, django_db_blocker)
    with django_db_blocker.unblock(), open(artifacts.get("npm", malicious=True), "rb") as handle:
        response = client.post("/api/v1/scans?wait=120", {"file": handle})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed" and body["verdict"] == "block"

    with django_db_blocker.unblock(), open(artifacts.get("npm"), "rb") as handle:
        bad = client.post("/api/v1/scans?wait=forever", {"file": handle})
    assert bad.status_code == 400 and "wait" in bad.json()["error"]["details"]


def test_worker_spreads_a_large_artifact_over_analysis_processes(tmp_path, live_tenant, django_db_blocker, artifacts,
                                                                 settings):
    """A prefork worker's child may start analysis processes of its own, and the scan's verdict is the same."""
    from config.testing.processes import start_worker

    queue = f"scans-parallel-{uuid.uuid4().hex[:8]}"
    settings.SCANNING_QUEUE = queue
    worker = start_worker(tmp_path, queues=queue, concurrency=1, name="parallel",
                          SCANNING_ANALYSIS_PROCESSES="2", SCANNING_PARALLEL_MIN_MB="0")
    try:
        client = live_client(live_tenant, django_db_blocker)
        with django_db_blocker.unblock(), open(artifacts.get("npm", malicious=True), "rb") as handle:
            response = client.post("/api/v1/scans?wait=120", {"file": handle})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "completed" and response.json()["verdict"] == "block"
        log = worker.log()
    finally:
        worker.stop()
    assert "analysis spread over processes" in log and '"processes": 2' in log, log[-3000:]
    assert worker.alive() is False
