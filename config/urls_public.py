"""The platform host: staff admin, system endpoints and the staff tenant API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.urls_common import common_patterns, handler400, handler403, handler404, handler500  # noqa: F401

admin.site.site_header = "Gatehouse staff"
admin.site.site_title = "Gatehouse staff"
admin.site.index_title = "Platform administration"

urlpatterns = [
    *common_patterns,
    path("admin/", admin.site.urls),
    path("api/v1/", include("tenants.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_public"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("docs", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
