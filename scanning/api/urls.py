from rest_framework.routers import SimpleRouter

from scanning.api.views import CheckViewSet, ConnectionViewSet, ScanViewSet

app_name = "scanning-api"

router = SimpleRouter()
router.trailing_slash = "/?"  # both /api/v1/scans and /api/v1/scans/
router.register("scans", ScanViewSet, basename="scan")
router.register("checks", CheckViewSet, basename="check")
router.register("connections", ConnectionViewSet, basename="connection")

urlpatterns = router.urls
