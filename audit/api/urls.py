from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.api.views import AuditEventExportView, AuditEventViewSet

router = SimpleRouter()
# With or without the trailing slash (SimpleRouter's argument only takes a boolean).
router.trailing_slash = "/?"
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = [
    # Before the router, so "export.csv" is not taken for an event id.
    path("audit-events/export.<str:file_format>", AuditEventExportView.as_view(), name="audit-event-export"),
    *router.urls,
]
