"""End to end, across processes: a real scan in a real Celery worker gets its verdict from the policy,
a waiting client is woken by it, and approving a waiver re-evaluates the package in the worker.

Committed data (`live_tenant`), never transactional_db.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.models import AuditEvent
from policies import selectors, services
from policies.models import Evaluation
from policies.tests.factories import make_user
from scanning import samples
from scanning.models import Scan
from scanning.pipeline import file_sha256, tenant_root
from scanning.services import scan_submit
from scanning.uploads import StoredUpload

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_policies_are_wired_into_the_pipeline_provisioning_and_beat(db) -> None:
    """Also makes the session set up the test database when this module runs alone: `live_tenant`
    and `celery_worker` need it but do not request it from pytest-django."""
    from config.schedules import declared
    from scanning.hooks import verdict_hooks
    from tenants.hooks import provisioning_steps

    assert "policies.verdict" in dict(verdict_hooks())
    step = next(s for s in provisioning_steps() if s.name == "default_policy")
    assert step.in_template
    schedule = next(s for s in declared() if s.task == "policies.expire_waivers")
    assert schedule.every_seconds and schedule.queue == "default"


def submit(tenant: Any, actor: Actor, key: str, *, malicious: bool, name: str, version: str) -> Scan:
    filename, data = samples.BUILDERS[key](malicious=malicious, name=name, version=version)
    uploads = tenant_root(tenant.schema_name) / "uploads"
    uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=uploads, delete=False)  # noqa: SIM115 - closed by StoredUpload
    handle.write(data)
    handle.flush()
    handle.seek(0)
    sha256, size = file_sha256(Path(handle.name))
    upload = StoredUpload(handle, filename, "application/octet-stream", size, sha256, handle.name)
    try:
        return scan_submit(tenant=tenant, actor=actor, ecosystem=samples.ECOSYSTEM_OF[key], upload=upload,
                           name=name).scan
    finally:
        upload.close()


def eventually(check: Callable[[], Any], *, seconds: float = 120, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.25)


def test_a_real_scan_is_blocked_then_waived_in_the_worker(celery_worker, live_tenant, django_db_blocker) -> None:
    log_start = len(celery_worker.log())
    schema = live_tenant.schema_name
    with django_db_blocker.unblock():
        engineer = make_user(live_tenant, "security_engineer")
        approver = make_user(live_tenant, "admin")
        with schema_context(schema):
            malicious = submit(live_tenant, Actor.for_user(engineer), "npm", malicious=True, name="event-streamz",
                               version="3.3.6")
            # The CI client's wait: woken by the verdict (Redis) or the row (polling), whichever first.
            done = selectors.wait_for_verdict(scan_id=malicious.pk, timeout_seconds=120)
            assert done is not None and done.is_terminal, f"still {done.status if done else 'missing'}"
            assert done.status == "completed", done.error_message
            assert done.verdict == "block"
            [evaluation] = Evaluation.objects.filter(scan=done, is_current=True)
            assert evaluation.trigger == "scan_completed" and evaluation.revision.policy.is_default
            blocking = [r for r in evaluation.reasons if r["action"] == "block"]
            assert blocking, evaluation.reasons
            gate = selectors.gate_verdict(actor=Actor.for_user(engineer), ecosystem="npm", name="event-streamz",
                                          version="3.3.6")
            assert gate["verdict"] == "block" and gate["scan"]["id"] == str(done.pk)

            # Waive every check that blocked it, for this package; approval re-evaluates in the worker.
            checks = sorted({f.check_id for f in done.findings.filter(pk__in=[i for r in blocking
                                                                                  for i in r["finding_ids"]])})
            for check in checks:
                waiver = services.waiver_request(
                    tenant=live_tenant, actor=Actor.for_user(engineer), scope="check", value=check,
                    ecosystem="npm", package_name="event-streamz", reason="Sample package used in the test suite.",
                    expires_at=timezone.now() + timedelta(days=2))
                services.waiver_approve(tenant=live_tenant, actor=Actor.for_user(approver), waiver=waiver)

            def reevaluated() -> Evaluation | None:
                # Each approval queues a re-evaluation; the one after the last approval no longer blocks.
                return (Evaluation.objects.filter(scan=done, is_current=True, trigger="waiver_changed")
                        .exclude(scan_verdict="block").first())

            current = eventually(reevaluated, what="the worker to re-evaluate after the waivers: " + repr(
                list(Evaluation.objects.filter(scan=done, is_current=True).values("trigger", "reasons"))))
            done.refresh_from_db()
            assert done.verdict in ("pass", "warn") and current.scan_verdict == done.verdict
            assert {w["check_id"] for w in current.waived} >= set(checks)

            # Let the worker finish every re-evaluation the approvals queued (one run each) before the
            # organization is dropped.
            def all_runs_done() -> bool:
                runs = Evaluation.objects.filter(scan=done, trigger="waiver_changed").values("run").distinct()
                fanned_out = AuditEvent.objects.filter(action="policy.reevaluate").count()
                return runs.count() == len(checks) and fanned_out == len(checks)

            eventually(all_runs_done, what="every queued re-evaluation")
        connection.set_schema_to_public()
    assert celery_worker.alive()
    # Only this test's part of the log: the session's worker also runs other tests' tasks.
    this_test = celery_worker.log()[log_start:]
    assert "Traceback" not in this_test, this_test[-3000:]
