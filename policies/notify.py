"""Verdict notifications for waiting clients (`POST /api/v1/scans?wait=N`), over Redis pub/sub.

When an evaluation triggered by a scan's completion commits, `announce()` publishes
the verdict on a channel named after the organization's schema and the scan id;
`policies.selectors.wait_for_verdict` subscribes to it, so a waiting request wakes
the moment the scan is done instead of polling the database in a tight loop. The
message is only a wake-up call: the waiter always reads the scan row itself.
Redis pub/sub channels are not scoped by database number, so the channel carries
the cache key prefix too.
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def client() -> redis.Redis:
    url = settings.REDIS_URL
    with _lock:
        existing = _clients.get(url)
        if existing is None:
            existing = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                                            health_check_interval=30)
        return existing


def channel(schema: str, scan_id: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "gh")
    return f"{prefix}:policies:verdict:{schema}:{scan_id}"


def announce(schema: str, scan_id: str, verdict: str | None) -> None:
    """Wake whoever waits for this scan. Best effort: waiters also re-read the database."""
    try:
        client().publish(channel(schema, scan_id), verdict or "")
    except redis.RedisError:
        logger.warning("verdict notification could not be published", exc_info=True,
                       extra={"scan": scan_id, "schema": schema})
