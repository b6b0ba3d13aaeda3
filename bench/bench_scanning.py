"""Scanning: pipeline-only and end-to-end times by artifact size, throughput with two workers, worker peak RSS.

- pipeline only: `scan_run` in this process on an already-submitted scan (fetch, verify,
  extract, every analyzer, scoring, storing results), BENCH_SCAN_RUNS runs per size;
- end to end: `POST /api/v1/scans` (multipart upload through the real view stack) until
  the scan row says `completed`, with two worker processes, for two kinds of npm tarball:
  mostly incompressible data files, and nothing but readable JavaScript (every byte goes
  through the code analyzers; a large one is spread over analysis processes);
- throughput: BENCH_SCAN_BURST 1 MB scans submitted at once, two workers (concurrency 1 each);
- memory: peak RSS (VmHWM) of a worker process that scans a 50 MB artifact.

Targets on 2 cores: 1 MB end-to-end p50 <= 1.5 s, 10 MB <= 8 s, peak RSS <= 300 MB. Printed, never asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.common import figure, report, section

SIZES = [("~100 KB", 100 * 1024), ("~1 MB", 1024 * 1024), ("~10 MB", 10 * 1024 * 1024)]
TARGETS = {"~1 MB": "p50 <= 1500ms", "~10 MB": "p50 <= 8000ms"}


def _artifact(size: int, tag: str) -> tuple[str, bytes]:
    from scanning import samples

    # Incompressible data files plus the package's own sources; a unique version per artifact.
    return samples.npm(f"bench-{tag}", f"1.0.{uuid.uuid4().int % 100000}", padding=max(size - 2048, 0))


def _setup() -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from tenants.services import tenant_create

    tenant = tenant_create(slug="bench_scan", name="Bench scanning", tier="premium").tenant
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(email=f"bench-{uuid.uuid4().hex[:6]}@example.org",
                                                    password=uuid.uuid4().hex)
        group = Group.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}")
        group.permissions.set(Permission.objects.filter(content_type__app_label="scanning"))
        user.groups.add(group)
        client = Client(HTTP_HOST=tenant.primary_host)
        client.force_login(user)
        try:
            from accounts.middleware import SESSION_TENANT

            session = client.session
            session[SESSION_TENANT] = str(tenant.pk)
            session.save()
        except ImportError:
            pass
    connection.set_schema_to_public()
    return tenant, client


def _submit(client: Any, filename: str, data: bytes) -> str:
    handle = BytesIO(data)
    handle.name = filename
    response = client.post("/api/v1/scans", {"file": handle})
    if response.status_code != 202:
        raise RuntimeError(f"submission failed: {response.status_code} {response.content[:300]!r}")
    return response.json()["id"]


def _wait(tenant: Any, ids: list[str], timeout: float = 600) -> dict[str, Any]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from scanning.models import Scan

    deadline = time.monotonic() + timeout
    while True:
        with schema_context(tenant.schema_name):
            rows = {str(s.pk): s for s in Scan.objects.filter(pk__in=ids).only("status", "finished_at",
                                                                                "created_at", "timings")}
        connection.set_schema_to_public()
        if all(rows[i].status in ("completed", "failed", "cancelled") for i in ids):
            return rows
        if time.monotonic() > deadline:
            raise RuntimeError("scans did not finish in time")
        time.sleep(0.02)


def _pipeline_only(tenant: Any, runs: int) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from audit.context import Actor
    from scanning.pipeline import file_sha256, scan_run, tenant_root
    from scanning.services import scan_submit
    from scanning.uploads import StoredUpload

    for label, size in SIZES:
        samples_s = []
        stages: dict[str, list[float]] = {}
        for _ in range(runs if size < 5 * 1024 * 1024 else max(runs // 2, 2)):
            filename, data = _artifact(size, "pipe")
            with schema_context(tenant.schema_name):
                uploads = tenant_root(tenant.schema_name) / "uploads"
                uploads.mkdir(parents=True, exist_ok=True)
                handle = tempfile.NamedTemporaryFile(dir=uploads, delete=False)  # noqa: SIM115
                handle.write(data)
                handle.flush()
                sha, n = file_sha256(Path(handle.name))
                upload = StoredUpload(handle, filename, "application/octet-stream", n, sha, handle.name)
                try:
                    scan = scan_submit(tenant=tenant, actor=Actor.system("bench"), upload=upload,
                                       enqueue_task=False).scan
                finally:
                    upload.close()
                started = time.perf_counter()
                status = scan_run(scan_id=str(scan.id))
                samples_s.append(time.perf_counter() - started)
                scan.refresh_from_db()
                for stage, seconds in (scan.timings or {}).items():
                    stages.setdefault(stage, []).append(seconds)
            connection.set_schema_to_public()
            if status != "completed":
                print(f"  ! scan ended {status}")
        report(f"pipeline only, {label} npm tarball ({len(data) // 1024} KB)", samples_s)
        breakdown = "  ".join(f"{k}={sum(v) / len(v) * 1000:.0f}ms" for k, v in stages.items() if k != "total")
        print(f"    stages (mean): {breakdown}")


def _js_artifact(size: int, tag: str) -> tuple[str, bytes]:
    """An npm tarball holding `size` bytes of readable JavaScript: the analyzers' worst case per byte."""
    from bench.bench_analyzers import _npm_artifact

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "code.tgz"
        _npm_artifact(path, size, seed=uuid.uuid4().int % 1_000_000)
        return f"bench-code-{tag}-{uuid.uuid4().hex[:8]}.tgz", path.read_bytes()


