"""The staff tenant API on the platform host: list, provision, read, change, suspend, reactivate."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from audit.context import Actor
from config.errors import ValidationFailed
from tenants import services
from tenants.api import serializers as s
from tenants.api.permissions import IsPlatformStaff
from tenants.models import Tenant

ERRORS = {
    400: OpenApiResponse(description="validation_error"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied: staff only"),
    404: OpenApiResponse(description="not_found"),
    409: OpenApiResponse(description="tenant_exists"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


class TenantFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[("active", "active"), ("suspended", "suspended"), ("provisioning", "provisioning")],
        method="filter_status")
    subscription_tier = django_filters.ChoiceFilter(choices=Tenant.Tier.choices)
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Tenant
        fields = ["subscription_tier"]

    def filter_status(self, queryset: Any, name: str, value: str) -> Any:
        if value == "suspended":
            return queryset.filter(is_active=False)
        if value == "provisioning":
            return queryset.filter(provisioning_state=Tenant.ProvisioningState.PROVISIONING)
        return queryset.filter(is_active=True, provisioning_state=Tenant.ProvisioningState.READY)

    def filter_search(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(schema_name__icontains=value) | queryset.filter(name__icontains=value)


def _settings_errors(call: Any) -> Any:
    try:
        return call()
    except DRFValidationError as exc:
        raise ValidationFailed(details={"settings": exc.detail}) from exc


@extend_schema_view(
    list=extend_schema(summary="Organizations", tags=["staff: organizations"],
                       responses={200: s.TenantSerializer(many=True), **_errors(401, 403)}),
    retrieve=extend_schema(summary="One organization", tags=["staff: organizations"],
                           responses={200: s.TenantSerializer, **_errors(401, 403, 404)}),
    create=extend_schema(summary="Provision an organization (schema, domain, roles, policy, owner invitation)",
                         tags=["staff: organizations"], request=s.TenantCreateSerializer,
                         responses={201: s.TenantSerializer, **_errors(400, 401, 403, 409)}),
    partial_update=extend_schema(summary="Change name, tier or settings", tags=["staff: organizations"],
                                 request=s.TenantUpdateSerializer,
                                 responses={200: s.TenantSerializer, **_errors(400, 401, 403, 404)}),
)
class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsPlatformStaff]
    serializer_class = s.TenantSerializer
    lookup_field = "slug"
    lookup_value_regex = "[a-z][a-z0-9_]{2,47}"
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    filterset_class = TenantFilter
    ordering_fields = ["name", "schema_name", "created_at"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return Tenant.objects.organizations()

    def get_object(self) -> Tenant:
        return services.tenant_get(slug=self.kwargs["slug"])

    def create(self, request: Request) -> Response:
        data = s.TenantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = _settings_errors(lambda: services.tenant_create(
            slug=values["slug"], name=values["name"], tier=values["subscription_tier"],
            owner_email=values.get("owner_email") or None, owner_name=values.get("owner_name") or None,
            settings_doc=values.get("settings"), fail_if_exists=True, actor=Actor.from_request(request)))
        body = s.TenantSerializer(result.tenant).data
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/tenants/{result.tenant.schema_name}"})

    def partial_update(self, request: Request, slug: str) -> Response:
        tenant = self.get_object()
        data = s.TenantUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant = _settings_errors(lambda: services.tenant_update(
            tenant=tenant, name=values.get("name"), tier=values.get("subscription_tier"),
            settings_changes=values.get("settings"), actor=Actor.from_request(request)))
        return Response(s.TenantSerializer(tenant).data)

    @extend_schema(summary="Suspend: block its hosts, tokens, keys and MQTT clients at once",
                   tags=["staff: organizations"], request=s.TenantSuspendSerializer,
                   responses={200: s.TenantSerializer, **_errors(401, 403, 404)})
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, slug: str) -> Response:
        data = s.TenantSuspendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_suspend(tenant=self.get_object(), reason=data.validated_data["reason"],
                                         actor=Actor.from_request(request))
        return Response(s.TenantSerializer(tenant).data)

    @extend_schema(summary="Reactivate a suspended organization", tags=["staff: organizations"], request=None,
                   responses={200: s.TenantSerializer, **_errors(401, 403, 404)})
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, slug: str) -> Response:
        tenant = services.tenant_reactivate(tenant=self.get_object(), actor=Actor.from_request(request))
        return Response(s.TenantSerializer(tenant).data)
