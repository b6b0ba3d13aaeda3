from django.urls import path

from scanning.reports import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.report_list, name="report_list"),
    path("reports/<uuid:report_id>/", views.report_detail, name="report_detail"),
    path("reports/<uuid:report_id>/download/", views.report_download, name="report_download"),
    path("reports/<uuid:report_id>/delete/", views.report_delete, name="report_delete"),
    path("reports/scan/<uuid:scan_id>/", views.scan_report, name="scan_report"),
    path("reports/templates/", views.template_list, name="template_list"),
    path("reports/templates/new/", views.template_new, name="template_new"),
    path("reports/templates/preview/", views.template_preview, name="template_preview"),
    path("reports/templates/<uuid:template_id>/", views.template_edit, name="template_edit"),
    path("reports/templates/<uuid:template_id>/delete/", views.template_delete, name="template_delete"),
    path("reports/schedules/", views.schedule_list, name="schedule_list"),
    path("reports/schedules/<uuid:schedule_id>/", views.schedule_edit, name="schedule_edit"),
    path("reports/schedules/<uuid:schedule_id>/delete/", views.schedule_delete, name="schedule_delete"),
    path("reports/schedules/<uuid:schedule_id>/run/", views.schedule_run, name="schedule_run"),
]
