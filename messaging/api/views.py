"""The messaging API: integrator MQTT credentials and the recent events a member may see."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import Actor
from config.api.permissions import ActionPermissions
from messaging import selectors, services
from messaging.api import serializers as s
from messaging.models import MqttCredential

MANAGE = "messaging.manage_mqtt_credentials"
ERRORS = {
    400: OpenApiResponse(description="validation_error: see `details`"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied: needs messaging.manage_mqtt_credentials"),
    404: OpenApiResponse(description="not_found (also another organization's credential)"),
}


class MqttCredentialFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=[("active", "active"), ("revoked", "revoked")],
                                         method="filter_status")

    class Meta:
        model = MqttCredential
        fields = ["status"]

    def filter_status(self, queryset, name, value):  # type: ignore[no-untyped-def]
        return queryset.filter(revoked_at__isnull=(value == "active"))


@extend_schema_view(
    list=extend_schema(summary="List the organization's MQTT credentials", tags=["mqtt"],
                       responses={200: s.MqttCredentialSerializer(many=True), **{k: ERRORS[k] for k in (401, 403)}}),
    retrieve=extend_schema(summary="One MQTT credential", tags=["mqtt"],
                           responses={200: s.MqttCredentialSerializer, **{k: ERRORS[k] for k in (401, 403, 404)}}),
    create=extend_schema(summary="Create an MQTT credential (the password is shown once)", tags=["mqtt"],
                         request=s.MqttCredentialCreateSerializer,
                         responses={201: s.MqttCredentialCreatedSerializer,
                                    **{k: ERRORS[k] for k in (400, 401, 403)}}),
    destroy=extend_schema(summary="Revoke an MQTT credential (its live session is disconnected)", tags=["mqtt"],
                          responses={204: None, **{k: ERRORS[k] for k in (401, 403, 404)}}),
)
class MqttCredentialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                            mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MqttCredentialSerializer
    permission_classes = [ActionPermissions]
    required_permissions = {"list": [MANAGE], "retrieve": [MANAGE], "create": [MANAGE], "destroy": [MANAGE]}
    filterset_class = MqttCredentialFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["created_at", "name", "revoked_at"]
    ordering = ["-created_at"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.mqtt_credential_list()

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = s.MqttCredentialCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, password = services.mqtt_credential_create(
            tenant=request.tenant, actor=Actor.from_request(request), name=data.validated_data["name"])
        body = s.MqttCredentialCreatedSerializer(credential, context={"password": password,
                                                                     "tenant": request.tenant}).data
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/mqtt/credentials/{credential.id}",
                                 "Cache-Control": "no-store"})

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        credential = self.get_object()
        services.mqtt_credential_revoke(tenant=request.tenant, actor=Actor.from_request(request),
                                        credential_id=credential.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecentEventsView(APIView):
    """The latest events the member may see (what the live stream shows), newest first."""

    permission_classes = [ActionPermissions]
    required_permissions: dict[str, list[str]] = {"get": []}  # any member; an API key needs read access

    @extend_schema(summary="Recent events visible to the current member", tags=["events"],
                   parameters=[OpenApiParameter("limit", int, description="1-200, default 50"),
                               OpenApiParameter("scan", str, description="only events about this scan")],
                   responses={200: OpenApiResponse(description='{"results": [CloudEvent, ...]}'),
                              **{k: ERRORS[k] for k in (400, 401)}})
    def get(self, request: Request) -> Response:
        query = s.EventListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = selectors.events_recent(permissions=selectors.user_permissions(request.user),
                                         user_id=str(request.user.pk), limit=query.validated_data["limit"],
                                         scan_id=query.validated_data.get("scan"))
        return Response({"results": events})
