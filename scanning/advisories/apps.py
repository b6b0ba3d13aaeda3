from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "scanning.advisories"
    label = "advisories"
    verbose_name = "Advisories"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from config.schedules import periodic
        from scanning.advisories.enricher import enrich_with_advisories
        from scanning.hooks import register_context_enricher

        register_context_enricher(enrich_with_advisories, name="advisories")
        periodic("advisory sync", "advisories.sync", every_seconds=settings.ADVISORY_SYNC_INTERVAL_SECONDS)
