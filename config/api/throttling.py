"""Rate limits for the API: per user, per API key and per client address, counted in Redis.

DRF throttle classes (listed in REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"], so every
API view has them unless it sets `throttle_classes`). Each counts requests in a fixed
window with one atomic Redis increment (`cache.add` + `cache.incr`), so the count is
right across every web process. Cache keys carry the organization's schema (the
cache's KEY_FUNCTION), so limits are per organization too.

Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] under the class's scope, as
"<count>/<period>" where period is s, sec, m, min, h, hour, d, day or a number of
seconds ("30/60"). A refused request answers 429 in the error envelope with
`Retry-After` (seconds until the window ends).

- `UserRateThrottle` ("user"): a signed-in user (session or JWT).
- `ApiKeyRateThrottle` ("api_key"): a request authenticated by an API key.
- `IPRateThrottle` ("ip"): every request, by client address (REMOTE_ADDR; uvicorn
  applies X-Forwarded-For from trusted proxies, nothing else does).
- `ScopedRateThrottle`: `throttle_scope = "exports"` on a view; counted per user, key or
  address, at the rate configured for that scope.

If Redis cannot be reached the request is let through (and logged): rate limits
protect availability, so they must not take the API down themselves.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
            "d": 86400, "day": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'100/min' -> (100, 60); '30/60' -> (30, 60); None -> None (no limit)."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    period = period.strip().lower()
    seconds = int(period) if period.isdigit() else _PERIODS.get(period)
    if not count.strip().isdigit() or not seconds:
        raise ValueError(f"Throttle rate {rate!r} is not '<count>/<period>' (period: s, min, hour, day or seconds).")
    return int(count), seconds


def client_address(request: Request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def api_key_of(request: Request) -> Any:
    """The API key a request authenticated with, or None (duck-typed: accounts owns the model)."""
    key = getattr(request, "auth", None)
    meta = getattr(key, "_meta", None)
    return key if meta is not None and meta.model_name == "apikey" else None


class FixedWindowThrottle(BaseThrottle):
    scope: str = ""

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self._wait: float | None = None

    def get_rate(self) -> tuple[int, int] | None:
        return parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def get_ident_for(self, request: Request, view: Any) -> str | None:
        """Who is counted; None when this throttle does not apply to the request."""
        raise NotImplementedError

    def cache_scope(self, view: Any) -> str:
        return self.scope

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = self.rate
        if rate is None:
            return True
        ident = self.get_ident_for(request, view)
        if ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.cache_scope(view)}:{ident}:{window}"
        try:
            cache.add(key, 0, timeout=period + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=period + 1)
                count = 1
        except Exception:
            logger.warning("rate limit not applied: the cache is unavailable", extra={"scope": self.scope})
            return True
        if count <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self._wait


class UserRateThrottle(FixedWindowThrottle):
    scope = "user"

    def get_ident_for(self, request: Request, view: Any) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or api_key_of(request) is not None:
            return None
        return f"user:{user.pk}"


class ApiKeyRateThrottle(FixedWindowThrottle):
    scope = "api_key"

    def get_ident_for(self, request: Request, view: Any) -> str | None:
        key = api_key_of(request)
        return f"key:{key.pk}" if key is not None else None


class IPRateThrottle(FixedWindowThrottle):
    scope = "ip"

    def get_ident_for(self, request: Request, view: Any) -> str | None:
        return f"ip:{client_address(request)}"


class ScopedRateThrottle(FixedWindowThrottle):
    """Uses the view's `throttle_scope`; views without one are not limited by it."""

    def __init__(self) -> None:
        self._wait = None
        self.rate = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        self.scope = scope
        self.rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))
        return super().allow_request(request, view)

    def get_ident_for(self, request: Request, view: Any) -> str | None:
        key = api_key_of(request)
        if key is not None:
            return f"key:{key.pk}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{client_address(request)}"
