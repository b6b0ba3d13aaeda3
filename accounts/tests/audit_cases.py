"""Audit coverage of the accounts API (see docs/contributing.md, "Audit coverage of mutating routes")."""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django_tenants.utils import schema_context

from audit.testing import AuditCase, CaseContext, Expected, NotAudited

CASE_PASSWORD = "Correct-Horse-42-battery"  # audit.tests.helpers' members
NEW_PASSWORD = "Audit-Case-New-Pass-7"


def _member(ctx: CaseContext, role: str = "developer") -> Any:
    from accounts.tests.factories import make_member

    member = make_member(ctx.tenant, role)
    ctx.data["member"] = member
    return member


def _login_pair(ctx: CaseContext) -> None:
    from accounts.tests.factories import PASSWORD, token_pair

    member = _member(ctx)
    ctx.data["password"] = PASSWORD
    ctx.data["pair"] = token_pair(ctx.tenant, member)


def _mfa_started(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    with schema_context(ctx.tenant.schema_name):
        ctx.data["setup"] = services.mfa_setup_begin(actor=Actor.for_user(ctx.user), user=ctx.user,
                                                     tenant_name=ctx.tenant.name)


def _mfa_enabled(ctx: CaseContext) -> None:
    from accounts import mfa, services
    from audit.context import Actor

    _mfa_started(ctx)
    with schema_context(ctx.tenant.schema_name):
        ctx.data["codes"] = services.mfa_confirm(actor=Actor.for_user(ctx.user), user=ctx.user,
                                                 code=mfa.code_for_base32(ctx.data["setup"].secret))


def _invitation(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    with schema_context(ctx.tenant.schema_name):
        invitation, token = services.member_invite(actor=Actor.system("audit-case"), tenant=ctx.tenant,
                                                   email="case-invitee@example.test", role="viewer")
    ctx.data["invitation"], ctx.data["token"] = invitation, token


def _reset_link(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    member = _member(ctx)
    with schema_context(ctx.tenant.schema_name):
        services.password_reset_request(actor=Actor.system("audit-case"), tenant=ctx.tenant, email=member.email)
    ctx.data["uid"], ctx.data["reset_token"] = re.search(r"/password/reset/([^/]+)/([^/]+)/",
                                                          mail.outbox[-1].body).groups()


def _custom_role(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    with schema_context(ctx.tenant.schema_name):
        services.role_create(actor=Actor.system("audit-case"), name="case_role", permissions=["audit.view_audit"])


def _api_key(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    with schema_context(ctx.tenant.schema_name):
        ctx.data["key"], _secret = services.api_key_create(actor=Actor.for_user(ctx.user), name="case key",
                                                           scopes=["read"])


def _current_code(ctx: CaseContext) -> str:
    from accounts import mfa

    return mfa.code_for_base32(ctx.data["setup"].secret)


def _deactivated_member(ctx: CaseContext) -> None:
    from accounts import services
    from audit.context import Actor

    member = _member(ctx)
    with schema_context(ctx.tenant.schema_name):
        services.member_deactivate(actor=Actor.system("audit-case"), tenant=ctx.tenant, member=member)


CASES = [
    AuditCase(
        route="auth-login", method="POST", setup=lambda ctx: _member(ctx),
        call=lambda ctx: ctx.json("post", "/api/v1/auth/login",
                                  {"email": ctx.data["member"].email, "password": "Correct-Horse-42!"}),
        expect=lambda ctx, r: Expected(action="auth.login", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       actor=("user", str(ctx.data["member"].pk))),
    ),
    AuditCase(
        route="auth-refresh", method="POST", setup=_login_pair,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/refresh", {"refresh": ctx.data["pair"].refresh}),
        expect=lambda ctx, r: Expected(action="auth.refresh", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       actor=("user", str(ctx.data["member"].pk))),
    ),
    NotAudited(route="auth-verify", method="POST", reason="Checks whether an access token is valid; writes nothing."),
    AuditCase(
        route="auth-logout", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/auth/logout", {}),
        expect=lambda ctx, r: Expected(action="auth.logout", resource_type="user", resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-me", method="PATCH",
        call=lambda ctx: ctx.json("patch", "/api/v1/auth/me", {"full_name": "Renamed Member"}),
        expect=lambda ctx, r: Expected(action="user.update", resource_type="user", resource_id=str(ctx.user.pk),
                                       changes={"full_name": {"before": "Test Member", "after": "Renamed Member"}}),
    ),
    AuditCase(
        route="auth-password-change", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/auth/password/change",
                                  {"current_password": CASE_PASSWORD, "new_password": NEW_PASSWORD}),
        expect=lambda ctx, r: Expected(action="password.change", resource_type="user", resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-password-reset", method="POST", setup=lambda ctx: _member(ctx),
        call=lambda ctx: ctx.json("post", "/api/v1/auth/password/reset", {"email": ctx.data["member"].email}),
        expect=lambda ctx, r: Expected(action="password.reset_requested", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk), actor=("anonymous", "")),
    ),
    AuditCase(
        route="auth-password-reset-confirm", method="POST", setup=_reset_link,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/password/reset/confirm", {
            "uid": ctx.data["uid"], "token": ctx.data["reset_token"], "new_password": NEW_PASSWORD}),
        expect=lambda ctx, r: Expected(action="password.reset", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       actor=("user", str(ctx.data["member"].pk))),
    ),
    AuditCase(
        route="auth-mfa-setup", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/auth/mfa/setup"),
        expect=lambda ctx, r: Expected(action="mfa.setup_started", resource_type="user", resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-mfa-confirm", method="POST", setup=_mfa_started,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/mfa/confirm", {"code": _current_code(ctx)}),
        expect=lambda ctx, r: Expected(action="mfa.enable", resource_type="user", resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-mfa-disable", method="POST", setup=_mfa_enabled,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/mfa/disable",
                                  {"password": CASE_PASSWORD, "code": ctx.data["codes"][0]}),
        expect=lambda ctx, r: Expected(action="mfa.disable", resource_type="user", resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-mfa-recovery-codes", method="POST", setup=_mfa_enabled,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/mfa/recovery-codes", {"code": ctx.data["codes"][0]}),
        expect=lambda ctx, r: Expected(action="mfa.recovery_codes_regenerate", resource_type="user",
                                       resource_id=str(ctx.user.pk)),
    ),
    AuditCase(
        route="auth-invitation-accept", method="POST", setup=_invitation,
        call=lambda ctx: ctx.json("post", "/api/v1/auth/invitations/accept",
                                  {"token": ctx.data["token"], "password": NEW_PASSWORD}),
        expect=lambda ctx, r: Expected(action="invitation.accept", resource_type="invitation",
                                       resource_id=str(ctx.data["invitation"].pk),
                                       actor=("user", r.json()["id"]), changes={"role": {"after": "viewer"}}),
    ),
    AuditCase(
        route="tenant-me", method="PATCH",
        call=lambda ctx: ctx.json("patch", "/api/v1/tenants/me", {"settings": {"audit_retention_days": 90}}),
        expect=lambda ctx, r: Expected(action="tenant.settings_update", resource_type="tenant",
                                       resource_id=str(ctx.tenant.pk),
                                       changes={"settings.audit_retention_days": {"before": 365, "after": 90}}),
    ),
    AuditCase(
        route="member-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/tenants/me/members",
                                  {"email": "case-new@example.test", "role": "developer"}),
        expect=lambda ctx, r: Expected(action="member.invite", resource_type="invitation", resource_id=r.json()["id"],
                                       changes={"email": {"after": "case-new@example.test"},
                                                "role": {"after": "developer"}}),
    ),
    AuditCase(
        route="member-detail", method="PATCH", setup=lambda ctx: _member(ctx),
        call=lambda ctx: ctx.json("patch", f"/api/v1/tenants/me/members/{ctx.data['member'].pk}", {"role": "viewer"}),
        expect=lambda ctx, r: Expected(action="member.role_change", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       changes={"role": {"before": "developer", "after": "viewer"}}),
    ),
    AuditCase(
        route="member-deactivate", method="POST", setup=lambda ctx: _member(ctx),
        call=lambda ctx: ctx.json("post", f"/api/v1/tenants/me/members/{ctx.data['member'].pk}/deactivate"),
        expect=lambda ctx, r: Expected(action="member.deactivate", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       changes={"is_active": {"before": True, "after": False}}),
    ),
    AuditCase(
        route="member-reactivate", method="POST",
        setup=lambda ctx: _deactivated_member(ctx),
        call=lambda ctx: ctx.json("post", f"/api/v1/tenants/me/members/{ctx.data['member'].pk}/reactivate"),
        expect=lambda ctx, r: Expected(action="member.reactivate", resource_type="user",
                                       resource_id=str(ctx.data["member"].pk),
                                       changes={"is_active": {"before": False, "after": True}}),
    ),
    AuditCase(
        route="invitation-detail", method="DELETE", setup=_invitation,
        call=lambda ctx: ctx.json("delete", f"/api/v1/tenants/me/invitations/{ctx.data['invitation'].pk}"),
        expect=lambda ctx, r: Expected(action="invitation.revoke", resource_type="invitation",
                                       resource_id=str(ctx.data["invitation"].pk)),
    ),
    AuditCase(
        route="role-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/tenants/me/roles",
                                  {"name": "case_auditor", "permissions": ["audit.view_audit"]}),
        expect=Expected(action="role.create", resource_type="role", resource_id="case_auditor",
                        changes={"permissions": {"after": ["audit.view_audit"]}}),
    ),
    AuditCase(
        route="role-detail", method="PATCH", setup=_custom_role,
        call=lambda ctx: ctx.json("patch", "/api/v1/tenants/me/roles/case_role",
                                  {"permissions": ["accounts.view_members"]}),
        expect=Expected(action="role.update", resource_type="role", resource_id="case_role",
                        changes={"permissions": {"before": ["audit.view_audit"], "after": ["accounts.view_members"]}}),
    ),
    AuditCase(
        route="role-detail", method="DELETE", setup=_custom_role,
        call=lambda ctx: ctx.json("delete", "/api/v1/tenants/me/roles/case_role"),
        expect=Expected(action="role.delete", resource_type="role", resource_id="case_role"),
    ),
    AuditCase(
        route="api-key-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/api-keys", {"name": "CI", "scopes": ["read"]}),
        expect=lambda ctx, r: Expected(action="api_key.create", resource_type="api_key", resource_id=r.json()["id"],
                                       changes={"name": {"after": "CI"}, "scopes": {"after": ["read"]}}),
    ),
    AuditCase(
        route="api-key-detail", method="DELETE", setup=_api_key,
        call=lambda ctx: ctx.json("delete", f"/api/v1/api-keys/{ctx.data['key'].pk}"),
        expect=lambda ctx, r: Expected(action="api_key.revoke", resource_type="api_key",
                                       resource_id=str(ctx.data["key"].pk)),
    ),
]

