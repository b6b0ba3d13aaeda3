"""The audit API: list, detail and streamed export, for holders of `audit.view_audit`."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from audit.api.serializers import AuditEventSerializer
from audit.context import Actor
from audit.export import FORMATS, ExportPlan
from audit.models import AuditEvent
from audit.selectors import DEFAULT_ORDERING, ORDERING_FIELDS, AuditEventFilter, audit_event_get
from audit.services import audit_record
from config.api.permissions import HasPerm
from config.errors import NotFound, ValidationFailed

ERRORS = {
    400: OpenApiResponse(description="A filter is invalid (`validation_error`)."),
    401: OpenApiResponse(description="Not signed in (`not_authenticated`)."),
    403: OpenApiResponse(description="Missing permission `audit.view_audit` (`permission_denied`)."),
    429: OpenApiResponse(description="Rate limited (`throttled`), with Retry-After."),
}


class _Ordering(OrderingFilter):
    def get_default_ordering(self, view: Any) -> list[str]:
        return [DEFAULT_ORDERING]

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        ordering = self.get_ordering(request, queryset, view)
        if ordering and ordering[0].lstrip("-") != "sequence":
            ordering = [*ordering, "-sequence"]
        return queryset.order_by(*ordering) if ordering else queryset


@extend_schema_view(
    list=extend_schema(summary="List audit events",
                       description="Newest first by default. `action` matches exactly, or as a prefix when it "
                                   "ends with '.' (`auth.`). `since`/`until` take a date or an ISO 8601 "
                                   "date-time; an `until` date includes that whole day (UTC).",
                       responses={200: AuditEventSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One audit event",
                           responses={200: AuditEventSerializer,
                                      404: OpenApiResponse(description="No such event here (`not_found`)."),
                                      **ERRORS}),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AuditEventSerializer
    permission_classes = [HasPerm("audit.view_audit")]
    filter_backends = [DjangoFilterBackend, _Ordering]
    filterset_class = AuditEventFilter
    ordering_fields = list(ORDERING_FIELDS)
    queryset = AuditEvent.objects.all()
    lookup_value_regex = "[^/]+"

    def get_object(self) -> AuditEvent:
        event = audit_event_get(event_id=self.kwargs["pk"])
        if event is None:
            raise NotFound("No audit event with this id in this organization.")
        return event


class _AnyAccept(BaseContentNegotiation):
    """The export answers CSV or JSON Lines whatever the client's Accept header says."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


@extend_schema(
    summary="Export audit events (streamed)",
    description="The filtered range as CSV or JSON Lines, streamed in chunks so any range can be exported. "
                "Takes the list's filters; `ordering` is `sequence` (oldest first, the default) or `-sequence`. "
                "Events recorded after the export starts are not included. The export itself is recorded "
                "(`audit.export`).",
    parameters=[OpenApiParameter("file_format", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(FORMATS))],
    responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, "application/x-ndjson"): OpenApiTypes.BINARY,
               **ERRORS},
)
class AuditEventExportView(generics.GenericAPIView):
    permission_classes = [HasPerm("audit.view_audit")]
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.all()
    content_negotiation_class = _AnyAccept
    throttle_scope = "audit_export"
    pagination_class = None

    def get(self, request: Request, file_format: str) -> StreamingHttpResponse:
        if file_format not in FORMATS:
            raise NotFound(f"Export as {', '.join(FORMATS)}.")
        ordering = request.query_params.get("ordering", "sequence")
        if ordering not in ("sequence", "-sequence", "occurred_at", "-occurred_at"):
            raise ValidationFailed(details={"ordering": ["An export is ordered by `sequence` or `-sequence`."]})
        queryset = self.filter_queryset(self.get_queryset())
        plan = ExportPlan(queryset, file_format=file_format, descending=ordering.startswith("-"))
        plan.start()
        filters = {k: v for k, v in request.query_params.items() if k in AuditEventFilter.base_filters}
        audit_record(actor=Actor.from_request(request), action="audit.export", resource_type="audit_event",
                     metadata={"format": file_format, "filters": filters, "ordering": ordering})
        django_request = request._request
        streaming = aiter(plan) if hasattr(django_request, "scope") else iter(plan)
        response = StreamingHttpResponse(streaming, content_type=FORMATS[file_format])
        tenant = getattr(django_request, "tenant", None)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"audit-{tenant.schema_name if tenant else 'events'}-{stamp}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
        return response
