"""Input and output shapes of the accounts API. No queries here: selectors prefetch what they read."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from rest_framework import serializers

from accounts import selectors
from accounts.models import ApiKey, Invitation, User
from accounts.roles import PERMISSIONS
from accounts.scopes import SCOPES
from tenants.tenant_settings import DEFAULTS as SETTINGS_DEFAULTS

# --- Input ----------------------------------------------------------------------------------


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(max_length=32, required=False, allow_blank=True,
                                help_text="The 6-digit TOTP code, or a recovery code, when MFA is on.")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096, required=False, allow_blank=True)


class VerifySerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)


class ProfileUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, allow_blank=True)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=4096, trim_whitespace=False)
    new_password = serializers.CharField(max_length=4096, trim_whitespace=False)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=4096, trim_whitespace=False)


class MfaCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class MfaDisableSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    code = serializers.CharField(max_length=32)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.CharField(max_length=40)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.CharField(max_length=40)


class RoleCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    permissions = serializers.ListField(child=serializers.ChoiceField(choices=sorted(PERMISSIONS)), default=list)


class RoleUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    permissions = serializers.ListField(child=serializers.ChoiceField(choices=sorted(PERMISSIONS)), required=False)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=sorted(SCOPES)), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    settings = serializers.DictField(required=False, help_text=f"Keys: {', '.join(SETTINGS_DEFAULTS)}.")


# --- Output ---------------------------------------------------------------------------------


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField()
    access_expires_at = serializers.DateTimeField()
    refresh_expires_at = serializers.DateTimeField()


class MeSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="role_name", read_only=True)
    permissions = serializers.SerializerMethodField()
    mfa_enabled = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "permissions", "mfa_enabled", "is_active", "last_login",
                  "created_at", "updated_at"]

    def get_permissions(self, obj: User) -> list[str]:
        return self.context["permissions"]

    def get_mfa_enabled(self, obj: User) -> bool:
        return bool(self.context["mfa_enabled"])


class MemberSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="role_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "is_active", "last_login", "created_at", "deactivated_at"]


class InvitationSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="role.name")
    status = serializers.CharField()
    invited_by = serializers.EmailField(source="invited_by.email", default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "full_name", "role", "status", "invited_by", "created_at", "expires_at",
                  "accepted_at", "revoked_at"]


class RoleSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField()
    is_system = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()
    member_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Group
        fields = ["name", "description", "is_system", "permissions", "member_count"]

    def get_description(self, obj: Group) -> str:
        return selectors.role_description(obj)

    def get_is_system(self, obj: Group) -> bool:
        return selectors.role_is_system(obj)

    def get_permissions(self, obj: Group) -> list[str]:
        return selectors.role_permission_names(obj)


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email")
    status = serializers.CharField()
    prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "status", "created_by", "created_at", "expires_at",
                  "last_used_at", "revoked_at"]

    def get_prefix(self, obj: ApiKey) -> str:
        return f"gh_{obj.prefix}_"


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(help_text="The secret key. It is shown only in this answer.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]

    def get_key(self, obj: ApiKey) -> str:
        return self.context["secret"]


class TenantSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    subscription_tier = serializers.CharField()
    host = serializers.CharField(source="primary_host")
    settings = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_settings(self, obj: Any) -> dict[str, Any]:
        return {**SETTINGS_DEFAULTS, **(obj.settings or {})}


class MfaSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32 secret, to type into an app by hand.")
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="An inline SVG QR code of otpauth_url.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField(),
                                           help_text="One-time codes; shown only in this answer.")


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
