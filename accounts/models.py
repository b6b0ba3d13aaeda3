"""Users live in each organization's schema; platform staff live in the public schema.

Besides the user, this app keeps what authentication needs next to it, in the same
schema: the role details of each auth Group, password history, invitations, API
keys and MFA recovery codes. Every write goes through `accounts.services`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, PermissionsMixin
from django.db import models
from django.utils import timezone

from accounts.managers import UserManager


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    # Only meaningful in the public schema: platform staff who may use the admin.
    is_staff = models.BooleanField(default=False)
    # Bumped on password change, deactivation and suspension: tokens carry it as `ver`
    # and any token with an older value is refused.
    auth_version = models.PositiveIntegerField(default=1)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = ["full_name"]

    class Meta:
        ordering = ["email"]
        permissions = [
            ("view_members", "See the organization's members and roles"),
            ("manage_members", "Invite members, change their role, deactivate and reactivate them"),
            ("manage_roles", "Create, change and delete custom roles"),
            ("manage_api_keys", "Create, list and revoke API keys"),
            ("manage_tenant_settings", "Change the organization's name and settings"),
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]

    @property
    def role_name(self) -> str | None:
        """The member's role (one auth Group per member); uses prefetched groups when present."""
        groups = list(self.groups.all())
        return groups[0].name if groups else None


class Role(models.Model):
    """What Django's Group lacks: a description and whether the role is one of the system roles."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, primary_key=True, related_name="role")
    description = models.CharField(max_length=255, blank=True)
    is_system = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return self.group.name

    @property
    def name(self) -> str:
        return self.group.name


class PasswordHistory(models.Model):
    """Hashes of a user's recent passwords (the current one included), so they are not reused."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"password of user {self.user_id} set {self.created_at:%Y-%m-%d %H:%M}"


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=150, blank=True)
    role = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="invitations")
    # SHA-256 of the one-time token in the link; the token itself is only ever in the email.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="invitations_sent")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class ApiKey(models.Model):
    """An integrator's key: `gh_<prefix>_<secret>`, shown once, stored as a SHA-256 hash.

    The key acts as the user who created it, narrowed to its scopes: a request must
    be allowed both by that user's permissions and by `allows_permission`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (gh_{self.prefix}_…)"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def is_usable(self) -> bool:
        return self.status == "active"

    def granted_permissions(self) -> frozenset[str]:
        from accounts.scopes import permissions_for_scopes

        return permissions_for_scopes(self.scopes)

    def allows_permission(self, perm: str) -> bool:
        """Whether this key's scopes cover `perm` ("app_label.codename")."""
        return perm in self.granted_permissions()

    def allows_permissions(self, perms: Iterable[str]) -> bool:
        granted = self.granted_permissions()
        return all(p in granted for p in perms)

    def allows_read(self) -> bool:
        """Read-only actions that need no named permission still need the `read` scope."""
        from accounts.scopes import READ

        return READ in (self.scopes or [])


class RecoveryCode(models.Model):
    """One-time MFA recovery codes, stored as SHA-256 hashes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique_per_user")]

    def __str__(self) -> str:
        # Never the code itself: only its state.
        return f"recovery code of user {self.user_id} ({'used' if self.used_at else 'unused'})"
