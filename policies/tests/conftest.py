from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from policies.tests import factories


@pytest.fixture
def member(tenant_a: Any) -> Callable[..., Any]:
    """`member("developer")` -> a user of acme holding that role; `member("viewer", tenant=tenant_b)`."""
    def build(role: str | None, *, tenant: Any = None, email: str | None = None) -> Any:
        return factories.make_user(tenant or tenant_a, role, email=email)
    return build


@pytest.fixture
def client_as(tenant_a: Any) -> Callable[..., Any]:
    """`client_as(user, tenant=tenant_a)` -> a Django client signed in on the organization's host."""
    def build(user: Any, *, tenant: Any = None) -> Any:
        return factories.login(tenant or tenant_a, user)
    return build


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks sent with .delay() run at once in this process (and this test's transaction)."""
    from config.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def acme(tenant_a: Any) -> Iterator[Any]:
    """Run the test body in acme's schema."""
    with schema_context(tenant_a.schema_name):
        yield tenant_a
