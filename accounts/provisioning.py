"""What accounts contributes to an organization's life: system roles, the first owner, demo
users, and revoking every token when it is suspended. Registered in AccountsConfig.ready()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from accounts import services
from accounts.roles import ADMIN, DEVELOPER, OWNER, SECURITY_ENGINEER, VIEWER
from audit.context import Actor
from tenants.hooks import ProvisioningOptions, demo_data_step, lifecycle_hook, provisioning_step

if TYPE_CHECKING:
    from tenants.models import Tenant

DEMO_USERS = (
    ("owner", OWNER, "Owner"),
    ("admin", ADMIN, "Admin"),
    ("security", SECURITY_ENGINEER, "Security Engineer"),
    ("dev", DEVELOPER, "Developer"),
    ("viewer", VIEWER, "Viewer"),
)


@provisioning_step("roles", order=10, in_template=True)
def seed_system_roles(tenant: Tenant, options: ProvisioningOptions) -> None:
    services.system_roles_seed()


@provisioning_step("owner", order=90)
def first_owner(tenant: Tenant, options: ProvisioningOptions) -> None:
    """Create the first owner (with a password) or invite them (without). Idempotent."""
    if not options.owner_email:
        return
    actor = Actor.system("provisioning")
    User = get_user_model()
    email = options.owner_email.strip().lower()
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        if existing.role_name != OWNER:
            services.member_assign_role(actor=actor, member=existing, role=OWNER)
        return
    if options.owner_password:
        services.user_create(actor=actor, email=email, full_name=options.owner_name or "",
                             password=options.owner_password, role=OWNER)
        return
    from accounts.models import Invitation

    if Invitation.objects.filter(email=email, accepted_at__isnull=True, revoked_at__isnull=True).exists():
        return
    services.member_invite(actor=actor, tenant=tenant, email=email, role=OWNER, full_name=options.owner_name or "")


@demo_data_step("accounts.users", order=10)
def demo_users(tenant: Tenant, password: str) -> None:
    """owner@, admin@, security@, dev@ and viewer@<slug>.localhost, each with their role."""
    actor = Actor.system("demo")
    User = get_user_model()
    for local, role, label in DEMO_USERS:
        email = f"{local}@{tenant.schema_name}.{settings.BASE_DOMAIN}"
        user = User.objects.filter(email=email).first()
        if user is None:
            services.user_create(actor=actor, email=email, full_name=f"{tenant.name} {label}", password=password,
                                 role=role)
        elif user.role_name != role:
            services.member_assign_role(actor=actor, member=user, role=role)


@lifecycle_hook("suspended", "accounts.revoke_tokens")
def revoke_tokens_on_suspension(tenant: Tenant) -> None:
    with schema_context(tenant.schema_name):
        services.tenant_revoke_all_tokens(tenant=tenant)
    connection.set_schema_to_public()


def sync_system_roles(**kwargs: object) -> None:
    """post_migrate: keep system roles' permissions current in organization schemas that have them,
    so a permission another app adds later reaches existing organizations."""
    if connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return
    from django.contrib.auth.models import Group

    if Group.objects.filter(name=OWNER).exists() or connection.schema_name == settings.TEMPLATE_SCHEMA_NAME:
        services.system_roles_seed()
