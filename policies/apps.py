from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies and waivers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from config.schedules import periodic
        from policies import provisioning  # noqa: F401 - registers the default-policy step and demo data
        from policies.selectors import verdict_summary, wait_for_verdict
        from policies.services import verdict_hook
        from policies.views import home_panel, scan_verdict_context
        from scanning.hooks import (
            register_report_section,
            register_scan_panel,
            register_verdict_hook,
            register_verdict_waiter,
        )
        from tenants.dashboard import register_home_panel
        from tenants.navigation import register_nav

        register_verdict_hook(verdict_hook, name="policies.verdict")
        register_verdict_waiter(wait_for_verdict)
        register_report_section("policies", lambda scan: verdict_summary(scan=scan))
        register_scan_panel("policies.verdict", "policies/scan_verdict_panel.html", scan_verdict_context,
                            stylesheets=("policies/policies.css",))
        register_nav("Policies", "policies:policy_list", order=30, permission="policies.view_policies", icon="shield")
        register_nav("Waivers", "policies:waiver_list", order=35, permission="policies.view_policies", icon="flag")
        register_home_panel("policies.waivers", home_panel, order=30)
        periodic("waiver expiry", "policies.expire_waivers", every_seconds=settings.POLICIES_WAIVER_EXPIRY_INTERVAL)
