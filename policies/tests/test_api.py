"""The policies API: permission matrix, other organizations, validation errors, the gate, re-evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from policies import services
from policies.models import Evaluation, Policy, Waiver
from policies.tests.factories import FindingFactory, ScanFactory, login, make_user, vuln
from scanning.models import Scan

ROLES = ("owner", "admin", "security_engineer", "developer", "viewer", None)

POLICY = {"name": "API policy", "priority": 40,
          "rules": [{"name": "Secrets", "action": "block",
                     "conditions": [{"subject": "category", "operator": "eq", "value": "secrets"}]}]}


def send(client: Any, method: str, path: str, body: Any = None) -> Any:
    return getattr(client, method)(path, data=json.dumps(body) if body is not None else None,
                                   content_type="application/json")


@pytest.fixture
def world(tenant_a) -> dict[str, Any]:
    """In acme: a policy, a pending waiver requested by a developer, and that developer's blocked scan."""
    requester = make_user(tenant_a, "developer")
    with schema_context(tenant_a.schema_name):
        policy = services.policy_create(tenant=tenant_a, actor=Actor.system("tests"), document=POLICY)
        scan = ScanFactory(submitted_by=requester, verdict="block")
        vuln(scan)
        waiver = services.waiver_request(
            tenant=tenant_a, actor=Actor.for_user(requester), scope="check", value="VULN-PKG-001", ecosystem="pypi",
            package_name=scan.name, reason="Reviewed: the vulnerable code is not shipped.",
            expires_at=timezone.now() + timedelta(days=5))
    return {"policy": policy, "waiver": waiver, "scan": scan, "requester": requester}


ENDPOINTS: dict[str, tuple[str, Callable[[dict[str, Any]], str], Any]] = {
    "list policies": ("get", lambda w: "/api/v1/policies", None),
    "read a policy": ("get", lambda w: f"/api/v1/policies/{w['policy'].pk}", None),
    "create a policy": ("post", lambda w: "/api/v1/policies", {**POLICY, "name": "Another"}),
    "change a policy": ("patch", lambda w: f"/api/v1/policies/{w['policy'].pk}", {"mode": "monitor"}),
    "replace a policy": ("put", lambda w: f"/api/v1/policies/{w['policy'].pk}", {**POLICY, "priority": 41}),
    "delete a policy": ("delete", lambda w: f"/api/v1/policies/{w['policy'].pk}", None),
    "revisions": ("get", lambda w: f"/api/v1/policies/{w['policy'].pk}/revisions", None),
    "one revision": ("get", lambda w: f"/api/v1/policies/{w['policy'].pk}/revisions/1", None),
    "diff": ("get", lambda w: f"/api/v1/policies/{w['policy'].pk}/diff?from=1&to=1", None),
    "subjects": ("get", lambda w: "/api/v1/policies/subjects", None),
    "simulate": ("post", lambda w: "/api/v1/policies/simulate", {"policy": POLICY, "scans": 10}),
    "bulk re-evaluate": ("post", lambda w: "/api/v1/policies/reevaluate", {"days": 7}),
    "list waivers": ("get", lambda w: "/api/v1/waivers", None),
    "read a waiver": ("get", lambda w: f"/api/v1/waivers/{w['waiver'].pk}", None),
    "request a waiver": ("post", lambda w: "/api/v1/waivers", {
        "scope": "check", "value": "PKG-HOOK-001", "ecosystem": "npm", "package_name": "left-pad",
        "reason": "The hook only compiles a native add-on.", "expires_in_days": 10}),
    "approve a waiver": ("post", lambda w: f"/api/v1/waivers/{w['waiver'].pk}/approve", {"note": "ok"}),
    "reject a waiver": ("post", lambda w: f"/api/v1/waivers/{w['waiver'].pk}/reject", {}),
    "revoke a waiver": ("post", lambda w: f"/api/v1/waivers/{w['waiver'].pk}/revoke", {}),
    "evaluate a scan": ("post", lambda w: f"/api/v1/scans/{w['scan'].pk}/evaluate", None),
    "a scan's verdict": ("get", lambda w: f"/api/v1/scans/{w['scan'].pk}/verdict", None),
    "gate": ("get", lambda w: f"/api/v1/gate?ecosystem=pypi&name={w['scan'].name}&version=1.0.0", None),
}

