from django.core.management.base import BaseCommand
from django.db import connection

from config import schedules


class Command(BaseCommand):
    help = "Install the periodic tasks declared in code into django-celery-beat (and remove stale ones)."

    def handle(self, *args, **opts):
        connection.set_schema_to_public()
        result = schedules.install()
        self.stdout.write(self.style.SUCCESS(
            f"Schedules: {len(result['created'])} created, {len(result['updated'])} updated, "
            f"{len(result['removed'])} removed."))
