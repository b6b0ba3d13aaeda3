"""Every mutating API route leaves the right audit event (the registry in audit/testing.py).

- `test_every_mutating_route_has_an_audit_case` lists the POST/PUT/PATCH/DELETE routes
  of the tenant and public URLconfs and fails for any route without an entry in some
  `<app>/tests/audit_cases.py` (and for entries whose route no longer exists).
- `test_audit_case` runs each case: it calls the route with valid input as a member
  holding every permission (or as platform staff), then checks that an event with the
  expected action, actor, resource, outcome and changes was recorded by that call.

How to add a case: docs/contributing.md, "Audit coverage of mutating routes".
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Max
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from audit.testing import AuditCase, CaseContext, NotAudited, mutating_routes, registered_cases
from audit.tests.helpers import make_member, sign_in

pytestmark = pytest.mark.django_db

ENTRIES = registered_cases()
CASES = [entry for entry in ENTRIES if isinstance(entry, AuditCase)]


def test_every_mutating_route_has_an_audit_case():
    routes = {route.key: route for route in mutating_routes()}
    keys = Counter(entry.key for entry in ENTRIES)
    missing = [routes[key].describe() for key in sorted(routes) if key not in keys]
    stale = [f"{method} {name} ({conf})" for (conf, name, method) in sorted(keys) if (conf, name, method) not in routes]
    duplicated = [f"{method} {name} ({conf})" for (conf, name, method), n in sorted(keys.items()) if n > 1]
    exempt_without_reason = [e.key for e in ENTRIES if isinstance(e, NotAudited) and len(e.reason.strip()) < 10]
    problems = []
    if missing:
        problems.append("Mutating routes without an audit case (add one to <app>/tests/audit_cases.py, "
                        "see docs/contributing.md):\n  " + "\n  ".join(missing))
    if stale:
        problems.append("Audit cases for routes that no longer exist:\n  " + "\n  ".join(stale))
    if duplicated:
        problems.append("Routes with more than one audit case:\n  " + "\n  ".join(duplicated))
    if exempt_without_reason:
        problems.append(f"NotAudited entries need a real reason: {exempt_without_reason}")
    assert not problems, "\n\n".join(problems)


def test_the_route_enumeration_sees_every_kind_of_view():
    """Viewset methods and @action routes, APIView and Django view handlers, function views; API only."""
    found = {(r.name, r.method) for r in mutating_routes({"probe": "config.tests.probe_routes"})}
    assert found == {
        ("gadget-list", "POST"), ("gadget-detail", "DELETE"), ("gadget-polish", "POST"),
        ("api/v1/knobs", "POST"), ("api/v1/knobs", "PATCH"),
        ("django-view", "DELETE"),
        ("api/v1/legacy", "POST"), ("api/v1/legacy", "PUT"), ("api/v1/legacy", "PATCH"), ("api/v1/legacy", "DELETE"),
    }


@pytest.fixture
def case_context(tenant_a) -> CaseContext:
    with schema_context(tenant_a.schema_name):
        perms = [f"{app}.{codename}" for app, codename in Permission.objects.filter(
            content_type__app_label__in=["accounts", "audit", "scanning", "policies", "messaging", "tenants"],
        ).values_list("content_type__app_label", "codename")]
    user = make_member(tenant_a, *perms)
    client = sign_in(Client(HTTP_HOST=tenant_a.primary_host), tenant_a, user)
    connection.set_schema_to_public()
    staff = get_user_model().objects.create_superuser(email="audit-cases@gatehouse.test",
                                                      password="Staff-pass-for-cases-1")
    staff_client = Client(HTTP_HOST="localhost")
    staff_client.force_login(staff)
    return CaseContext(tenant=tenant_a, user=user, client=client, staff=staff, staff_client=staff_client)


def _schema(ctx: CaseContext, where: str) -> str:
    return ctx.tenant.schema_name if where == "tenant" else "public"


def _events_after(schema: str, sequence: int) -> list[AuditEvent]:
    with schema_context(schema):
        return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _head(schema: str) -> int:
    with schema_context(schema):
        return AuditEvent.objects.aggregate(head=Max("sequence"))["head"] or 0


def _describe(events: list[AuditEvent]) -> str:
    return json.dumps([{"action": e.action, "actor": [e.actor_type, e.actor_id], "resource": [e.resource_type,
                        e.resource_id], "changes": e.changes} for e in events], default=str)[:2000] or "none"


@pytest.mark.parametrize("case", CASES, ids=[c.id or f"{c.method} {c.route}" for c in CASES])
def test_audit_case(case: AuditCase, case_context: CaseContext):
    ctx = case_context
    if case.setup is not None:
        case.setup(ctx)
        connection.set_schema_to_public()
    heads = {where: _head(_schema(ctx, where)) for where in ("tenant", "public")}
    response = case.call(ctx)
    connection.set_schema_to_public()
    body = getattr(response, "content", b"")[:1500]
    assert response.status_code < 400, f"{case.method} {case.route} answered {response.status_code}: {body!r}"
    expected = case.expected(ctx, response)
    schema = _schema(ctx, expected.schema)
    recorded = _events_after(schema, heads[expected.schema])
    matching = [e for e in recorded if e.action == expected.action]
    assert matching, f"no `{expected.action}` event in {schema}; recorded: {_describe(recorded)}"

    actor: Any = expected.actor
    if actor == "member":
        actor = ("user", str(ctx.user.pk))
    elif actor == "staff":
        actor = ("staff", str(ctx.staff.pk))

    def fits(event: AuditEvent) -> list[str]:
        wrong = []
        if (event.actor_type, event.actor_id) != tuple(actor):
            wrong.append(f"actor {(event.actor_type, event.actor_id)} instead of {tuple(actor)}")
        if expected.resource_type is not None and event.resource_type != expected.resource_type:
            wrong.append(f"resource_type {event.resource_type!r} instead of {expected.resource_type!r}")
        if expected.resource_id is not None and event.resource_id != str(expected.resource_id):
            wrong.append(f"resource_id {event.resource_id!r} instead of {expected.resource_id!r}")
        if event.outcome != expected.outcome:
            wrong.append(f"outcome {event.outcome!r} instead of {expected.outcome!r}")
        for field, value in (expected.changes or {}).items():
            if event.changes.get(field) != value:
                wrong.append(f"changes[{field!r}] = {event.changes.get(field)!r} instead of {value!r}")
        return wrong

    verdicts = [fits(event) for event in matching]
    assert any(not v for v in verdicts), (
        f"`{expected.action}` recorded, but not as expected: {verdicts[0]}; recorded: {_describe(matching)}")
