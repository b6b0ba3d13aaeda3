"""The audit trail under load: a write endpoint with auditing beside the same endpoint's reads,
the cost of one audit event, verification, and a 100,000-event export streamed in flat memory.

What runs: a real uvicorn process (config.testing.processes.start_web) on the bench
database. The endpoint is `/api/v1/auth/me` with a JWT: GET reads the member, PATCH
changes their name through `accounts.services.profile_update`, which records a
`user.update` event (chain lock, hash, insert) in the same transaction. Client threads
keep HTTP/1.1 connections open.

The 100,000 events for the export are inserted in bulk, chained and hashed exactly as
`audit_record` does (recording them one by one would only measure the insert path
again); `audit_verify` then checks that chain. The export is read through uvicorn while
the server's resident memory is sampled from /proc; the same export of a 10x smaller
range shows the memory does not grow with the range.

Knobs: BENCH_AUDIT_REQUESTS (per phase, default 2000), BENCH_AUDIT_CONCURRENCY (8),
BENCH_AUDIT_EVENTS (100000).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import figure, report, section

PASSWORD = "Bench-audit-Passw0rd!"


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Samples a process's resident memory every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples, self._stop = pid, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(_rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


def _load(port: int, host: str, method: str, path: str, headers: dict[str, str], body_for: Any,
          requests: int, concurrency: int) -> tuple[list[float], float, int]:
    """`requests` calls over `concurrency` keep-alive connections: (latencies, wall seconds, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad = [], 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = body_for(i)
            started = time.perf_counter()
            conn.request(method, path, body=body, headers={"Host": host, **headers})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 400:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors


def _seed_events(count: int) -> float:
    """Insert `count` chained events in bulk (same canonical hashing as audit_record)."""
    from django.db import connection

    from audit.integrity import HASHED_FIELDS, event_hash
    from audit.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(sequence), 0), coalesce((SELECT hash FROM audit_auditevent "
                       "ORDER BY sequence DESC LIMIT 1), '') FROM audit_auditevent")
        sequence, previous = cursor.fetchone()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    actions = ["scan.create", "scan.update", "policy.update", "auth.login", "member.role_change"]
    started = time.perf_counter()
    batch: list[AuditEvent] = []
    for i in range(count):
        sequence += 1
        event = AuditEvent(
            id=uuid.uuid4(), sequence=sequence, occurred_at=start + dt.timedelta(seconds=i * 0.02),
            actor_type="user", actor_id=f"user-{i % 37}", actor_email=f"member{i % 37}@bench.test",
            action=actions[i % len(actions)], resource_type="scan", resource_id=str(uuid.UUID(int=i)),
            changes={"status": {"before": "queued", "after": "running"}, "score": {"after": i % 100}},
            ip=f"10.0.{i % 250}.{i % 200 + 1}", user_agent="bench/1.0", request_id=uuid.uuid4().hex,
            outcome="success", reason="", metadata={"n": i}, prev_hash=previous,
        )
        event.hash = event_hash({name: getattr(event, name) for name in HASHED_FIELDS})
        previous = event.hash
        batch.append(event)
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)
    return time.perf_counter() - started


