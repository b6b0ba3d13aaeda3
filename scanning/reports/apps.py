from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "scanning.reports"
    label = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from config.schedules import periodic
        from scanning.hooks import register_scan_panel
        from scanning.reports import provisioning  # noqa: F401 - registers the default template step and demo data
        from scanning.reports.views import scan_panel_context
        from tenants.navigation import register_nav

        register_scan_panel("reports.generate", "reports/scan_panel.html", scan_panel_context,
                            stylesheets=("reports/reports.css",))
        register_nav("Reports", "reports:report_list", order=40, permission="scanning.generate_reports", icon="file")
        register_nav("Report templates", "reports:template_list", order=42,
                     permission="scanning.manage_report_templates", icon="palette")
        register_nav("Report schedules", "reports:schedule_list", order=44,
                     permission="scanning.manage_report_templates", icon="calendar")
        periodic("scheduled reports", "reports.run_due_schedules", every_seconds=settings.REPORTS_SCHEDULE_INTERVAL)
