"""Audit cases for the mutating routes of the public (platform) URLconf: the staff tenant API.

The routes belong to `tenants/api`; their cases live here until that app has its own
`tenants/tests/audit_cases.py` (move them there: the registry reads both).
"""

from __future__ import annotations

from typing import Any

from audit.testing import AuditCase, CaseContext, Expected
from tenants.models import Tenant


def _staff_json(ctx: CaseContext, method: str, path: str, body: Any = None) -> Any:
    call = getattr(ctx.staff_client, method)
    return call(path, body, content_type="application/json") if body is not None else call(path)


def _organization(ctx: CaseContext) -> Tenant:
    """A fresh organization for the staff calls that change one (tenant_create, audited itself)."""
    from tenants.services import tenant_create

    tenant = tenant_create(slug="auditcase", name="Audit Case Ltd").tenant
    ctx.data["org"] = tenant
    return tenant


def _setup_suspended(ctx: CaseContext) -> None:
    from tenants.services import tenant_suspend

    tenant_suspend(tenant=_organization(ctx), reason="case set-up")


CASES = [
    AuditCase(
        route="staff-tenant-list", method="POST", urlconf="public",
        call=lambda ctx: _staff_json(ctx, "post", "/api/v1/tenants", {
            "slug": "casecreated", "name": "Case Created", "subscription_tier": "basic"}),
        expect=lambda ctx, response: Expected(
            action="tenant.create", actor="staff", schema="public", resource_type="tenant",
            resource_id=response.json()["id"],
            changes={"schema_name": {"after": "casecreated"}, "subscription_tier": {"after": "basic"}}),
    ),
    AuditCase(
        route="staff-tenant-detail", method="PATCH", urlconf="public", setup=_organization,
        call=lambda ctx: _staff_json(ctx, "patch", "/api/v1/tenants/auditcase", {"name": "Audit Case Renamed"}),
        expect=lambda ctx, response: Expected(
            action="tenant.update", actor="staff", schema="public", resource_type="tenant",
            resource_id=str(ctx.data["org"].pk),
            changes={"name": {"before": "Audit Case Ltd", "after": "Audit Case Renamed"}}),
    ),
    AuditCase(
        route="staff-tenant-suspend", method="POST", urlconf="public", setup=_organization,
        call=lambda ctx: _staff_json(ctx, "post", "/api/v1/tenants/auditcase/suspend", {"reason": "unpaid"}),
        expect=lambda ctx, response: Expected(
            action="tenant.suspend", actor="staff", schema="public", resource_type="tenant",
            resource_id=str(ctx.data["org"].pk), changes={"is_active": {"before": True, "after": False}}),
    ),
    AuditCase(
        route="staff-tenant-reactivate", method="POST", urlconf="public", setup=_setup_suspended,
        call=lambda ctx: _staff_json(ctx, "post", "/api/v1/tenants/auditcase/reactivate", {}),
        expect=lambda ctx, response: Expected(
            action="tenant.reactivate", actor="staff", schema="public", resource_type="tenant",
            resource_id=str(ctx.data["org"].pk), changes={"is_active": {"before": False, "after": True}}),
    ),
]
