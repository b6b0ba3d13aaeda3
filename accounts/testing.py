"""pytest plugin (listed in the root conftest's `pytest_plugins`): members, tokens and clients.

    def test_developer_cannot_manage_policies(api_client_as):
        client = api_client_as("developer")          # JWT on acme's host
        assert client.post("/api/v1/policies", {...}).status_code == 403

    def test_dashboard(session_client_as, tenant_b):
        client = session_client_as("viewer", tenant=tenant_b)

Every fixture creates its rows inside the test's transaction (rolled back after it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _factories() -> Any:
    # Imported on use: pytest loads this plugin before every app's models are ready.
    from accounts.tests import factories

    return factories


@pytest.fixture
def member_password() -> str:
    return _factories().PASSWORD


@pytest.fixture
def make_member(db: None) -> Callable[..., Any]:
    """`make_member(tenant, "developer", email=None, password=...)` -> a member with that role."""
    return _factories().make_member


@pytest.fixture
def api_client_as(tenant_a: Any) -> Callable[..., Any]:
    """`api_client_as(role, tenant=tenant_a, user=None)` -> an APIClient with a Bearer token
    (`.user` and `.token_pair` attached)."""

    def build(role: str | None = None, *, tenant: Any = None, user: Any = None) -> Any:
        tenant = tenant or tenant_a
        factories = _factories()
        user = user or factories.make_member(tenant, role or "viewer")
        return factories.jwt_client(tenant, user)

    return build


@pytest.fixture
def api_key_client_as(tenant_a: Any) -> Callable[..., Any]:
    """`api_key_client_as(role, scopes, tenant=tenant_a)` -> an APIClient sending `Api-Key ...`."""

    def build(role: str, scopes: list[str], *, tenant: Any = None, user: Any = None) -> Any:
        tenant = tenant or tenant_a
        factories = _factories()
        user = user or factories.make_member(tenant, role)
        return factories.api_key_client(tenant, user, scopes)

    return build


@pytest.fixture
def session_client_as(tenant_a: Any) -> Callable[..., Any]:
    """`session_client_as(role, tenant=tenant_a, user=None)` -> a Django Client signed in to the dashboard."""

    def build(role: str | None = None, *, tenant: Any = None, user: Any = None, mfa_ok: bool = False) -> Any:
        tenant = tenant or tenant_a
        factories = _factories()
        user = user or factories.make_member(tenant, role or "viewer")
        return factories.session_client(tenant, user, mfa_ok=mfa_ok)

    return build
