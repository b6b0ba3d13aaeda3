"""`migrate` is `migrate_schemas` (django-tenants' convention), with the template kept current."""

from tenants.management.commands.migrate_schemas import Command  # noqa: F401
