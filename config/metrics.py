"""Prometheus metrics exported at /metrics on the public host.

- HTTP: requests by route and status, latency histograms (recorded by the request
  middleware in the web process itself).
- Celery: tasks by name and state, and task run time. Tasks run in worker processes,
  so the worker's signal handlers (`install_celery_signals`) add to counters kept in
  Redis, and the web process reads them back at scrape time.
- Queue depth: the length of each Celery queue in the broker (Redis lists).

Reading Redis at scrape time keeps the numbers right however many worker and web
processes run, and a worker restart loses nothing. If Redis cannot be reached the
scrape still answers, with `gatehouse_metrics_redis_up 0`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: N811
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "gatehouse_http_requests_total", "HTTP requests answered, by route and status.",
    ["method", "route", "status"], registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "gatehouse_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
    ["method", "route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


# --- Celery: recorded by workers into Redis ---------------------------------------

TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_SEP = "\x1f"  # between label values in a Redis hash field; never part of a task name
# kombu's Redis transport keeps messages of priority p > 0 in "<queue>\x06\x16<p>".
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


_clients: dict[str, Any] = {}


def _client(url: str) -> Any:
    """One client (and connection pool) per URL; redis-py makes a fresh pool after a fork."""
    import redis

    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return _clients[url]


def _redis() -> Any:
    from django.conf import settings

    return _client(settings.REDIS_URL)


def _broker() -> Any:
    from django.conf import settings

    return _client(settings.CELERY_BROKER_URL)


def _key(name: str) -> str:
    from django.conf import settings

    prefix = settings.CACHES["default"].get("KEY_PREFIX", "gh")
    return f"{prefix}:metrics:celery:{name}"


_started: dict[str, float] = {}


def record_task_state(task_name: str, state: str) -> None:
    """Count one task reaching `state` (received, started, succeeded, failed, retried, revoked, rejected)."""
    try:
        _redis().hincrby(_key("tasks"), f"{task_name}{_SEP}{state}", 1)
    except Exception:  # metrics must never break a task
        logger.warning("could not record a Celery metric", extra={"task": task_name, "state": state})


def record_task_runtime(task_name: str, seconds: float) -> None:
    try:
        pipe = _redis().pipeline(transaction=False)
        key = _key("runtime")
        for bound in TASK_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(key, f"{task_name}{_SEP}{bound}", 1)
        pipe.hincrby(key, f"{task_name}{_SEP}+Inf", 1)
        pipe.hincrbyfloat(key, f"{task_name}{_SEP}sum", seconds)
        pipe.execute()
    except Exception:
        logger.warning("could not record a Celery metric", extra={"task": task_name})


def _task_name(sender: Any = None, request: Any = None, task: Any = None) -> str:
    for candidate in (task, sender, getattr(request, "task", None)):
        name = getattr(candidate, "name", None) if candidate is not None and not isinstance(candidate, str) else candidate
        if isinstance(name, str) and name:
            return name
    return "unknown"


def _on_received(request: Any = None, **_: Any) -> None:
    record_task_state(getattr(request, "name", None) or _task_name(request=request), "received")


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    _started[task_id or ""] = time.perf_counter()
    record_task_state(_task_name(task=task), "started")


def _on_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    name = _task_name(task=task)
    mapped = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried", "IGNORED": "ignored",
              "REJECTED": "rejected", "REVOKED": "revoked"}.get(state or "", (state or "unknown").lower())
    record_task_state(name, mapped)
    if started is not None:
        record_task_runtime(name, time.perf_counter() - started)


def _on_revoked(request: Any = None, sender: Any = None, **_: Any) -> None:
    record_task_state(_task_name(sender=sender, request=request), "revoked")


def _on_rejected(message: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    record_task_state(headers.get("task") or "unknown", "rejected")


def install_celery_signals() -> None:
    """Connect the worker-side handlers (idempotent; harmless in processes that run no task)."""
    from celery import signals

    signals.task_received.connect(_on_received, weak=False, dispatch_uid="gatehouse.metrics.received")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="gatehouse.metrics.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="gatehouse.metrics.postrun")
    signals.task_revoked.connect(_on_revoked, weak=False, dispatch_uid="gatehouse.metrics.revoked")
    signals.task_rejected.connect(_on_rejected, weak=False, dispatch_uid="gatehouse.metrics.rejected")


def queue_names() -> tuple[str, ...]:
    from django.conf import settings

    return tuple(getattr(settings, "CELERY_TASK_QUEUES_NAMES", ("default", "scans", "reports")))


class RedisCollector(Collector):
    """Celery counters written by the workers, and queue depth, read at scrape time."""

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("gatehouse_metrics_redis_up",
                               "Whether /metrics could read the Celery counters and queues from Redis.")
        try:
            client = _redis()
            tasks = client.hgetall(_key("tasks"))
            runtime = client.hgetall(_key("runtime"))
            broker = _broker()
            depths = {}
            for queue in queue_names():
                keys = [queue] + [f"{queue}{_PRIORITY_SEP}{p}" for p in _PRIORITY_STEPS if p]
                pipe = broker.pipeline(transaction=False)
                for key in keys:
                    pipe.llen(key)
                depths[queue] = sum(pipe.execute())
        except Exception as exc:
            logger.warning("metrics could not read Redis", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        counter = CounterMetricFamily("gatehouse_celery_tasks", "Celery tasks by name and state, from every worker.",
                                      labels=["task", "state"])
        for field, value in sorted(tasks.items()):
            name, _, state = field.decode().partition(_SEP)
            counter.add_metric([name, state], int(value))
        yield counter

        histogram = HistogramMetricFamily("gatehouse_celery_task_duration_seconds",
                                          "Run time of Celery tasks, by name.", labels=["task"])
        per_task: dict[str, dict[str, float]] = {}
        for field, value in runtime.items():
            name, _, bound = field.decode().partition(_SEP)
            per_task.setdefault(name, {})[bound] = float(value)
        for name, values in sorted(per_task.items()):
            buckets = [(str(b), values.get(str(b), 0.0)) for b in TASK_BUCKETS]
            buckets.append(("+Inf", values.get("+Inf", 0.0)))
            histogram.add_metric([name], buckets, values.get("sum", 0.0))
        yield histogram

        gauge = GaugeMetricFamily("gatehouse_celery_queue_length", "Messages waiting in each Celery queue.",
                                  labels=["queue"])
        for queue, depth in depths.items():
            gauge.add_metric([queue], depth)
        yield gauge

    def describe(self) -> list[Any]:
        return []


REGISTRY.register(RedisCollector())


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE
