"""Dashboard pages: sign in (with the MFA step), sign out, invitations, password reset, profile
and MFA, members, roles, API keys and the organization's settings. Views parse forms and call
services; errors are shown next to the fields they concern."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts import forms, redis_store, selectors, services, tokens
from accounts.middleware import SESSION_MFA_OK, SESSION_TENANT
from accounts.roles import OWNER, PERMISSIONS
from accounts.scopes import SCOPES
from audit.context import Actor, client_ip
from config.errors import ApplicationError, NotFound, RateLimited, ValidationFailed

PENDING_MFA = "gatehouse_pending_mfa"
PENDING_MFA_SECONDS = 300
BACKEND = "accounts.backends.EmailBackend"


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _next_url(request: HttpRequest, fallback: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return fallback


def _or_404(load: Callable[[], Any]) -> Any:
    try:
        return load()
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _form_error(form: forms.forms.Form, exc: ApplicationError, field_map: dict[str, str] | None = None) -> None:
    if isinstance(exc, ValidationFailed) and exc.details:
        forms.apply_service_errors(form, exc.details, field_map=field_map)
    else:
        form.add_error(None, exc.message)


def _complete_login(request: HttpRequest, user: Any, *, mfa_method: str | None) -> HttpResponse:
    next_url = request.session.pop(PENDING_MFA, {}).get("next") if PENDING_MFA in request.session else None
    login(request, user, backend=BACKEND)
    request.session[SESSION_TENANT] = str(request.tenant.pk)
    request.session[SESSION_MFA_OK] = mfa_method is not None
    services.auth_login_succeeded(request=request, user=user, method="session", mfa_method=mfa_method, session=True)
    return redirect(next_url or _next_url(request))


# --- Sign in / out ----------------------------------------------------------------------------

@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = forms.LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.auth_check_credentials(request=request, email=form.cleaned_data["email"],
                                                   password=form.cleaned_data["password"])
        except RateLimited as exc:
            form.add_error(None, f"{exc.message} (about {exc.headers.get('Retry-After', '60')} seconds)")
            status = 429
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            status = exc.status_code
        else:
            if selectors.user_totp_device(user=user) is not None:
                request.session.cycle_key()
                request.session[PENDING_MFA] = {"user": str(user.pk), "at": time.time(), "next": _next_url(request)}
                return redirect("login-mfa")
            return _complete_login(request, user, mfa_method=None)
    return render(request, "accounts/login.html", {"form": form, "next": _next_url(request, "")}, status=status)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_mfa_view(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_MFA) or {}
    user = None
    if pending and time.time() - pending.get("at", 0) < PENDING_MFA_SECONDS:
        user = get_user_model().objects.filter(pk=pending.get("user"), is_active=True).first()
    if user is None:
        request.session.pop(PENDING_MFA, None)
        messages.info(request, "Sign in again: the two-factor step expired.")
        return redirect("login")
    form = forms.OtpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            method = services.auth_check_second_factor(request=request, user=user, code=form.cleaned_data["code"])
        except RateLimited as exc:
            request.session.pop(PENDING_MFA, None)
            form.add_error(None, exc.message)
            status = 429
        except ApplicationError as exc:
            form.add_error("code", exc.message)
            status = exc.status_code
        else:
            return _complete_login(request, user, mfa_method=method or "totp")
    return render(request, "accounts/login_mfa.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.session_logout_recorded(request=request, user=request.user)
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("login")


# --- Invitations and password reset -------------------------------------------------------------

@sensitive_post_parameters("new_password", "new_password_again")
@csrf_protect
@never_cache
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    form = forms.AcceptInvitationForm(request.POST or None, initial={"full_name": invitation.full_name})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(actor=Actor.from_request(request), tenant=request.tenant, token=token,
                                              password=form.cleaned_data["new_password"],
                                              full_name=form.cleaned_data["full_name"])
        except ApplicationError as exc:
            _form_error(form, exc, {"password": "new_password"})
        else:
            if request.user.is_authenticated:
                logout(request)
            messages.success(request, f"Welcome to {request.tenant.name}.")
            return _complete_login(request, user, mfa_method=None)
    return render(request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation})


@csrf_protect
def password_forgot_view(request: HttpRequest) -> HttpResponse:
    form = forms.EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            redis_store.throttle_login(ip=client_ip(request), email=email.lower(), scope="reset")
        except RateLimited as exc:
            form.add_error(None, exc.message)
            return render(request, "accounts/password_forgot.html", {"form": form}, status=429)
        services.password_reset_request(actor=Actor.from_request(request), tenant=request.tenant, email=email,
                                        base_url=_base_url(request))
        return render(request, "accounts/password_forgot_sent.html", {"email": email})
    return render(request, "accounts/password_forgot.html", {"form": form})


@sensitive_post_parameters("new_password", "new_password_again")
@csrf_protect
@never_cache
def password_reset_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    if services.password_reset_user(uid=uidb64, token=token) is None:
        return render(request, "accounts/password_reset_invalid.html", status=400)
    form = forms.NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_confirm(actor=Actor.from_request(request), uid=uidb64, token=token,
                                            new_password=form.cleaned_data["new_password"])
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Your password was changed; sign in with it.")
            return redirect("login")
    return render(request, "accounts/password_reset.html", {"form": form})


# --- Profile and MFA ---------------------------------------------------------------------------------

@sensitive_post_parameters("current_password", "new_password", "new_password_again")
@login_required
@csrf_protect
def profile_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    actor = Actor.from_request(request)
    profile_form = forms.ProfileForm(initial={"full_name": user.full_name})
    password_form = forms.PasswordChangeForm()
    if request.method == "POST" and request.POST.get("action") == "profile":
        profile_form = forms.ProfileForm(request.POST)
        if profile_form.is_valid():
            services.profile_update(actor=actor, user=user, full_name=profile_form.cleaned_data["full_name"])
            messages.success(request, "Your profile was saved.")
            return redirect("profile")
    elif request.method == "POST" and request.POST.get("action") == "password":
        password_form = forms.PasswordChangeForm(request.POST)
        if password_form.is_valid():
            try:
                services.password_change(actor=actor, user=user,
                                         current_password=password_form.cleaned_data["current_password"],
                                         new_password=password_form.cleaned_data["new_password"])
            except ApplicationError as exc:
                _form_error(password_form, exc)
            else:
                update_session_auth_hash(request, user)
                messages.success(request, "Your password was changed; your API tokens were revoked.")
                return redirect("profile")
    context = {
        "profile_form": profile_form, "password_form": password_form,
        "mfa_enabled": selectors.user_has_mfa(user=user), "recovery_left": selectors.recovery_codes_left(user=user),
        "mfa_disable_form": forms.MfaDisableForm(), "recovery_form": forms.OtpForm(),
        "role": user.role_name,
    }
    return render(request, "accounts/profile.html", context, status=400 if request.method == "POST" else 200)


@sensitive_post_parameters("code")
@login_required
@csrf_protect
@never_cache
def mfa_setup_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if selectors.user_has_mfa(user=user):
        messages.info(request, "Two-factor authentication is already on.")
        return redirect("profile")
    actor = Actor.from_request(request)
    form = forms.OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_confirm(actor=actor, user=user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            request.session[SESSION_MFA_OK] = True
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _next_url(request)})
    setup = services.mfa_pending_setup(user=user, tenant_name=request.tenant.name)
    if setup is None:
        setup = services.mfa_setup_begin(actor=actor, user=user, tenant_name=request.tenant.name)
    required = bool(request.tenant.setting("require_mfa"))
    return render(request, "accounts/mfa_setup.html", {"form": form, "setup": setup, "required": required,
                                                       "next": _next_url(request, "")},
                  status=400 if request.method == "POST" else 200)


@sensitive_post_parameters("password", "code")
@login_required
@require_POST
def mfa_disable_view(request: HttpRequest) -> HttpResponse:
    form = forms.MfaDisableForm(request.POST)
    if form.is_valid():
        try:
            services.mfa_disable(actor=Actor.from_request(request), user=request.user,
                                 password=form.cleaned_data["password"], code=form.cleaned_data["code"],
                                 tenant=request.tenant)
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            request.session[SESSION_MFA_OK] = False
            messages.success(request, "Two-factor authentication is off.")
            return redirect("profile")
    return render(request, "accounts/profile.html", {
        "profile_form": forms.ProfileForm(initial={"full_name": request.user.full_name}),
        "password_form": forms.PasswordChangeForm(), "mfa_enabled": True,
        "recovery_left": selectors.recovery_codes_left(user=request.user), "mfa_disable_form": form,
        "recovery_form": forms.OtpForm(), "role": request.user.role_name,
    }, status=400)


@sensitive_post_parameters("code")
@login_required
@require_POST
def mfa_recovery_view(request: HttpRequest) -> HttpResponse:
    form = forms.OtpForm(request.POST)
    if form.is_valid():
        try:
            codes = services.mfa_recovery_codes_regenerate(actor=Actor.from_request(request), user=request.user,
                                                           code=form.cleaned_data["code"])
        except ApplicationError as exc:
            messages.error(request, exc.message if not isinstance(exc, ValidationFailed) else
                           "That code is not valid; enter the current code from your app.")
        else:
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": "/account/"})
    return redirect("profile")


# --- Members ------------------------------------------------------------------------------------------

def _assignable_roles(request: HttpRequest) -> list[str]:
    names = [g.name for g in selectors.role_list()]
    if not services._is_owner(request.user):
        names = [n for n in names if n != OWNER]
    return names


@login_required
@permission_required("accounts.view_members", raise_exception=True)
@csrf_protect
def members_view(request: HttpRequest) -> HttpResponse:
    can_manage = request.user.has_perm("accounts.manage_members")
    roles = _assignable_roles(request)
    invite_form = forms.InviteForm(roles=roles)
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise_permission()
        invite_form = forms.InviteForm(request.POST, roles=roles)
        if invite_form.is_valid():
            try:
                services.member_invite(actor=Actor.from_request(request), tenant=request.tenant,
                                       email=invite_form.cleaned_data["email"], role=invite_form.cleaned_data["role"],
                                       full_name=invite_form.cleaned_data["full_name"], base_url=_base_url(request))
            except ApplicationError as exc:
                _form_error(invite_form, exc)
                status = exc.status_code
            else:
                messages.success(request, f"Invitation sent to {invite_form.cleaned_data['email']}.")
                return redirect("members")
        else:
            status = 400
    context = {
        "members": selectors.member_list(), "invitations": selectors.invitation_list() if can_manage else [],
        "invite_form": invite_form, "can_manage": can_manage, "roles": roles,
    }
    return render(request, "accounts/members.html", context, status=status)


def raise_permission() -> None:
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

    raise DjangoPermissionDenied


def _member_action(request: HttpRequest, pk: str, act: Callable[[Any], Any], done: str) -> HttpResponse:
    member = _or_404(lambda: selectors.member_get(member_id=pk))
    try:
        act(member)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(email=member.email))
    return redirect("members")


@login_required
@permission_required("accounts.manage_members", raise_exception=True)
@require_POST
def member_role_view(request: HttpRequest, pk: str) -> HttpResponse:
    form = forms.RoleChangeForm(request.POST, roles=[g.name for g in selectors.role_list()])
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("members")
    actor = Actor.from_request(request)
    return _member_action(request, pk, lambda m: services.member_change_role(
        actor=actor, tenant=request.tenant, member=m, role=form.cleaned_data["role"]),
        "{email} is now " + form.cleaned_data["role"] + ".")


@login_required
@permission_required("accounts.manage_members", raise_exception=True)
@require_POST
def member_deactivate_view(request: HttpRequest, pk: str) -> HttpResponse:
    actor = Actor.from_request(request)
    return _member_action(request, pk, lambda m: services.member_deactivate(actor=actor, tenant=request.tenant,
                                                                           member=m),
                          "{email} was deactivated and signed out everywhere.")


@login_required
@permission_required("accounts.manage_members", raise_exception=True)
@require_POST
def member_reactivate_view(request: HttpRequest, pk: str) -> HttpResponse:
    actor = Actor.from_request(request)
    return _member_action(request, pk, lambda m: services.member_reactivate(actor=actor, tenant=request.tenant,
                                                                           member=m),
                          "{email} was reactivated.")


@login_required
@permission_required("accounts.manage_members", raise_exception=True)
@require_POST
def invitation_revoke_view(request: HttpRequest, pk: str) -> HttpResponse:
    invitation = _or_404(lambda: selectors.invitation_get(invitation_id=pk))
    try:
        services.invitation_revoke(actor=Actor.from_request(request), invitation=invitation)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation of {invitation.email} was revoked.")
    return redirect("members")


# --- Roles ---------------------------------------------------------------------------------------------

@login_required
@permission_required("accounts.view_members", raise_exception=True)
@csrf_protect
def roles_view(request: HttpRequest) -> HttpResponse:
    can_manage = request.user.has_perm("accounts.manage_roles")
    form = forms.RoleForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise_permission()
        if form.is_valid():
            try:
                services.role_create(actor=Actor.from_request(request), **form.cleaned_data)
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status_code
            else:
                messages.success(request, f"Role {form.cleaned_data['name']} created.")
                return redirect("roles")
        else:
            status = 400
    roles = [{"group": g, "permissions": set(selectors.role_permission_names(g)), "is_system": selectors.role_is_system(g),
              "description": selectors.role_description(g)} for g in selectors.role_list()]
    matrix = [{"perm": p, "label": label, "cells": [p in r["permissions"] for r in roles]}
              for p, label in PERMISSIONS.items()]
    return render(request, "accounts/roles.html", {"roles": roles, "matrix": matrix, "form": form,
                                                   "can_manage": can_manage}, status=status)


@login_required
@permission_required("accounts.manage_roles", raise_exception=True)
@csrf_protect
def role_edit_view(request: HttpRequest, name: str) -> HttpResponse:
    group = _or_404(lambda: selectors.role_get(name=name))
    if selectors.role_is_system(group):
        messages.error(request, "System roles cannot be changed; create a custom role instead.")
        return redirect("roles")
    form = forms.RoleForm(request.POST or None, initial={
        "name": group.name, "description": selectors.role_description(group),
        "permissions": selectors.role_permission_names(group)})
    form.fields["name"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(actor=Actor.from_request(request), group=group,
                                 description=form.cleaned_data["description"],
                                 permissions=form.cleaned_data["permissions"])
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Role {group.name} saved.")
            return redirect("roles")
    return render(request, "accounts/role_edit.html", {"form": form, "group": group})


@login_required
@permission_required("accounts.manage_roles", raise_exception=True)
@require_POST
def role_delete_view(request: HttpRequest, name: str) -> HttpResponse:
    group = _or_404(lambda: selectors.role_get(name=name))
    try:
        services.role_delete(actor=Actor.from_request(request), group=group)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Role {name} deleted.")
    return redirect("roles")


# --- API keys -----------------------------------------------------------------------------------------

@login_required
@permission_required("accounts.manage_api_keys", raise_exception=True)
@csrf_protect
@never_cache
def api_keys_view(request: HttpRequest) -> HttpResponse:
    form = forms.ApiKeyForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            days = form.cleaned_data.get("expires_in_days")
            try:
                key, secret = services.api_key_create(
                    actor=Actor.from_request(request), name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None)
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status_code
            else:
                created = {"key": key, "secret": secret}
                form = forms.ApiKeyForm()
        else:
            status = 400
    return render(request, "accounts/api_keys.html", {
        "keys": selectors.api_key_list(), "form": form, "created": created,
        "scopes": {name: label for name, (label, _perms) in SCOPES.items()},
    }, status=status)


@login_required
@permission_required("accounts.manage_api_keys", raise_exception=True)
@require_POST
def api_key_revoke_view(request: HttpRequest, pk: str) -> HttpResponse:
    key = _or_404(lambda: selectors.api_key_get(key_id=pk))
    services.api_key_revoke(actor=Actor.from_request(request), key=key)
    messages.success(request, f"The key {key.name} was revoked; it is refused from now on.")
    return redirect("api-keys")


# --- The organization -----------------------------------------------------------------------------------

@login_required
@permission_required("accounts.manage_tenant_settings", raise_exception=True)
@csrf_protect
def tenant_settings_view(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    current = {key: tenant.setting(key) for key in ("require_mfa", "audit_retention_days", "scan_retention_days",
                                                     "waiver_max_days")}
    initial = {"name": tenant.name, **current,
               "cors_allowed_origins": "\n".join(tenant.setting("cors_allowed_origins") or [])}
    form = forms.TenantSettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.tenant_settings_update(actor=Actor.from_request(request), tenant=tenant,
                                                name=form.cleaned_data["name"], settings_changes=form.settings_changes())
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status_code
            else:
                messages.success(request, "Settings saved.")
                return redirect("tenant-settings")
        else:
            status = 400
    return render(request, "accounts/tenant_settings.html", {"form": form}, status=status)


# --- Public keys -----------------------------------------------------------------------------------------

@require_GET
def jwks_view(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(tokens.jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response

