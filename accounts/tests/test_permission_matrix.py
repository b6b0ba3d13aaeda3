"""The role/permission matrix, endpoint by endpoint: allowed -> 2xx, forbidden -> 403, and another
organization's object -> 404 (for a role that would be allowed)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django_tenants.utils import schema_context

from accounts import services
from accounts.roles import ROLE_PERMISSIONS, SYSTEM_ROLES
from accounts.tests.factories import PASSWORD, jwt_client, make_member, session_client
from audit.context import Actor

pytestmark = pytest.mark.django_db
_unique = itertools.count()


@dataclass
class Objects:
    member: Any
    invitation: Any
    role: str
    key: Any


def _objects(tenant) -> Objects:
    with schema_context(tenant.schema_name):
        system = Actor.system("tests")
        member = make_member(tenant, "developer")
        invitation, _ = services.member_invite(actor=system, tenant=tenant, email=f"inv{next(_unique)}@x.test",
                                               role="viewer")
        role = services.role_create(actor=system, name=f"custom_{next(_unique)}", permissions=[])
        owner = make_member(tenant, "owner")
        key, _ = services.api_key_create(actor=Actor.for_user(owner), name="k", scopes=["read"])
    return Objects(member=member, invitation=invitation, role=role.name, key=key)


@pytest.fixture
def objects(tenant_a) -> Objects:
    return _objects(tenant_a)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with the Objects
    permission: str | None  # None: any member
    body: Any = None
    detail: bool = False  # names an object: another organization's is a 404

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _email(_o: Objects) -> dict:
    return {"email": f"new{next(_unique)}@x.test", "role": "viewer"}


ENDPOINTS = [
    Endpoint("get", "/api/v1/auth/me", None),
    Endpoint("patch", "/api/v1/auth/me", None, {"full_name": "Renamed"}),
    Endpoint("post", "/api/v1/auth/mfa/setup", None),
    Endpoint("post", "/api/v1/auth/password/change", None,
             {"current_password": PASSWORD, "new_password": "Matrix-New-Pass-1"}),
    Endpoint("post", "/api/v1/auth/logout", None, {}),
    Endpoint("get", "/api/v1/tenants/me", None),
    Endpoint("patch", "/api/v1/tenants/me", "accounts.manage_tenant_settings", {"name": "Acme Corp"}),
    Endpoint("get", "/api/v1/tenants/me/members", "accounts.view_members"),
    Endpoint("get", "/api/v1/tenants/me/members/{o.member.pk}", "accounts.view_members", detail=True),
    Endpoint("post", "/api/v1/tenants/me/members", "accounts.manage_members", _email),
    Endpoint("patch", "/api/v1/tenants/me/members/{o.member.pk}", "accounts.manage_members", {"role": "viewer"},
             detail=True),
    Endpoint("post", "/api/v1/tenants/me/members/{o.member.pk}/deactivate", "accounts.manage_members", detail=True),
    Endpoint("post", "/api/v1/tenants/me/members/{o.member.pk}/reactivate", "accounts.manage_members", detail=True),
    Endpoint("get", "/api/v1/tenants/me/invitations", "accounts.manage_members"),
    Endpoint("delete", "/api/v1/tenants/me/invitations/{o.invitation.pk}", "accounts.manage_members", detail=True),
    Endpoint("get", "/api/v1/tenants/me/roles", "accounts.view_members"),
    Endpoint("get", "/api/v1/tenants/me/roles/{o.role}", "accounts.view_members", detail=True),
    Endpoint("post", "/api/v1/tenants/me/roles", "accounts.manage_roles",
             lambda o: {"name": f"role_{next(_unique)}", "permissions": ["accounts.view_members"]}),
    Endpoint("patch", "/api/v1/tenants/me/roles/{o.role}", "accounts.manage_roles", {"description": "x"},
             detail=True),
    Endpoint("delete", "/api/v1/tenants/me/roles/{o.role}", "accounts.manage_roles", detail=True),
    Endpoint("get", "/api/v1/api-keys", "accounts.manage_api_keys"),
    Endpoint("get", "/api/v1/api-keys/{o.key.pk}", "accounts.manage_api_keys", detail=True),
    Endpoint("post", "/api/v1/api-keys", "accounts.manage_api_keys", {"name": "ci", "scopes": ["read"]}),
    Endpoint("delete", "/api/v1/api-keys/{o.key.pk}", "accounts.manage_api_keys", detail=True),
]

PAGES = [
    ("get", "/account/", None),
    ("get", "/members/", "accounts.view_members"),
    ("get", "/roles/", "accounts.view_members"),
    ("get", "/api-keys/", "accounts.manage_api_keys"),
    ("get", "/settings/", "accounts.manage_tenant_settings"),
    ("post", "/members/{o.member.pk}/role/", "accounts.manage_members"),
    ("post", "/members/{o.member.pk}/deactivate/", "accounts.manage_members"),
    ("post", "/members/invitations/{o.invitation.pk}/revoke/", "accounts.manage_members"),
    ("get", "/roles/{o.role}/edit/", "accounts.manage_roles"),
    ("post", "/roles/{o.role}/delete/", "accounts.manage_roles"),
    ("post", "/api-keys/{o.key.pk}/revoke/", "accounts.manage_api_keys"),
]


def allowed(role: str, permission: str | None) -> bool:
    return permission is None or permission in ROLE_PERMISSIONS[role]


def call(client, endpoint: Endpoint, objects: Objects):
    body = endpoint.body(objects) if callable(endpoint.body) else endpoint.body
    path = endpoint.path.format(o=objects)
    return getattr(client, endpoint.method)(path, body, format="json") if body is not None else \
        getattr(client, endpoint.method)(path)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("role", SYSTEM_ROLES)
def test_api_matrix(tenant_a, objects, endpoint, role):
    client = jwt_client(tenant_a, make_member(tenant_a, role))
    response = call(client, endpoint, objects)
    if allowed(role, endpoint.permission):
        assert 200 <= response.status_code < 300, (role, str(endpoint), response.content)
    else:
        assert response.status_code == 403, (role, str(endpoint), response.content)
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.detail], ids=str)
def test_other_organizations_objects_are_404(tenant_a, tenant_b, endpoint):
    theirs = _objects(tenant_b)
    client = jwt_client(tenant_a, make_member(tenant_a, "owner"))
    response = call(client, endpoint, theirs)
    assert response.status_code == 404, (str(endpoint), response.content)
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p[0]} {p[1]}")
@pytest.mark.parametrize("role", SYSTEM_ROLES)
def test_dashboard_matrix(tenant_a, objects, page, role):
    method, path, permission = page
    client = session_client(tenant_a, make_member(tenant_a, role))
    response = getattr(client, method)(path.format(o=objects), HTTP_ACCEPT="text/html")
    if allowed(role, permission):
        assert response.status_code in (200, 302), (role, path, response.status_code)
        if response.status_code == 302:
            assert "/login/" not in response["Location"]
    else:
        assert response.status_code == 403, (role, path, response.status_code)


@pytest.mark.parametrize("path", ["/members/{o.member.pk}/deactivate/", "/api-keys/{o.key.pk}/revoke/",
                                  "/members/invitations/{o.invitation.pk}/revoke/"])
def test_dashboard_other_organizations_objects_are_404(tenant_a, tenant_b, path):
    theirs = _objects(tenant_b)
    client = session_client(tenant_a, make_member(tenant_a, "owner"))
    assert client.post(path.format(o=theirs), HTTP_ACCEPT="text/html").status_code == 404


def test_anonymous_is_401_on_the_api_and_sent_to_sign_in_on_the_dashboard(client_a, objects):
    for endpoint in ENDPOINTS:
        if endpoint.path in ("/api/v1/auth/logout",):
            continue
        response = call(client_a, endpoint, objects)
        assert response.status_code == 401, str(endpoint)
    for _method, path, _perm in PAGES:
        if _method == "get":
            response = client_a.get(path.format(o=objects))
            assert response.status_code == 302 and response["Location"].startswith("/login/")
