"""Policy evaluation: a 50-rule policy against a scan with 5,000 findings; bulk re-evaluation of 10,000 scans.

BENCH_POLICY_FINDINGS (default 5000), BENCH_POLICY_RULES (50), BENCH_POLICY_REPEAT (30),
BENCH_REEVALUATE_SCANS (10000) and BENCH_REEVALUATE_FINDINGS (findings per scan, 5) size it.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from typing import Any

from bench.common import figure, report, section

CATEGORIES = ["vulnerability", "malicious_code", "install_hooks", "secrets", "license", "typosquatting", "metadata",
              "integrity"]
SEVERITIES = ["critical", "high", "medium", "low", "info"]


def _rules(count: int) -> list[dict[str, Any]]:
    """A realistic mix of every subject, allow rules first, then block and warn rules."""
    rng = random.Random(50)
    c = lambda s, o, v=True: {"subject": s, "operator": o, "value": v}  # noqa: E731
    templates = [
        lambda i: {"action": "allow", "conditions": [c("package", "glob", f"internal-{i}-*")]},
        lambda i: {"action": "allow", "conditions": [c("vulnerability", "in", [f"CVE-2024-{n:05d}" for n in
                                                                               range(i * 20, i * 20 + 20)])]},
        lambda i: {"action": "block", "conditions": [c("category", "eq", "vulnerability"),
                                                     c("severity", "gte", "critical")]},
        lambda i: {"action": "block", "conditions": [c("category", "in", ["malicious_code", "install_hooks"]),
                                                     c("severity", "gte", "high")]},
        lambda i: {"action": "block", "conditions": [c("typosquat", "is")]},
        lambda i: {"action": "warn", "conditions": [c("cvss", "gte", round(rng.uniform(5, 9), 1))]},
        lambda i: {"action": "warn", "conditions": [c("check_id", "in", [f"CHK-{n:03d}" for n in range(i, i + 8)])]},
        lambda i: {"action": "warn", "conditions": [c("check_id", "glob", f"CHK-{i % 10}*")]},
        lambda i: {"action": "block", "conditions": [c("license", "denied", ["GPL-3.0-only", "AGPL-3.0-only"])]},
        lambda i: {"action": "warn", "conditions": [c("version", "in_range", f">={i}.0,<{i + 1}.0")]},
        lambda i: {"action": "warn", "conditions": [c("severity", "gte", "medium"), c("finding_count", "gte", 100)]},
        lambda i: {"action": "warn", "match": "any", "conditions": [c("score", "lt", 40), c("category", "eq",
                                                                                            "secrets")]},
        lambda i: {"action": "block", "conditions": [c("ecosystem", "eq", "pypi"),
                                                     c("vulnerability", "eq", f"GHSA-{i:04d}-0000-0000")]},
    ]
    return [{"name": f"Rule {i + 1}", **templates[i % len(templates)](i)} for i in range(count)]


def _findings(count: int) -> list[Any]:
    from policies import engine

    rng = random.Random(5000)
    out = []
    for i in range(count):
        category = rng.choice(CATEGORIES)
        evidence: dict[str, Any] = {}
        if category == "vulnerability":
            evidence = {"advisory": f"GHSA-{rng.randrange(200):04d}-0000-0000",
                        "aliases": [f"CVE-2024-{rng.randrange(5000):05d}"], "cvss_score": round(rng.uniform(0, 10), 1)}
        elif category == "license":
            evidence = {"spdx": rng.choice(["MIT", "GPL-3.0-only", "Apache-2.0 OR MIT", "BSD-3-Clause"])}
        out.append(engine.finding_facts(id=str(uuid.UUID(int=i)), check_id=f"CHK-{rng.randrange(300):03d}",
                                        category=category, severity=rng.choice(SEVERITIES), evidence=evidence,
                                        fingerprint=f"{i:064x}"))
    return out


def _evaluate_in_memory() -> None:
    from policies import engine

    n_findings = int(os.environ.get("BENCH_POLICY_FINDINGS", "5000"))
    n_rules = int(os.environ.get("BENCH_POLICY_RULES", "50"))
    repeat = int(os.environ.get("BENCH_POLICY_REPEAT", "30"))
    with section(f"Evaluating a {n_rules}-rule policy against one scan with {n_findings} findings (in memory)"):
        document = {"name": "Bench", "rules": _rules(n_rules)}
        started = time.perf_counter()
        policy = engine.compile_policy(document)
        figure("validate + compile the policy (once per revision)", (time.perf_counter() - started) * 1000, "ms")
        findings = _findings(n_findings)
        samples, verdict = [], ""
        for _ in range(repeat):
            scan = engine.ScanFacts(id="s", ecosystem="pypi", name="requests", version="2.31.0", score=55,
                                    license="MIT", findings=findings)  # fresh facts: indexes built every time
            started = time.perf_counter()
            verdict = engine.evaluate(policy, scan).verdict
            samples.append(time.perf_counter() - started)
        report(f"evaluate (verdict {verdict})", samples, target="p50 <= 50ms")


def _seed(schema: str, n_scans: int, per_scan: int) -> list[str]:
    from django.utils import timezone

    from scanning.models import Finding, Scan

    rng = random.Random(10_000)
    now = timezone.now()
    ids: list[str] = []
    batch_scans: list[Scan] = []
    batch_findings: list[Finding] = []
    for i in range(n_scans):
        scan = Scan(source="reference", target=f"pypi:pkg-{i}==1.{i % 7}.0", ecosystem="pypi", name=f"pkg-{i % 2000}",
                    version=f"1.{i % 7}.0", status="completed", stage="complete", progress=100, score=rng.randrange(101),
                    grade="B", finished_at=now, package_metadata={"found": True, "license": rng.choice(
                        ["MIT", "Apache-2.0", "", "GPL-3.0-only"])})
        batch_scans.append(scan)
        ids.append(str(scan.id))
        for j in range(per_scan):
            category = rng.choice(CATEGORIES)
            evidence = {"advisory": f"GHSA-{rng.randrange(400):04d}-0000-0000", "cvss_score": rng.uniform(0, 10)} \
                if category == "vulnerability" else {}
            batch_findings.append(Finding(
                scan=scan, check_id=f"CHK-{rng.randrange(300):03d}", title="bench", category=category,
                severity=rng.choice(SEVERITIES), status=rng.choice(["failed", "failed", "warning", "passed"]),
                evidence=evidence, fingerprint=hashlib.sha256(f"{i}:{j}".encode()).hexdigest()))
        if len(batch_scans) >= 1000:
            Scan.objects.bulk_create(batch_scans, batch_size=1000)
            Finding.objects.bulk_create(batch_findings, batch_size=5000)
            batch_scans, batch_findings = [], []
    if batch_scans:
        Scan.objects.bulk_create(batch_scans, batch_size=1000)
        Finding.objects.bulk_create(batch_findings, batch_size=5000)
    return ids


def _bulk_reevaluation() -> None:
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import schema_context

    from audit.context import Actor
    from policies import selectors, services
    from tenants.services import tenant_create

    n_scans = int(os.environ.get("BENCH_REEVALUATE_SCANS", "10000"))
    per_scan = int(os.environ.get("BENCH_REEVALUATE_FINDINGS", "5"))
    chunk = int(settings.POLICIES_REEVALUATE_CHUNK)
    tenant = tenant_create(slug="bench_policies", name="Bench policies").tenant
    with section(f"Bulk re-evaluation of {n_scans} scans ({per_scan} findings each), chunks of {chunk}"):
        with schema_context(tenant.schema_name):
            started = time.perf_counter()
            ids = _seed(tenant.schema_name, n_scans, per_scan)
            figure("seed scans and findings (bulk insert)", time.perf_counter() - started, "s")
            with schema_context(tenant.schema_name):
                single = ids[0]
            actor = Actor.system("bench")
            for label in ("first pass (verdicts set: events for each change)", "second pass (nothing changes)"):
                started = time.perf_counter()
                changed = 0
                for start in range(0, len(ids), chunk):
                    # The task would re-read the live policies per chunk; so does this loop.
                    result = services.scans_reevaluate(tenant=tenant, actor=actor, scan_ids=ids[start:start + chunk],
                                                       trigger="bulk", policies=selectors.active_policies())
                    changed += result.changed
                elapsed = time.perf_counter() - started
                figure(f"{label}: {changed} changed", elapsed, "s")
                figure("  scans per second", len(ids) / elapsed, "scans/s")
            samples = []
            for _ in range(20):
                started = time.perf_counter()
                services.scans_reevaluate(tenant=tenant, actor=actor, scan_ids=[single], trigger="manual")
                samples.append(time.perf_counter() - started)
            report("one scan, end to end (lock, load, evaluate, write)", samples)
        connection.set_schema_to_public()


def run() -> None:
    _evaluate_in_memory()
    _bulk_reevaluation()
