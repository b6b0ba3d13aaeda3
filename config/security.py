"""HTTP hardening: security headers, Content-Security-Policy, CORS per organization, body size limits.

- `ensure_security_headers` puts the baseline headers on every response (called by
  RequestContextMiddleware for each answer, including the ones that never reach the
  inner middleware): CSP, X-Frame-Options, nosniff, Referrer-Policy,
  Permissions-Policy, Cross-Origin-Opener-Policy, and HSTS on HTTPS when configured.
- `ContentSecurityPolicyMiddleware` is django-csp's middleware (nonces, per-view
  decorators) plus one addition: pages rendered by third-party code we trust and
  cannot change (the Swagger UI, the Django admin) carry inline blocks; their exact
  hashes are allowed for that response only, never 'unsafe-inline'.
- `cors_allowed_for_tenant` answers django-cors-headers' `check_request_enabled`
  signal: an origin may call an organization's API only if it is listed in that
  organization's `cors_allowed_origins` setting.
- `RequestBodyLimitMiddleware` refuses bodies over `REQUEST_MAX_BODY_BYTES` (or, for
  upload views, `REQUEST_MAX_UPLOAD_BYTES`) with 413 before the view reads them;
  `limit_request_body` does the same in front of the ASGI application, before Django
  has spooled the body to disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from config.errors import error_payload, error_response

# --- Headers ----------------------------------------------------------------------


def ensure_security_headers(request: HttpRequest, response: HttpResponse) -> None:
    """Add every baseline security header the response does not carry yet."""
    if "Content-Security-Policy" not in response and not getattr(response, "_csp_exempt", False):
        policy = build_policy()
        if policy:
            response["Content-Security-Policy"] = policy
    if not getattr(response, "xframe_options_exempt", False):
        response.headers.setdefault("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY"))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if settings.SECURE_REFERRER_POLICY:
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
    if getattr(settings, "PERMISSIONS_POLICY", ""):
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        response.headers.setdefault("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
    if settings.SECURE_HSTS_SECONDS and request.is_secure() and "Strict-Transport-Security" not in response:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        response["Strict-Transport-Security"] = value


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)
_INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)


def _hashes(pattern: re.Pattern[str], html: str) -> list[str]:
    digests = []
    for block in pattern.findall(html):
        digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii")
        digests.append(f"'sha256-{digest}'")
    return sorted(set(digests))


def _trusted_inline(request: HttpRequest) -> tuple[bool, bool]:
    """(scripts, styles): whether this page's inline blocks come from code we trust."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return False, False
    view = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    if view is not None:
        from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

        if issubclass(view, SpectacularSwaggerView | SpectacularRedocView):
            return True, True
    if match.app_name == "admin" or "admin" in match.namespaces:
        return False, True
    return False, False


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        scripts, styles = _trusted_inline(request)
        content_type = response.get("Content-Type", "")
        if (scripts or styles) and not response.streaming and content_type.startswith("text/html"):
            html = response.content.decode(response.charset or "utf-8", errors="replace")
            update: dict[str, list[str]] = dict(getattr(response, "_csp_update", None) or {})
            if scripts and (script_hashes := _hashes(_INLINE_SCRIPT, html)):
                update["script-src"] = [*update.get("script-src", []), *script_hashes]
            if styles and (style_hashes := _hashes(_INLINE_STYLE, html)):
                update["style-src"] = [*update.get("style-src", []), *style_hashes]
            if update:
                response._csp_update = update  # type: ignore[attr-defined]
        return super().process_response(request, response)


# --- CORS per organization --------------------------------------------------------------

def cors_allowed_for_tenant(sender: Any = None, request: HttpRequest | None = None, **_: Any) -> bool:
    """django-cors-headers asks whether `request` may be answered cross-origin."""
    if request is None or not request.path_info.startswith("/api/"):
        return False
    tenant = getattr(request, "tenant", None)
    origin = request.headers.get("Origin")
    if tenant is None or tenant.is_public or not origin:
        return False
    allowed = tenant.setting("cors_allowed_origins") or []
    return origin.rstrip("/") in allowed


