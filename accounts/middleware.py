"""Browser sessions: bound to the organization they were opened on, and sent to MFA set-up
first when the organization requires it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.selectors import user_has_mfa
from config.errors import error_response

SESSION_TENANT = "gatehouse_tenant"
SESSION_MFA_OK = "gatehouse_mfa_ok"
# Pages a member without MFA may open when the organization requires it.
MFA_EXEMPT_PREFIXES = ("/account/mfa/", "/logout/", "/static/", "/health", "/ready", "/metrics",
                       "/.well-known/", "/api/v1/auth/")


class AccountsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        if tenant is not None and not tenant.is_public and user is not None and user.is_authenticated:
            bound = request.session.get(SESSION_TENANT)
            if bound is None:
                # Sessions live in the organization's own schema; one opened without our sign-in
                # view (Django's test client, the shell) is bound on first use.
                request.session[SESSION_TENANT] = str(tenant.pk)
            elif bound != str(tenant.pk):
                logout(request)
                return self.get_response(request)
            if tenant.setting("require_mfa") and not request.path.startswith(MFA_EXEMPT_PREFIXES):
                if not request.session.get(SESSION_MFA_OK):
                    if user_has_mfa(user=user):
                        request.session[SESSION_MFA_OK] = True
                    else:
                        return self._to_mfa_setup(request)
        return self.get_response(request)

    @staticmethod
    def _to_mfa_setup(request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return error_response(request, status=403, code="mfa_setup_required",
                                  message="Your organization requires two-factor authentication; set it up first.")
        url = reverse("mfa-setup")
        if request.method == "GET":
            url += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(url)