OK, NO, HIDDEN = "ok", 403, 404
VIEW = {"owner": OK, "admin": OK, "security_engineer": OK, "developer": OK, "viewer": OK, None: NO}
MANAGE = {"owner": OK, "admin": OK, "security_engineer": OK, "developer": NO, "viewer": NO, None: NO}
EXPECTED: dict[str, dict[str | None, Any]] = {
    "list policies": VIEW, "read a policy": VIEW, "revisions": VIEW, "one revision": VIEW, "diff": VIEW,
    "subjects": VIEW, "gate": VIEW,
    # The scan belongs to the world's developer: members who see only their own scans get 404.
    "a scan's verdict": {**VIEW, "developer": HIDDEN, None: HIDDEN},
    "create a policy": MANAGE, "change a policy": MANAGE, "replace a policy": MANAGE, "delete a policy": MANAGE,
    "simulate": MANAGE, "bulk re-evaluate": MANAGE,
    "list waivers": VIEW, "read a waiver": {**VIEW, "developer": OK},
    "request a waiver": {**MANAGE, "developer": OK},
    "approve a waiver": MANAGE, "reject a waiver": MANAGE,
    # Approvers may revoke; a developer who is not the requester sees the waiver (view_policies)
    # but may not revoke it.
    "revoke a waiver": MANAGE,
    # The scan belongs to the world's developer: another developer cannot see it (404); a viewer
    # sees every scan but may not re-evaluate (403).
    "evaluate a scan": {**MANAGE, "developer": HIDDEN, None: HIDDEN},
}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-role")
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_permission_matrix(tenant_a, world, role: str | None, endpoint: str) -> None:
    method, path, body = ENDPOINTS[endpoint]
    client = login(tenant_a, make_user(tenant_a, role))
    response = send(client, method, path(world), body)
    expected = EXPECTED[endpoint][role]
    if expected == OK:
        assert 200 <= response.status_code < 300, (response.status_code, response.content[:500])
    else:
        assert response.status_code == expected, (response.status_code, response.content[:500])
        assert response.json()["error"]["code"] in ("permission_denied", "not_found")


def test_the_requester_may_withdraw_but_not_approve(tenant_a, world) -> None:
    engineer = login(tenant_a, make_user(tenant_a, "security_engineer"))
    own = send(engineer, "post", "/api/v1/waivers", {
        "scope": "check", "value": "PKG-HOOK-001", "ecosystem": "npm", "package_name": "left-pad",
        "reason": "The hook only compiles a native add-on.", "expires_in_days": 10}).json()
    refused = send(engineer, "post", f"/api/v1/waivers/{own['id']}/approve", {})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "self_approval"
    assert send(engineer, "post", f"/api/v1/waivers/{own['id']}/reject", {}).json()["error"]["code"] == \
        "self_approval"
    developer = login(tenant_a, world["requester"])
    assert send(developer, "post", f"/api/v1/waivers/{world['waiver'].pk}/approve", {}).status_code == 403
    withdrawn = send(developer, "post", f"/api/v1/waivers/{world['waiver'].pk}/revoke", {"reason": "not needed"})
    assert withdrawn.json()["state"] == "revoked"


def test_a_developer_may_evaluate_nothing_but_sees_own_scan_verdict(tenant_a, world) -> None:
    client = login(tenant_a, world["requester"])
    assert send(client, "post", f"/api/v1/scans/{world['scan'].pk}/evaluate").status_code == 403
    assert send(client, "get", f"/api/v1/scans/{world['scan'].pk}/verdict").status_code == 200
    stranger = login(tenant_a, make_user(tenant_a, "developer"))
    assert send(stranger, "get", f"/api/v1/scans/{world['scan'].pk}/verdict").status_code == 404


def test_anonymous_requests_are_refused(tenant_a, world) -> None:
    from django.test import Client

    response = Client(HTTP_HOST=tenant_a.primary_host).get("/api/v1/policies")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


OTHER_TENANT = ["read a policy", "change a policy", "delete a policy", "revisions", "read a waiver",
                "approve a waiver", "revoke a waiver", "evaluate a scan", "a scan's verdict"]


@pytest.mark.parametrize("endpoint", OTHER_TENANT)
def test_other_organizations_objects_are_404(tenant_a, tenant_b, world, endpoint: str) -> None:
    method, path, body = ENDPOINTS[endpoint]
    client = login(tenant_b, make_user(tenant_b, "owner"))
    response = send(client, method, path(world), body)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    with schema_context(tenant_a.schema_name):
        assert Policy.objects.filter(pk=world["policy"].pk, deleted_at__isnull=True, mode="enforce").exists()
        assert Waiver.objects.get(pk=world["waiver"].pk).state == "pending"


