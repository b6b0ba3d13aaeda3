"""`public.gatehouse_audit_lock(class, wait_ms)`: take the schema's audit chain lock, waiting at most `wait_ms`.

The lock is `pg_advisory_xact_lock(class, hashtext(current_schema()))`, held until the
transaction ends. The wait is bounded (lock_timeout, restored right after) so that a
transaction left open while holding it makes other writers fail with a clear error
instead of hanging. Returns the database clock once the lock is held: the event's time.
"""

from django.db import migrations

LOCK_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.gatehouse_audit_lock(lock_class integer, wait_ms integer)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    previous text := current_setting('lock_timeout');
BEGIN
    PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
    PERFORM pg_advisory_xact_lock(lock_class, hashtext(current_schema()));
    PERFORM set_config('lock_timeout', previous, true);
    RETURN clock_timestamp();
END;
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_append_only_hash_chain"),
    ]

    operations = [
        migrations.RunSQL(LOCK_FUNCTION, migrations.RunSQL.noop),
    ]
