from django.urls import path

from accounts import views

urlpatterns = [
    path(".well-known/jwks.json", views.jwks_view, name="jwks"),
    path("login/", views.login_view, name="login"),
    path("login/mfa/", views.login_mfa_view, name="login-mfa"),
    path("logout/", views.logout_view, name="logout"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation-accept"),
    path("password/forgot/", views.password_forgot_view, name="password-forgot"),
    path("password/reset/<str:uidb64>/<str:token>/", views.password_reset_view, name="password-reset"),
    path("account/", views.profile_view, name="profile"),
    path("account/mfa/setup/", views.mfa_setup_view, name="mfa-setup"),
    path("account/mfa/disable/", views.mfa_disable_view, name="mfa-disable"),
    path("account/mfa/recovery-codes/", views.mfa_recovery_view, name="mfa-recovery"),
    path("members/", views.members_view, name="members"),
    path("members/<uuid:pk>/role/", views.member_role_view, name="member-role"),
    path("members/<uuid:pk>/deactivate/", views.member_deactivate_view, name="member-deactivate"),
    path("members/<uuid:pk>/reactivate/", views.member_reactivate_view, name="member-reactivate"),
    path("members/invitations/<uuid:pk>/revoke/", views.invitation_revoke_view, name="invitation-revoke"),
    path("roles/", views.roles_view, name="roles"),
    path("roles/<str:name>/edit/", views.role_edit_view, name="role-edit"),
    path("roles/<str:name>/delete/", views.role_delete_view, name="role-delete"),
    path("api-keys/", views.api_keys_view, name="api-keys"),
    path("api-keys/<uuid:pk>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("settings/", views.tenant_settings_view, name="tenant-settings"),
]