def test_other_organizations_gate_knows_nothing(tenant_b, world) -> None:
    client = login(tenant_b, make_user(tenant_b, "viewer"))
    body = send(client, "get", f"/api/v1/gate?ecosystem=pypi&name={world['scan'].name}&version=1.0.0").json()
    assert body["verdict"] == "unknown" and body["scan"] is None


def test_a_session_opened_in_one_organization_is_not_valid_in_another(tenant_a, tenant_b, world) -> None:
    from django.test import Client

    client = login(tenant_a, make_user(tenant_a, "owner"))
    foreign = Client(HTTP_HOST=tenant_b.primary_host)
    foreign.cookies = client.cookies
    response = foreign.get(f"/api/v1/waivers/{world['waiver'].pk}")
    assert response.status_code in (401, 403, 404)


def test_invalid_policies_answer_400_with_field_paths(tenant_a) -> None:
    client = login(tenant_a, make_user(tenant_a, "security_engineer"))
    bad = {"name": "Bad", "rules": [
        {"action": "block", "conditions": [{"subject": "severity", "operator": "gte", "value": "high"}]},
        {"action": "block", "conditions": [{"subject": "severity", "operator": "gte", "value": "high"}]},
        {"action": "warn", "conditions": [{"subject": "colour", "operator": "eq", "value": "red"},
                                          {"subject": "package", "operator": "regex", "value": "a(b"},
                                          {"subject": "cvss", "operator": "gte", "value": 9},
                                          {"subject": "cvss", "operator": "lt", "value": 4}]}]}
    response = send(client, "post", "/api/v1/policies", bad)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["request_id"]
    assert set(error["details"]) == {"rules[2].conditions[0].subject", "rules[2].conditions[1].value"}
    # Fixing those reveals the contradiction (it is checked once every condition is valid).
    bad["rules"][2]["conditions"] = bad["rules"][2]["conditions"][2:]
    again = send(client, "post", "/api/v1/policies", bad).json()["error"]["details"]
    assert list(again) == ["rules[2].conditions[1].value"] and "Contradicts" in again["rules[2].conditions[1].value"][0]
    assert send(client, "post", "/api/v1/policies", ["not", "an", "object"]).status_code == 400


def test_policy_crud_and_revisions_over_the_api(tenant_a) -> None:
    client = login(tenant_a, make_user(tenant_a, "admin"))
    created = send(client, "post", "/api/v1/policies", {**POLICY, "summary": "first cut"})
    assert created.status_code == 201 and created["Location"] == created.json()["urls"]["self"]
    pk = created.json()["id"]
    assert created.json()["revision"] == 1 and created.json()["scope"] == {"ecosystems": [], "packages": []}
    changed = send(client, "patch", f"/api/v1/policies/{pk}", {"mode": "monitor", "summary": "observe first"})
    assert changed.json()["mode"] == "monitor" and changed.json()["revision"] == 2
    revisions = send(client, "get", f"/api/v1/policies/{pk}/revisions").json()
    assert [(r["number"], r["summary"]) for r in revisions["results"]] == [(2, "observe first"), (1, "first cut")]
    diff = send(client, "get", f"/api/v1/policies/{pk}/diff?from=1&to=2").json()
    assert diff["fields"] == {"mode": {"before": "enforce", "after": "monitor"}} and diff["from"] == 1
    assert send(client, "get", f"/api/v1/policies/{pk}/diff?from=1").status_code == 400
    assert send(client, "get", f"/api/v1/policies/{pk}/revisions/9").status_code == 404
    listed = send(client, "get", "/api/v1/policies?mode=monitor").json()
    assert [p["name"] for p in listed["results"]] == ["API policy"]
    assert send(client, "delete", f"/api/v1/policies/{pk}").status_code == 204
    assert send(client, "get", f"/api/v1/policies/{pk}").status_code == 404
    assert send(client, "get", f"/api/v1/policies/{pk}/revisions").json()["count"] == 3


def test_lists_do_not_query_per_row(tenant_a, django_assert_max_num_queries) -> None:
    engineer = make_user(tenant_a, "security_engineer")
    with schema_context(tenant_a.schema_name):
        for i in range(12):
            services.policy_create(tenant=tenant_a, actor=Actor.system("t"), document={**POLICY, "name": f"P{i}"})
            services.waiver_request(tenant=tenant_a, actor=Actor.for_user(engineer), scope="check",
                                    value=f"CHECK-{i}", ecosystem="npm", package_name=f"pkg{i}",
                                    reason="A reason long enough.", expires_at=timezone.now() + timedelta(days=3))
    client = login(tenant_a, engineer)
    client.get("/api/v1/policies")  # warm the session and permission caches
    with django_assert_max_num_queries(12):
        assert len(client.get("/api/v1/policies?page_size=50").json()["results"]) == 13
    with django_assert_max_num_queries(12):
        assert len(client.get("/api/v1/waivers?page_size=50").json()["results"]) == 12


