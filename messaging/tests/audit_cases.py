"""Audit coverage of the messaging API (see docs/contributing.md, "Audit coverage of mutating routes")."""

from __future__ import annotations

from django_tenants.utils import schema_context

from audit.testing import AuditCase, CaseContext, Expected


def _credential(ctx: CaseContext) -> None:
    from audit.context import Actor
    from messaging.services import mqtt_credential_create

    with schema_context(ctx.tenant.schema_name):
        credential, _password = mqtt_credential_create(tenant=ctx.tenant, actor=Actor.for_user(ctx.user),
                                                       name="Audit mirror")
    ctx.data["credential"] = credential


CASES = [
    AuditCase(
        route="mqtt-credential-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/mqtt/credentials", {"name": "Audit CI"}),
        expect=lambda ctx, r: Expected(action="mqtt_credential.create", resource_type="mqtt_credential",
                                       resource_id=r.json()["id"], changes={"name": {"after": "Audit CI"}}),
    ),
    AuditCase(
        route="mqtt-credential-detail", method="DELETE", setup=_credential,
        call=lambda ctx: ctx.json("delete", f"/api/v1/mqtt/credentials/{ctx.data['credential'].pk}"),
        expect=lambda ctx, r: Expected(action="mqtt_credential.revoke", resource_type="mqtt_credential",
                                       resource_id=str(ctx.data["credential"].pk)),
    ),
]
