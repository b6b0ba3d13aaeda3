"""Messaging fixtures: the session broker set up by `mqtt_setup`, probes, committed organizations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from messaging.tests.helpers import MqttProbe

COMMITTED_FIXTURES = {"live_tenant", "tenant_a_committed", "tenant_b_committed", "live_orgs", "org", "db_unblocked"}


def pytest_collection_finish(session: Any) -> None:
    """pytest-django creates the test database only if some selected test is a database test.

    A selection of committed-data tests alone (they use no transaction) would run
    against the database in DATABASE_URL: refuse it rather than touch that.
    """
    items = session.items
    uses_committed = any(COMMITTED_FIXTURES & set(getattr(item, "fixturenames", ())) for item in items)
    has_db_test = any(item.get_closest_marker("django_db") or "db" in getattr(item, "fixturenames", ())
                      for item in items)
    if uses_committed and not has_db_test:
        pytest.exit(
            "These tests use committed data and need the test database, which pytest-django only creates "
            "when a database test is selected too: run the whole module (each has one), e.g. "
            "`pytest messaging/tests/test_consumer.py`.", returncode=4)


@pytest.fixture(scope="session")
def mqtt_ready(django_db_setup: None, django_db_blocker: Any, mqtt_broker: Any) -> None:
    """The session broker initialised exactly as `make demo` does it."""
    with django_db_blocker.unblock():
        call_command("mqtt_setup", verbosity=0)
        connection.set_schema_to_public()


@pytest.fixture
def probe(mqtt_ready: None) -> Iterator[Callable[..., MqttProbe]]:
    """`probe(username=None, password=None)` -> a connected MqttProbe (the platform account by default)."""
    made: list[MqttProbe] = []

    def build(username: str | None = None, password: str | None = None, *, connect: bool = True) -> MqttProbe:
        client = MqttProbe(username, password)
        made.append(client)
        return client.connect() if connect else client

    yield build
    for client in made:
        client.close()


def _committed_member(django_db_blocker: Any, slug: str) -> Iterator[tuple[Any, Any]]:
    from django_tenants.utils import schema_context

    from messaging.tests.helpers import make_user
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(schema_name=slug)
        with schema_context(slug):
            user = make_user(f"ws-{__import__('uuid').uuid4().hex[:8]}@{slug}.test")
        connection.set_schema_to_public()
    yield tenant, user
    with django_db_blocker.unblock():
        with schema_context(slug):
            user.delete()
        connection.set_schema_to_public()


@pytest.fixture
def tenant_a_committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Any, Any]]:
    """acme and a committed member of it (removed afterwards), for tests without a transaction."""
    yield from _committed_member(django_db_blocker, "acme")


@pytest.fixture
def tenant_b_committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Any, Any]]:
    yield from _committed_member(django_db_blocker, "globex")


@pytest.fixture
def db_unblocked(django_db_blocker: Any) -> Iterator[None]:
    """Database access for a test on committed data (no transaction around it)."""
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()