def test_waiver_filters(tenant_a, world) -> None:
    client = login(tenant_a, make_user(tenant_a, "security_engineer"))
    assert send(client, "get", "/api/v1/waivers?state=pending").json()["count"] == 1
    assert send(client, "get", "/api/v1/waivers?state=approved").json()["count"] == 0
    assert send(client, "get", f"/api/v1/waivers?package={world['scan'].name[:5]}&scope=check").json()["count"] == 1
    assert send(client, "get", "/api/v1/waivers?state=bogus").status_code == 400
    mine = login(tenant_a, world["requester"])
    assert send(mine, "get", "/api/v1/waivers?requested_by=me").json()["count"] == 1


def test_waiver_request_over_the_api(tenant_a, world) -> None:
    client = login(tenant_a, world["requester"])
    with schema_context(tenant_a.schema_name):
        finding = str(world["scan"].findings.get().pk)
    created = send(client, "post", "/api/v1/waivers", {"finding": finding, "expires_in_days": 14,
                                                       "reason": "Reachable only in tests we never ship."})
    assert created.status_code == 201, created.content
    assert created.json()["scope"] == "vulnerability" and created.json()["state"] == "pending"
    too_long = send(client, "post", "/api/v1/waivers", {"finding": finding, "expires_in_days": 120,
                                                        "reason": "Reachable only in tests we never ship."})
    assert too_long.status_code == 400 and "expires_at" in too_long.json()["error"]["details"]
    missing = send(client, "post", "/api/v1/waivers", {"reason": "Reachable only in tests.", "expires_in_days": 3})
    assert set(missing.json()["error"]["details"]) == {"scope", "value", "ecosystem", "package_name"}


# --- The gate -------------------------------------------------------------------------------------------------

