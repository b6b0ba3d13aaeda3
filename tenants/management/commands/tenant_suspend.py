from django.core.management.base import BaseCommand

from audit.context import Actor
from tenants.management.commands._errors import service_errors
from tenants.services import tenant_get, tenant_reactivate, tenant_suspend


class Command(BaseCommand):
    help = "Suspend an organization (its users, tokens, API keys and MQTT clients stop at once), or --reactivate it."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--reason", default="")
        parser.add_argument("--reactivate", action="store_true")

    def handle(self, *args, **opts):
        with service_errors():
            tenant = tenant_get(slug=opts["slug"])
            if opts["reactivate"]:
                tenant_reactivate(tenant=tenant, actor=Actor.system("manage.py tenant_suspend --reactivate"))
                self.stdout.write(self.style.SUCCESS(f"Reactivated {tenant.schema_name}."))
            else:
                tenant_suspend(tenant=tenant, reason=opts["reason"], actor=Actor.system("manage.py tenant_suspend"))
                self.stdout.write(self.style.SUCCESS(f"Suspended {tenant.schema_name}."))
