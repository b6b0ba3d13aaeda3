"""The accounts API: sign-in and tokens, the current user, MFA, members, roles, API keys and
the organization itself. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import logout as django_logout
from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import redis_store, selectors, services, tokens
from accounts.api import serializers as s
from accounts.middleware import SESSION_MFA_OK
from accounts.models import ApiKey, Invitation, User
from audit.context import Actor, client_ip
from config.api.permissions import ActionPermissions
from config.errors import PermissionDenied

ERRORS = {
    400: OpenApiResponse(description="validation_error: see `details`"),
    401: OpenApiResponse(description="not_authenticated, token_invalid, token_expired, token_wrong_tenant, "
                                     "token_revoked, user_inactive"),
    403: OpenApiResponse(description="permission_denied, owner_required, mfa_setup_required"),
    404: OpenApiResponse(description="not_found (also another organization's object)"),
    409: OpenApiResponse(description="conflict: last_owner, member_exists, role_in_use, ..."),
    429: OpenApiResponse(description="login_throttled or account_locked, with Retry-After"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


def _base_url(request: Request) -> str:
    return f"{request.scheme}://{request.get_host()}"


class NotApiKey(BasePermission):
    """Credentials, MFA and keys are managed by people, not by an integrator's key."""

    message = "An API key cannot do this; sign in as a member."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.user is not None and request.user.is_authenticated and not isinstance(request.auth, ApiKey)


def _pair(pair: tokens.TokenPair) -> dict[str, Any]:
    return pair.as_dict()


# --- Sign-in and tokens ------------------------------------------------------------------------

class LoginView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Sign in with email, password (and a TOTP code when MFA is on)", tags=["auth"],
                   request=s.LoginSerializer, responses={200: s.TokenPairSerializer, **_errors(400, 401, 429)})
    def post(self, request: Request) -> Response:
        data = s.LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _user, pair = services.auth_login(request=request._request, tenant=request.tenant,
                                          email=data.validated_data["email"], password=data.validated_data["password"],
                                          otp=data.validated_data.get("otp") or None)
        return Response(_pair(pair))


class RefreshView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Rotate a refresh token for a new pair (the old one stops working)", tags=["auth"],
                   request=s.RefreshSerializer, responses={200: s.TokenPairSerializer, **_errors(400, 401)})
    def post(self, request: Request) -> Response:
        data = s.RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = services.auth_refresh(request=request._request, tenant=request.tenant,
                                     refresh=data.validated_data["refresh"])
        return Response(_pair(pair))


class VerifyView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Check that an access token is valid on this organization", tags=["auth"],
                   request=s.VerifySerializer, responses={200: s.DetailSerializer, **_errors(400, 401)})
    def post(self, request: Request) -> Response:
        data = s.VerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = tokens.validate_access(data.validated_data["token"], tenant=request.tenant)
        return Response({"detail": "The token is valid.", "sub": str(user.pk), "exp": token["exp"]})


class LogoutView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(summary="Sign out: blacklist the refresh token and revoke the access token", tags=["auth"],
                   request=s.LogoutSerializer, responses={204: None, **_errors(401)})
    def post(self, request: Request) -> Response:
        data = s.LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access = request.auth if isinstance(request.auth, tokens.AccessToken) else None
        session_user = request.user if request.user.is_authenticated and request.auth is None else None
        if session_user is not None and not data.validated_data.get("refresh"):
            services.session_logout_recorded(request=request._request, user=session_user)
            django_logout(request._request)
            return Response(status=status.HTTP_204_NO_CONTENT)
        services.auth_logout(request=request._request, tenant=request.tenant,
                             refresh=data.validated_data.get("refresh") or None, access=access)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    def _render(self, request: Request, user: User) -> Response:
        context = {"permissions": selectors.user_permission_names(user=user),
                   "mfa_enabled": selectors.user_has_mfa(user=user)}
        return Response(s.MeSerializer(user, context=context).data)

    @extend_schema(summary="The signed-in member", tags=["auth"], responses={200: s.MeSerializer, **_errors(401)})
    def get(self, request: Request) -> Response:
        return self._render(request, request.user)

    @extend_schema(summary="Change your name", tags=["auth"], request=s.ProfileUpdateSerializer,
                   responses={200: s.MeSerializer, **_errors(400, 401, 403)})
    def patch(self, request: Request) -> Response:
        if isinstance(request.auth, ApiKey):
            raise PermissionDenied(NotApiKey.message)
        data = s.ProfileUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.profile_update(actor=Actor.from_request(request), user=request.user,
                                       full_name=data.validated_data["full_name"])
        return self._render(request, user)


