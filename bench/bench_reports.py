"""Reports: time and peak memory to produce the PDF of a scan with 1,000 findings (and the other formats).

BENCH_REPORT_FINDINGS (default 1000) sizes the scan: a realistic mix of every category —
vulnerable pinned dependencies of a lockfile, malicious code across files, install hooks,
secrets, licenses, typosquats, metadata and integrity. BENCH_REPORT_REPEAT (default 3) runs.

The whole service (`report_generate`: read the scan, build the document, render, store, audit)
runs in a forked child per run, so its peak RSS is the generation's own, as a worker's would
be; the parent has loaded WeasyPrint first, as a worker that has rendered before has (the
first report of a fresh process is measured apart). Targets: <= 5 s and <= 400 MB for the PDF.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import resource
import time
from typing import Any

from bench.common import figure, report, section

SLUG = "bench_reports"
MIX = [  # check id, category, severity, share of the findings
    ("VULN-DEP-001", "vulnerability", "high", 0.40),
    ("VULN-PKG-001", "vulnerability", "critical", 0.03),
    ("MAL-EXEC-001", "malicious_code", "critical", 0.06),
    ("MAL-DOWNLOAD-002", "malicious_code", "medium", 0.08),
    ("MAL-URL-001", "malicious_code", "medium", 0.06),
    ("PKG-HOOK-002", "install_hooks", "critical", 0.02),
    ("PKG-HOOK-001", "install_hooks", "low", 0.04),
    ("SEC-TOKEN-001", "secrets", "high", 0.08),
    ("SEC-PASS-001", "secrets", "medium", 0.05),
    ("LIC-UNKNOWN-001", "license", "medium", 0.03),
    ("TYPO-DEP-001", "typosquatting", "high", 0.03),
    ("PKG-META-007", "metadata", "medium", 0.07),
    ("PKG-INT-005", "integrity", "high", 0.05),
]


def _findings(scan: Any, count: int) -> list[Any]:
    from scanning.models import Finding

    rng = random.Random(count)
    rows = []
    for i in range(count):
        check_id, category, severity, _ = rng.choices(MIX, weights=[m[3] for m in MIX])[0]
        path = f"package/lib/module_{i % 97:02d}/file_{i}.js"
        evidence: dict[str, Any] = {"snippet": f"require('child_process').exec(atob(payload_{i}))"}
        title = f"{check_id} finding {i}"
        if category == "vulnerability":
            dep = f"dep-{i % 150:03d}"
            evidence = {"advisory": f"GHSA-{i:04d}-bench-{i % 7:04d}", "aliases": [f"CVE-2026-{10000 + i}"],
                        "package": dep, "version": "1.0.0", "cvss_score": round(rng.uniform(4, 10), 1),
                        "affected": ">= 1.0.0, < 1.0.5", "fixed": ["1.0.5"], "upgrade_to": "1.0.5"}
            title = f"{dep} 1.0.0: GHSA-{i:04d}-bench-{i % 7:04d} Prototype pollution in the parser"
            path = "package/package-lock.json"
        elif category == "secrets":
            evidence = {"file": path, "line": i % 300 + 1, "kind": "GitHub token", "masked": "ghp_… (40 characters)"}
        rows.append(Finding(scan=scan, check_id=check_id, title=title, category=category, severity=severity,
                            status="warning" if i % 9 == 0 else "failed", evidence=evidence, file_path=path,
                            line=i % 300 + 1, weight=8,
                            detail=f"{title}: the value flows from a decoded constant into a process spawn "
                                   "at install time; see the evidence for the snippet.",
                            fingerprint=hashlib.sha256(f"{check_id}:{path}:{i}".encode()).hexdigest()))
    return rows


def _scan(count: int, owner: Any) -> Any:
    from django.utils import timezone

    from scanning.models import CategoryScore, Finding, Scan

    scan = Scan.objects.create(source="upload", target="big-app-4.2.0.tgz", ecosystem="npm", name="big-app",
                               version="4.2.0", status="completed", stage="complete", progress=100, score=22,
                               grade="F", verdict="block", finished_at=timezone.now(), submitted_by=owner,
                               sha256=hashlib.sha256(b"big-app").hexdigest(), size=3_400_000,
                               package_metadata={"found": True, "license": "MIT", "dependency_count": 412})
    Finding.objects.bulk_create(_findings(scan, count), batch_size=500)
    CategoryScore.objects.bulk_create([CategoryScore(scan=scan, category=c, score=s, weight=40) for c, s in (
        ("vulnerability", 12), ("malicious_code", 20), ("install_hooks", 35), ("secrets", 40), ("license", 70),
        ("typosquatting", 60), ("metadata", 75), ("integrity", 50))])
    return scan


def _child(schema: str, report_id: str, pipe: Any) -> None:
    from django_tenants.utils import schema_context

    from scanning.reports.services import report_generate

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with schema_context(schema):
        status = report_generate(report_id=report_id)
    elapsed = time.perf_counter() - started
    pipe.send((status, elapsed, baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    pipe.close()


def _generate_in_child(schema: str, report_id: str) -> tuple[str, float, float, float]:
    from django.db import connections

    connections.close_all()  # the child opens its own connection
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(schema, report_id, child))
    process.start()
    status, elapsed, baseline_kb, peak_kb = parent.recv()
    process.join()
    return status, elapsed, baseline_kb / 1024, peak_kb / 1024


def run() -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from accounts.tests.factories import make_member
    from audit.context import Actor
    from scanning.analyzers import registry
    from scanning.reports import rendering
    from scanning.reports.services import report_document, report_request
    from tenants.models import Tenant
    from tenants.services import tenant_create

    count = int(os.environ.get("BENCH_REPORT_FINDINGS", "1000"))
    repeat = int(os.environ.get("BENCH_REPORT_REPEAT", "3"))
    tenant = Tenant.objects.filter(schema_name=SLUG).first() or tenant_create(slug=SLUG, name="Bench Reports").tenant
    connection.set_schema_to_public()
    owner = make_member(tenant, "owner", email=f"owner{time.monotonic_ns()}@bench.example")
    registry.checks()  # import the analyzers once, as a worker has

    with section(f"PDF report of a scan with {count} findings (report_generate in a forked worker-like child)"):
        with schema_context(SLUG):
            scan = _scan(count, owner)
            ids = [str(report_request(tenant=tenant, actor=Actor.for_user(owner), scope="scan", fmt="pdf",
                                      scan_id=scan.pk, enqueue_task=False).pk) for _ in range(repeat)]
            cold = str(report_request(tenant=tenant, actor=Actor.for_user(owner), scope="scan", fmt="pdf",
                                      scan_id=scan.pk, enqueue_task=False).pk)
        connection.set_schema_to_public()
        status, elapsed, _, peak = _generate_in_child(SLUG, cold)
        figure("first report of a fresh process (loads WeasyPrint, Pango, fonts)", elapsed, "s")
        # A running worker has WeasyPrint loaded and fontconfig warm: so has the parent the children fork from.
        rendering.warm_up()
        times, peaks, baselines = [], [], []
        for report_id in ids:
            status, elapsed, baseline, peak = _generate_in_child(SLUG, report_id)
            assert status == "completed", status
            times.append(elapsed)
            peaks.append(peak)
            baselines.append(baseline)
        report("report_generate, PDF (read, build, render, store)", times, unit="s", target="<= 5 s")
        figure("peak RSS of the generating process", max(peaks), "MB", target="<= 400 MB")
        figure("RSS of the process before it started", min(baselines), "MB")
        with schema_context(SLUG):
            from scanning.reports.models import Report

            done = Report.objects.get(pk=ids[-1])
            figure("PDF size", (done.file_size or 0) / 1024, "KB")

    with section("Where the time goes (in-process)"):
        with schema_context(SLUG):
            report_row = Report.objects.select_related("template").get(pk=ids[-1])
            samples: dict[str, list[float]] = {"read the scan and build the document": [], "render HTML": [],
                                               "WeasyPrint: layout and PDF": [], "JSON": [], "SARIF": [],
                                               "CSV": []}
            spec = rendering.RenderSpec.for_template(report_row.template, schema=SLUG)
            for _ in range(repeat):
                started = time.perf_counter()
                document = report_document(report_row, tenant=tenant)
                samples["read the scan and build the document"].append(time.perf_counter() - started)
                started = time.perf_counter()
                html = rendering.render_html(document, spec)
                samples["render HTML"].append(time.perf_counter() - started)
                from weasyprint import HTML

                started = time.perf_counter()
                HTML(string=html, url_fetcher=rendering._sealed_fetcher(spec.data_uris)).write_pdf()
                samples["WeasyPrint: layout and PDF"].append(time.perf_counter() - started)
                for fmt, key in (("json", "JSON"), ("sarif", "SARIF"), ("csv", "CSV")):
                    started = time.perf_counter()
                    rendering.render(document, spec, fmt)
                    samples[key].append(time.perf_counter() - started)
        connection.set_schema_to_public()
        for title, values in samples.items():
            report(title, values, unit="s")
