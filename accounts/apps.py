from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import checks, openapi, provisioning  # noqa: F401 - registers steps, checks, schema extensions
        from tenants.navigation import register_nav

        post_migrate.connect(provisioning.sync_system_roles, dispatch_uid="accounts.sync_system_roles")

        register_nav("Members", "members", order=80, permission="accounts.view_members", icon="users")
        register_nav("Roles", "roles", order=81, permission="accounts.view_members", icon="shield")
        register_nav("API keys", "api-keys", order=82, permission="accounts.manage_api_keys", icon="key")
        register_nav("Settings", "tenant-settings", order=90, permission="accounts.manage_tenant_settings",
                     icon="settings")
        register_nav("My account", "profile", order=95, icon="user")
