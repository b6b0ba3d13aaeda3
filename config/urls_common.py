"""URL patterns served on every host (platform and organizations alike)."""

from django.urls import path

from config import views

common_patterns = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("metrics", views.metrics_view, name="metrics"),
    path("api/v1/system/info", views.SystemInfoView.as_view(), name="system-info"),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
