"""Tenant provisioning: clone of the template vs. a full migration run; migrate_schemas over N tenants.

BENCH_TENANTS (default 20) tenants are cloned; BENCH_MIGRATED (default 5) are built by
running every migration, for comparison.
"""

from __future__ import annotations

import os
import time

from bench.common import figure, report, section


def run() -> None:
    from django.core.management import call_command
    from django.db import connection

    from tenants.services import tenant_create

    n_clone = int(os.environ.get("BENCH_TENANTS", "20"))
    n_migrated = int(os.environ.get("BENCH_MIGRATED", "5"))

    with section(f"Provisioning {n_clone} tenants by cloning the template"):
        samples = []
        for i in range(n_clone):
            started = time.perf_counter()
            tenant_create(slug=f"bench_clone_{i:04d}", name=f"Bench {i}")
            samples.append(time.perf_counter() - started)
        report("tenant_create (clone + domain + every provisioning step)", samples, target="p50 <= 1000ms")

    with section(f"Building {n_migrated} schemas by running every migration"):
        samples = []
        for i in range(n_migrated):
            schema = f"bench_migrated_{i:04d}"
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{schema}"')
            call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)
            samples.append(time.perf_counter() - started)
            connection.set_schema_to_public()
        report("CREATE SCHEMA + migrate_schemas --schema (no provisioning steps)", samples)

    with section("migrate_schemas with nothing to apply"):
        from tenants.models import Tenant

        count = Tenant.objects.exclude(schema_name="public").count()
        started = time.perf_counter()
        call_command("migrate_schemas", interactive=False, verbosity=0)
        elapsed = time.perf_counter() - started
        figure(f"migrate_schemas over public + {count} tenant schemas", elapsed, "s")
        figure("per tenant schema", elapsed / max(count, 1) * 1000, "ms")