def _export(port: int, host: str, cookie: str, query: str) -> tuple[int, int, float]:
    """Stream an export, discarding it: (bytes, lines, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", f"/api/v1/audit-events/export.{query}", headers={"Host": host, "Cookie": cookie})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export answered {response.status}: {response.read()[:500]!r}")
    size = lines = 0
    while chunk := response.read(64 * 1024):
        size += len(chunk)
        lines += chunk.count(b"\n")
    conn.close()
    return size, lines, time.perf_counter() - started


def run() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from audit.context import Actor
    from audit.models import AuditEvent
    from audit.services import audit_record
    from config.testing.processes import start_web
    from tenants.services import tenant_create

    requests = int(os.environ.get("BENCH_AUDIT_REQUESTS", "2000"))
    concurrency = int(os.environ.get("BENCH_AUDIT_CONCURRENCY", "8"))
    events = int(os.environ.get("BENCH_AUDIT_EVENTS", "100000"))

    tenant = tenant_create(slug="benchaudit", name="Bench audit").tenant
    host = tenant.primary_host
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(email="bench@benchaudit.test", password=PASSWORD,
                                                    full_name="Bench")
        group = Group.objects.create(name="bench-auditors")
        group.permissions.add(Permission.objects.get(content_type__app_label="audit", codename="view_audit"))
        user.groups.add(group)
        session = SessionStore()
        session.update({"_auth_user_id": str(user.pk), "_auth_user_backend": settings.AUTHENTICATION_BACKENDS[0],
                        "_auth_user_hash": user.get_session_auth_hash()})
        try:
            from accounts.middleware import SESSION_TENANT
            session[SESSION_TENANT] = str(tenant.pk)
        except ImportError:
            pass
        session.create()
    connection.set_schema_to_public()
    cookie = f"sessionid={session.session_key}"

    with section("One audit event (in-process, one writer)"):
        samples = []
        with schema_context(tenant.schema_name):
            for i in range(500):
                started = time.perf_counter()
                with transaction.atomic():
                    audit_record(actor=Actor.system("bench"), action="scan.update", resource_type="scan",
                                 resource_id=str(i), changes={"status": {"before": "queued", "after": "running"}})
                samples.append(time.perf_counter() - started)
        connection.set_schema_to_public()
        report("audit_record in its own transaction (lock, hash, insert)", samples)

    log_dir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-audit-"))
    web, port = start_web(log_dir)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/v1/auth/login", body=json.dumps({"email": user.email, "password": PASSWORD}),
                     headers={"Host": host, "Content-Type": "application/json"})
        answer = conn.getresponse()
        tokens = json.loads(answer.read())
        conn.close()
        if answer.status != 200:
            raise RuntimeError(f"sign-in failed ({answer.status}): {tokens}")
        auth = {"Authorization": f"Bearer {tokens['access']}", "Content-Type": "application/json"}

        with section(f"/api/v1/auth/me through uvicorn: {requests} reads, then {requests} audited writes, "
                     f"{concurrency} connections"):
            _load(port, host, "GET", "/api/v1/auth/me", auth, lambda i: None, 50, concurrency)  # warm up
            reads, read_wall, read_errors = _load(port, host, "GET", "/api/v1/auth/me", auth, lambda i: None,
                                                  requests, concurrency)
            with schema_context(tenant.schema_name):
                before = AuditEvent.objects.filter(action="user.update").count()
            connection.set_schema_to_public()
            writes, write_wall, write_errors = _load(
                port, host, "PATCH", "/api/v1/auth/me", auth,
                lambda i: json.dumps({"full_name": f"Bench {i}"}), requests, concurrency)
            with schema_context(tenant.schema_name):
                recorded = AuditEvent.objects.filter(action="user.update").count() - before
            connection.set_schema_to_public()
            report("GET  /api/v1/auth/me (read)", reads)
            report("PATCH /api/v1/auth/me (write + user.update event)", writes)
            figure("reads per second", requests / read_wall, "req/s")
            figure("audited writes per second", requests / write_wall, "req/s")
            figure("audit events recorded by the writes", recorded, "events")
            figure("errors (reads + writes)", read_errors + write_errors, "responses")

        with section(f"Export of {events:,} events, streamed through uvicorn"):
            with schema_context(tenant.schema_name):
                seeded = _seed_events(events)
            connection.set_schema_to_public()
            figure(f"bulk insert of {events:,} chained events (set-up)", seeded, "s")
            started = time.perf_counter()
            call_command("audit_verify", "--tenant", tenant.schema_name, stdout=open(os.devnull, "w"))  # noqa: SIM115
            figure(f"audit_verify over {events:,}+ events", time.perf_counter() - started, "s")
            pid = web.process.pid if web.process else 0
            baseline = _rss_kib(pid)
            small_range = "csv?actor=member1%40bench.test&action=scan.update"
            for label, query in ((f"CSV, every event ({events:,}+ rows)", "csv"),
                                 (f"JSON Lines, every event ({events:,}+ rows)", "jsonl"),
                                 ("CSV, one member's scan.update events (~1/185 of the rows)", small_range)):
                with RssSampler(pid) as sampler:
                    size, lines, seconds = _export(port, host, cookie, query)
                peak = max(sampler.samples or [0])
                figure(f"{label}: rows", lines - (1 if query.startswith("csv") else 0), "rows")
                figure(f"{label}: size", size / 1024 / 1024, "MiB")
                figure(f"{label}: throughput", lines / seconds, "rows/s")
                figure(f"{label}: server peak RSS during", peak / 1024, "MiB")
            figure("server RSS before the exports", baseline / 1024, "MiB")
    finally:
        web.stop()
