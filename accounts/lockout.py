"""Glue between django-axes and Gatehouse: the username and IP it locks out by, and the answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.managers import normalize_email_address
from audit.context import client_ip
from config.errors import error_response

LOCKED_MESSAGE = "Too many failed sign-in attempts for this account. Try again later or reset your password."


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if value is None and request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get("email") or data.get("username")
    return normalize_email_address(value) if value else None


def axes_client_ip(request: HttpRequest) -> str | None:
    return client_ip(request)


def _credentials(email: str) -> dict[str, str]:
    return {"email": normalize_email_address(email)}


def is_locked(request: HttpRequest, email: str) -> bool:
    return AxesProxyHandler.is_locked(request, _credentials(email))


def seconds_until_unlocked(email: str) -> int:
    """Seconds left before the oldest failure inside the window leaves it."""
    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    threshold = timezone.now() - cooloff
    first = (AccessAttempt.objects.filter(username=normalize_email_address(email), attempt_time__gte=threshold)
             .order_by("attempt_time").values_list("attempt_time", flat=True).first())
    if first is None:
        return int(cooloff.total_seconds())
    return max(int((first + cooloff - timezone.now()).total_seconds()) + 1, 1)


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: our views answer lockouts themselves; anything else (the staff
    admin's login) gets the error envelope with a Retry-After."""
    if isinstance(original_response, HttpResponse) and getattr(request, "gatehouse_lockout_handled", False):
        return original_response
    if isinstance(original_response, dict):  # axes' async path passes (request, credentials)
        credentials = original_response
    email = axes_username(request, credentials) or ""
    retry = seconds_until_unlocked(email) if email else int(settings.AXES_COOLOFF_TIME.total_seconds())
    return error_response(request, status=429, code="account_locked", message=LOCKED_MESSAGE,
                          details={"retry_after": retry}, headers={"Retry-After": str(retry)})
