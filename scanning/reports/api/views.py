"""The reports API: report templates (with a live preview), reports (generate, status, download), schedules.

Views are thin: parse with a serializer, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from audit.context import Actor
from config.api.permissions import ActionPermissions, HasPerm
from config.errors import NotFound
from scanning.reports import rendering, selectors, services
from scanning.reports.api.serializers import (
    ReportRequestSerializer,
    ReportScheduleInputSerializer,
    ReportScheduleSerializer,
    ReportSerializer,
    ReportTemplateInputSerializer,
    ReportTemplateSerializer,
)
from scanning.reports.models import Report, ReportSchedule, ReportTemplate

ERRORS = {
    400: OpenApiResponse(description="validation_error: a field is invalid (see details)"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied"),
    404: OpenApiResponse(description="not_found (also another organization's report, or a report of a scan you "
                                     "cannot see)"),
}
GENERATE = "scanning.generate_reports"
MANAGE = "scanning.manage_report_templates"


def html_response(html: str, *, attachment: str | None = None) -> HttpResponse:
    """A rendered report page: its own strict CSP (style blocks by hash, data: images, nothing else, sandboxed)."""
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = rendering.html_policy(html)
    response["Cache-Control"] = "private, no-store"
    if attachment:
        response["Content-Disposition"] = f'attachment; filename="{attachment}"'
    return response


def download_response(path: Any, filename: str, content_type: str, report: Report) -> FileResponse:
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=filename,  # noqa: SIM115
                            content_type=content_type)
    response["X-Content-SHA256"] = report.sha256
    response["Cache-Control"] = "private, no-store"
    if report.format == "html":
        with open(path, "rb") as handle:
            head = handle.read(256 * 1024).decode("utf-8", errors="replace").split("</head>")[0]
        response["Content-Security-Policy"] = rendering.html_policy(head)
    return response


def _logo_bytes(data: Any) -> bytes | None:
    upload = data.get("logo") if hasattr(data, "get") else None
    if upload is None or not hasattr(upload, "read"):
        return None
    try:
        return upload.read()
    finally:
        upload.close()


# --- report templates ----------------------------------------------------------------------------------

class _TemplatePermission(BasePermission):
    """Reading templates: members who generate reports or manage templates. Changing them: manage templates."""

    message = "Report templates need the 'generate reports' or 'manage report templates' permission."
    read = HasPerm(GENERATE)()
    manage = HasPerm(MANAGE)()

    def has_permission(self, request: Request, view: Any) -> bool:
        if view.action in ("list", "retrieve", "logo", "preview", "preview_draft"):
            return self.read.has_permission(request, view) or self.manage.has_permission(request, view)
        return self.manage.has_permission(request, view)


@extend_schema_view(
    list=extend_schema(summary="Report templates", responses={200: ReportTemplateSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="A report template", responses={200: ReportTemplateSerializer, **ERRORS}),
    create=extend_schema(summary="Create a report template",
                         description="JSON, or multipart to send a `logo` (PNG or JPEG; SVG is refused with 415). "
                                     "`custom_css` is sanitised: only @media and @page rules, no @import, no URL "
                                     "but data:image/png or data:image/jpeg (400 lists every problem).",
                         request={"application/json": ReportTemplateInputSerializer,
                                  "multipart/form-data": ReportTemplateInputSerializer},
                         responses={201: ReportTemplateSerializer, 409: OpenApiResponse(description="template_exists"),
                                    413: OpenApiResponse(description="logo_too_large"),
                                    415: OpenApiResponse(description="unsupported_image_type"), **ERRORS},
                         examples=[OpenApiExample("Branded", request_only=True, value={
                             "name": "Customer-facing", "accent_color": "#0f766e", "title": "Supply-chain report",
                             "sections": ["executive_summary", "scores", "policy", "remediation"],
                             "custom_css": "h2 { letter-spacing: .02em; }"})]),
    partial_update=extend_schema(summary="Change a report template (send `logo` or `remove_logo` to change the logo)",
                                 request={"application/json": ReportTemplateInputSerializer,
                                          "multipart/form-data": ReportTemplateInputSerializer},
                                 responses={200: ReportTemplateSerializer, 409: OpenApiResponse(
                                     description="template_exists / default_template_required"), **ERRORS}),
    update=extend_schema(summary="Change a report template", request=ReportTemplateInputSerializer,
                         responses={200: ReportTemplateSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a report template",
                          responses={204: None, 409: OpenApiResponse(description="default_template_required"),
                                     **ERRORS}),
)
class ReportTemplateViewSet(viewsets.GenericViewSet):
    permission_classes = [_TemplatePermission]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    serializer_class = ReportTemplateSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return ReportTemplate.objects.none()
        return selectors.template_list(actor=Actor.from_request(self.request))

    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ReportTemplateSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        template = selectors.template_get(actor=Actor.from_request(request), template_id=pk)
        return Response(ReportTemplateSerializer(template).data)

    def create(self, request: Request) -> Response:
        serializer = ReportTemplateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k not in ("logo", "remove_logo")}
        template = services.template_create(actor=Actor.from_request(request), data=data,
                                            logo=_logo_bytes(request.data))
        response = Response(ReportTemplateSerializer(template).data, status=status.HTTP_201_CREATED)
        response["Location"] = response.data["urls"]["self"]
        return response

    def partial_update(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        template = selectors.template_get(actor=actor, template_id=pk)
        serializer = ReportTemplateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        data = {k: v for k, v in values.items() if k in request.data and k not in ("logo", "remove_logo")}
        template = services.template_update(actor=actor, template=template, data=data, logo=_logo_bytes(request.data),
                                            remove_logo=bool(values.get("remove_logo")))
        return Response(ReportTemplateSerializer(template).data)

    def update(self, request: Request, pk: str) -> Response:
        return self.partial_update(request, pk)

    def destroy(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        services.template_delete(actor=actor, template=selectors.template_get(actor=actor, template_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Preview a stored template: a sample scan rendered as HTML", request=None,
                   responses={(200, "text/html"): OpenApiTypes.STR, **ERRORS})
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> HttpResponse:
        actor = Actor.from_request(request)
        template = selectors.template_get(actor=actor, template_id=pk)
        return html_response(services.template_preview(actor=actor, tenant=request.tenant, template=template))

    @extend_schema(summary="Preview a draft template (nothing is saved)",
                   description="The same fields as creating a template (all optional); answers the sample scan "
                               "rendered as HTML through the same sanitising pipeline as real reports.",
                   request={"application/json": ReportTemplateInputSerializer,
                            "multipart/form-data": ReportTemplateInputSerializer},
                   responses={(200, "text/html"): OpenApiTypes.STR, **ERRORS})
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_draft(self, request: Request) -> HttpResponse:
        serializer = ReportTemplateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k not in ("logo", "remove_logo")}
        html = services.template_preview(actor=Actor.from_request(request), tenant=request.tenant, data=data,
                                         logo=_logo_bytes(request.data))
        return html_response(html)

    @extend_schema(summary="A template's logo", responses={(200, "image/png"): OpenApiTypes.BINARY, **ERRORS})
    @action(detail=True, methods=["get"])
    def logo(self, request: Request, pk: str) -> HttpResponse:
        template = selectors.template_get(actor=Actor.from_request(request), template_id=pk)
        stored = rendering.read_logo(template, schema=request.tenant.schema_name)
        if stored is None:
            raise NotFound("This template has no logo.")
        response = HttpResponse(stored[1], content_type=stored[0])
        response["Cache-Control"] = "private, max-age=300"
        return response


# --- reports ------------------------------------------------------------------------------------------------

class ReportFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Report.Status.choices)
    # Not `format`: DRF reads ?format= to choose a renderer.
    report_format = django_filters.MultipleChoiceFilter(field_name="format",
                                                        choices=[(k, k) for k in rendering.EXTENSIONS])
    scope = django_filters.ChoiceFilter(choices=Report.Scope.choices)
    scan = django_filters.UUIDFilter(field_name="scan_id")
    schedule = django_filters.UUIDFilter(field_name="schedule_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Report
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="Reports", description="Reports you may see: all of them with 'view all scans', else "
                                                      "those of your own scans and the ones you requested.",
                       responses={200: ReportSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="A report: its status and progress", responses={200: ReportSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a report and its file", responses={204: None, **ERRORS}),
)
class ReportViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {"list": [GENERATE], "retrieve": [GENERATE], "create": [GENERATE],
                            "destroy": [GENERATE], "download": [GENERATE]}
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    serializer_class = ReportSerializer
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, OrderingFilter]
    filterset_class = ReportFilter
    ordering_fields = ["created_at", "finished_at", "status", "format", "title"]
    ordering = ["-created_at"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        return selectors.report_list(actor=Actor.from_request(self.request))

    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ReportSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ReportSerializer(selectors.report_get(actor=Actor.from_request(request), report_id=pk)).data)

    @extend_schema(
        summary="Generate a report",
        description="One scan (`scan`), every scan of a period (`scope: period`, `from`, `to`), or every version of "
                    "a package (`scope: package`, `ecosystem`, `package`, optional period). Formats: pdf, html, json, "
                    "sarif (2.1.0), csv (one row per finding). Answers 202 with the report and a Location to poll; "
                    "download it from `urls.download` once `status` is `completed`.",
        request=ReportRequestSerializer,
        responses={202: ReportSerializer, 409: OpenApiResponse(description="scan_not_finished"), **ERRORS},
        examples=[OpenApiExample("One scan as SARIF", request_only=True,
                                 value={"scan": "0b7c5f0e-3a54-4c1e-a9a6-1f0b6a4d2c55", "format": "sarif"}),
                  OpenApiExample("Last month", request_only=True,
                                 value={"scope": "period", "from": "2026-10-01", "to": "2026-10-31", "format": "pdf"})],
    )
    def create(self, request: Request) -> Response:
        serializer = ReportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        scope = values.get("scope") or (Report.Scope.SCAN if values.get("scan") else Report.Scope.PERIOD)
        report = services.report_request(
            tenant=request.tenant, actor=Actor.from_request(request), scope=scope, fmt=values.get("format", "pdf"),
            template_id=values.get("template"), scan_id=values.get("scan"), period_start=values.get("from"),
            period_end=values.get("to"), ecosystem=values.get("ecosystem", ""), package_name=values.get("package", ""),
            title=values.get("title", ""))
        body = ReportSerializer(report).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["urls"]["self"]
        return response

    def destroy(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        services.report_delete(actor=actor, report=selectors.report_get(actor=actor, report_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Download a report (audited)",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              409: OpenApiResponse(description="report_not_ready"), **ERRORS})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        actor = Actor.from_request(request)
        report = selectors.report_get(actor=actor, report_id=pk)
        path, filename, content_type = services.report_download(actor=actor, report=report)
        return download_response(path, filename, content_type, report)


# --- schedules ------------------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="Report schedules", responses={200: ReportScheduleSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="A report schedule", responses={200: ReportScheduleSerializer, **ERRORS}),
    create=extend_schema(summary="Schedule a weekly or monthly posture report, emailed to its recipients",
                         request=ReportScheduleInputSerializer,
                         responses={201: ReportScheduleSerializer, 409: OpenApiResponse(description="schedule_exists"),
                                    **ERRORS},
                         examples=[OpenApiExample("Every Monday 07:00 UTC", request_only=True, value={
                             "name": "Weekly posture", "frequency": "weekly", "weekday": 0, "hour": 7,
                             "format": "pdf", "recipients": ["security@example.com"]})]),
    partial_update=extend_schema(summary="Change a report schedule", request=ReportScheduleInputSerializer,
                                 responses={200: ReportScheduleSerializer, **ERRORS}),
    update=extend_schema(summary="Change a report schedule", request=ReportScheduleInputSerializer,
                         responses={200: ReportScheduleSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a report schedule (its reports remain)", responses={204: None, **ERRORS}),
)
class ReportScheduleViewSet(viewsets.GenericViewSet):
    permission_classes = [HasPerm(MANAGE)]
    serializer_class = ReportScheduleSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "next_run_at", "created_at"]
    ordering = ["name"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ReportSchedule.objects.none()
        return selectors.schedule_list(actor=Actor.from_request(self.request))

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ReportScheduleSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        schedule = selectors.schedule_get(actor=Actor.from_request(request), schedule_id=pk)
        return Response(ReportScheduleSerializer(schedule).data)

    def create(self, request: Request) -> Response:
        serializer = ReportScheduleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = services.schedule_create(actor=Actor.from_request(request), data=dict(serializer.validated_data))
        response = Response(ReportScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)
        response["Location"] = response.data["urls"]["self"]
        return response

    def partial_update(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        schedule = selectors.schedule_get(actor=actor, schedule_id=pk)
        serializer = ReportScheduleInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        return Response(ReportScheduleSerializer(services.schedule_update(actor=actor, schedule=schedule,
                                                                          data=data)).data)

    def update(self, request: Request, pk: str) -> Response:
        return self.partial_update(request, pk)

    def destroy(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        services.schedule_delete(actor=actor, schedule=selectors.schedule_get(actor=actor, schedule_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Generate and email the schedule's report now (the next run is unchanged)", request=None,
                   responses={202: ReportSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        schedule = selectors.schedule_get(actor=actor, schedule_id=pk)
        report = services.schedule_run_now(tenant=request.tenant, actor=actor, schedule=schedule)
        body = ReportSerializer(report).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["urls"]["self"]
        return response
