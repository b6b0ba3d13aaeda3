"""Re-encrypt every stored registry credential with the first key of FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django_tenants.utils import schema_context

from audit.context import Actor


class Command(BaseCommand):
    help = ("Rotate the encryption of registry credentials: put the new Fernet key first in FERNET_KEYS, run this, "
            "then remove the old key.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="only this organization (default: all)")

    def handle(self, *args: Any, **opts: Any) -> None:
        from scanning.services import connections_rotate_keys
        from tenants.models import Tenant

        connection.set_schema_to_public()
        tenants = Tenant.objects.organizations()
        if opts["tenant"]:
            tenants = tenants.filter(schema_name=opts["tenant"])
        total = 0
        for schema in tenants.values_list("schema_name", flat=True):
            with schema_context(schema):
                count = connections_rotate_keys(actor=Actor.system("rotate_connection_keys"))
            total += count
            if count:
                self.stdout.write(f"{schema}: {count} credential(s) re-encrypted")
        connection.set_schema_to_public()
        self.stdout.write(self.style.SUCCESS(f"Done: {total} credential(s) re-encrypted with the first key."))
