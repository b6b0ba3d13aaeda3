"""What accounts keeps in Redis: the access-token denylist and the login throttles.

Keys carry the cache prefix and the organization's schema, so one organization's
entries never answer for another's. A Redis failure refuses the request (fail
closed) with a 503 rather than letting a revoked token through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

from config.errors import RateLimited, ServiceUnavailable

_local = threading.local()


def client() -> redis.Redis:
    """One client per thread and Redis URL (tests and benches point settings at their own database)."""
    url = settings.REDIS_URL
    existing = getattr(_local, "client", None)
    if existing is None or getattr(_local, "url", None) != url:
        _local.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        _local.url = url
    return _local.client


def key(*parts: str, schema: str | None = None) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "gh")
    return ":".join([prefix, schema or connection.schema_name, "accounts", *parts])


@contextmanager
def available() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise ServiceUnavailable("The token store is unavailable; retry in a moment.",
                                 code="auth_store_unavailable") from exc


# --- Denylist: access-token jti (logout) and session id (refresh reuse) -----------------

def deny(kind: str, value: str, *, seconds: int, schema: str | None = None) -> None:
    if seconds <= 0:
        return
    with available():
        client().set(key("deny", kind, value, schema=schema), b"1", ex=seconds)


def denied(*, jti: str, sid: str | None) -> bool:
    keys = [key("deny", "jti", jti)]
    if sid:
        keys.append(key("deny", "sid", sid))
    with available():
        return any(client().mget(keys))


# --- Throttles: fixed windows --------------------------------------------------------------

@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, value: str) -> Rate:
        count, _, seconds = value.partition("/")
        return cls(int(count), int(seconds or 60))


def hit(scope: str, ident: str, rate: Rate) -> int | None:
    """Count one hit; return the seconds to wait when the window is already full, else None."""
    window = int(time.time()) // rate.seconds
    name = key("throttle", scope, ident, str(window))
    with available():
        pipe = client().pipeline()
        pipe.incr(name)
        pipe.expire(name, rate.seconds + 1)
        count, _ = pipe.execute()
    if int(count) > rate.count:
        return rate.seconds - int(time.time()) % rate.seconds
    return None


def throttle_login(*, ip: str | None, email: str, scope: str = "login") -> None:
    """Per IP and per account (for sign-in, or `scope="reset"` for reset emails); the same for
    known and unknown emails."""
    checks = [(f"{scope}-ip", ip or "unknown", Rate.parse(settings.ACCOUNTS_LOGIN_RATE_IP)),
              (f"{scope}-account", email or "-", Rate.parse(settings.ACCOUNTS_LOGIN_RATE_ACCOUNT))]
    waits = [wait for scope, ident, rate in checks if (wait := hit(scope, ident, rate)) is not None]
    if waits:
        raise RateLimited("Too many attempts from here or for this account; wait before trying again.",
                          retry_after=max(waits), code=f"{scope}_throttled")


def clear(pattern_parts: tuple[str, ...] = ("throttle",)) -> int:
    """Delete this process's keys under `accounts:<parts>` in every schema (tests, operators)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "gh")
    pattern = f"{prefix}:*:accounts:{':'.join(pattern_parts)}:*"
    deleted = 0
    with available():
        for name in client().scan_iter(match=pattern, count=500):
            deleted += client().delete(name)
    return deleted
