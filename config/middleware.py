"""Request context: request id, log context, access log, HTTP metrics and baseline headers.

Placed first in MIDDLEWARE so that every answer, including the tenant resolver's
404 for an unknown host and the /health short cut, carries an ``X-Request-ID`` and
the security headers, and is logged once.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from config import metrics, security
from config.errors import error_response
from config.logging import authenticated_user_id, current_request_var, request_id_var, route_of, tenant_var, user_var

access_logger = logging.getLogger("gatehouse.access")

# Accept a client's id only when it cannot smuggle anything into logs or headers.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")

__all__ = ["REQUEST_ID_PATTERN", "RequestContextMiddleware", "route_of"]


def _api_key_id(request: HttpRequest) -> str | None:
    """The id (never the secret) of the API key a request authenticated with, if any."""
    key: Any = getattr(request, "api_key", None) or getattr(request, "auth", None)
    meta = getattr(key, "_meta", None)
    if meta is not None and meta.model_name == "apikey":
        return str(key.pk)
    return None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        rid_token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        user_token = user_var.set(None)
        request_token = current_request_var.set(request)
        try:
            if request.path == "/health" and request.method in ("GET", "HEAD"):
                # Liveness answers before tenant routing: it must not depend on the database.
                response: HttpResponse = JsonResponse({"status": "ok"})
            else:
                response = self.get_response(request)
            if isinstance(response, HttpResponseNotAllowed):
                allowed = response.get("Allow", "")
                response = error_response(
                    request, status=405, code="method_not_allowed",
                    message=f"Method {request.method} is not allowed here.",
                    details={"allowed": [m.strip() for m in allowed.split(",") if m.strip()]},
                    headers={"Allow": allowed},
                )
            response["X-Request-ID"] = request_id
            # Answers that never reached the inner middleware (the /health short cut,
            # the tenant resolver's refusals) get the same security headers as the rest.
            security.ensure_security_headers(request, response)
            self._log(request, response, started)
            return response
        finally:
            current_request_var.reset(request_token)
            request_id_var.reset(rid_token)
            tenant_var.reset(tenant_token)
            user_var.reset(user_token)

    @staticmethod
    def _log(request: HttpRequest, response: HttpResponse, started: float) -> None:
        duration = time.perf_counter() - started
        route = route_of(request)
        tenant = getattr(request, "tenant", None)
        user_id = authenticated_user_id(request)
        if user_id:
            user_var.set(user_id)
        if tenant is not None:
            tenant_var.set(tenant.schema_name)
        metrics.observe_request(request.method or "GET", route, response.status_code, duration)
        extra: dict[str, Any] = {
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 2),
        }
        api_key = _api_key_id(request)
        if api_key:
            extra["key_id"] = api_key
        access_logger.info("%s %s %s", request.method, route, response.status_code, extra=extra)
