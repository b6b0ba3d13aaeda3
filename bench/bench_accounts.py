"""Sign-in and authenticated reads against a real uvicorn process.

- 100 concurrent logins (POST /api/v1/auth/login) spread over 3 organizations, with the
  production password hasher (bcrypt, cost 12): every one must succeed; p50/p95/max and the
  wall time for all of them.
- GET /api/v1/auth/me (JWT: signature, tenant, Redis denylist, user) at 20 concurrent clients,
  and GET /health beside it in the same run: requests/s and p95 of each.

BENCH_LOGINS (default 100), BENCH_CLIENTS (default 20), BENCH_REQUESTS (default 2000 per endpoint),
BENCH_DB_POOL (default 30: database connections of the server process).
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import figure, report, section

TENANTS = [("benchacme", "Bench Acme"), ("benchglobex", "Bench Globex"), ("benchinitech", "Bench Initech")]
PASSWORD = "Bench-Password-2026!"


def _request(port: int, method: str, host: str, path: str, body: dict | None = None,
             token: str | None = None) -> tuple[int, float, bytes]:
    headers = {"Host": host, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, time.perf_counter() - started, data
    finally:
        conn.close()


def _prepare(logins: int) -> list[tuple[str, str]]:
    """Three organizations and `logins` members spread over them; returns (host, email) pairs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.test.utils import override_settings
    from django_tenants.utils import schema_context

    from accounts import services
    from audit.context import Actor
    from config.settings.base import PASSWORD_HASHERS
    from tenants.services import tenant_create

    with override_settings(PASSWORD_HASHERS=PASSWORD_HASHERS):
        encoded = make_password(PASSWORD)  # one bcrypt hash (cost 12) shared by every bench user
    pairs = []
    for index, (slug, name) in enumerate(TENANTS):
        tenant = tenant_create(slug=slug, name=name, tier="premium").tenant
        with schema_context(tenant.schema_name):
            emails = [f"user{n}@{slug}.bench" for n in range(index, logins, len(TENANTS))]
            for email in emails:
                if not get_user_model().objects.filter(email=email).exists():
                    services.user_create(actor=Actor.system("bench"), email=email, role="developer")
            get_user_model().objects.filter(email__in=emails).update(password=encoded)
        connection.set_schema_to_public()
        pairs += [(tenant.primary_host, email) for email in emails]
    return pairs


def _load(port: int, clients: int, total: int, call) -> tuple[list[float], float, int]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda _i: call(), range(total)))
    elapsed = time.perf_counter() - started
    failures = sum(1 for status, _t in results if status != 200)
    return [t for _s, t in results], elapsed, failures


def run() -> None:
    from config.testing.processes import start_web

    logins = int(os.environ.get("BENCH_LOGINS", "100"))
    clients = int(os.environ.get("BENCH_CLIENTS", "20"))
    total = int(os.environ.get("BENCH_REQUESTS", "2000"))

    with section(f"Accounts: {logins} members over {len(TENANTS)} organizations, one uvicorn process"):
        pairs = _prepare(logins)
        log_dir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-web-"))
        # Production's hasher; throttles out of the way (every login comes from 127.0.0.1). Django
        # under ASGI holds a database connection per request in flight: a bounded pool
        # (BENCH_DB_POOL connections) makes the 100th login wait instead of exceeding max_connections.
        web, port = start_web(log_dir, GATEHOUSE_TEST_PRODUCTION_HASHER="true", LOG_LEVEL="WARNING",
                              GATEHOUSE_TEST_DB_POOL=os.environ.get("BENCH_DB_POOL", "30"),
                              ACCOUNTS_LOGIN_RATE_IP="100000/60", ACCOUNTS_LOGIN_RATE_ACCOUNT="1000/60")
        try:
            # Warm the process (imports, connections) outside the measurement.
            _request(port, "GET", pairs[0][0], "/health")

            with ThreadPoolExecutor(max_workers=logins) as pool:
                started = time.perf_counter()
                results = list(pool.map(lambda pair: _request(port, "POST", pair[0], "/api/v1/auth/login",
                                                              {"email": pair[1], "password": PASSWORD}), pairs))
                wall = time.perf_counter() - started
            ok = [r for r in results if r[0] == 200]
            report(f"{logins} concurrent logins (bcrypt cost 12)", [r[1] for r in results])
            figure("logins succeeded", len(ok), f"of {len(results)}", target="all")
            figure("wall time for all logins", wall, "s")
            if len(ok) != len(results):
                statuses = sorted({r[0] for r in results if r[0] != 200})
                print(f"  FAILED logins: statuses {statuses}: {results[[r[0] for r in results].index(statuses[0])][2][:300]!r}")

            host, _email = pairs[0]
            token = json.loads(ok[0][2])["access"] if ok else ""
            me_times, me_elapsed, me_failures = _load(
                port, clients, total, lambda: _request(port, "GET", host, "/api/v1/auth/me", token=token)[:2])
            health_times, health_elapsed, health_failures = _load(
                port, clients, total, lambda: _request(port, "GET", host, "/health")[:2])
            report(f"GET /api/v1/auth/me, {clients} concurrent clients", me_times)
            figure("GET /api/v1/auth/me requests/s", total / me_elapsed, "req/s")
            report(f"GET /health, {clients} concurrent clients", health_times)
            figure("GET /health requests/s", total / health_elapsed, "req/s")
            if me_failures or health_failures:
                print(f"  FAILED requests: auth/me {me_failures}, health {health_failures}")
        finally:
            web.stop()
