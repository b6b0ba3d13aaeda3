"""New tenant schemas are copies of the always-migrated `_template` schema.

The copy is built from the catalog in one SQL script, run in one transaction:
tables (columns, defaults, identity, CHECK constraints copied as expression trees
so they print exactly as in a migrated schema), their rows (seed data and the
`django_migrations` history, so the clone counts as fully migrated), then
constraints, indexes and triggers under their original names. Keeping the names
matters: a later migration that drops or alters a constraint finds it by name,
in a clone exactly as in a migrated schema. (django-tenants' bundled clone
function renames unique constraints, which is why it is not used here.)
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_exists


class TemplateMissing(RuntimeError):
    pass


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def clone_script(template: str, target: str) -> str:
    """The SQL that recreates `template` as `target` (read from the catalog; nothing is written).

    Must run inside a transaction: the search path it sets for reading is transaction-local.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("clone_script() must run inside transaction.atomic()")
    with connection.cursor() as cursor:
        # Definitions are printed relative to the search path: unqualified for the
        # template's own objects, so they land in the target when replayed there.
        cursor.execute("SELECT set_config('search_path', %s, true)", [_q(template)])
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relkind IN ('r', 'p') ORDER BY c.relname", [template])
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT table_name, column_name, is_identity, is_generated FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position", [template])
        columns: dict[str, list[tuple[str, bool, bool]]] = {}
        for table, column, is_identity, is_generated in cursor.fetchall():
            columns.setdefault(table, []).append((column, is_identity == "YES", is_generated == "ALWAYS"))
        cursor.execute(
            "SELECT cl.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) "
            "FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid "
            "WHERE con.connamespace = %s::regnamespace AND con.contype IN ('p', 'u', 'x', 'f') "
            "ORDER BY (con.contype = 'f'), cl.relname, con.conname", [template])
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class ix ON ix.oid = i.indexrelid "
            "WHERE t.relnamespace = %s::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "ORDER BY ix.relname", [template])
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = %s::regnamespace "
            "ORDER BY p.proname", [template])
        functions = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT pg_get_triggerdef(tg.oid) FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid "
            "WHERE t.relnamespace = %s::regnamespace AND NOT tg.tgisinternal ORDER BY tg.tgname", [template])
        triggers = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT set_config('search_path', %s, true)", [_q(connection.schema_name)])

    src, dst = _q(template), _q(target)

    def retarget(definition: str) -> str:
        # Catalog functions schema-qualify some names whatever the search path.
        return definition.replace(f"{src}.", f"{dst}.").replace(f"{template}.", f"{dst}.")

    lines = [f"CREATE SCHEMA {dst};", f"SET LOCAL search_path TO {dst}, public;"]
    for table in tables:
        lines.append(
            f"CREATE TABLE {dst}.{_q(table)} (LIKE {src}.{_q(table)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            f"INCLUDING GENERATED INCLUDING STORAGE INCLUDING CONSTRAINTS);")
    for table in tables:
        insertable = [c for c, _identity, generated in columns.get(table, []) if not generated]
        cols = ", ".join(_q(c) for c in insertable)
        # Every name here comes from the catalog and is quoted by _q.
        lines.append(f"INSERT INTO {dst}.{_q(table)} ({cols}) OVERRIDING SYSTEM VALUE "  # noqa: S608
                     f"SELECT {cols} FROM {src}.{_q(table)};")
        for column, identity, _generated in columns.get(table, []):
            if identity:
                lines.append(
                    f"SELECT setval(pg_get_serial_sequence('{dst}.{_q(table)}', '{column}'), "  # noqa: S608
                    f"COALESCE((SELECT max({_q(column)}) FROM {dst}.{_q(table)}), 1), "
                    f"(SELECT count(*) > 0 FROM {dst}.{_q(table)}));")
    for table, name, _kind, definition in constraints:
        lines.append(f"ALTER TABLE {dst}.{_q(table)} ADD CONSTRAINT {_q(name)} {retarget(definition)};")
    lines.extend(f"{retarget(definition)};" for definition in indexes)
    lines.extend(f"{retarget(definition)};" for definition in functions)
    lines.extend(f"{retarget(definition)};" for definition in triggers)
    return "\n".join(lines)


def clone_template_schema(schema_name: str) -> None:
    template = settings.TEMPLATE_SCHEMA_NAME
    connection.set_schema_to_public()
    if not schema_exists(template):
        raise TemplateMissing(
            f"The template schema '{template}' does not exist; run `python manage.py migrate_schemas` first."
        )
    # One transaction: a crash leaves either a complete copy or nothing.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(clone_script(template, schema_name))
    connection.set_schema_to_public()
