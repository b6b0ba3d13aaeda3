from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("policies/", views.policy_list, name="policy_list"),
    path("policies/new/", views.policy_new, name="policy_new"),
    path("policies/new/json/", views.policy_json, name="policy_new_json"),
    path("policies/simulate/", views.policy_simulate, name="policy_simulate"),
    path("policies/reevaluate/", views.policy_reevaluate, name="policy_reevaluate"),
    path("policies/<uuid:policy_id>/", views.policy_detail, name="policy_detail"),
    path("policies/<uuid:policy_id>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<uuid:policy_id>/json/", views.policy_json, name="policy_json"),
    path("policies/<uuid:policy_id>/delete/", views.policy_delete, name="policy_delete"),
    path("policies/<uuid:policy_id>/revisions/", views.policy_revisions, name="policy_revisions"),
    path("policies/<uuid:policy_id>/diff/", views.policy_diff, name="policy_diff"),
    path("policies/scans/<uuid:scan_id>/", views.scan_verdict, name="scan_verdict"),
    path("policies/scans/<uuid:scan_id>/evaluate/", views.scan_evaluate, name="scan_evaluate"),
    path("waivers/", views.waiver_list, name="waiver_list"),
    path("waivers/new/", views.waiver_new, name="waiver_new"),
    path("waivers/<uuid:waiver_id>/", views.waiver_detail, name="waiver_detail"),
    path("waivers/<uuid:waiver_id>/approve/", views.waiver_approve, name="waiver_approve"),
    path("waivers/<uuid:waiver_id>/reject/", views.waiver_reject, name="waiver_reject"),
    path("waivers/<uuid:waiver_id>/revoke/", views.waiver_revoke, name="waiver_revoke"),
]
