"""Factories and helpers other apps use to make members, tokens and keys in a test organization.

They go through the real services, so members have their role (an auth Group with the
seeded permissions), a password history, and tokens exactly like a signed-in user's.
"""

from __future__ import annotations

import itertools
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts import services, tokens
from accounts.middleware import SESSION_MFA_OK, SESSION_TENANT
from audit.context import Actor

PASSWORD = "Correct-Horse-42!"
_counter = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    """A bare user in the current schema (no role). Prefer `make_member` for members."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()


def make_member(tenant: Any, role: str, *, email: str | None = None, password: str = PASSWORD,
                full_name: str = "") -> Any:
    """A member of `tenant` with `role`, created by the real service (committed only if the test commits)."""
    email = email or f"{role}{next(_counter)}@{tenant.schema_name}.example.test"
    with schema_context(tenant.schema_name):
        return services.user_create(actor=Actor.system("tests"), email=email, password=password,
                                    full_name=full_name or f"Test {role}", role=role, validate=False)


def token_pair(tenant: Any, user: Any) -> tokens.TokenPair:
    with schema_context(tenant.schema_name):
        return tokens.issue_pair(user=user, tenant=tenant)


def jwt_client(tenant: Any, user: Any) -> APIClient:
    """An API client on the tenant's host with a Bearer access token for `user`."""
    pair = token_pair(tenant, user)
    client = APIClient(HTTP_HOST=tenant.primary_host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    client.token_pair = pair  # type: ignore[attr-defined]
    client.user = user  # type: ignore[attr-defined]
    return client


def api_key_client(tenant: Any, user: Any, scopes: list[str], *, name: str = "test key") -> APIClient:
    with schema_context(tenant.schema_name):
        key, secret = services.api_key_create(actor=Actor.for_user(user), name=name, scopes=scopes)
    client = APIClient(HTTP_HOST=tenant.primary_host)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    client.api_key = key  # type: ignore[attr-defined]
    client.secret = secret  # type: ignore[attr-defined]
    return client


def session_client(tenant: Any, user: Any, *, mfa_ok: bool = False) -> Client:
    """A browser-like client signed in to the tenant's dashboard as `user`."""
    client = Client(HTTP_HOST=tenant.primary_host)
    with schema_context(tenant.schema_name):
        client.force_login(user, backend="accounts.backends.EmailBackend")
        session = client.session
        session[SESSION_TENANT] = str(tenant.pk)
        session[SESSION_MFA_OK] = mfa_ok
        session.save()
    client.user = user  # type: ignore[attr-defined]
    return client
