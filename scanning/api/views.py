"""The scanning API: scans, findings, the check catalog, artifact downloads and registry connections.

Views are thin: parse with a serializer, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from audit.context import Actor
from config.api.permissions import ActionPermissions, HasPerm
from config.errors import NotFound, PayloadTooLarge, ValidationFailed
from scanning import hooks, selectors, services
from scanning.api import filters
from scanning.api.serializers import (
    CheckSerializer,
    ConnectionInputSerializer,
    ConnectionSerializer,
    ConnectionTestSerializer,
    FindingSerializer,
    ScanDetailSerializer,
    ScanSerializer,
    ScanSubmitSerializer,
)
from scanning.pipeline import max_artifact_bytes, tenant_root
from scanning.uploads import install_handler

ERRORS = {
    400: OpenApiResponse(description="validation_error: a field is invalid (see details)"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied"),
    404: OpenApiResponse(description="not_found (also another organization's or another developer's scan)"),
}
MULTIPART_OVERHEAD = 64 * 1024


MAX_WAIT_SECONDS = 600


def _wait_seconds(request: Request) -> float:
    """`?wait=N`: answer with the finished scan (and its verdict) if it finishes within N seconds."""
    raw = request.query_params.get("wait")
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise ValidationFailed(details={"wait": [f"Give a number of seconds from 0 to {MAX_WAIT_SECONDS}."]})
    return value


class ScanViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {
        "list": [], "retrieve": [], "findings": [], "cancel": [],
        "create": ["scanning.submit_scan"], "rescan": ["scanning.submit_scan"],
        "destroy": ["scanning.manage_scans"], "artifact": ["scanning.download_artifact"],
    }
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "finished_at", "score", "name", "status", "ecosystem", "version"]
    ordering = ["-created_at"]
    serializer_class = ScanSerializer
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        return selectors.scan_list(actor=Actor.from_request(self.request))

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self._upload_handler = None
        self._upload_limit = 0
        actions = getattr(self, "action_map", {}) or {}
        if request.method == "POST" and actions.get("post") == "create" and \
                request.META.get("CONTENT_TYPE", "").startswith("multipart/") and getattr(request, "tenant", None):
            tenant = request.tenant
            self._upload_limit = max_artifact_bytes(tenant)
            self._upload_handler = install_handler(request, max_bytes=self._upload_limit,
                                                   directory=tenant_root(tenant.schema_name) / "uploads")
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self._upload_handler is not None:
            declared = request.META.get("CONTENT_LENGTH") or "0"
            if declared.isdigit() and int(declared) > self._upload_limit + MULTIPART_OVERHEAD:
                raise self._too_large()

    def _too_large(self) -> PayloadTooLarge:
        mb = self._upload_limit // (1024 * 1024)
        return PayloadTooLarge(f"The artifact is larger than this organization's upload limit of {mb} MB.",
                               code="artifact_too_large", details={"limit_bytes": self._upload_limit})

    @extend_schema(
        summary="List scans",
        description="Scans you may see (a developer sees their own). Filter with status, ecosystem, name, verdict, "
                    "submitted_by, created_after/created_before; order with `ordering`.",
        parameters=[OpenApiParameter(n, str, description=d) for n, d in (
            ("status", "pending, queued, running, completed, failed, cancelled (comma separated)"),
            ("ecosystem", "pypi, npm, debian, rpm, alpine (comma separated)"), ("name", "contains, case-insensitive"),
            ("verdict", "pass, warn, block or none"), ("submitted_by", "user id or 'me'"),
            ("created_after", "ISO date/time"), ("created_before", "ISO date/time"),
            ("ordering", "created_at, finished_at, score, name, status, ecosystem (prefix - for descending)"))],
        responses={200: ScanSerializer(many=True), **ERRORS},
    )
    def list(self, request: Request) -> Response:
        qs = filters.apply(filters.ScanFilter, request.query_params, self.get_queryset(), request)
        qs = self.filter_queryset(qs)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ScanSerializer(page, many=True).data)

    @extend_schema(
        summary="Submit a scan",
        description="Upload an artifact (multipart `file`, optional `ecosystem`, `name`, `version`) or reference one "
                    "(JSON `ecosystem`, `name`, `version`, optional `connection`, `filename`) to fetch through a "
                    "registry connection. Answers 202 with the scan and a Location to poll. Send an "
                    "`Idempotency-Key` header to make retries safe: the same key and payload answer the same scan. "
                    "With `?wait=N` (seconds, at most 600) the answer waits for the scan to finish: 200 with the "
                    "finished scan and its `verdict` when it does in time, else 202 as usual.",
        request={"multipart/form-data": ScanSubmitSerializer, "application/json": ScanSubmitSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
                    OpenApiParameter("wait", float, OpenApiParameter.QUERY, required=False,
                                     description="seconds to wait for the verdict (0-600)")],
        responses={200: ScanSerializer, 202: ScanSerializer, 409: OpenApiResponse(description="idempotency_key_reused"),
                   413: OpenApiResponse(description="artifact_too_large"),
                   415: OpenApiResponse(description="unsupported_artifact_type (details.supported lists them)"),
                   422: OpenApiResponse(description="no_connection / empty_artifact"),
                   429: OpenApiResponse(description="scan_quota_exceeded: the plan's scans per day"), **ERRORS},
        examples=[OpenApiExample("Reference", value={"ecosystem": "pypi", "name": "requests", "version": "2.31.0"},
                                 request_only=True)],
    )
    def create(self, request: Request) -> Response:
        upload = None
        try:
            data = request.data
            if self._upload_handler is not None and self._upload_handler.too_large:
                raise self._too_large()
            upload = request.FILES.get("file") if hasattr(request, "FILES") else None
            serializer = ScanSubmitSerializer(data={k: v for k, v in data.items() if k != "file"})
            serializer.is_valid(raise_exception=True)
            values = serializer.validated_data
            if upload is None and not (values.get("name") and values.get("version")):
                raise ValidationFailed(
                    "Send an artifact (multipart field 'file') or a reference (ecosystem, name and version).",
                    details={"file": ["Upload a file or give ecosystem, name and version."]})
            result = services.scan_submit(
                tenant=request.tenant, actor=Actor.from_request(request), ecosystem=values.get("ecosystem", ""),
                name=values.get("name", ""), version=values.get("version", ""), upload=upload,
                connection_id=values.get("connection"), filename=values.get("filename", ""),
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        finally:
            if upload is not None:
                upload.close()
        scan = result.scan
        wait = _wait_seconds(request)
        waiter = hooks.verdict_waiter()
        if wait and waiter is not None:
            # Submitted and committed: wait (bounded) for the verdict, for CI gates.
            scan = waiter(scan_id=scan.pk, timeout_seconds=wait) or scan
        body = ScanSerializer(scan).data
        finished = bool(wait) and scan.is_terminal
        response = Response(body, status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)
        response["Location"] = body["urls"]["self"]
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(summary="A scan, with its category scores", responses={200: ScanDetailSerializer, **ERRORS})
    def retrieve(self, request: Request, pk: str) -> Response:
        scan = selectors.scan_get(actor=Actor.from_request(request), scan_id=pk, for_detail=True)
        return Response(ScanDetailSerializer(scan).data)

    @extend_schema(
        summary="A scan's findings",
        parameters=[OpenApiParameter(n, str, description=d) for n, d in (
            ("severity", "critical, high, medium, low, info (comma separated)"),
            ("category", "vulnerability, malicious_code, install_hooks, secrets, license, typosquatting, metadata, "
                         "integrity"),
            ("status", "failed, warning, passed, not_applicable, error"), ("check", "check ids, e.g. PKG-HOOK-001"),
            ("file_path", "contains"))],
        responses={200: FindingSerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="findings")
    def findings(self, request: Request, pk: str) -> Response:
        scan = selectors.scan_get(actor=Actor.from_request(request), scan_id=pk)
        qs = filters.apply(filters.FindingFilter, request.query_params, selectors.finding_list(scan=scan), request)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(FindingSerializer(page, many=True).data)

    @extend_schema(summary="Cancel a scan", request=None,
                   responses={200: ScanSerializer, 409: OpenApiResponse(description="scan_finished"), **ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        scan = services.scan_cancel(tenant=request.tenant, actor=actor,
                                    scan=selectors.scan_get(actor=actor, scan_id=pk))
        return Response(ScanSerializer(selectors.scan_get(actor=actor, scan_id=scan.pk)).data)

    @extend_schema(summary="Scan the same artifact (or reference) again", request=None,
                   responses={202: ScanSerializer, 409: OpenApiResponse(description="artifact_missing"),
                              429: OpenApiResponse(description="scan_quota_exceeded"), **ERRORS})
    @action(detail=True, methods=["post"])
    def rescan(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        new = services.scan_rescan(tenant=request.tenant, actor=actor,
                                   scan=selectors.scan_get(actor=actor, scan_id=pk))
        body = ScanSerializer(new).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["urls"]["self"]
        return response

    @extend_schema(summary="Delete a scan (and its artifact when no other scan uses it)",
                   responses={204: None, **ERRORS})
    def destroy(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        services.scan_delete(tenant=request.tenant, actor=actor, scan=selectors.scan_get(actor=actor, scan_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Download the scanned artifact (audited)",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS})
    @action(detail=True, methods=["get"])
    def artifact(self, request: Request, pk: str) -> FileResponse:
        actor = Actor.from_request(request)
        path, artifact = services.artifact_download(actor=actor, scan=selectors.scan_get(actor=actor, scan_id=pk))
        response = FileResponse(open(path, "rb"), as_attachment=True, filename=artifact.filename,  # noqa: SIM115
                                content_type="application/octet-stream")
        response["X-Content-SHA256"] = artifact.sha256
        return response


@extend_schema_view(
    list=extend_schema(summary="The check catalog", responses={200: CheckSerializer(many=True), **ERRORS}, parameters=[
        OpenApiParameter("category", str), OpenApiParameter("search", str),
        OpenApiParameter("ordering", str, description="id, category, severity, weight (prefix - for descending)")]),
    retrieve=extend_schema(summary="One check", responses={200: CheckSerializer, **ERRORS},
                           parameters=[OpenApiParameter("check_id", str, OpenApiParameter.PATH,
                                                        description="the check id, e.g. PKG-HOOK-001")]),
)
class CheckViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {"list": [], "retrieve": []}
    serializer_class = CheckSerializer
    filter_backends: list[Any] = []  # filtered and ordered in list() (the catalog is not a table)
    lookup_field = lookup_url_kwarg = "check_id"
    lookup_value_regex = "[A-Za-z0-9-]+"

    def get_queryset(self) -> Any:  # the catalog is not a table
        return None

    def list(self, request: Request) -> Response:
        checks = selectors.check_catalog(category=request.query_params.get("category") or None,
                                         search=request.query_params.get("search") or None)
        ordering = request.query_params.get("ordering", "id")
        key = ordering.lstrip("-")
        if key not in ("id", "category", "severity", "weight"):
            raise ValidationFailed(details={"ordering": ["Order by id, category, severity or weight."]})
        if key == "severity":
            checks.sort(key=lambda c: c.severity.rank, reverse=ordering.startswith("-"))
        else:
            checks.sort(key=lambda c: str(getattr(c, key)), reverse=ordering.startswith("-"))
        page = self.paginate_queryset(checks)
        return self.get_paginated_response(CheckSerializer(page, many=True).data)

    def retrieve(self, request: Request, check_id: str) -> Response:
        check = next((c for c in selectors.check_catalog() if c.id == check_id.upper()), None)
        if check is None:
            raise NotFound(f"No check with id '{check_id}'.")
        return Response(CheckSerializer(check).data)


class _SeeConnections(BasePermission):
    message = "Seeing registry connections needs the 'submit scans' or 'manage connections' permission."

    submit = HasPerm("scanning.submit_scan")()
    manage = HasPerm("scanning.manage_connections")()

    def has_permission(self, request: Request, view: Any) -> bool:
        if view.action in ("list", "retrieve"):
            return self.submit.has_permission(request, view) or self.manage.has_permission(request, view)
        return self.manage.has_permission(request, view)


@extend_schema_view(
    list=extend_schema(summary="Registry connections", responses={200: ConnectionSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="A registry connection", responses={200: ConnectionSerializer, **ERRORS}),
    create=extend_schema(summary="Add a registry connection", request=ConnectionInputSerializer,
                         responses={201: ConnectionSerializer, 409: OpenApiResponse(description="connection_exists"),
                                    **ERRORS}),
    partial_update=extend_schema(summary="Change a registry connection (send `secret` to replace it)",
                                 request=ConnectionInputSerializer, responses={200: ConnectionSerializer, **ERRORS}),
    destroy=extend_schema(summary="Remove a registry connection", responses={204: None, **ERRORS}),
)
class ConnectionViewSet(viewsets.GenericViewSet):
    permission_classes = [_SeeConnections]
    serializer_class = ConnectionSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "kind", "created_at"]
    ordering = ["name"]

    def get_queryset(self) -> Any:
        return selectors.connection_list()

    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(self.get_queryset())
        kind = request.query_params.get("kind")
        if kind:
            qs = qs.filter(kind=kind)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ConnectionSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ConnectionSerializer(selectors.connection_get(connection_id=pk)).data)

    def create(self, request: Request) -> Response:
        serializer = ConnectionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        secret = data.pop("secret", "")
        conn = services.connection_create(actor=Actor.from_request(request), data=data, secret=secret)
        response = Response(ConnectionSerializer(conn).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"{request.path.rstrip('/')}/{conn.id}"
        return response

    def partial_update(self, request: Request, pk: str) -> Response:
        conn = selectors.connection_get(connection_id=pk)
        serializer = ConnectionInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        secret = data.pop("secret", None)
        conn = services.connection_update(actor=Actor.from_request(request), conn=conn, data=data, secret=secret)
        return Response(ConnectionSerializer(conn).data)

    def update(self, request: Request, pk: str) -> Response:
        return self.partial_update(request, pk)

    def destroy(self, request: Request, pk: str) -> Response:
        services.connection_delete(actor=Actor.from_request(request), conn=selectors.connection_get(connection_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Test a connection: reach its index with the stored credentials", request=None,
                   responses={200: ConnectionTestSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        conn = selectors.connection_get(connection_id=pk)
        ok, message = services.connection_test(actor=Actor.from_request(request), conn=conn)
        return Response({"ok": ok, "message": message, "tested_at": conn.last_tested_at})
