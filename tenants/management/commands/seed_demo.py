"""Create the demo organizations (acme, globex, initech), their users and sample data.

Idempotent: running it again completes what is missing and changes nothing else.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_tenants.utils import schema_context

from tenants import hooks
from tenants.services import tenant_create

DEMO_TENANTS = [
    ("acme", "Acme Corp", "premium"),
    ("globex", "Globex Corporation", "basic"),
    ("initech", "Initech", "free"),
]
STAFF_EMAIL = "admin@gatehouse.localhost"


class Command(BaseCommand):
    help = "Provision the demo organizations with users and sample data, and the staff user."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=None,
                            help="password for every demo user (default: GATEHOUSE_DEMO_PASSWORD)")

    def handle(self, *args, **opts):
        from environ import Env

        password = opts["password"] or Env().str("GATEHOUSE_DEMO_PASSWORD", default="")
        if not password:
            raise CommandError("Set GATEHOUSE_DEMO_PASSWORD (make demo writes it to .env) or pass --password.")

        connection.set_schema_to_public()
        User = get_user_model()
        staff = User.objects.filter(email=STAFF_EMAIL).first()
        if staff is None:
            User.objects.create_superuser(email=STAFF_EMAIL, password=password, full_name="Platform Admin")
            self.stdout.write(f"Created staff user {STAFF_EMAIL}")

        for slug, name, tier in DEMO_TENANTS:
            result = tenant_create(slug=slug, name=name, tier=tier, owner_email=f"owner@{slug}.localhost",
                                   owner_name=f"{name} Owner", owner_password=password)
            tenant = result.tenant
            for _step_name, func in hooks.demo_data_steps():
                with schema_context(tenant.schema_name), transaction.atomic():
                    func(tenant, password)
            connection.set_schema_to_public()
            self.stdout.write(self.style.SUCCESS(
                f"{'Created' if result.created else 'Verified'} {slug}: http://{tenant.primary_host}:8000/"))
        self.stdout.write(f"Staff admin: http://{settings.BASE_DOMAIN}:8000/admin/  ({STAFF_EMAIL})")
