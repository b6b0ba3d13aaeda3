from django.urls import re_path
from rest_framework.routers import SimpleRouter

from policies.api import views

app_name = "policies-api"

router = SimpleRouter()
# With or without the trailing slash (SimpleRouter's argument only takes a boolean).
router.trailing_slash = "/?"
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("waivers", views.WaiverViewSet, basename="waiver")

urlpatterns = [
    re_path(r"^gate/?$", views.GateView.as_view(), name="gate"),
    # `scans/<id>/...` routes of the scanning app's router come first and never match these.
    re_path(r"^scans/(?P<scan_id>[^/]+)/evaluate/?$", views.ScanEvaluateView.as_view(), name="scan-evaluate"),
    re_path(r"^scans/(?P<scan_id>[^/]+)/verdict/?$", views.ScanVerdictView.as_view(), name="scan-verdict"),
    *router.urls,
]