class PasswordChangeView(APIView):
    permission_classes = [NotApiKey]

    @extend_schema(summary="Change your password (revokes every token; new ones are returned)", tags=["auth"],
                   request=s.PasswordChangeSerializer, responses={200: s.TokenPairSerializer, **_errors(400, 401)})
    def post(self, request: Request) -> Response:
        data = s.PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user
        services.password_change(actor=Actor.from_request(request), user=user,
                                 current_password=data.validated_data["current_password"],
                                 new_password=data.validated_data["new_password"])
        if isinstance(request.auth, tokens.AccessToken):
            pair = tokens.issue_pair(user=user, tenant=request.tenant)
            return Response(_pair(pair))
        update_session_auth_hash(request._request, user)
        return Response({"detail": "Your password was changed."})


class PasswordResetView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    ANSWER = "If this email belongs to a member, a reset link is on its way."

    @extend_schema(summary="Email a one-time password-reset link (same answer for any email)", tags=["auth"],
                   request=s.PasswordResetSerializer, responses={202: s.DetailSerializer, **_errors(400, 429)})
    def post(self, request: Request) -> Response:
        data = s.PasswordResetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        redis_store.throttle_login(ip=client_ip(request), email=data.validated_data["email"].strip().lower(),
                                   scope="reset")
        services.password_reset_request(actor=Actor.from_request(request), tenant=request.tenant,
                                        email=data.validated_data["email"], base_url=_base_url(request))
        return Response({"detail": self.ANSWER}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Set a new password with the link's uid and token", tags=["auth"],
                   request=s.PasswordResetConfirmSerializer, responses={200: s.DetailSerializer, **_errors(400)})
    def post(self, request: Request) -> Response:
        data = s.PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(actor=Actor.from_request(request), uid=data.validated_data["uid"],
                                        token=data.validated_data["token"],
                                        new_password=data.validated_data["new_password"])
        return Response({"detail": "Your password was changed; sign in with it."})


class InvitationAcceptView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Accept an invitation: choose a password, become a member", tags=["auth"],
                   request=s.InvitationAcceptSerializer, responses={201: s.MemberSerializer, **_errors(400, 404, 409)})
    def post(self, request: Request) -> Response:
        data = s.InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.invitation_accept(actor=Actor.from_request(request), tenant=request.tenant,
                                          token=data.validated_data["token"], password=data.validated_data["password"],
                                          full_name=data.validated_data.get("full_name", ""))
        return Response(s.MemberSerializer(selectors.member_get(member_id=user.pk)).data,
                        status=status.HTTP_201_CREATED)


# --- MFA ---------------------------------------------------------------------------------------------

class MfaSetupView(APIView):
    permission_classes = [NotApiKey]

    @extend_schema(summary="Start TOTP set-up: a new secret and its QR code (inline SVG)", tags=["mfa"],
                   request=None, responses={200: s.MfaSetupSerializer, **_errors(401, 409)})
    def post(self, request: Request) -> Response:
        setup = services.mfa_setup_begin(actor=Actor.from_request(request), user=request.user,
                                         tenant_name=request.tenant.name)
        return Response({"secret": setup.secret, "otpauth_url": setup.otpauth_url, "qr_svg": setup.qr_svg})


class MfaConfirmView(APIView):
    permission_classes = [NotApiKey]

    @extend_schema(summary="Confirm TOTP with a current code; returns recovery codes once", tags=["mfa"],
                   request=s.MfaCodeSerializer, responses={200: s.RecoveryCodesSerializer, **_errors(400, 401, 409)})
    def post(self, request: Request) -> Response:
        data = s.MfaCodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        codes = services.mfa_confirm(actor=Actor.from_request(request), user=request.user,
                                     code=data.validated_data["code"])
        if request.auth is None and hasattr(request._request, "session"):
            request._request.session[SESSION_MFA_OK] = True
        return Response({"recovery_codes": codes})


