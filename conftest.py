"""Test fixtures shared by every app.

- The test database is migrated once (public schema + the `_template` tenant), then
  two organizations, `acme` and `globex`, are provisioned once per session by the
  real provisioning service. Each test runs in a transaction that is rolled back.
- A private Mosquitto with dynamic security runs for the whole session; settings
  point at it. Redis is the machine's real server, on its own database number.
- Tests that need committed data (a real worker, a live server) use `live_tenant`,
  which provisions a throwaway organization and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from config.testing.mosquitto import PrivateBroker, start_private_broker

pytest_plugins = ["accounts.testing"]

TENANT_A = ("acme", "Acme Corp")
TENANT_B = ("globex", "Globex Corporation")


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    broker = start_private_broker(tmp_path_factory.mktemp("mosquitto"), username=settings.MQTT_USERNAME)
    yield broker
    broker.stop()


@pytest.fixture(scope="session", autouse=True)
def _platform_services(mqtt_broker: PrivateBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point every process of the session at the private broker and a private data root."""
    previous = (settings.MQTT_URL, settings.MQTT_PASSWORD, settings.DATA_ROOT)
    settings.MQTT_URL = mqtt_broker.url
    settings.MQTT_PASSWORD = mqtt_broker.password
    settings.DATA_ROOT = tmp_path_factory.mktemp("data")
    yield
    settings.MQTT_URL, settings.MQTT_PASSWORD, settings.DATA_ROOT = previous


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: pytest.FixtureRequest,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """Create and migrate the test database, then provision the two session organizations once.

    Replaces pytest-django's fixture, which only creates the test database when a
    collected test carries the `django_db` marker: a session running only
    cross-process tests (`live_tenant`, `celery_worker`) would otherwise write to the
    developer's own database.
    """
    from django.test.utils import setup_databases, teardown_databases

    from tenants.services import tenant_create

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose, interactive=False, aliases={"default"},
            serialized_aliases=set(), keepdb=django_db_keepdb and not django_db_createdb,
        )
        assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
        for slug, name in (TENANT_A, TENANT_B):
            tenant_create(slug=slug, name=name, tier="premium")
        connection.set_schema_to_public()
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    yield
    connection.set_schema_to_public()


@pytest.fixture
def tenant_a(db: None):  # noqa: ANN201
    from tenants.models import Tenant

    return Tenant.objects.get(schema_name=TENANT_A[0])


@pytest.fixture
def tenant_b(db: None):  # noqa: ANN201
    from tenants.models import Tenant

    return Tenant.objects.get(schema_name=TENANT_B[0])


def host_client(host: str, **defaults: str) -> Client:
    return Client(HTTP_HOST=host, **defaults)


@pytest.fixture
def client_a(tenant_a) -> Client:  # noqa: ANN001
    return host_client(tenant_a.primary_host)


@pytest.fixture
def client_b(tenant_b) -> Client:  # noqa: ANN001
    return host_client(tenant_b.primary_host)


@pytest.fixture
def public_client(db: None) -> Client:
    return host_client(settings.BASE_DOMAIN)


@pytest.fixture
def in_tenant():  # noqa: ANN201
    """`with in_tenant(tenant): ...` runs ORM calls inside that organization's schema."""
    return lambda tenant: schema_context(tenant.schema_name)


@pytest.fixture
def live_tenant(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[object]:
    """A committed, throwaway organization for tests that cross process boundaries."""
    from tenants.models import Tenant
    from tenants.services import tenant_create, tenant_delete

    slug = f"live_{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        tenant = tenant_create(slug=slug, name=f"Live {slug}", tier="premium").tenant
        connection.set_schema_to_public()
    yield tenant
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        connection.set_schema_to_public()
        fresh = Tenant.objects.filter(pk=tenant.pk).first()
        if fresh is not None:
            tenant_delete(tenant=fresh, confirm=fresh.schema_name)


@pytest.fixture
def data_root() -> Path:
    return Path(settings.DATA_ROOT)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real Celery worker process on the session's database, Redis and broker."""
    from config.testing.processes import start_worker

    worker = start_worker(tmp_path_factory.mktemp("worker"), concurrency=2)
    yield worker
    worker.stop()
