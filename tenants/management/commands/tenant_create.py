from django.core.management.base import BaseCommand

from audit.context import Actor
from tenants.management.commands._errors import service_errors
from tenants.models import Tenant
from tenants.services import tenant_create


class Command(BaseCommand):
    help = ("Create and provision an organization (schema cloned from the template, domain, roles, "
            "default policy, MQTT role). Safe to run again: an interrupted provisioning is completed.")

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="lowercase letters, digits, underscores; 3-48 chars")
        parser.add_argument("--name", required=True)
        parser.add_argument("--tier", default=Tenant.Tier.FREE, choices=Tenant.Tier.values)
        parser.add_argument("--owner-email", default=None, help="invite (or create) this person as owner")
        parser.add_argument("--owner-name", default=None)
        parser.add_argument("--owner-password", default=None,
                            help="set this password instead of emailing an invitation (demo data only)")

    def handle(self, *args, **opts):
        with service_errors():
            result = tenant_create(slug=opts["slug"], name=opts["name"], tier=opts["tier"],
                                   owner_email=opts["owner_email"], owner_name=opts["owner_name"],
                                   owner_password=opts["owner_password"],
                                   actor=Actor.system("manage.py tenant_create"))
        tenant = result.tenant
        verb = "Created" if result.created else "Verified"
        steps = ", ".join(result.steps_run) or "nothing left to do"
        self.stdout.write(self.style.SUCCESS(
            f"{verb} {tenant.schema_name} ({tenant.name}, {tenant.subscription_tier}) at "
            f"{tenant.primary_host} in {result.seconds:.2f}s; steps run: {steps}"
        ))
