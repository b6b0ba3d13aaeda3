from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from tenants.management.commands._errors import service_errors
from tenants.services import tenant_delete, tenant_get


class Command(BaseCommand):
    help = "Delete an organization and DROP its schema (every scan, user and audit event). Needs --confirm SLUG."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--confirm", default=None, help="repeat the slug to confirm")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")

    def handle(self, *args, **opts):
        confirm = opts["confirm"]
        if confirm is None and opts["interactive"]:
            confirm = input(f"This drops schema '{opts['slug']}' and all its data. Type the slug to confirm: ")
        if confirm is None:
            raise CommandError("Refusing to delete without --confirm SLUG.")
        with service_errors():
            tenant = tenant_get(slug=opts["slug"])
            tenant_delete(tenant=tenant, confirm=confirm.strip(), actor=Actor.system("manage.py tenant_delete"))
        self.stdout.write(self.style.SUCCESS(f"Deleted {opts['slug']} and dropped its schema."))
