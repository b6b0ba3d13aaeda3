"""Append-only, hash-chained audit events.

- `sequence`, `prev_hash` and `hash` chain each schema's events (existing rows are
  chained in the order they were written);
- `occurred_at` is set by the writer (the database clock), no longer by auto_now_add;
- a trigger refuses UPDATE, DELETE and TRUNCATE on the table. Its function lives in the
  public schema (`public.gatehouse_audit_guard`), so tenant schemas cloned from the
  template (tenants/clone.py copies triggers, which name it qualified) share it. The
  one exception is the retention purge, which sets the transaction-local setting
  `gatehouse.audit_purge` to 'on' before deleting (audit.services.audit_purge).
"""

import django.utils.timezone
from django.db import migrations, models

GUARD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.gatehouse_audit_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND coalesce(current_setting('gatehouse.audit_purge', true), '') = 'on' THEN
        IF TG_LEVEL = 'ROW' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events are removed only by the retention purge (audit.services.audit_purge).';
END;
$$;
"""

TRIGGERS = """
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION public.gatehouse_audit_guard();
CREATE TRIGGER audit_auditevent_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION public.gatehouse_audit_guard();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;
"""


def chain_existing_events(apps, schema_editor):
    from audit.integrity import HASHED_FIELDS, event_hash

    AuditEvent = apps.get_model("audit", "AuditEvent")
    previous = ""
    for sequence, event in enumerate(AuditEvent.objects.order_by("occurred_at", "id").iterator(), start=1):
        event.sequence = sequence
        event.prev_hash = previous
        values = {name: getattr(event, name) for name in HASHED_FIELDS}
        event.hash = event_hash(values)
        event.save(update_fields=["sequence", "prev_hash", "hash"])
        previous = event.hash


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="occurred_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor_type",
            field=models.CharField(choices=[("user", "User"), ("api_key", "API key"), ("staff", "Platform staff"),
                                            ("system", "Gatehouse"), ("anonymous", "Anonymous")], max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="sequence",
            field=models.BigIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("sequence",), name="audit_event_sequence_unique"),
        ),
        migrations.AlterModelOptions(
            name="auditevent",
            options={"ordering": ["-sequence"],
                     "permissions": [("view_audit", "Can view and export the audit trail")]},
        ),
        migrations.RunSQL(GUARD_FUNCTION + TRIGGERS, DROP_TRIGGERS),
    ]