def gate(client: Any, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/api/v1/gate?{query}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def ci(tenant_a) -> Any:
    return login(tenant_a, make_user(tenant_a, "viewer"))


def evaluated_scan(tenant: Any, **kw: Any) -> Scan:
    """A completed scan evaluated by the real service (findings added by the caller first via kw)."""
    findings = kw.pop("findings", [])
    scan = ScanFactory(**kw)
    for finding in findings:
        FindingFactory(scan=scan, **finding)
    services.scan_evaluate(tenant=tenant, actor=Actor.system("tests"), scan=scan)
    scan.refresh_from_db()
    return scan


@pytest.mark.parametrize(("findings", "verdict", "rules"), [
    ([], "pass", []),
    ([{"category": "secrets", "check_id": "SECRET-AWS-001", "severity": "high"}], "warn", ["Secrets"]),
    ([{"category": "vulnerability", "severity": "critical", "evidence": {"advisory": "GHSA-1", "cvss_score": 9.9}}],
     "block", ["Critical vulnerabilities", "High vulnerabilities"]),
], ids=["pass", "warn", "block"])
def test_gate_answers_the_verdict(tenant_a, ci, findings: list[dict[str, Any]], verdict: str,
                                  rules: list[str]) -> None:
    with schema_context(tenant_a.schema_name):
        scan = evaluated_scan(tenant_a, name="requests", version="2.31.0", findings=findings)
    body = gate(ci, ecosystem="pypi", name="requests", version="2.31.0")
    assert body["verdict"] == verdict
    assert [r["rule"] for r in body["reasons"]] == rules
    assert body["scan"]["id"] == str(scan.pk)
    assert body["scan"]["url"] == f"/api/v1/scans/{scan.pk}" and body["scan"]["dashboard_url"] == f"/scans/{scan.pk}/"
    assert body["policies"][0]["name"] == "Default policy" and body["policies"][0]["revision"] == 1


def test_gate_unknown_and_matching_rules(tenant_a, ci) -> None:
    assert gate(ci, ecosystem="pypi", name="requests", version="2.31.0")["verdict"] == "unknown"
    with schema_context(tenant_a.schema_name):
        ScanFactory(name="requests", version="2.31.0", status=Scan.StatusChoices.RUNNING)
        ScanFactory(name="requests", version="2.31.0", status=Scan.StatusChoices.FAILED)
    body = gate(ci, ecosystem="pypi", name="requests", version="2.31.0")
    assert body["verdict"] == "unknown" and body["scan_in_progress"]["status"] == "running"
    with schema_context(tenant_a.schema_name):
        older = evaluated_scan(tenant_a, name="Flask_Cors", version="4.0", findings=[
            {"category": "secrets", "check_id": "S", "severity": "high"}])
        Scan.objects.filter(pk=older.pk).update(finished_at=timezone.now() - timedelta(days=1))
        newer = evaluated_scan(tenant_a, name="Flask_Cors", version="4.0")
    # PEP 503 names and PEP 440 versions; the latest completed scan wins.
    body = gate(ci, ecosystem="pypi", name="flask-cors", version="4.0.0")
    assert body["verdict"] == "pass" and body["scan"]["id"] == str(newer.pk)
    assert gate(ci, ecosystem="pypi", sha256=newer.sha256)["scan"]["id"] == str(newer.pk)
    assert gate(ci, ecosystem="npm", name="flask-cors", version="4.0.0")["verdict"] == "unknown"
    assert ci.get("/api/v1/gate?ecosystem=pypi&name=requests").status_code == 400
    assert ci.get("/api/v1/gate?ecosystem=cargo&name=x&version=1").status_code == 400


def test_gate_reports_a_completed_scan_without_verdict_as_unknown(tenant_a, ci) -> None:
    with schema_context(tenant_a.schema_name):
        ScanFactory(name="left-pad", version="1.3.0", ecosystem="npm", verdict=None)
    body = gate(ci, ecosystem="npm", name="left-pad", version="1.3.0")
    assert body["verdict"] == "unknown" and "re-evaluate" in body["reason"]


def test_gate_follows_waivers_after_reevaluation(tenant_a, ci) -> None:
    engineer, approver = make_user(tenant_a, "security_engineer"), make_user(tenant_a, "admin")
    with schema_context(tenant_a.schema_name):
        scan = evaluated_scan(tenant_a, name="requests", version="2.31.0", findings=[
            {"category": "vulnerability", "severity": "critical", "evidence": {"advisory": "GHSA-1"}}])
    assert gate(ci, ecosystem="pypi", name="requests", version="2.31.0")["verdict"] == "block"
    client = login(tenant_a, engineer)
    waiver = send(client, "post", "/api/v1/waivers", {
        "scope": "vulnerability", "value": "GHSA-1", "ecosystem": "pypi", "package_name": "requests",
        "reason": "Backported fix in our mirror build.", "expires_in_days": 30}).json()
    assert send(login(tenant_a, approver), "post", f"/api/v1/waivers/{waiver['id']}/approve", {}).status_code == 200
    evaluated = send(client, "post", f"/api/v1/scans/{scan.pk}/evaluate")
    assert evaluated.status_code == 200 and evaluated.json()["verdict"] == "pass"
    body = gate(ci, ecosystem="pypi", name="requests", version="2.31.0")
    assert body["verdict"] == "pass" and body["waived"][0]["waiver_id"] == waiver["id"]
    send(client, "post", f"/api/v1/waivers/{waiver['id']}/revoke", {"reason": "Mirror build retired."})
    send(client, "post", f"/api/v1/scans/{scan.pk}/evaluate")
    assert gate(ci, ecosystem="pypi", name="requests", version="2.31.0")["verdict"] == "block"
    with schema_context(tenant_a.schema_name):
        assert Evaluation.objects.filter(scan=scan).count() == 3


def test_evaluate_refuses_unfinished_scans(tenant_a) -> None:
    with schema_context(tenant_a.schema_name):
        scan = ScanFactory(status=Scan.StatusChoices.QUEUED)
    client = login(tenant_a, make_user(tenant_a, "security_engineer"))
    response = send(client, "post", f"/api/v1/scans/{scan.pk}/evaluate")
    assert response.status_code == 409 and response.json()["error"]["code"] == "scan_not_completed"
    assert send(client, "post", "/api/v1/scans/not-a-uuid/evaluate").status_code == 404


def test_simulation_over_the_api(tenant_a) -> None:
    with schema_context(tenant_a.schema_name):
        evaluated_scan(tenant_a, findings=[{"category": "secrets", "check_id": "S", "severity": "low"}])
    client = login(tenant_a, make_user(tenant_a, "security_engineer"))
    body = send(client, "post", "/api/v1/policies/simulate", {"policy": POLICY, "scans": 5}).json()
    assert body["changed"] == 1 and body["changes"][0]["after"] == "block"
    bad = send(client, "post", "/api/v1/policies/simulate", {"policy": {"name": "x", "rules": [{"action": "x"}]}})
    assert bad.status_code == 400 and "rules[0].action" in bad.json()["error"]["details"]
    assert send(client, "post", "/api/v1/policies/simulate", {"policy": POLICY, "scans": 100000}).status_code == 400
