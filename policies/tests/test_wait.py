"""wait_for_verdict: answers at once for a finished scan, wakes when the scan completes, gives up at
its timeout. (Behaviour only: timings belong in bench/.)"""

from __future__ import annotations

import threading
import uuid

from django.db import connection, connections, transaction
from django_tenants.utils import schema_context

from policies import selectors, services
from policies.tests.factories import ScanFactory, vuln
from scanning.models import Scan


def test_a_finished_scan_is_answered_at_once(acme) -> None:
    scan = ScanFactory(verdict="warn")
    answer = selectors.wait_for_verdict(scan_id=scan.pk, timeout_seconds=30)
    assert answer is not None and answer.pk == scan.pk and answer.verdict == "warn" and answer.is_terminal


def test_an_unknown_scan_is_none(acme) -> None:
    assert selectors.wait_for_verdict(scan_id=uuid.uuid4(), timeout_seconds=5) is None


def test_the_wait_gives_up_at_its_timeout_with_the_scan_as_it_is(acme) -> None:
    scan = ScanFactory(status=Scan.StatusChoices.QUEUED, verdict=None, finished_at=None)
    answer = selectors.wait_for_verdict(scan_id=scan.pk, timeout_seconds=0.3)
    assert answer is not None and answer.status == "queued" and not answer.is_terminal and answer.verdict is None
    assert selectors.wait_for_verdict(scan_id=scan.pk, timeout_seconds=0).status == "queued"


def test_a_failed_scan_ends_the_wait_without_a_verdict(acme) -> None:
    scan = ScanFactory(status=Scan.StatusChoices.FAILED, verdict=None)
    answer = selectors.wait_for_verdict(scan_id=scan.pk, timeout_seconds=30)
    assert answer.status == "failed" and answer.verdict is None


def test_the_wait_wakes_when_the_scan_completes_in_another_connection(live_tenant, django_db_blocker) -> None:
    """The scan is committed (another connection must see it); a thread completes it the way the
    pipeline does — verdict hook inside the completing transaction — while the main thread waits."""
    schema = live_tenant.schema_name
    with django_db_blocker.unblock(), schema_context(schema):
        scan = ScanFactory(status=Scan.StatusChoices.RUNNING, verdict=None, finished_at=None)
        vuln(scan, severity="critical")
    started = threading.Event()
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            started.wait(30)
            with schema_context(schema), transaction.atomic():
                locked = Scan.objects.select_for_update().get(pk=scan.pk)
                services.verdict_hook(locked)
                locked.status = Scan.StatusChoices.COMPLETED
                locked.save()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=complete)
    with django_db_blocker.unblock(), schema_context(schema):
        worker.start()
        started.set()
        # Generous: the answer comes when the thread commits, long before this.
        answer = selectors.wait_for_verdict(scan_id=scan.pk, timeout_seconds=60)
    worker.join(30)
    connection.set_schema_to_public()
    assert not errors, errors
    assert answer is not None and answer.is_terminal, "woken before the timeout"
    assert answer.status == "completed" and answer.verdict == "block"
