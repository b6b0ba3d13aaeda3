"""Staff API on the platform host (config/urls_public.py mounts it at /api/v1/)."""

from rest_framework.routers import SimpleRouter

from tenants.api.views import TenantViewSet


class Router(SimpleRouter):
    """Routes with or without a trailing slash (DRF's `trailing_slash` argument only takes a boolean)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("tenants", TenantViewSet, basename="staff-tenant")

urlpatterns = router.urls