def connect_cors_signal() -> None:
    from corsheaders.signals import check_request_enabled

    check_request_enabled.connect(cors_allowed_for_tenant, dispatch_uid="gatehouse.cors.tenant")


connect_cors_signal()


# --- Request body limits -----------------------------------------------------------------

def accepts_uploads(view: Any) -> Any:
    """Mark a view (function or class) as an upload route: its bodies may reach REQUEST_MAX_UPLOAD_BYTES."""
    view.accepts_uploads = True
    return view


def _is_upload_view(view_func: Any) -> bool:
    if getattr(view_func, "accepts_uploads", False):
        return True
    view = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    if view is None:
        return False
    if getattr(view, "accepts_uploads", False):
        return True
    from rest_framework.parsers import FileUploadParser, MultiPartParser
    from rest_framework.views import APIView

    # Only parsers a view declares count: DRF's defaults include MultiPartParser for every view.
    parsers: list[Any] = []
    for klass in view.__mro__:
        if klass is not APIView and "parser_classes" in vars(klass):
            parsers = list(vars(klass)["parser_classes"] or [])
            break
    parsers += list((getattr(view_func, "initkwargs", None) or {}).get("parser_classes", []) or [])
    return any(isinstance(p, type) and issubclass(p, MultiPartParser | FileUploadParser) for p in parsers)


def _body_size(request: HttpRequest) -> int | None:
    """The body's size: Content-Length, or for a chunked ASGI body, the spooled file's size."""
    declared = request.META.get("CONTENT_LENGTH")
    if declared not in (None, ""):
        return int(declared)
    stream = getattr(request, "_stream", None)
    if hasattr(request, "scope") and stream is not None and hasattr(stream, "seek"):
        position = stream.tell()
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(position)
        return size
    return None


def _too_large(request: HttpRequest | None, size: int, limit: int) -> HttpResponse:
    return error_response(
        request, status=413, code="payload_too_large",
        message=f"The request body is {size} bytes; this route accepts at most {limit} bytes.",
        details={"limit_bytes": limit, "received_bytes": size},
    )


class RequestBodyLimitMiddleware(MiddlewareMixin):
    """413 for bodies over the limit of the matched view, checked before anything reads the body.

    Must come before CsrfViewMiddleware (which reads form bodies in its process_view).
    """

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> HttpResponse | None:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        try:
            size = _body_size(request)
        except ValueError:
            return error_response(request, status=400, code="bad_request",
                                  message="The Content-Length header is not a number.")
        if size is None:
            return None
        limit = settings.REQUEST_MAX_UPLOAD_BYTES if _is_upload_view(view_func) else settings.REQUEST_MAX_BODY_BYTES
        if size > limit:
            return _too_large(request, size, limit)
        return None


ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
                   Awaitable[None]]


def limit_request_body(app: ASGIApp, *, limit: int | None = None) -> ASGIApp:
    """Wrap an ASGI app: HTTP bodies larger than `limit` (default REQUEST_MAX_UPLOAD_BYTES) get 413.

    Django's ASGI handler spools the whole body to disk before any middleware runs, so
    the per-view limit above cannot stop a huge upload from filling the disk; this
    outer bound can. A declared Content-Length over the limit is refused before a byte
    is read; a chunked body is cut off as soon as it passes the limit.
    """

    async def guarded(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                      send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        cap = limit if limit is not None else settings.REQUEST_MAX_UPLOAD_BYTES
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _send_413(send, int(declared), cap)
            return

        received = 0
        refused = False
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await app(scope, counting_receive, tracking_send)
        if refused and not started:
            await _send_413(send, received, cap)

    return guarded


async def _send_413(send: Callable[[dict[str, Any]], Awaitable[None]], size: int, limit: int) -> None:
    body = json.dumps(error_payload(
        "payload_too_large", f"The request body is at least {size} bytes; the largest accepted is {limit} bytes.",
        {"limit_bytes": limit},
    )).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
