"""The trail itself: hash chain, append-only trigger, tamper detection, retention purge."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.integrity import HASHED_FIELDS, event_hash, verify_chain
from audit.models import AuditEvent
from audit.services import audit_purge, audit_record

pytestmark = pytest.mark.django_db

ACTOR = Actor(type="user", id="u-1", email="ada@acme.test", ip="2001:DB8::1", user_agent="pytest", request_id="req-12345678")


def record(n: int = 1, **kwargs):
    events = []
    for i in range(n):
        events.append(audit_record(actor=kwargs.get("actor", ACTOR), action=kwargs.get("action", "scan.create"),
                                   resource_type="scan", resource_id=str(i), changes={"n": {"after": i}}))
    return events


def verify(schema: str) -> str:
    out = StringIO()
    call_command("audit_verify", "--tenant", schema, stdout=out)
    return out.getvalue()


def test_events_form_a_chain_whose_hashes_match_the_stored_rows(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        first, second = record(2)
        tricky = audit_record(
            actor=ACTOR, action="policy.update", resource_type="policy", resource_id=uuid.uuid4(),
            changes={"threshold": {"before": 1e16, "after": 0.1 + 0.2}, "name": {"before": "Zoë ✓", "after": "naïve"},
                     "when": {"after": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)},
                     "weights": {"after": [decimal.Decimal("1.50"), float("nan"), {"b": 2, "a": 1}]},
                     "blob": {"after": b"\x00\x01"}, "tags": {"after": {"z", "a"}}, "nul": {"after": "a\x00b"}},
            metadata={"nested": {"list": [1, 2.5, None, True]}},
        )
        assert (first.sequence, second.sequence, tricky.sequence) == (first.sequence, first.sequence + 1,
                                                                      first.sequence + 2)
        assert second.prev_hash == first.hash and tricky.prev_hash == second.hash
        stored = AuditEvent.objects.values(*HASHED_FIELDS, "hash").get(pk=tricky.pk)
        assert event_hash(stored) == stored["hash"] == tricky.hash
        assert stored["ip"] == "2001:db8::1"
        assert stored["changes"]["weights"]["after"][1] == "nan"
        assert stored["changes"]["nul"]["after"] == "ab"
        report = verify_chain(AuditEvent.objects.all(), schema=tenant_a.schema_name)
        assert report.ok and report.last_sequence == tricky.sequence


def test_secret_fields_are_redacted_before_they_are_stored(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        event = audit_record(actor=ACTOR, action="member.update", resource_type="user",
                             changes={"password": {"before": "old-Secret-1", "after": "new-Secret-2"},
                                      "full_name": {"before": "A", "after": "B"}},
                             metadata={"note": "Authorization: Bearer abc.def.ghi", "api_key": "gh_live_xyz"})
        event.refresh_from_db()
    assert event.changes == {"password": "[redacted]", "full_name": {"before": "A", "after": "B"}}
    assert "abc.def.ghi" not in str(event.metadata) and event.metadata["api_key"] == "[redacted]"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET action = 'x'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
])
def test_raw_sql_cannot_change_or_remove_events(tenant_a, in_tenant, statement):
    with in_tenant(tenant_a):
        record()
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
        assert AuditEvent.objects.filter(action="scan.create").exists()


def test_the_orm_cannot_change_or_remove_events(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        event = record()[0]
        event.action = "scan.delete"
        attempts = [
            lambda: event.save(),
            lambda: AuditEvent.objects.filter(pk=event.pk).update(reason="edited"),
            lambda: AuditEvent.objects.get(pk=event.pk).delete(),
            lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        ]
        for attempt in attempts:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                attempt()
        assert AuditEvent.objects.get(pk=event.pk).action == "scan.create"


def test_the_platform_trail_is_append_only_too():
    connection.set_schema_to_public()
    event = audit_record(actor=Actor.system("test"), action="tenant.suspend", resource_type="tenant")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_a_freshly_provisioned_tenant_refuses_update_and_delete():
    from tenants.services import tenant_create

    tenant = tenant_create(slug="freshaudit", name="Fresh audit").tenant
    with schema_context(tenant.schema_name):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tg.tgname, n.nspname || '.' || p.proname FROM pg_trigger tg "
                "JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE tg.tgrelid = 'freshaudit.audit_auditevent'::regclass AND NOT tg.tgisinternal")
            triggers = dict(cursor.fetchall())
        assert triggers == {"audit_auditevent_append_only": "public.gatehouse_audit_guard",
                            "audit_auditevent_no_truncate": "public.gatehouse_audit_guard"}
        event = audit_record(actor=ACTOR, action="scan.create", resource_type="scan")
        for sql in ("UPDATE audit_auditevent SET reason = 'x'", "DELETE FROM audit_auditevent"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                    connection.cursor() as cursor:
                cursor.execute(sql)
        assert AuditEvent.objects.filter(pk=event.pk).exists()


def _tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")


def test_audit_verify_passes_an_intact_chain(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        record(3)
    assert "acme:" in verify("acme") and "verified" in verify("acme")


def test_audit_verify_names_a_modified_row(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        events = record(4)
        victim = events[1]
        _tamper("UPDATE audit_auditevent SET actor_email = 'mallory@evil.test' WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError) as failure:
        verify("acme")
    message = str(failure.value)
    assert str(victim.pk) in message and f"#{victim.sequence}" in message
    assert "content does not match its hash" in message
    assert str(events[2].pk) not in message


def test_audit_verify_names_the_row_after_a_deleted_one(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        events = record(4)
        _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError) as failure:
        verify("acme")
    assert str(events[2].pk) in str(failure.value) and "missing" in str(failure.value)


def test_audit_verify_finds_a_row_rewritten_with_a_fresh_hash(tenant_a, in_tenant):
    """Recomputing the changed row's own hash is not enough: the next row no longer follows it."""
    with in_tenant(tenant_a):
        events = record(3)
        row = AuditEvent.objects.values(*HASHED_FIELDS).get(pk=events[0].pk)
        row["reason"] = "nothing happened"
        _tamper("UPDATE audit_auditevent SET reason = %s, hash = %s WHERE id = %s",
                [row["reason"], event_hash(row), events[0].pk])
    with pytest.raises(CommandError) as failure:
        verify("acme")
    assert str(events[1].pk) in str(failure.value) and "does not follow" in str(failure.value)


