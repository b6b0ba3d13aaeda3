"""Who sees which event; the beat task that cleans the outbox and reports its backlog."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from config.metrics import render
from messaging import counters, services
from messaging.events import build_envelope, publish_event
from messaging.models import OutboxEvent
from messaging.selectors import ALL_PERMISSIONS, event_visible, required_permission


class T:
    schema_name = "acme"


def envelope(event_type, **data):
    return build_envelope(tenant=T(), type=event_type, subject="s", data=data)


@pytest.mark.parametrize("event,perms,visible", [
    (envelope("scan.queued", scan_id="1", submitted_by="me"), set(), True),
    (envelope("scan.queued", scan_id="1", submitted_by="other"), set(), False),
    (envelope("scan.queued", scan_id="1"), set(), False),
    (envelope("scan.queued", scan_id="1", submitted_by="other"), {"scanning.view_all_scans"}, True),
    (envelope("policy.blocked", scan_id="1", submitted_by="me"), set(), False),
    (envelope("policy.blocked", scan_id="1", submitted_by="me"), {"policies.view_policies"}, True),
    (envelope("policy.blocked", scan_id="1", submitted_by="other"), {"policies.view_policies"}, False),
    (envelope("waiver.approved", scan_id="1", submitted_by="other"),
     {"policies.view_policies", "scanning.view_all_scans"}, True),
    (envelope("member.invited"), set(), False),
    (envelope("member.invited"), {"accounts.view_members"}, True),
    (envelope("audit.recorded"), {"accounts.view_members"}, False),
    (envelope("mqtt_credential.created"), {"messaging.manage_mqtt_credentials"}, True),
    (envelope("report.generated", scan_id="1", submitted_by="other"), set(), False),
    (envelope("report.completed", report_id="r", requested_by="me"), set(), False),
    (envelope("report.completed", report_id="r", requested_by="me"), {"scanning.generate_reports"}, True),
    (envelope("report.completed", report_id="r", requested_by="other"), {"scanning.generate_reports"}, False),
    (envelope("report.completed", report_id="r", requested_by="other"),
     {"scanning.generate_reports", "scanning.view_all_scans"}, True),
    (envelope("system.notice"), set(), True),
    (envelope("audit.recorded"), {ALL_PERMISSIONS}, True),
])
def test_event_visibility(event, perms, visible):
    assert event_visible(event, permissions=frozenset(perms), user_id="me") is visible


def test_progress_of_a_scan_learned_to_be_the_members_own_is_visible():
    tick = envelope("scan.progress", scan_id="42", percent=10)
    assert not event_visible(tick, permissions=frozenset(), user_id="me")
    assert event_visible(tick, permissions=frozenset(), user_id="me", own_scans={"42"})


def test_required_permission_uses_the_longest_prefix():
    assert required_permission("waiver.approved") == "policies.view_policies"
    assert required_permission("scan.completed") is None


@pytest.mark.django_db
def test_sweep_deletes_old_sent_rows_and_exports_the_backlog(tenant_a, tenant_b):
    old_sent = publish_event(tenant=tenant_a, type="scan.completed", subject="old", data={})
    recent_sent = publish_event(tenant=tenant_a, type="scan.completed", subject="recent", data={})
    pending_a = publish_event(tenant=tenant_a, type="scan.queued", subject="p", data={})
    pending_b = publish_event(tenant=tenant_b, type="scan.queued", subject="p", data={})
    long_ago = timezone.now() - timedelta(days=30)
    with schema_context("acme"):
        OutboxEvent.objects.filter(id=old_sent.id).update(sent_at=long_ago)
        OutboxEvent.objects.filter(id=recent_sent.id).update(sent_at=timezone.now())
        OutboxEvent.objects.filter(id=pending_a.id).update(created_at=timezone.now() - timedelta(minutes=10))

    report = services.outbox_sweep(retention_days=7)

    with schema_context("acme"):
        assert not OutboxEvent.objects.filter(id=old_sent.id).exists()
        assert OutboxEvent.objects.filter(id__in=[recent_sent.id, pending_a.id]).count() == 2
    with schema_context("globex"):
        assert OutboxEvent.objects.filter(id=pending_b.id).exists()
    assert report["deleted"] >= 1
    assert report["backlog_by_tenant"]["acme"] >= 1 and report["backlog_by_tenant"]["globex"] >= 1
    assert report["oldest_pending_seconds"] >= 600

    exposition = render()[0].decode()
    backlog_line = next(line for line in exposition.splitlines()
                        if line.startswith("gatehouse_outbox_backlog_events "))
    assert float(backlog_line.split()[1]) == report["backlog"]
    assert "gatehouse_outbox_oldest_pending_seconds" in exposition


@pytest.mark.django_db
def test_counters_from_other_processes_appear_in_metrics():
    counters.incr("bridge_dropped_total", 2, reason="malformed")
    counters.flush()
    exposition = render()[0].decode()
    assert 'gatehouse_bridge_dropped_total{reason="malformed"}' in exposition
