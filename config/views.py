"""Platform endpoints: liveness, readiness, metrics and system information."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import metrics
from config.errors import error_response
from config.readiness import run_checks


@csrf_exempt
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no dependency."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_GET
def ready(request: HttpRequest) -> HttpResponse:
    """Readiness: every required dependency answers; 503 naming the ones that do not."""
    results = run_checks()
    healthy = all(r.ok for r in results if r.required)
    body = {
        "status": "ok" if healthy else "unavailable",
        "components": {r.name: r.as_dict() for r in results},
    }
    return JsonResponse(body, status=200 if healthy else 503)


@csrf_exempt
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. Open on the platform host; elsewhere a configured bearer token is required."""
    tenant = getattr(request, "tenant", None)
    on_public_host = tenant is None or tenant.is_public
    if not on_public_host or settings.METRICS_TOKEN:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not settings.METRICS_TOKEN or not hmac.compare_digest(supplied, settings.METRICS_TOKEN):
            if not on_public_host:
                return error_response(request, status=404, code="not_found",
                                      message="The requested resource was not found.")
            return error_response(request, status=401, code="not_authenticated",
                                  message="A metrics token is required.")
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


class SystemInfoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Name, version and server time",
        responses=inline_serializer("SystemInfo", {
            "name": serializers.CharField(), "version": serializers.CharField(),
            "api_version": serializers.CharField(), "server_time": serializers.DateTimeField(),
        }),
    )
    def get(self, request: Request) -> Response:
        return Response({
            "name": "Gatehouse",
            "version": settings.GATEHOUSE_VERSION,
            "api_version": settings.API_VERSION,
            "server_time": timezone.now().isoformat(),
        })
