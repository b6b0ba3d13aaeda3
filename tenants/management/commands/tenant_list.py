from django.core.management.base import BaseCommand

from tenants.models import Tenant


class Command(BaseCommand):
    help = "List organizations with their tier, status and host."

    def handle(self, *args, **opts):
        for tenant in Tenant.objects.organizations().order_by("schema_name"):
            status = "suspended" if not tenant.is_active else tenant.provisioning_state
            self.stdout.write(f"{tenant.schema_name:<24} {tenant.subscription_tier:<8} {status:<12} "
                              f"{tenant.primary_host:<40} {tenant.name}")
