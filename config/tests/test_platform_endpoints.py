"""Health, readiness, system info, request ids and structured logs."""

import json
import logging

import pytest

pytestmark = pytest.mark.django_db


def test_health_touches_nothing(client_a, django_assert_num_queries, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with django_assert_num_queries(0):
        response = client_a.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_reports_every_component(client_a):
    response = client_a.get("/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["components"]) == {"database", "redis", "mqtt", "disk"}
    for component in body["components"].values():
        assert component["status"] == "ok" and component["latency_ms"] >= 0


@pytest.mark.parametrize("component,setting,value", [
    ("redis", "REDIS_URL", "redis://127.0.0.1:1/0"),
    ("mqtt", "MQTT_URL", "mqtt://127.0.0.1:1"),
])
def test_ready_is_503_naming_the_dead_component(public_client, settings, component, setting, value):
    setattr(settings, setting, value)
    response = public_client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"][component]["status"] == "fail"
    assert body["components"]["database"]["status"] == "ok"


def test_ready_fails_when_the_broker_refuses_the_platform_credentials(public_client, settings):
    settings.MQTT_PASSWORD = "wrong-password"
    response = public_client.get("/ready")
    assert response.status_code == 503
    assert "refused" in response.json()["components"]["mqtt"]["detail"]
    assert "wrong-password" not in response.content.decode()


def test_ready_fails_when_disk_is_short(public_client, settings):
    settings.READY_MIN_FREE_DISK_MB = 10**12
    assert public_client.get("/ready").json()["components"]["disk"]["status"] == "fail"


def test_system_info(public_client, client_a):
    for client in (public_client, client_a):
        body = client.get("/api/v1/system/info").json()
        assert body["name"] == "Gatehouse" and body["api_version"] == "v1" and body["version"]
        assert body["server_time"].endswith("+00:00")


def test_metrics_on_public_host_and_not_on_tenant_hosts_without_token(public_client, client_a, settings):
    public_client.get("/health")
    body = public_client.get("/metrics").content.decode()
    assert "gatehouse_http_requests_total" in body and "gatehouse_http_request_duration_seconds" in body
    assert client_a.get("/metrics").status_code == 404

    settings.METRICS_TOKEN = "scrape-me-please"
    assert client_a.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-please").status_code == 200
    assert client_a.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert public_client.get("/metrics").status_code == 401


def test_request_id_is_echoed_when_well_formed_and_replaced_otherwise(client_a):
    good = client_a.get("/health", HTTP_X_REQUEST_ID="ci-run-1234.step_5")
    assert good["X-Request-ID"] == "ci-run-1234.step_5"
    bad = client_a.get("/health", HTTP_X_REQUEST_ID="evil\nInjected: header")
    assert bad["X-Request-ID"] != "evil\nInjected: header" and len(bad["X-Request-ID"]) == 32


def test_access_log_is_one_json_line_with_context(client_a, caplog):
    from config.logging import JsonFormatter

    with caplog.at_level(logging.INFO, logger="gatehouse.access"):
        response = client_a.get("/api/v1/system/info", HTTP_X_REQUEST_ID="trace-abcdef12")
    records = [r for r in caplog.records if r.name == "gatehouse.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert response.status_code == 200
    assert line["request_id"] == "trace-abcdef12"
    assert line["tenant"] == "acme"
    assert line["method"] == "GET" and line["route"] == "/api/v1/system/info" and line["status"] == 200
    assert line["duration_ms"] >= 0


def test_log_formatter_redacts_secrets():
    from config.logging import JsonFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login with password=hunter2 and Bearer abc.def.ghi",
                               None, None)
    record.headers = {"Authorization": "Api-Key gh_live_secret", "Accept": "json"}
    line = json.loads(JsonFormatter().format(record))
    text = json.dumps(line)
    assert "hunter2" not in text and "abc.def.ghi" not in text and "gh_live_secret" not in text
    assert line["headers"]["Accept"] == "json"
