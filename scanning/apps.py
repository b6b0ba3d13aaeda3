from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "scanning"
    verbose_name = "Scanning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from config.schedules import periodic
        from scanning import demo
        from scanning.views import home_panel
        from tenants.dashboard import register_home_panel
        from tenants.hooks import lifecycle_hook
        from tenants.navigation import register_nav

        register_nav("Scans", "scanning:scan_list", order=10, icon="scan")
        register_nav("Checks", "scanning:check_list", order=60, icon="list")
        register_nav("Connections", "scanning:connection_list", order=70, permission="scanning.manage_connections",
                     icon="plug")
        register_home_panel("scanning.recent_scans", home_panel, order=10)
        periodic("stuck scan reaper", "scanning.reap_stuck_scans", every_seconds=settings.SCANNING_REAPER_INTERVAL)
        demo.register()

        @lifecycle_hook("deleting", "scanning.files")
        def _remove_files(tenant) -> None:  # noqa: ANN001
            from scanning.services import delete_tenant_files

            delete_tenant_files(tenant.schema_name)
