"""The staff admin keeps working with the accounts models, and the API schema documents them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(public_client):
    connection.set_schema_to_public()
    get_user_model().objects.create_superuser(email="root@gatehouse.test", password="Sup3r-secret-pass")
    assert public_client.login(email="root@gatehouse.test", password="Sup3r-secret-pass")
    return public_client


def test_staff_manage_staff_users_and_platform_keys(staff_client):
    assert staff_client.get("/admin/accounts/user/").status_code == 200
    created = staff_client.post("/admin/accounts/user/add/", {
        "email": "second@gatehouse.test", "full_name": "Second", "password1": "Another-Staff-Pass-1",
        "password2": "Another-Staff-Pass-1", "is_staff": "on"})
    assert created.status_code == 302, created.content[:1000]
    assert get_user_model().objects.get(email="second@gatehouse.test").is_staff

    added = staff_client.post("/admin/accounts/apikey/add/", {"name": "ops", "scopes": ["platform:tenants"]},
                              follow=True)
    assert added.status_code == 200
    secret = re.search(rb"gh_[0-9a-f]{8}_[0-9a-f]{48}", added.content).group(0).decode()
    listing = staff_client.get("/admin/accounts/apikey/")
    assert secret.encode() not in listing.content and b"ops" in listing.content


def test_staff_admin_login_is_locked_out_after_five_failures(public_client):
    connection.set_schema_to_public()
    get_user_model().objects.create_superuser(email="target@gatehouse.test", password="Sup3r-secret-pass")
    for _ in range(5):
        public_client.post("/admin/login/", {"username": "target@gatehouse.test", "password": "wrong"})
    locked = public_client.post("/admin/login/", {"username": "target@gatehouse.test",
                                                  "password": "Sup3r-secret-pass"})
    assert locked.status_code == 429 and "Retry-After" in locked


def test_openapi_schema_documents_the_accounts_api(client_a):
    response = client_a.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/mfa/setup", "/api/v1/tenants/me",
                 "/api/v1/tenants/me/members", "/api/v1/tenants/me/roles", "/api/v1/api-keys"):
        assert path in text, path
