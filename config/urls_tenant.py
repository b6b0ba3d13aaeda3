"""An organization's host: its dashboard and its API."""

from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.urls_common import common_patterns, handler400, handler403, handler404, handler500  # noqa: F401

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("scanning.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("scanning.reports.api.urls")),
    path("", include("messaging.api.urls")),
]

urlpatterns = [
    *common_patterns,
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_tenant"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("docs", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("", include("accounts.urls")),
    path("", include("audit.urls")),
    path("", include("scanning.urls")),
    path("", include("policies.urls")),
    path("", include("scanning.reports.urls")),
    path("", include("messaging.urls")),
    path("", include("tenants.urls")),
]
