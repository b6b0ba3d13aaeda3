from django.urls import path

from scanning import views

app_name = "scanning"

urlpatterns = [
    path("scans/", views.scan_list, name="scan_list"),
    path("scans/new/", views.scan_new, name="scan_new"),
    path("scans/<uuid:scan_id>/", views.scan_detail, name="scan_detail"),
    path("scans/<uuid:scan_id>/cancel/", views.scan_cancel, name="scan_cancel"),
    path("scans/<uuid:scan_id>/rescan/", views.scan_rescan, name="scan_rescan"),
    path("scans/<uuid:scan_id>/delete/", views.scan_delete, name="scan_delete"),
    path("scans/<uuid:scan_id>/artifact/", views.scan_artifact, name="scan_artifact"),
    path("checks/", views.check_list, name="check_list"),
    path("connections/", views.connection_list, name="connection_list"),
    path("connections/<uuid:connection_id>/", views.connection_edit, name="connection_edit"),
    path("connections/<uuid:connection_id>/test/", views.connection_test, name="connection_test"),
    path("connections/<uuid:connection_id>/delete/", views.connection_delete, name="connection_delete"),
]
