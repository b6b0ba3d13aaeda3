from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import views


class Router(SimpleRouter):
    """Routes with or without a trailing slash (DRF's `trailing_slash` argument only takes a boolean)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("tenants/me/members", views.MemberViewSet, basename="member")
router.register("tenants/me/invitations", views.InvitationViewSet, basename="invitation")
router.register("tenants/me/roles", views.RoleViewSet, basename="role")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/verify", views.VerifyView.as_view(), name="auth-verify"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("auth/password/change", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset", views.PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("auth/mfa/setup", views.MfaSetupView.as_view(), name="auth-mfa-setup"),
    path("auth/mfa/confirm", views.MfaConfirmView.as_view(), name="auth-mfa-confirm"),
    path("auth/mfa/disable", views.MfaDisableView.as_view(), name="auth-mfa-disable"),
    path("auth/mfa/recovery-codes", views.MfaRecoveryCodesView.as_view(), name="auth-mfa-recovery-codes"),
    path("auth/invitations/accept", views.InvitationAcceptView.as_view(), name="auth-invitation-accept"),
    path("tenants/me", views.TenantMeView.as_view(), name="tenant-me"),
    *router.urls,
]
