"""What accounts adds to provisioning: system roles in the template, the first owner, demo users."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.models import Invitation
from accounts.roles import SYSTEM_ROLES
from tenants import hooks
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def test_system_roles_live_in_the_template_so_clones_start_with_them():
    with schema_context(settings.TEMPLATE_SCHEMA_NAME):
        assert set(Group.objects.values_list("name", flat=True)) >= set(SYSTEM_ROLES)
        assert Group.objects.get(name="admin").permissions.filter(codename="manage_members").exists()
    step = next(s for s in hooks.provisioning_steps() if s.name == "roles")
    assert step.in_template


def test_owner_with_a_password_is_created_and_can_sign_in():
    tenant = tenant_create(slug="ownerpass", name="Owner Pass", owner_email="Boss@OwnerPass.test",
                           owner_password="Owner-Secret-123").tenant
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.get(email="boss@ownerpass.test")
        assert owner.role_name == "owner"
    response = APIClient(HTTP_HOST=tenant.primary_host).post(
        "/api/v1/auth/login", {"email": "boss@ownerpass.test", "password": "Owner-Secret-123"}, format="json")
    assert response.status_code == 200
    # Re-running provisioning changes nothing.
    again = tenant_create(slug="ownerpass", name="Owner Pass", owner_email="boss@ownerpass.test",
                          owner_password="Owner-Secret-123")
    with schema_context(tenant.schema_name):
        assert get_user_model().objects.filter(email="boss@ownerpass.test").count() == 1
    assert not again.created


def test_owner_without_a_password_is_invited_once():
    tenant = tenant_create(slug="ownerinvite", name="Owner Invite", owner_email="first@ownerinvite.test").tenant
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["first@ownerinvite.test"]
    assert re.search(r"https?://ownerinvite\.localhost[^/]*/invitations/", mail.outbox[0].body)
    tenant_create(slug="ownerinvite", name="Owner Invite", owner_email="first@ownerinvite.test")
    assert len(mail.outbox) == 1
    with schema_context(tenant.schema_name):
        invitation = Invitation.objects.get(email="first@ownerinvite.test")
        assert invitation.role.name == "owner" and invitation.is_pending


def test_demo_users_have_their_roles():
    tenant = tenant_create(slug="demoorg", name="Demo Org").tenant
    funcs = dict(hooks.demo_data_steps())
    with schema_context(tenant.schema_name):
        funcs["accounts.users"](tenant, "Demo-Password-123")
        funcs["accounts.users"](tenant, "Demo-Password-123")  # idempotent
        roles = {u.email: u.role_name for u in get_user_model().objects.prefetch_related("groups")}
    assert roles == {
        "owner@demoorg.localhost": "owner", "admin@demoorg.localhost": "admin",
        "security@demoorg.localhost": "security_engineer", "dev@demoorg.localhost": "developer",
        "viewer@demoorg.localhost": "viewer",
    }


def test_docs_roles_md_matches_the_code():
    from pathlib import Path

    from accounts.docs import role_matrix_markdown

    doc = (Path(settings.BASE_DIR) / "docs" / "roles.md").read_text()
    assert role_matrix_markdown() in doc, "regenerate the matrix in docs/roles.md from accounts.docs"