def _end_to_end(tenant: Any, client: Any, runs: int) -> None:
    for family, build in (("data files + sources", _artifact), ("JavaScript source", _js_artifact)):
        for label, size in SIZES:
            samples_s = []
            packed = 0
            for _ in range(runs if size < 5 * 1024 * 1024 else max(runs // 2, 2)):
                filename, data = build(size, "e2e")
                packed = len(data)
                started = time.perf_counter()
                scan_id = _submit(client, filename, data)
                row = _wait(tenant, [scan_id])[scan_id]
                samples_s.append(time.perf_counter() - started)
                if row.status != "completed":
                    print(f"  ! scan ended {row.status}")
            report(f"end to end, {label} of {family} ({packed // 1024} KB packed)", samples_s,
                   target=TARGETS.get(label, ""))


def _throughput(tenant: Any, client: Any, burst: int) -> None:
    artifacts = [_artifact(1024 * 1024, f"burst{i}") for i in range(burst)]
    started = time.perf_counter()
    ids = [_submit(client, name, data) for name, data in artifacts]
    submitted = time.perf_counter() - started
    rows = _wait(tenant, ids)
    elapsed = time.perf_counter() - started
    done = sum(1 for r in rows.values() if r.status == "completed")
    figure(f"submitting {burst} x ~1 MB scans through the API", submitted, "s")
    figure(f"{done}/{burst} completed with two workers, scans per minute", done / elapsed * 60, "scans/min")


def _process_group_peak_rss_mb(pgid: int, *, children_only: bool = False) -> float:
    """Largest VmHWM (peak resident set) among the worker's processes (or only its pool children)."""
    peak = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid or (children_only and int(entry) == pgid):
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ProcessLookupError):
            continue
    return peak / 1024


def _memory(tenant: Any, client: Any, log_dir: Path) -> None:
    from config.testing.processes import start_worker

    worker = start_worker(log_dir, queues="bench_rss", concurrency=1, name="rss")
    from django.conf import settings

    previous = settings.SCANNING_QUEUE
    settings.SCANNING_QUEUE = "bench_rss"
    try:
        pid = worker.process.pid  # type: ignore[union-attr]
        baseline = _process_group_peak_rss_mb(pid, children_only=True)
        filename, data = _artifact(50 * 1024 * 1024, "rss")
        started = time.perf_counter()
        scan_id = _submit(client, filename, data)
        row = _wait(tenant, [scan_id])[scan_id]
        elapsed = time.perf_counter() - started
        peak = _process_group_peak_rss_mb(pid, children_only=True)
        figure(f"50 MB artifact end to end ({row.status})", elapsed, "s")
        figure("worker main process peak RSS", _process_group_peak_rss_mb(pid), "MB")
        figure("pool process peak RSS before the scan", baseline, "MB")
        figure("pool process peak RSS scanning a 50 MB artifact", peak, "MB", target="<= 300 MB")
    finally:
        settings.SCANNING_QUEUE = previous
        worker.stop()


def run() -> None:
    from config.testing.processes import start_worker

    runs = int(os.environ.get("BENCH_SCAN_RUNS", "6"))
    burst = int(os.environ.get("BENCH_SCAN_BURST", "20"))
    log_dir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-scanning-"))
    tenant, client = _setup()
    with section("Scan pipeline in-process (no broker, no worker)"):
        _pipeline_only(tenant, runs)
    workers = [start_worker(log_dir, queues="scans", concurrency=1, name=f"bench{i}") for i in range(2)]
    try:
        with section("Scans end to end with two workers"):
            _end_to_end(tenant, client, runs)
        with section(f"Throughput: {burst} scans of ~1 MB at once, two workers"):
            _throughput(tenant, client, burst)
    finally:
        for worker in workers:
            worker.stop()
    with section("Worker memory on a 50 MB artifact"):
        _memory(tenant, client, log_dir)
