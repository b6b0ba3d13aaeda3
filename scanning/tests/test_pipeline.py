"""The pipeline in-process: every ecosystem end to end, events, progress, re-runs, cancellation, hooks, reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from messaging.models import OutboxEvent
from scanning import hooks
from scanning.analyzers import base, registry
from scanning.models import CategoryScore, Finding, Scan
from scanning.pipeline import reap_stuck, scan_run, work_root
from scanning.scoring import Row, compute
from scanning.tests.builders import HOSTILE
from scanning.tests.conftest import DEVELOPER

pytestmark = pytest.mark.django_db

KEYS = ["pypi-wheel", "pypi-sdist", "npm", "debian", "rpm", "alpine"]


def submit_and_run(tenant, client, upload, key, malicious=False, path=None, **fields):
    response = upload(client, key, malicious=malicious, path=path, **fields)
    assert response.status_code == 202, response.content
    scan_id = response.json()["id"]
    with schema_context(tenant.schema_name):
        status = scan_run(scan_id=scan_id)
        return status, Scan.objects.get(pk=scan_id)


@pytest.mark.parametrize("key", KEYS)
def test_benign_and_malicious_packages_of_every_ecosystem(key, tenant_a, member, login, upload):
    client = login(member(DEVELOPER))
    status, benign = submit_and_run(tenant_a, client, upload, key)
    assert status == "completed" and benign.progress == 100 and benign.stage == "complete"
    assert benign.grade in ("A", "B") and benign.score >= 80
    status, evil = submit_and_run(tenant_a, client, upload, key, malicious=True)
    assert status == "completed" and evil.grade == "F" and evil.score <= 40
    with schema_context(tenant_a.schema_name):
        failed = set(Finding.objects.filter(scan=evil, status="failed", category="install_hooks")
                     .values_list("check_id", flat=True))
        assert failed & {"PKG-HOOK-002", "PKG-HOOK-003", "PKG-HOOK-004", "PKG-HOOK-008", "PKG-HOOK-005"}
        assert benign.name and benign.version, "name and version come from the metadata"
        assert set(benign.timings) >= {"fetch", "verify", "extract", "analyze", "score", "total"}
        # Every registered check has exactly one row or more: passed, not_applicable or a finding.
        checks = {c.id for c in registry.checks()}
        assert set(Finding.objects.filter(scan=benign).values_list("check_id", flat=True)) == checks
        assert CategoryScore.objects.filter(scan=benign).count() >= 3
    assert not list(work_root().iterdir()), "sandboxes are removed"


def test_events_progress_and_audit(tenant_a, member, login, upload):
    user = member(DEVELOPER)
    status, scan = submit_and_run(tenant_a, login(user), upload, "npm", malicious=True)
    with schema_context(tenant_a.schema_name):
        types = list(OutboxEvent.objects.filter(envelope__data__scan_id=str(scan.id), type__startswith="scan.")
                     .order_by("created_at")
                     .values_list("type", flat=True))
        assert types == ["scan.queued", "scan.completed"]
        done = OutboxEvent.objects.get(type="scan.completed", envelope__data__scan_id=str(scan.id)).envelope
        assert done["data"]["submitted_by"] == str(user.pk) and done["data"]["grade"] == "F"
        assert done["subject"] == f"scans/{scan.id}" and done["tenant"] == tenant_a.schema_name
        assert AuditEvent.objects.filter(action="scan.complete", resource_id=str(scan.id)).exists()


def test_progress_is_published_through_messaging(tenant_a, member, login, upload, monkeypatch):
    ticks = []
    import messaging.events

    real = messaging.events.publish_progress

    def recording(*, tenant, scan_id, data):
        ticks.append(dict(data))
        real(tenant=tenant, scan_id=scan_id, data=data)

    monkeypatch.setattr(messaging.events, "publish_progress", recording)
    submit_and_run(tenant_a, login(member(DEVELOPER)), upload, "debian")
    stages = [t["stage"] for t in ticks]
    assert stages[0] == "fetch" and stages[-1] == "complete"
    assert {"verify", "extract", "analyze", "score", "verdict"} <= set(stages)
    progress = [t["progress"] for t in ticks]
    assert progress == sorted(progress) and progress[-1] == 100


@pytest.mark.parametrize("case", [c for c in HOSTILE if c.name in ("zip-slip", "symlink-out", "truncated-gzip",
                                                                   "wrong-magic-deb", "device-file")],
                         ids=lambda c: c.name)
def test_hostile_upload_ends_as_failed_scan_with_finding(case, tenant_a, member, login, upload, artifacts):
    path = artifacts.hostile(case)
    key = {"pypi": "pypi-wheel", "npm": "npm", "debian": "debian"}[case.ecosystem]
    status, scan = submit_and_run(tenant_a, login(member(DEVELOPER)), upload, key, path=path,
                                  ecosystem=case.ecosystem)
    assert status == "failed" and scan.error_code == "archive_refused"
    assert scan.error_message.startswith(case.check_id)
    with schema_context(tenant_a.schema_name):
        findings = list(Finding.objects.filter(scan=scan))
        assert [(f.check_id, f.status, f.category) for f in findings] == [(case.check_id, "failed", "integrity")]
        assert findings[0].detail
        assert OutboxEvent.objects.filter(type="scan.failed", envelope__data__scan_id=str(scan.id)).exists()
    assert not list(work_root().iterdir())


def test_re_running_a_scan_is_idempotent(tenant_a, member, login, upload):
    client = login(member(DEVELOPER))
    status, scan = submit_and_run(tenant_a, client, upload, "rpm", malicious=True)
    with schema_context(tenant_a.schema_name):
        rows = Finding.objects.filter(scan=scan).count()
        assert scan_run(scan_id=str(scan.id)) == "completed"  # finished: left alone
        # A redelivered task of a scan whose worker died mid-run starts again and replaces the results.
        Scan.objects.filter(pk=scan.pk).update(status="running")
        assert scan_run(scan_id=str(scan.id)) == "completed"
        again = Scan.objects.get(pk=scan.pk)
        assert again.attempts == 2 and Finding.objects.filter(scan=scan).count() == rows
        assert CategoryScore.objects.filter(scan=scan).values("category").distinct().count() == \
            CategoryScore.objects.filter(scan=scan).count()


def test_too_many_attempts_fail_the_scan(tenant_a, member, login, upload, settings):
    response = upload(login(member(DEVELOPER)), "npm")
    with schema_context(tenant_a.schema_name):
        Scan.objects.filter(pk=response.json()["id"]).update(status="running", attempts=settings.SCANNING_MAX_ATTEMPTS)
        assert scan_run(scan_id=response.json()["id"]) == "failed"
        assert Scan.objects.get(pk=response.json()["id"]).error_code == "too_many_attempts"


def test_cancellation_while_running_is_noticed_at_the_next_stage(tenant_a, member, login, upload):
    client = login(member(DEVELOPER))
    scan_id = upload(client, "debian").json()["id"]

    def cancel_during_analysis(ctx):
        with schema_context(tenant_a.schema_name):
            assert Scan.objects.get(pk=scan_id).status == "running"
            assert client.post(f"/api/v1/scans/{scan_id}/cancel").json()["status"] == "running"

    hooks.register_context_enricher(cancel_during_analysis, name="test-cancel")
    try:
        with schema_context(tenant_a.schema_name):
            assert scan_run(scan_id=scan_id) == "cancelled"
            scan = Scan.objects.get(pk=scan_id)
            assert scan.status == "cancelled" and scan.finished_at is not None
            assert not Finding.objects.filter(scan=scan).exists()
    finally:
        hooks.unregister("test-cancel")


def test_verdict_hook_and_context_enricher(tenant_a, member, login, upload):
    seen = {}

    def enrich(ctx):
        seen["advisories_before"] = dict(ctx.advisories)
        ctx.advisories["sample-agent"] = []

    def verdict(scan):
        seen["score"] = scan.score
        scan.verdict = "block" if scan.grade == "F" else "pass"

    hooks.register_context_enricher(enrich, name="test-enrich")
    hooks.register_verdict_hook(verdict, name="test-verdict")
    try:
        status, scan = submit_and_run(tenant_a, login(member(DEVELOPER)), upload, "rpm", malicious=True)
    finally:
        hooks.unregister("test-enrich")
        hooks.unregister("test-verdict")
    assert status == "completed" and scan.verdict == "block" and seen["score"] == scan.score
    with schema_context(tenant_a.schema_name):
        event = OutboxEvent.objects.get(type="scan.completed", envelope__data__scan_id=str(scan.id))
        assert event.envelope["data"]["verdict"] == "block"


def test_failing_hooks(tenant_a, member, login, upload):
    def broken_verdict(scan):
        raise RuntimeError("policy bug")

    hooks.register_verdict_hook(broken_verdict, name="test-broken")
    try:
        status, scan = submit_and_run(tenant_a, login(member(DEVELOPER)), upload, "npm")
    finally:
        hooks.unregister("test-broken")
    assert status == "completed" and scan.verdict is None and "policy step failed" in scan.error_message

    def broken_enricher(ctx):
        raise RuntimeError("advisory db down")

    hooks.register_context_enricher(broken_enricher, name="test-broken-enricher")
    try:
        status, scan = submit_and_run(tenant_a, login(member(DEVELOPER)), upload, "npm")
    finally:
        hooks.unregister("test-broken-enricher")
    assert status == "failed" and scan.error_code == "enrichment_failed"


def test_an_analyzer_that_raises_records_error_rows(tenant_a, member, login, upload):
    check = base.Check(id="TEST-BROKEN-001", title="Broken", category=base.Category.METADATA,
                       severity=base.Severity.LOW, weight=1, description="d", fix="f")

    class Broken:
        name = "zz_test_broken"
        checks = (check,)

        def analyze(self, ctx):
            raise ValueError("bug")

    registry.discover()
    base.register_analyzer(Broken())
    try:
        status, scan = submit_and_run(tenant_a, login(member(DEVELOPER)), upload, "npm")
    finally:
        base._analyzers.pop("zz_test_broken")
        base._checks.pop("TEST-BROKEN-001")
    assert status == "completed"
    with schema_context(tenant_a.schema_name):
        row = Finding.objects.get(scan=scan, check_id="TEST-BROKEN-001")
        assert row.status == "error" and "failed" in row.detail


def test_reaper_fails_scans_stuck_in_running(tenant_a, member, login, upload, settings):
    scan_id = upload(login(member(DEVELOPER)), "npm").json()["id"]
    with schema_context(tenant_a.schema_name):
        long_ago = timezone.now() - timedelta(seconds=settings.SCANNING_TIME_LIMIT + settings.SCANNING_STUCK_GRACE_SECONDS
                                              + 5)
        Scan.objects.filter(pk=scan_id).update(status="running", started_at=long_ago, stage="extract")
        assert reap_stuck() == [scan_id]
        scan = Scan.objects.get(pk=scan_id)
        assert scan.status == "failed" and scan.error_code == "stuck" and "extract" in scan.error_message
        assert reap_stuck() == []


def test_reaper_task_walks_every_organization(tenant_a, member, login, upload):
    from scanning.tasks import reap_stuck_scans

    scan_id = upload(login(member(DEVELOPER)), "npm").json()["id"]
    with schema_context(tenant_a.schema_name):
        Scan.objects.filter(pk=scan_id).update(status="running", started_at=timezone.now() - timedelta(days=1))
    assert reap_stuck_scans.apply().get() == {tenant_a.schema_name: [scan_id]}


def test_scoring_formula():
    rows = [Row("A", "metadata", "high", "passed", 10), Row("B", "metadata", "medium", "failed", 10),
            Row("C", "install_hooks", "low", "warning", 4), Row("D", "install_hooks", "info", "not_applicable", 5),
            Row("E", "integrity", "high", "error", 10)]
    result = compute(rows)
    by = {c.category: c for c in result.categories}
    assert by["metadata"].score == 75  # (10 + 10 × (1 − 0.5)) / 20
    assert by["install_hooks"].score == 88  # 4 × (1 − 0.25 × 0.5) / 4 = 87.5
    assert by["integrity"].score == 100 and by["integrity"].weight == 0
    assert result.overall == round(100 * (10 + 5 + 3.5) / 24) and result.grade == "C"
    capped = compute([Row("A", "metadata", "high", "passed", 100), Row("B", "metadata", "critical", "failed", 1)])
    assert capped.overall == 40 and capped.grade == "F" and capped.capped_by == "critical"
    assert compute([]).overall == 100