class MfaDisableView(APIView):
    permission_classes = [NotApiKey]

    @extend_schema(summary="Turn MFA off (password and a current code required)", tags=["mfa"],
                   request=s.MfaDisableSerializer, responses={204: None, **_errors(400, 401, 409)})
    def post(self, request: Request) -> Response:
        data = s.MfaDisableSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.mfa_disable(actor=Actor.from_request(request), user=request.user,
                             password=data.validated_data["password"], code=data.validated_data["code"],
                             tenant=request.tenant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MfaRecoveryCodesView(APIView):
    permission_classes = [NotApiKey]

    @extend_schema(summary="Replace the recovery codes (a current code required)", tags=["mfa"],
                   request=s.MfaCodeSerializer, responses={200: s.RecoveryCodesSerializer, **_errors(400, 401)})
    def post(self, request: Request) -> Response:
        data = s.MfaCodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        codes = services.mfa_recovery_codes_regenerate(actor=Actor.from_request(request), user=request.user,
                                                       code=data.validated_data["code"])
        return Response({"recovery_codes": codes})


# --- The organization ----------------------------------------------------------------------------------

class TenantMeView(APIView):
    permission_classes = [ActionPermissions]
    required_permissions = {"get": [], "patch": ["accounts.manage_tenant_settings"]}

    @extend_schema(summary="This organization", tags=["organization"], responses={200: s.TenantSerializer,
                                                                                    **_errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(s.TenantSerializer(request.tenant).data)

    @extend_schema(summary="Change the name or settings (require_mfa, CORS origins, retention...)",
                   tags=["organization"], request=s.TenantUpdateSerializer,
                   responses={200: s.TenantSerializer, **_errors(400, 401, 403)})
    def patch(self, request: Request) -> Response:
        data = s.TenantUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_settings_update(actor=Actor.from_request(request), tenant=request.tenant,
                                                 name=data.validated_data.get("name"),
                                                 settings_changes=data.validated_data.get("settings"))
        return Response(s.TenantSerializer(tenant).data)


class MemberFilter(django_filters.FilterSet):
    role = django_filters.CharFilter(field_name="groups__name")
    is_active = django_filters.BooleanFilter()
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = User
        fields = ["role", "is_active"]

    def filter_search(self, queryset: Any, name: str, value: str) -> Any:
        return selectors.member_list(filters={"search": value}).filter(pk__in=queryset.values("pk"))


@extend_schema_view(
    list=extend_schema(summary="Members", tags=["members"], responses={200: s.MemberSerializer(many=True),
                                                                      **_errors(401, 403)}),
    retrieve=extend_schema(summary="One member", tags=["members"], responses={200: s.MemberSerializer,
                                                                             **_errors(401, 403, 404)}),
    create=extend_schema(summary="Invite someone by email (expiring one-time link)", tags=["members"],
                         request=s.InviteSerializer, responses={201: s.InvitationSerializer,
                                                                **_errors(400, 401, 403, 409)}),
    partial_update=extend_schema(summary="Change a member's role", tags=["members"],
                                 request=s.MemberUpdateSerializer,
                                 responses={200: s.MemberSerializer, **_errors(400, 401, 403, 404, 409)}),
)
class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {
        "list": ["accounts.view_members"], "retrieve": ["accounts.view_members"],
        "create": ["accounts.manage_members"], "partial_update": ["accounts.manage_members"],
        "deactivate": ["accounts.manage_members"], "reactivate": ["accounts.manage_members"],
    }
    serializer_class = s.MemberSerializer
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    filterset_class = MemberFilter
    ordering_fields = ["email", "full_name", "created_at", "last_login"]
    ordering = ["email"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.member_list()

    def get_object(self) -> User:
        return selectors.member_get(member_id=self.kwargs["pk"])

    def create(self, request: Request) -> Response:
        data = s.InviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.member_invite(
            actor=Actor.from_request(request), tenant=request.tenant, email=data.validated_data["email"],
            role=data.validated_data["role"], full_name=data.validated_data.get("full_name", ""),
            base_url=_base_url(request))
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        member = self.get_object()
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.member_change_role(actor=Actor.from_request(request), tenant=request.tenant, member=member,
                                    role=data.validated_data["role"])
        return Response(s.MemberSerializer(selectors.member_get(member_id=member.pk)).data)

    @extend_schema(summary="Deactivate a member (signs them out everywhere)", tags=["members"], request=None,
                   responses={200: s.MemberSerializer, **_errors(401, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str) -> Response:
        member = services.member_deactivate(actor=Actor.from_request(request), tenant=request.tenant,
                                            member=self.get_object())
        return Response(s.MemberSerializer(selectors.member_get(member_id=member.pk)).data)

    @extend_schema(summary="Reactivate a member", tags=["members"], request=None,
                   responses={200: s.MemberSerializer, **_errors(401, 403, 404)})
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, pk: str) -> Response:
        member = services.member_reactivate(actor=Actor.from_request(request), tenant=request.tenant,
                                            member=self.get_object())
        return Response(s.MemberSerializer(selectors.member_get(member_id=member.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="Pending invitations", tags=["members"],
                       responses={200: s.InvitationSerializer(many=True), **_errors(401, 403)}),
    destroy=extend_schema(summary="Revoke a pending invitation", tags=["members"],
                          responses={204: None, **_errors(401, 403, 404, 409)}),
)
class InvitationViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {"list": ["accounts.manage_members"], "destroy": ["accounts.manage_members"]}
    serializer_class = s.InvitationSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "email", "expires_at"]
    ordering = ["-created_at"]

    def get_queryset(self) -> Any:
        return selectors.invitation_list()

    def destroy(self, request: Request, pk: str) -> Response:
        invitation: Invitation = selectors.invitation_get(invitation_id=pk)
        services.invitation_revoke(actor=Actor.from_request(request), invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Roles and their permissions", tags=["roles"],
                       responses={200: s.RoleSerializer(many=True), **_errors(401, 403)}),
    retrieve=extend_schema(summary="One role", tags=["roles"], responses={200: s.RoleSerializer,
                                                                         **_errors(401, 403, 404)}),
    create=extend_schema(summary="Create a custom role", tags=["roles"], request=s.RoleCreateSerializer,
                         responses={201: s.RoleSerializer, **_errors(400, 401, 403, 409)}),
    partial_update=extend_schema(summary="Change a custom role", tags=["roles"], request=s.RoleUpdateSerializer,
                                 responses={200: s.RoleSerializer, **_errors(400, 401, 403, 404, 409)}),
    destroy=extend_schema(summary="Delete an unused custom role", tags=["roles"],
                          responses={204: None, **_errors(401, 403, 404, 409)}),
)
class RoleViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {
        "list": ["accounts.view_members"], "retrieve": ["accounts.view_members"],
        "create": ["accounts.manage_roles"], "partial_update": ["accounts.manage_roles"],
        "destroy": ["accounts.manage_roles"],
    }
    serializer_class = s.RoleSerializer
    lookup_field = "name"
    filter_backends = [OrderingFilter]
    ordering_fields = ["name"]
    ordering = ["name"]
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.role_list()

    def list(self, request: Request) -> Response:
        return Response(s.RoleSerializer(self.filter_queryset(self.get_queryset()), many=True).data)

    def retrieve(self, request: Request, name: str) -> Response:
        return Response(s.RoleSerializer(selectors.role_get(name=name)).data)

    def create(self, request: Request) -> Response:
        data = s.RoleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.role_create(actor=Actor.from_request(request), **data.validated_data)
        return Response(s.RoleSerializer(selectors.role_get(name=group.name)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, name: str) -> Response:
        group = selectors.role_get(name=name)
        data = s.RoleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.role_update(actor=Actor.from_request(request), group=group, **data.validated_data)
        return Response(s.RoleSerializer(group).data)

    def destroy(self, request: Request, name: str) -> Response:
        services.role_delete(actor=Actor.from_request(request), group=selectors.role_get(name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=[("active", "active"), ("revoked", "revoked")],
                                         method="filter_status")

    class Meta:
        model = ApiKey
        fields = ["status"]

    def filter_status(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(revoked_at__isnull=value == "active")


@extend_schema_view(
    list=extend_schema(summary="API keys", tags=["api keys"], responses={200: s.ApiKeySerializer(many=True),
                                                                        **_errors(401, 403)}),
    retrieve=extend_schema(summary="One API key (never its secret)", tags=["api keys"],
                           responses={200: s.ApiKeySerializer, **_errors(401, 403, 404)}),
    create=extend_schema(summary="Create a key; the secret is in this answer only", tags=["api keys"],
                         request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer,
                                                                      **_errors(400, 401, 403)}),
    destroy=extend_schema(summary="Revoke a key (refused at once)", tags=["api keys"],
                          responses={204: None, **_errors(401, 403, 404)}),
)
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {"list": ["accounts.manage_api_keys"], "retrieve": ["accounts.manage_api_keys"],
                            "create": ["accounts.manage_api_keys"], "destroy": ["accounts.manage_api_keys"]}
    serializer_class = s.ApiKeySerializer
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    filterset_class = ApiKeyFilter
    ordering_fields = ["created_at", "name", "last_used_at", "expires_at"]
    ordering = ["-created_at"]

    def get_queryset(self) -> Any:
        return selectors.api_key_list()

    def get_object(self) -> ApiKey:
        return selectors.api_key_get(key_id=self.kwargs["pk"])

    def create(self, request: Request) -> Response:
        data = s.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.api_key_create(actor=Actor.from_request(request), name=data.validated_data["name"],
                                              scopes=data.validated_data["scopes"],
                                              expires_at=data.validated_data.get("expires_at"))
        return Response(s.ApiKeyCreatedSerializer(selectors.api_key_get(key_id=key.pk),
                                                  context={"secret": secret}).data,
                        status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str) -> Response:
        services.api_key_revoke(actor=Actor.from_request(request), key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

