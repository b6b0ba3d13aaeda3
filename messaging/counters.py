"""Messaging metrics shared across processes through Redis, exported at /metrics.

The relay, the bridge and the workers are separate processes from the web
server that answers /metrics, so their counters cannot live in its registry:
each process adds to in-memory counters and flushes them to one Redis hash every
few seconds (and at exit); the beat task `messaging.outbox_sweep` stores the
outbox backlog there too. `MessagingCollector`, registered in
`config.metrics.REGISTRY` by the app, reads that hash at scrape time.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

FLUSH_EVERY_SECONDS = 5.0

# name -> help. Labels are encoded in the field name as `name|label=value,...`.
COUNTERS: dict[str, str] = {
    "outbox_published_total": "Outbox events the relay published and the broker acknowledged.",
    "outbox_publish_failures_total": "Relay batches that failed (broker down or slow); retried with backoff.",
    "progress_published_total": "Scan progress ticks published at QoS 0.",
    "progress_dropped_total": "Scan progress ticks dropped because the broker was unreachable.",
    "bridge_messages_total": "MQTT messages the bridge handled, by kind and outcome.",
    "bridge_dropped_total": "MQTT messages the bridge dropped, by reason (malformed, oversized, unknown tenant...).",
}
GAUGES: dict[str, str] = {
    "outbox_backlog_events": "Outbox events not yet published, over every organization (at the last sweep).",
    "outbox_oldest_pending_seconds": "Age of the oldest unpublished outbox event (at the last sweep).",
    "outbox_backlog_updated_timestamp_seconds": "When the outbox backlog was last measured (Unix time).",
}


def redis_key(*parts: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "gh"
    return ":".join([prefix, "messaging", *parts])


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def field(name: str, labels: dict[str, str] | None = None) -> str:
    if not labels:
        return name
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class _Buffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: Counter[str] = Counter()
        self.last_flush = time.monotonic()

    def add(self, key: str, amount: int) -> None:
        with self.lock:
            self.pending[key] += amount
            due = time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, Counter()
            self.last_flush = time.monotonic()
        if not pending:
            return
        try:
            client = redis_client()
            try:
                pipe = client.pipeline(transaction=False)
                for key, amount in pending.items():
                    pipe.hincrby(redis_key("counters"), key, amount)
                pipe.execute()
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - metrics never break the work they count
            with self.lock:
                self.pending.update(pending)
            logger.debug("messaging counters not flushed", exc_info=True)


_buffer = _Buffer()
atexit.register(_buffer.flush)


def incr(name: str, amount: int = 1, **labels: str) -> None:
    if name not in COUNTERS:
        raise KeyError(f"unknown messaging counter {name!r}")
    _buffer.add(field(name, labels), amount)


def flush() -> None:
    _buffer.flush()


def set_gauges(values: dict[str, float]) -> None:
    client = redis_client()
    try:
        client.hset(redis_key("gauges"), mapping={k: repr(float(v)) for k, v in values.items() if k in GAUGES})
    finally:
        client.close()


def read() -> tuple[dict[str, int], dict[str, float]]:
    """(counters by field, gauges by name) as stored in Redis."""
    client = redis_client()
    try:
        raw_counters = client.hgetall(redis_key("counters"))
        raw_gauges = client.hgetall(redis_key("gauges"))
    finally:
        client.close()
    counters = {k.decode(): int(v) for k, v in raw_counters.items()}
    gauges = {k.decode(): float(v) for k, v in raw_gauges.items()}
    return counters, gauges


def _parse_field(key: str) -> tuple[str, dict[str, str]]:
    name, _, label_text = key.partition("|")
    labels = dict(pair.split("=", 1) for pair in label_text.split(",") if "=" in pair) if label_text else {}
    return name, labels


class MessagingCollector(Collector):
    """Reads the messaging counters and gauges from Redis when /metrics is scraped."""

    def describe(self) -> Iterator[Any]:
        # Names only, so registering never touches Redis.
        for name, help_text in COUNTERS.items():
            yield CounterMetricFamily("gatehouse_" + name.removesuffix("_total"), help_text)
        for name, help_text in GAUGES.items():
            yield GaugeMetricFamily("gatehouse_" + name, help_text)

    def collect(self) -> Iterator[Any]:
        try:
            counters, gauges = read()
        except Exception:  # noqa: BLE001 - Redis down: /ready reports it; /metrics still answers
            logger.debug("messaging metrics unavailable", exc_info=True)
            return
        families: dict[str, tuple[CounterMetricFamily, list[str]]] = {}
        for key, value in sorted(counters.items()):
            name, labels = _parse_field(key)
            if name not in COUNTERS:
                continue
            metric_name = "gatehouse_" + name.removesuffix("_total")
            label_names = sorted(labels)
            if name not in families:
                families[name] = (CounterMetricFamily(metric_name, COUNTERS[name], labels=label_names), label_names)
            family, expected = families[name]
            if sorted(labels) == expected:
                family.add_metric([labels[k] for k in expected], value)
        for family, _ in families.values():
            yield family
        for name, help_text in GAUGES.items():
            if name in gauges:
                yield GaugeMetricFamily("gatehouse_" + name, help_text, value=gauges[name])


_registered = False


def register_collector() -> None:
    global _registered
    if _registered:
        return
    from config.metrics import REGISTRY

    REGISTRY.register(MessagingCollector())
    _registered = True
