"""One error family, one envelope.

Every error the platform answers, from a service, DRF, or Django itself, has the
shape ``{"error": {"code", "message", "details", "request_id"}}``. Browsers asking
for HTML on dashboard pages get the same information as a page.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from rest_framework import exceptions as drf_exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from config.logging import request_id_var

View = Callable[..., HttpResponse]

logger = logging.getLogger("gatehouse.errors")


class ApplicationError(Exception):
    """Base of every error a service raises on purpose. Subclasses fix code and status."""

    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details if details is not None else {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    status_code = 400
    code = "validation_error"
    default_message = "Some fields are invalid; see details."


class Unauthenticated(ApplicationError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Authentication credentials were missing or invalid."


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = "The requested resource was not found."


def parse_uuid(value: Any, what: str) -> uuid.UUID:
    """An id from a URL or a payload; anything that is not a UUID names nothing (404)."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError) as exc:
        raise NotFound(f"No such {what}.") from exc


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state of the resource."


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is larger than allowed."


class UnsupportedMediaType(ApplicationError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "The content type of the request is not supported."


class Unprocessable(ApplicationError):
    status_code = 422
    code = "unprocessable"
    default_message = "The request was well formed but cannot be processed."


class RateLimited(ApplicationError):
    status_code = 429
    code = "throttled"
    default_message = "Too many requests; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(int(retry_after), 1))}
        details = kwargs.pop("details", None) or {"retry_after": max(int(retry_after), 1)}
        super().__init__(message, headers=headers, details=details, **kwargs)


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    default_message = "A service Gatehouse depends on is unavailable; retry later."


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "request_id": request_id_var.get(),
        }
    }


def wants_html(request: HttpRequest | None) -> bool:
    """Dashboard pages answer browsers with a page; the API and probes always get JSON."""
    if request is None:
        return False
    path = request.path
    if path.startswith(("/api/", "/health", "/ready", "/metrics", "/.well-known/", "/ws/")):
        return False
    accept = request.headers.get("Accept", "")
    return "text/html" in accept


def error_response(request: HttpRequest | None, *, status: int, code: str, message: str,
                   details: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    payload = error_payload(code, message, details)
    if wants_html(request):
        html = render_to_string("errors/error.html", {"status": status, **payload["error"]}, request=request)
        response: HttpResponse = HttpResponse(html, status=status)
    else:
        response = JsonResponse(payload, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def page_errors(fallback: str, *, page_for: tuple[int, ...] = (403, 404)) -> Callable[[View], View]:
    """Dashboard views: a service error becomes the error page, except on a form POST, where it
    becomes a flash message and a redirect back (to the referrer, else the `fallback` URL name).
    Statuses in `page_for` always get the page: there is nothing to go back to."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except ApplicationError as exc:
                if request.method == "POST" and exc.status_code not in page_for:
                    messages.error(request, exc.message)
                    return redirect(request.META.get("HTTP_REFERER") or reverse(fallback))
                return error_response(request, status=exc.status_code, code=exc.code, message=exc.message,
                                      details=exc.details, headers=exc.headers)
            except drf_exceptions.ValidationError as exc:  # list filters parsed by the API's filter sets
                return error_response(request, status=400, code="validation_error",
                                      message="Some filters are invalid.", details=exc.detail)

        return wrapper

    return decorate


def django_validation_details(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": exc.messages}


_DRF_CODES = {
    drf_exceptions.ValidationError: "validation_error",
    drf_exceptions.ParseError: "parse_error",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def _drf_message(exc: drf_exceptions.APIException) -> tuple[str, Any]:
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, list):
            detail = {"non_field_errors": detail}
        return "Some fields are invalid; see details.", detail
    detail = exc.detail
    if isinstance(detail, dict | list):
        return str(exc.default_detail), detail
    message = str(detail)
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        return message, {"retry_after": int(exc.wait) + 1}
    return message, {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF's EXCEPTION_HANDLER: every API error becomes the envelope."""
    request = context.get("request")
    django_request = getattr(request, "_request", request)

    if isinstance(exc, ApplicationError):
        _log_client_error(django_request, exc.status_code, exc.code, exc.message)
        return error_response(None, status=exc.status_code, code=exc.code, message=exc.message,
                              details=exc.details, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        _log_client_error(django_request, 400, "validation_error", "validation failed")
        return error_response(None, status=400, code="validation_error",
                              message="Some fields are invalid; see details.",
                              details=django_validation_details(exc))
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return error_response(None, status=413, code="payload_too_large",
                              message="The request body is larger than allowed.")

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        return error_response(None, status=500, code="server_error",
                              message="An unexpected error occurred. It has been logged; quote the request id.")

    assert isinstance(exc, drf_exceptions.APIException)
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None) or str(exc.default_code)
    message, details = _drf_message(exc)
    _log_client_error(django_request, response.status_code, code, message)
    out = error_response(None, status=response.status_code, code=code, message=message, details=details)
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in response:
            out[header] = response[header]
    return out


def _log_client_error(request: Any, status: int, code: str, message: str) -> None:
    logger.info("request refused", extra={"status": status, "code": code, "reason": message,
                                          "path": getattr(request, "path", None)})


# --- Django's own error views (set as handler400/403/404/500 in both URLconfs) ----

def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = "The request was malformed."
    if isinstance(exception, RequestDataTooBig):
        return error_response(request, status=413, code="payload_too_large",
                              message="The request body is larger than allowed.")
    if isinstance(exception, SuspiciousOperation):
        message = "The request was refused as unsafe."
    return error_response(request, status=400, code="bad_request", message=message)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, status=403, code="permission_denied",
                          message="You do not have permission to perform this action.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, status=404, code="not_found", message="The requested resource was not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return error_response(request, status=500, code="server_error",
                          message="An unexpected error occurred. It has been logged; quote the request id.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_response(request, status=403, code="csrf_failed",
                          message="The form expired or was not sent from Gatehouse; reload the page and try again.")
