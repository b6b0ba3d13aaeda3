"""Test helpers: members with given permissions, signed in with a Django session."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_tenants.utils import schema_context

PASSWORD = "Correct-Horse-42-battery"


def make_member(tenant: Any, *perms: str, email: str | None = None) -> Any:
    """A user in `tenant`'s schema holding `perms` ("app.codename") through a group of its own."""
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(
            email=email or f"member-{uuid.uuid4().hex[:10]}@{tenant.schema_name}.test", password=PASSWORD,
            full_name="Test Member")
        if perms:
            group = Group.objects.create(name=f"test-{uuid.uuid4().hex[:10]}")
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            user.groups.add(group)
    return user


def sign_in(client: Client, tenant: Any, user: Any) -> Client:
    """force_login on the organization's host, with the session bound to that organization."""
    with schema_context(tenant.schema_name):
        client.force_login(user)
        try:
            from accounts.middleware import SESSION_TENANT
        except ImportError:  # accounts does not bind sessions to organizations
            return client
        session = client.session
        session[SESSION_TENANT] = str(tenant.pk)
        session.save()
    return client


def member_client(tenant: Any, *perms: str) -> tuple[Client, Any]:
    user = make_member(tenant, *perms)
    return sign_in(Client(HTTP_HOST=tenant.primary_host), tenant, user), user
