from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.schedules import periodic
        from messaging import counters, tenant_hooks  # noqa: F401 - registers provisioning and life-cycle hooks
        from messaging.views import live_events_panel
        from tenants.dashboard import register_home_panel
        from tenants.navigation import register_nav

        register_nav("MQTT credentials", "mqtt-credentials", order=85,
                     permission="messaging.manage_mqtt_credentials", icon="radio")
        register_home_panel("live_events", live_events_panel, order=20)
        periodic("outbox sweep", "messaging.outbox_sweep", every_seconds=60)
        periodic("mqtt reconcile", "messaging.mqtt_reconcile", every_seconds=300)
        counters.register_collector()
