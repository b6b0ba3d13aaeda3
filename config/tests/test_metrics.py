"""/metrics: HTTP by route and status, Celery tasks by name and state (from real workers), queue depth."""

from __future__ import annotations

import re

import pytest
import redis
from django.conf import settings as django_settings

pytestmark = pytest.mark.django_db


def scrape(public_client) -> str:
    response = public_client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample (labels in any order), 0 if absent."""
    for line in body.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_http_requests_by_route_and_status(public_client, client_a):
    client_a.get("/api/v1/system/info")
    client_a.get("/api/v1/audit-events/not-a-uuid")
    body = scrape(public_client)
    assert sample(body, "gatehouse_http_requests_total", route="/api/v1/system/info", status="200") >= 1
    assert sample(body, "gatehouse_http_request_duration_seconds_count", route="/api/v1/system/info") >= 1
    assert "/api/v1/audit-events/not-a-uuid" not in body  # routes, never raw paths


@pytest.mark.worker
def test_celery_tasks_by_name_and_state_recorded_by_the_worker(celery_worker, public_client):
    from config.celery import app
    from tenants.tasks import diagnose

    before = scrape(public_client)
    assert diagnose.delay().get(timeout=60)["schema"] == "public"
    failing = app.send_task("tenants.diagnose", args=["unexpected"])
    with pytest.raises(TypeError):
        failing.get(timeout=60, propagate=True)
    after = scrape(public_client)

    def delta(state: str) -> float:
        return (sample(after, "gatehouse_celery_tasks_total", task="tenants.diagnose", state=state)
                - sample(before, "gatehouse_celery_tasks_total", task="tenants.diagnose", state=state))

    assert delta("received") >= 2 and delta("started") >= 2
    assert delta("succeeded") >= 1 and delta("failed") >= 1
    assert sample(after, "gatehouse_celery_task_duration_seconds_count", task="tenants.diagnose") >= 2
    assert sample(after, "gatehouse_metrics_redis_up") == 1


def test_queue_depth_of_each_celery_queue(public_client, settings):
    queue = "gh-test-idle-queue"
    settings.CELERY_TASK_QUEUES_NAMES = ("default", "scans", "reports", queue)
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete(queue, f"{queue}\x06\x163")
    try:
        broker.lpush(queue, "m1", "m2", "m3")
        broker.lpush(f"{queue}\x06\x163", "m4")  # a priority-3 message lives in its own list
        body = scrape(public_client)
        assert sample(body, "gatehouse_celery_queue_length", queue=queue) == 4
        assert 'gatehouse_celery_queue_length{queue="scans"}' in body
    finally:
        broker.delete(queue, f"{queue}\x06\x163")


def test_metrics_still_answer_when_redis_is_down(public_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    body = scrape(public_client)
    assert sample(body, "gatehouse_metrics_redis_up") == 0
    assert "gatehouse_http_requests_total" in body
