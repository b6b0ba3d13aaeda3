"""Fixtures of the scanning tests: members with scanning permissions, built artifacts, uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_tenants.utils import schema_context

from accounts.middleware import SESSION_TENANT
from scanning.tests import builders

DEVELOPER = ["scanning.submit_scan", "scanning.download_artifact"]
SECURITY = ["scanning.submit_scan", "scanning.view_all_scans", "scanning.manage_scans",
            "scanning.download_artifact"]
ADMIN = [*SECURITY, "scanning.manage_connections"]
VIEWER = ["scanning.view_all_scans"]


def make_user(tenant: Any, perms: list[str], *, email: str | None = None) -> Any:
    """A user in the tenant's schema, in a group holding `perms` (app_label.codename)."""
    from django.contrib.auth import get_user_model

    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(email=email or f"u{uuid.uuid4().hex[:10]}@example.org",
                                                    password="x" * 16)
        group = Group.objects.create(name=f"g-{uuid.uuid4().hex[:10]}")
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        user.groups.add(group)
        return user


@pytest.fixture
def member(tenant_a: Any) -> Callable[..., Any]:
    """`member(perms, tenant=tenant_a)` -> a user with exactly these scanning permissions."""

    def build(perms: list[str], *, tenant: Any = None, email: str | None = None) -> Any:
        return make_user(tenant or tenant_a, perms, email=email)

    return build


@pytest.fixture
def login(tenant_a: Any) -> Callable[..., Client]:
    """`login(user, tenant=tenant_a)` -> a session client on that tenant's host."""

    def build(user: Any, *, tenant: Any = None) -> Client:
        tenant = tenant or tenant_a
        client = Client(HTTP_HOST=tenant.primary_host)
        with schema_context(tenant.schema_name):
            client.force_login(user)
            # The accounts app binds a dashboard session to its organization.
            session = client.session
            session[SESSION_TENANT] = str(tenant.pk)
            session.save()
        return client

    return build


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> builders.ArtifactSet:
    """Every sample package (benign and malicious) built once per session."""
    return builders.ArtifactSet(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def upload(artifacts: builders.ArtifactSet) -> Callable[..., Any]:
    """`upload(client, key, malicious=False, **fields)` posts a built artifact to the API."""

    def post(client: Client, key: str, *, malicious: bool = False, headers: dict[str, str] | None = None,
             path: Path | None = None, **fields: Any) -> Any:
        path = path or artifacts.get(key, malicious=malicious)
        with open(path, "rb") as handle:
            return client.post("/api/v1/scans", {"file": handle, **fields}, headers=headers or {})

    return post


@pytest.fixture
def in_a(tenant_a: Any) -> Any:
    return schema_context(tenant_a.schema_name)


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.SCANNING_FETCH_ALLOW_PRIVATE = True
