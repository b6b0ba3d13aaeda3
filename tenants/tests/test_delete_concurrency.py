"""Deleting an organization while another session is still reading its schema."""

import threading
import time

import psycopg
from django.db import connection
from django_tenants.utils import schema_exists

from tenants.models import Tenant
from tenants.services import tenant_delete


def _dsn() -> str:
    params = connection.get_connection_params()
    return " ".join(f"{key}={params[key]}" for key in ("host", "port", "user", "dbname") if params.get(key))


def _reader_that_deadlocks_with_the_drop(schema: str, dropper_pid: int, outcome: dict[str, object]) -> None:
    """Hold a late table of the schema, wait for DROP SCHEMA to queue on it, then ask for one the drop holds.

    That is the cycle a worker finishing a scan forms with a deletion. This side's deadlock
    timeout is long, so PostgreSQL aborts the drop, not the reader.
    """
    with psycopg.connect(_dsn(), autocommit=False) as reader:
        reader.execute("SET deadlock_timeout = '60s'")
        last_table = reader.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relkind = 'r' ORDER BY c.oid DESC LIMIT 1", [schema]).fetchone()[0]
        reader.execute(f"LOCK TABLE {last_table} IN ACCESS SHARE MODE")
        outcome["held"] = last_table
        deadline = time.monotonic() + 20
        held_by_drop = None
        while held_by_drop is None and time.monotonic() < deadline:
            waiting = reader.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [dropper_pid]).fetchone()
            if waiting:
                held_by_drop = reader.execute(
                    "SELECT l.relation::regclass::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = %s AND l.granted AND l.mode = 'AccessExclusiveLock' AND c.relkind = 'r' "
                    "AND c.relnamespace = %s::regnamespace LIMIT 1", [dropper_pid, schema]).fetchone()
                held_by_drop = held_by_drop[0] if held_by_drop else "<none>"
            else:
                time.sleep(0.02)
        outcome["drop_held"] = held_by_drop
        if held_by_drop and held_by_drop != "<none>":
            reader.execute(f"LOCK TABLE {held_by_drop} IN ACCESS SHARE MODE")  # waits until the drop gives way
            outcome["reader_got_lock"] = True
        reader.commit()


def test_delete_retries_when_postgres_breaks_a_deadlock_with_a_reader(live_tenant, django_db_blocker):
    schema = live_tenant.schema_name
    outcome: dict[str, object] = {}
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SET deadlock_timeout = '4s'")  # time enough for the reader to close the cycle
            cursor.execute("SELECT pg_backend_pid()")
            dropper_pid = cursor.fetchone()[0]
        reader = threading.Thread(target=_reader_that_deadlocks_with_the_drop, args=(schema, dropper_pid, outcome))
        reader.start()
        while "held" not in outcome and reader.is_alive():
            time.sleep(0.02)
        try:
            tenant_delete(tenant=Tenant.objects.get(pk=live_tenant.pk), confirm=schema)
        finally:
            reader.join(30)
            with connection.cursor() as cursor:
                cursor.execute("RESET deadlock_timeout")
        # The cycle really formed (the drop held a table the reader then asked for) ...
        assert outcome.get("drop_held") not in (None, "<none>"), outcome
        assert outcome.get("reader_got_lock") is True, outcome
        # ... and the deletion still went through.
        assert not schema_exists(schema)
        assert not Tenant.objects.filter(pk=live_tenant.pk).exists()

