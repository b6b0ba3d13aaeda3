"""Security headers, CSP, CORS per organization, request body limits, cookies, check --deploy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from audit.tests.helpers import PASSWORD, make_member
from config.security import limit_request_body
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

BASELINE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.strip().split()
        directives[name] = values
    return directives


def assert_hardened(response) -> None:
    for name, value in BASELINE.items():
        assert response[name] == value, (name, response.status_code)
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    policy = csp(response)
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


def test_every_kind_of_answer_carries_the_security_headers(client_a, public_client, tenant_a):
    answers = [
        client_a.get("/health"),                                   # answered before routing
        client_a.get("/api/v1/system/info"),                       # API
        client_a.get("/api/v1/audit-events"),                      # API error (401/403)
        client_a.get("/", HTTP_ACCEPT="text/html"),                # dashboard redirect to sign-in
        client_a.get("/nowhere", HTTP_ACCEPT="text/html"),         # 404 page
        client_a.post("/api/v1/system/info"),                      # 405
        Client(HTTP_HOST="unknown.example.org").get("/api/v1/system/info"),  # unknown host
        public_client.get("/admin/login/"),                        # staff admin
        public_client.get("/metrics"),
    ]
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)
    answers.append(client_a.get("/api/v1/system/info"))            # suspended organization
    for response in answers:
        assert_hardened(response)
    assert answers[-1].status_code == 403


def test_hsts_only_over_https_when_configured(client_a, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    for path in ("/health", "/api/v1/system/info"):
        secure = client_a.get(path, secure=True)
        assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert "Strict-Transport-Security" not in client_a.get(path)


def _sha256(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"


def test_swagger_ui_runs_under_the_csp_by_hash_not_unsafe_inline(client_a):
    response = client_a.get("/api/docs/")
    html = response.content.decode()
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert response.status_code == 200 and inline
    policy = csp(response)
    assert _sha256(inline[0]) in policy["script-src"] and "'unsafe-inline'" not in policy["script-src"]
    # Other pages do not inherit the exception.
    assert csp(client_a.get("/api/v1/system/info"))["script-src"] == ["'self'"]


def test_admin_inline_styles_are_allowed_by_hash(public_client):
    connection.set_schema_to_public()
    get_user_model().objects.create_superuser(email="csp@gatehouse.test", password="Sup3r-secret-pass!")
    public_client.login(email="csp@gatehouse.test", password="Sup3r-secret-pass!")
    response = public_client.get("/admin/tenants/tenant/")
    styles = re.findall(r"<style[^>]*>(.*?)</style>", response.content.decode(), re.DOTALL)
    policy = csp(response)
    assert all(_sha256(block) in policy["style-src"] for block in styles)
    assert policy["script-src"] == ["'self'"]


@pytest.fixture
def cors_tenant(tenant_a):
    tenant_a.settings = {**tenant_a.settings, "cors_allowed_origins": ["https://ci.example.com"]}
    Tenant.objects.filter(pk=tenant_a.pk).update(settings=tenant_a.settings)
    return tenant_a


def test_cors_answers_only_the_organizations_listed_origins(cors_tenant, client_a, client_b):
    allowed = client_a.get("/api/v1/system/info", HTTP_ORIGIN="https://ci.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://ci.example.com"
    assert "X-Request-ID" in allowed["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed

    denied = client_a.get("/api/v1/system/info", HTTP_ORIGIN="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in denied
    # Another organization does not inherit acme's list.
    assert "Access-Control-Allow-Origin" not in client_b.get("/api/v1/system/info", HTTP_ORIGIN="https://ci.example.com")
    # The dashboard is never served cross-origin.
    assert "Access-Control-Allow-Origin" not in client_a.get("/", HTTP_ORIGIN="https://ci.example.com")


def test_cors_preflight(cors_tenant, client_a):
    preflight = client_a.options("/api/v1/audit-events", HTTP_ORIGIN="https://ci.example.com",
                                 HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
                                 HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://ci.example.com"
    assert "GET" in preflight["Access-Control-Allow-Methods"]
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    refused = client_a.options("/api/v1/audit-events", HTTP_ORIGIN="https://evil.example.net",
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="DELETE")
    assert "Access-Control-Allow-Origin" not in refused


@pytest.fixture
def probes(settings):
    settings.ROOT_URLCONF = "config.tests.probe_urls"
    settings.REQUEST_MAX_BODY_BYTES = 1000
    settings.REQUEST_MAX_UPLOAD_BYTES = 10_000
    return settings


def test_bodies_over_the_limit_are_refused_with_413_in_the_envelope(probes, client_a):
    small = client_a.post("/probe/json", {"a": "x" * 100}, content_type="application/json")
    assert small.status_code == 200 and small.json() == {"keys": ["a"]}
    big = client_a.post("/probe/json", {"a": "x" * 2000}, content_type="application/json")
    assert big.status_code == 413
    error = big.json()["error"]
    assert error["code"] == "payload_too_large" and error["details"]["limit_bytes"] == 1000
    assert error["request_id"] == big["X-Request-ID"] and "1000 bytes" in error["message"]
    # A real route of the platform: the sign-in endpoint.
    login = client_a.post("/api/v1/auth/login", {"email": "a@b.c", "password": "p" * 5000},
                          content_type="application/json")
    assert login.status_code == 413 and login.json()["error"]["code"] == "payload_too_large"


def test_upload_routes_have_their_own_larger_cap(probes, client_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ok = client_a.post("/probe/upload", {"file": SimpleUploadedFile("a.whl", b"x" * 5000)})
    assert ok.status_code == 200 and ok.json() == {"size": 5000}
    too_big = client_a.post("/probe/upload", {"file": SimpleUploadedFile("a.whl", b"x" * 20_000)})
    assert too_big.status_code == 413 and too_big.json()["error"]["details"]["limit_bytes"] == 10_000
    marked = client_a.post("/probe/raw-upload", b"y" * 5000, content_type="application/octet-stream")
    assert marked.status_code == 200 and marked.json() == {"size": 5000}


def test_asgi_guard_refuses_large_bodies_before_the_app_reads_them():
    calls: list[bytes] = []

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        calls.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = limit_request_body(app, limit=100)

    def run(headers, chunks):
        sent: list[dict] = []
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        asyncio.run(guarded({"type": "http", "path": "/x", "headers": headers}, receive, send))
        return sent

    declared = run([(b"content-length", b"5000")], [b"x" * 5000])
    assert declared[0]["status"] == 413 and calls == []
    assert json.loads(declared[1]["body"])["error"]["code"] == "payload_too_large"
    chunked = run([(b"transfer-encoding", b"chunked")], [b"x" * 60, b"x" * 60, b"x" * 60])
    assert chunked[0]["status"] == 413 and calls == []
    fine = run([(b"content-length", b"80")], [b"x" * 80])
    assert fine[0]["status"] == 200 and calls == [b"x" * 80]


def test_session_and_csrf_cookies_are_httponly_and_samesite(tenant_a, client_a):
    user = make_member(tenant_a)
    client_a.get("/login/")
    response = client_a.post("/login/", {"email": user.email, "username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:2000]
    session = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    csrf = client_a.cookies[django_settings.CSRF_COOKIE_NAME]
    assert csrf["samesite"] == "Lax"


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "gatehouse.example.com,.gatehouse.example.com",
        "GATEHOUSE_BASE_DOMAIN": "gatehouse.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "LOG_LEVEL": "ERROR",
    })
    return env


def test_check_deploy_with_production_settings_reports_nothing():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=django_settings.BASE_DIR, env=_production_env(), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_cookies_are_secure():
    script = ("from django.conf import settings as s; import json; print(json.dumps([s.SESSION_COOKIE_SECURE, "
              "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE, "
              "s.SECURE_HSTS_SECONDS > 0, s.SECURE_SSL_REDIRECT]))")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=django_settings.BASE_DIR,
                            env=_production_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, True, "Lax", "Lax", True, True]


@pytest.mark.parametrize("production_hasher,expected", [
    ("true", "django.contrib.auth.hashers.BCryptSHA256PasswordHasher"),
    ("false", "django.contrib.auth.hashers.MD5PasswordHasher"),
])
def test_test_settings_switch_to_the_production_hasher_for_benchmarks(production_hasher, expected):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "GATEHOUSE_TEST_PRODUCTION_HASHER": production_hasher}
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                          "print(settings.PASSWORD_HASHERS[0])"], cwd=django_settings.BASE_DIR, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert out == expected
