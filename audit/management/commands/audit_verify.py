"""Walk each schema's audit hash chain and name the first event that does not match."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from audit.integrity import ChainReport, verify_chain
from audit.models import AuditEvent


def verify_schema(schema: str) -> ChainReport:
    with schema_context(schema):
        return verify_chain(AuditEvent.objects.all(), schema=schema)


class Command(BaseCommand):
    help = ("Verify the audit trail's hash chain of one organization (--tenant slug), of the platform "
            "(--tenant public), or of every schema. Exits with status 1 naming the first event that "
            "does not match.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="Organization slug (or 'public' for staff actions). Default: all.")

    def handle(self, *args: Any, **options: Any) -> None:
        from tenants.models import Tenant

        if options.get("tenant"):
            slug = options["tenant"]
            if slug != settings.PUBLIC_SCHEMA_NAME and not Tenant.objects.filter(schema_name=slug).exists():
                raise CommandError(f"No organization with slug '{slug}'. `manage.py tenant_list` lists them.")
            schemas = [slug]
        else:
            names = Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).order_by("schema_name")
            schemas = [settings.PUBLIC_SCHEMA_NAME, *names.values_list("schema_name", flat=True)]
        failures = []
        for schema in schemas:
            if not schema_exists(schema):
                self.stdout.write(f"{schema}: no schema (still provisioning?) — skipped")
                continue
            report = verify_schema(schema)
            if report.ok:
                span = (f"#{report.first_sequence}..#{report.last_sequence}" if report.checked else "empty")
                head = f", head {report.head_hash[:16]}…" if report.head_hash else ""
                self.stdout.write(self.style.SUCCESS(f"{schema}: {report.checked} event(s) verified ({span}{head})"))
            else:
                assert report.broken is not None
                failures.append(f"{schema}: {report.broken.describe()}")
                self.stdout.write(self.style.ERROR(
                    f"{schema}: chain broken after {report.checked} good event(s) at {report.broken.describe()}"))
        connection.set_schema_to_public()
        if failures:
            raise CommandError("Audit trail tampered with or damaged:\n  " + "\n  ".join(failures))
