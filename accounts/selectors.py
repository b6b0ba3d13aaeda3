"""Every read of accounts data, already scoped to the current organization's schema."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiKey, Invitation, RecoveryCode, Role, User
from accounts.roles import PERMISSIONS, SYSTEM_ROLES
from config.errors import NotFound


def user_permission_names(*, user: User) -> list[str]:
    """The platform permissions the user holds (Django's own model permissions left out)."""
    return sorted(p for p in user.get_all_permissions() if p in PERMISSIONS)


def user_has_mfa(*, user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def user_totp_device(*, user: User, confirmed: bool | None = True) -> TOTPDevice | None:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    return devices.order_by("-id").first()


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _groups_with_roles() -> QuerySet[Group]:
    return Group.objects.select_related("role")


def member_list(*, filters: dict[str, Any] | None = None) -> QuerySet[User]:
    filters = filters or {}
    users = get_user_model().objects.prefetch_related(Prefetch("groups", queryset=_groups_with_roles()))
    if filters.get("role"):
        users = users.filter(groups__name=filters["role"])
    if filters.get("is_active") is not None:
        users = users.filter(is_active=filters["is_active"])
    if filters.get("search"):
        term = filters["search"]
        users = users.filter(Q(email__icontains=term) | Q(full_name__icontains=term))
    return users.order_by("email").distinct()


def member_get(*, member_id: Any) -> User:
    member = member_list().filter(pk=member_id).first()
    if member is None:
        raise NotFound("No member with this id in this organization.")
    return member


def owners(*, active_only: bool = True) -> QuerySet[User]:
    users = get_user_model().objects.filter(groups__name="owner")
    return users.filter(is_active=True) if active_only else users


def role_list() -> QuerySet[Group]:
    return (Group.objects.select_related("role")
            .prefetch_related(Prefetch("permissions", queryset=Permission.objects.select_related("content_type")))
            .annotate(member_count=Count("user", filter=Q(user__is_active=True), distinct=True))
            .order_by("name"))


def role_get(*, name: str) -> Group:
    group = role_list().filter(name=name).first()
    if group is None:
        raise NotFound(f"No role named '{name}' in this organization.")
    return group


def role_permission_names(group: Group) -> list[str]:
    """Uses prefetched permissions."""
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
                  if f"{p.content_type.app_label}.{p.codename}" in PERMISSIONS)


def role_is_system(group: Group) -> bool:
    return group.name in SYSTEM_ROLES


def invitation_by_token(*, token: str) -> Invitation | None:
    """The pending invitation a link's token names, or None (unknown, used, revoked or expired)."""
    from accounts.mfa import sha256_hex

    if not token:
        return None
    invitation = Invitation.objects.select_related("role").filter(token_hash=sha256_hex(token)).first()
    return invitation if invitation is not None and invitation.is_pending else None


def role_description(group: Group) -> str:
    try:
        return group.role.description
    except Role.DoesNotExist:
        return ""


def invitation_list(*, pending_only: bool = True) -> QuerySet[Invitation]:
    invitations = Invitation.objects.select_related("role", "invited_by")
    if pending_only:
        invitations = invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True,
                                         expires_at__gt=timezone.now())
    return invitations.order_by("-created_at")


def invitation_get(*, invitation_id: Any) -> Invitation:
    invitation = invitation_list(pending_only=False).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No invitation with this id in this organization.")
    return invitation


def api_key_list(*, include_revoked: bool = True) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("created_by")
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys.order_by("-created_at")


def api_key_get(*, key_id: Any) -> ApiKey:
    key = api_key_list().filter(pk=key_id).first()
    if key is None:
        raise NotFound("No API key with this id in this organization.")
    return key
