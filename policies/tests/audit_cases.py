"""Audit coverage of the policies API (see docs/contributing.md, "Audit coverage of mutating routes")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_tenants.utils import schema_context

from audit.testing import AuditCase, CaseContext, Expected, NotAudited

DOCUMENT = {"name": "Audit case policy", "priority": 30,
            "rules": [{"name": "Secrets", "action": "block",
                       "conditions": [{"subject": "category", "operator": "eq", "value": "secrets"}]}]}


def _policy(ctx: CaseContext) -> None:
    from audit.context import Actor
    from policies import services

    with schema_context(ctx.tenant.schema_name):
        ctx.data["policy"] = services.policy_create(tenant=ctx.tenant, actor=Actor.system("audit-case"),
                                                    document=DOCUMENT)


def _waiver(ctx: CaseContext, *, approved: bool = False) -> None:
    """A waiver requested by another member (the case's member approves, rejects or revokes it)."""
    from audit.context import Actor
    from policies import services
    from policies.tests.factories import make_user

    requester = make_user(ctx.tenant, "developer")
    with schema_context(ctx.tenant.schema_name):
        waiver = services.waiver_request(
            tenant=ctx.tenant, actor=Actor.for_user(requester), scope="check", value="PKG-HOOK-001",
            ecosystem="npm", package_name="left-pad", reason="The hook only compiles a native add-on.",
            expires_at=timezone.now() + timedelta(days=7))
        if approved:
            approver = make_user(ctx.tenant, "security_engineer")
            waiver = services.waiver_approve(tenant=ctx.tenant, actor=Actor.for_user(approver), waiver=waiver)
    ctx.data["waiver"] = waiver


def _scan(ctx: CaseContext) -> None:
    from policies.tests.factories import ScanFactory, vuln

    with schema_context(ctx.tenant.schema_name):
        scan = ScanFactory(verdict="pass")
        vuln(scan)
    ctx.data["scan"] = scan


def _id(response: Any) -> str:
    return str(response.json()["id"])


CASES = [
    AuditCase(
        route="policies-api:policy-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/policies", DOCUMENT),
        expect=lambda ctx, response: Expected(action="policy.create", resource_type="policy",
                                              resource_id=_id(response),
                                              changes={"name": {"after": "Audit case policy"}}),
    ),
    AuditCase(
        route="policies-api:policy-detail", method="PUT", setup=_policy,
        call=lambda ctx: ctx.json("put", f"/api/v1/policies/{ctx.data['policy'].pk}", {**DOCUMENT, "priority": 31}),
        expect=lambda ctx, response: Expected(action="policy.update", resource_type="policy",
                                              resource_id=str(ctx.data["policy"].pk),
                                              changes={"priority": {"before": 30, "after": 31}}),
    ),
    AuditCase(
        route="policies-api:policy-detail", method="PATCH", setup=_policy,
        call=lambda ctx: ctx.json("patch", f"/api/v1/policies/{ctx.data['policy'].pk}", {"mode": "monitor"}),
        expect=lambda ctx, response: Expected(action="policy.update", resource_type="policy",
                                              resource_id=str(ctx.data["policy"].pk),
                                              changes={"mode": {"before": "enforce", "after": "monitor"}}),
    ),
    AuditCase(
        route="policies-api:policy-detail", method="DELETE", setup=_policy,
        call=lambda ctx: ctx.json("delete", f"/api/v1/policies/{ctx.data['policy'].pk}"),
        expect=lambda ctx, response: Expected(action="policy.delete", resource_type="policy",
                                              resource_id=str(ctx.data["policy"].pk)),
    ),
    NotAudited(route="policies-api:policy-simulate", method="POST",
               reason="Evaluates a draft policy in memory against recent scans; nothing is saved."),
    AuditCase(
        route="policies-api:policy-reevaluate", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/policies/reevaluate", {"days": 7}),
        expect=Expected(action="policy.reevaluate_request", resource_type="scan"),
    ),
    AuditCase(
        route="policies-api:scan-evaluate", method="POST", setup=_scan,
        call=lambda ctx: ctx.json("post", f"/api/v1/scans/{ctx.data['scan'].pk}/evaluate"),
        expect=lambda ctx, response: Expected(action="scan.evaluate", resource_type="scan",
                                              resource_id=str(ctx.data["scan"].pk),
                                              changes={"verdict": {"before": "pass", "after": "block"}}),
    ),
    AuditCase(
        route="policies-api:waiver-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/waivers", {
            "scope": "vulnerability", "value": "CVE-2024-0001", "ecosystem": "pypi", "package_name": "requests",
            "reason": "Not reachable from our code.", "expires_in_days": 30}),
        expect=lambda ctx, response: Expected(action="waiver.request", resource_type="waiver",
                                              resource_id=_id(response),
                                              changes={"value": {"after": "CVE-2024-0001"},
                                                       "state": {"after": "pending"}}),
    ),
    AuditCase(
        route="policies-api:waiver-approve", method="POST", setup=_waiver,
        call=lambda ctx: ctx.json("post", f"/api/v1/waivers/{ctx.data['waiver'].pk}/approve", {"note": "ok"}),
        expect=lambda ctx, response: Expected(action="waiver.approve", resource_type="waiver",
                                              resource_id=str(ctx.data["waiver"].pk),
                                              changes={"state": {"before": "pending", "after": "approved"}}),
    ),
    AuditCase(
        route="policies-api:waiver-reject", method="POST", setup=_waiver,
        call=lambda ctx: ctx.json("post", f"/api/v1/waivers/{ctx.data['waiver'].pk}/reject", {"note": "no"}),
        expect=lambda ctx, response: Expected(action="waiver.reject", resource_type="waiver",
                                              resource_id=str(ctx.data["waiver"].pk),
                                              changes={"state": {"before": "pending", "after": "rejected"}}),
    ),
    AuditCase(
        route="policies-api:waiver-revoke", method="POST", setup=lambda ctx: _waiver(ctx, approved=True),
        call=lambda ctx: ctx.json("post", f"/api/v1/waivers/{ctx.data['waiver'].pk}/revoke", {"reason": "fixed"}),
        expect=lambda ctx, response: Expected(action="waiver.revoke", resource_type="waiver",
                                              resource_id=str(ctx.data["waiver"].pk),
                                              changes={"state": {"before": "approved", "after": "revoked"}}),
    ),
]
