from rest_framework.routers import SimpleRouter

from scanning.reports.api.views import ReportScheduleViewSet, ReportTemplateViewSet, ReportViewSet

app_name = "reports-api"

router = SimpleRouter()
router.trailing_slash = "/?"  # both /api/v1/reports and /api/v1/reports/
router.register("reports", ReportViewSet, basename="report")
router.register("report-templates", ReportTemplateViewSet, basename="report-template")
router.register("report-schedules", ReportScheduleViewSet, basename="report-schedule")

urlpatterns = router.urls
