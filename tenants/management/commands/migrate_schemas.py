"""migrate_schemas that also keeps the template tenant migrated and seeded.

After the public schema is migrated, the public and `_template` tenant rows are
ensured; the tenant pass then migrates the template first and every organization
whose schema exists (one interrupted before its schema was cloned is completed by
provisioning, not here), and the template's seed data is refreshed. A clone of the
template is therefore never stale.
"""

from django.conf import settings
from django.db import connection
from django_tenants.management.commands import SyncCommon
from django_tenants.management.commands.migrate_schemas import GET_EXECUTOR_FUNCTION, MigrateSchemasCommand
from django_tenants.utils import schema_exists

from tenants.models import Tenant
from tenants.services import ensure_platform_tenants, seed_template


class Command(MigrateSchemasCommand):
    def handle(self, *args, **options):
        SyncCommon.handle(self, *args, **options)
        executor = GET_EXECUTOR_FUNCTION(codename=self.executor)(self.args, self.options)
        public = settings.PUBLIC_SCHEMA_NAME
        template = settings.TEMPLATE_SCHEMA_NAME

        if self.sync_public and (not self.schema_name or self.schema_name == public):
            executor.run_migrations(tenants=[public])
            ensure_platform_tenants()
            if not schema_exists(template):
                with connection.cursor() as cursor:
                    cursor.execute(f'CREATE SCHEMA "{template}"')

        if self.sync_tenant and self.schema_name != public:
            if self.schema_name:
                if not schema_exists(self.schema_name):
                    raise RuntimeError(f'Schema "{self.schema_name}" does not exist')
                schemas = [self.schema_name]
            else:
                names = Tenant.objects.exclude(schema_name=public).values_list("schema_name", flat=True)
                schemas = sorted((n for n in names if schema_exists(n)), key=lambda n: (n != template, n))
            if schemas:
                executor.run_migrations(tenants=schemas)
            if template in schemas:
                ran = seed_template()
                if options.get("verbosity", 1) >= 1 and ran:
                    self.stdout.write(f"Template seeded: {', '.join(ran)}")
        connection.set_schema_to_public()
