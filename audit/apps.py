from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import metrics
        from config.schedules import periodic
        from tenants.navigation import register_nav

        register_nav("Audit trail", "audit:event-list", order=85, permission="audit.view_audit", icon="audit")
        periodic("audit-retention", "audit.purge_expired", crontab={"minute": "17", "hour": "3"})
        # Observability: Celery workers count tasks by name and state into Redis for /metrics.
        # Connected here because every process (web, worker, beat) loads the apps.
        metrics.install_celery_signals()