def test_audit_verify_without_tenant_checks_every_schema_and_refuses_unknown_slugs(tenant_a, tenant_b):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    lines = out.getvalue()
    assert "public:" in lines and "acme:" in lines and "globex:" in lines
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        call_command("audit_verify", "--tenant", "nope")


def test_purge_removes_the_oldest_events_records_itself_and_keeps_the_chain_verifiable(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        old = record(3)
        boundary = timezone.now()
        newer = record(2)
        total = AuditEvent.objects.count()
        # Run the purge as if 30 days had passed since `boundary`: the first three are past retention.
        deleted = audit_purge(actor=Actor.system("audit-retention"), retention_days=30,
                              now=boundary + dt.timedelta(days=30))
        assert deleted == total - 2
        assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
        assert AuditEvent.objects.filter(pk__in=[e.pk for e in newer]).count() == 2
        purge = AuditEvent.objects.get(action="audit.purge")
        assert purge.actor_type == "system" and purge.actor_id == "audit-retention"
        assert purge.metadata["deleted"] == deleted and purge.metadata["through_sequence"] == old[-1].sequence
        assert purge.metadata["through_hash"] == old[-1].hash
        assert verify_chain(AuditEvent.objects.all(), schema="acme").ok
        assert audit_purge(actor=Actor.system("audit-retention"), retention_days=30,
                           now=boundary + dt.timedelta(days=30)) == 0
        assert AuditEvent.objects.filter(action="audit.purge").count() == 1
    assert "verified" in verify("acme")


def test_deleting_the_oldest_events_outside_the_purge_is_found(tenant_a, in_tenant):
    with in_tenant(tenant_a):
        events = record(3)
        _tamper("DELETE FROM audit_auditevent WHERE sequence <= %s", [events[0].sequence])
    with pytest.raises(CommandError) as failure:
        verify("acme")
    assert str(events[1].pk) in str(failure.value) and "outside a recorded retention purge" in str(failure.value)
