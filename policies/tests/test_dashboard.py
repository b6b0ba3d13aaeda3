"""Dashboard pages: the form-based rule editor, JSON editor, revisions, simulation, waivers, verdict panel."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from policies import services
from policies.models import Policy, Waiver
from policies.tests.factories import FindingFactory, ScanFactory, login, make_user, vuln
from policies.views import scan_verdict_context
from scanning.models import Scan


def editor_post(document: dict[str, Any], *, op: str = "save", summary: str = "") -> dict[str, Any]:
    """The POST the rule editor sends for a document (management forms included)."""
    data: dict[str, Any] = {
        "op": op, "name": document.get("name", ""), "description": document.get("description", ""),
        "mode": document.get("mode", "enforce"), "priority": str(document.get("priority", 100)),
        "ecosystems": document.get("scope", {}).get("ecosystems", []),
        "package_patterns": "\n".join(document.get("scope", {}).get("packages", [])), "summary": summary,
        "rules-TOTAL_FORMS": str(len(document["rules"])), "rules-INITIAL_FORMS": str(len(document["rules"])),
        "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "1000",
    }
    if document.get("enabled", True):
        data["enabled"] = "on"
    for i, rule in enumerate(document["rules"]):
        prefix = f"rules-{i}"
        data.update({f"{prefix}-name": rule.get("name", ""), f"{prefix}-action": rule["action"],
                     f"{prefix}-match": rule.get("match", "all"), f"{prefix}-ORDER": str(i + 1)})
        if rule.get("enabled", True):
            data[f"{prefix}-enabled"] = "on"
        conditions = rule["conditions"]
        data.update({f"{prefix}-conditions-TOTAL_FORMS": str(len(conditions)),
                     f"{prefix}-conditions-INITIAL_FORMS": str(len(conditions)),
                     f"{prefix}-conditions-MIN_NUM_FORMS": "0", f"{prefix}-conditions-MAX_NUM_FORMS": "1000"})
        for j, cond in enumerate(conditions):
            value = cond["value"]
            text = ", ".join(value) if isinstance(value, list) else ("true" if value is True else str(value))
            data.update({f"{prefix}-conditions-{j}-subject": cond["subject"],
                         f"{prefix}-conditions-{j}-operator": cond["operator"],
                         f"{prefix}-conditions-{j}-value": text})
    return data


DOCUMENT = {
    "name": "Form policy", "mode": "enforce", "priority": 20,
    "scope": {"ecosystems": ["npm", "pypi"], "packages": ["acme-*"]},
    "rules": [
        {"name": "Internal", "action": "allow", "match": "all",
         "conditions": [{"subject": "package", "operator": "glob", "value": "acme-internal-*"}]},
        {"name": "Bad licenses", "action": "block", "match": "any",
         "conditions": [{"subject": "license", "operator": "denied", "value": ["GPL-3.0-only", "AGPL-3.0-only"]},
                        {"subject": "cvss", "operator": "gte", "value": 9.5}]},
    ],
}


@pytest.fixture
def engineer(tenant_a) -> Any:
    return make_user(tenant_a, "security_engineer")


@pytest.fixture
def as_engineer(tenant_a, engineer) -> Client:
    return login(tenant_a, engineer)


def assert_no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert " style=" not in html and " onclick=" not in html


def test_pages_need_the_right_permissions(tenant_a) -> None:
    viewer = login(tenant_a, make_user(tenant_a, "viewer"))
    nobody = login(tenant_a, make_user(tenant_a, None))
    developer = login(tenant_a, make_user(tenant_a, "developer"))
    with schema_context(tenant_a.schema_name):
        default = Policy.objects.get(is_default=True)
    html = {"HTTP_ACCEPT": "text/html"}
    for path in ("/policies/", f"/policies/{default.pk}/", f"/policies/{default.pk}/json/",
                 f"/policies/{default.pk}/revisions/", f"/policies/{default.pk}/diff/?from=1&to=1", "/waivers/"):
        assert viewer.get(path, **html).status_code == 200, path
        assert nobody.get(path, **html).status_code == 403, path
    for path in ("/policies/new/", f"/policies/{default.pk}/edit/", "/policies/simulate/", "/policies/new/json/"):
        assert developer.get(path, **html).status_code == 403, path
    assert developer.get("/waivers/new/", **html).status_code == 200
    assert viewer.get("/waivers/new/", **html).status_code == 403
    home = viewer.get("/", **html).content.decode()
    assert 'href="/policies/"' in home and 'href="/waivers/"' in home
    assert 'href="/policies/"' not in nobody.get("/", **html).content.decode()


def test_the_form_editor_creates_a_policy(tenant_a, as_engineer) -> None:
    page = as_engineer.get("/policies/new/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "csrfmiddlewaretoken" in body and 'name="rules-TOTAL_FORMS"' in body and "data-catalog=" in body
    assert_no_inline_code(body)
    response = as_engineer.post("/policies/new/", editor_post(DOCUMENT, summary="from the form"))
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context(tenant_a.schema_name):
        policy = Policy.objects.get(name="Form policy")
        assert policy.document() == {**DOCUMENT, "description": "", "enabled": True,
                                     "scope": {"ecosystems": ["npm", "pypi"], "packages": ["acme-*"]},
                                     "rules": [{**DOCUMENT["rules"][0], "enabled": True},
                                               {**DOCUMENT["rules"][1], "enabled": True}]}
        assert policy.current_revision.summary == "from the form"
    assert response["Location"] == f"/policies/{policy.pk}/"


def test_editor_errors_are_shown_next_to_their_fields(tenant_a, as_engineer) -> None:
    bad = json.loads(json.dumps(DOCUMENT))
    bad["rules"][1]["conditions"][1] = {"subject": "cvss", "operator": "gte", "value": "eleven"}
    bad["rules"][0]["conditions"][0] = {"subject": "package", "operator": "regex", "value": "acme-(["}
    bad["scope"]["packages"] = ["ok-*", "re:(unclosed"]
    response = as_engineer.post("/policies/new/", editor_post(bad))
    assert response.status_code == 400
    html = response.content.decode()
    value_cell = re.search(r'<td class="has-error">.*?name="rules-1-conditions-1-value".*?</td>', html, re.S)
    assert value_cell and "Give a number from 0 to 10." in value_cell.group(0)
    regex_cell = re.search(r'<td class="has-error">.*?name="rules-0-conditions-0-value".*?</td>', html, re.S)
    assert regex_cell and "Invalid regular expression" in regex_cell.group(0)
    assert "Line 2: Invalid regular expression" in html
    with schema_context(tenant_a.schema_name):
        assert not Policy.objects.filter(name="Form policy").exists()


def test_editor_adds_rows_and_removes_deleted_ones(tenant_a, as_engineer) -> None:
    data = editor_post(DOCUMENT, op="add_rule")
    page = as_engineer.post("/policies/new/", data).content.decode()
    assert 'name="rules-TOTAL_FORMS" value="3"' in page and 'name="rules-2-conditions-0-subject"' in page
    data = editor_post(DOCUMENT, op="add_condition:1")
    page = as_engineer.post("/policies/new/", data).content.decode()
    assert 'name="rules-1-conditions-TOTAL_FORMS" value="3"' in page
    # Fill the added condition, delete the first rule, and reorder nothing: saved as the document says.
    data = editor_post(DOCUMENT)
    data.update({"rules-1-conditions-TOTAL_FORMS": "3", "rules-1-conditions-2-subject": "typosquat",
                 "rules-1-conditions-2-operator": "is", "rules-1-conditions-2-value": "",
                 "rules-0-DELETE": "on"})
    assert as_engineer.post("/policies/new/", data).status_code == 302
    with schema_context(tenant_a.schema_name):
        rules = Policy.objects.get(name="Form policy").rules
    assert [r["name"] for r in rules] == ["Bad licenses"]
    assert rules[0]["conditions"][2] == {"subject": "typosquat", "operator": "is", "value": True}


def test_editor_edits_reorders_and_simulates(tenant_a, as_engineer) -> None:
    with schema_context(tenant_a.schema_name):
        policy = services.policy_create(tenant=tenant_a, actor=Actor.system("t"), document=DOCUMENT)
        scan = ScanFactory(package_metadata={"license": "GPL-3.0-only"}, verdict="pass")
    page = as_engineer.get(f"/policies/{policy.pk}/edit/").content.decode()
    assert 'value="acme-internal-*"' in page and 'value="GPL-3.0-only, AGPL-3.0-only"' in page
    data = editor_post(DOCUMENT)
    data.update({"rules-0-ORDER": "2", "rules-1-ORDER": "1", "op": "simulate", "package_patterns": ""})
    simulated = as_engineer.post(f"/policies/{policy.pk}/edit/", data)
    assert simulated.status_code == 200
    html = simulated.content.decode()
    assert "1 verdict would change." in html and str(scan.pk) in html
    data["op"] = "save"
    assert as_engineer.post(f"/policies/{policy.pk}/edit/", data).status_code == 302
    with schema_context(tenant_a.schema_name):
        policy.refresh_from_db()
        assert [r["name"] for r in policy.rules] == ["Bad licenses", "Internal"]
        assert policy.current_revision.number == 2 and policy.package_patterns == []


def test_json_editor(tenant_a, as_engineer) -> None:
    with schema_context(tenant_a.schema_name):
        default = Policy.objects.get(is_default=True)
    page = as_engineer.get(f"/policies/{default.pk}/json/").content.decode()
    assert "Critical vulnerabilities" in page and "data-json-format" in page
    broken = as_engineer.post(f"/policies/{default.pk}/json/", {"document": "{oops"})
    assert broken.status_code == 400 and "Not valid JSON" in broken.content.decode()
    document = default.document()
    document["rules"][0]["conditions"][0]["operator"] = "matches"
    invalid = as_engineer.post(f"/policies/{default.pk}/json/", {"document": json.dumps(document)})
    assert invalid.status_code == 400
    assert "<code>rules[0].conditions[0].operator</code>" in invalid.content.decode()
    document["rules"][0]["conditions"][0]["operator"] = "eq"
    document["mode"] = "monitor"
    saved = as_engineer.post(f"/policies/{default.pk}/json/", {"document": json.dumps(document), "summary": "json"})
    assert saved.status_code == 302
    with schema_context(tenant_a.schema_name):
        default.refresh_from_db()
        assert default.mode == "monitor" and default.current_revision.summary == "json"
    diff = as_engineer.get(f"/policies/{default.pk}/diff/?from=1&to=2").content.decode()
    assert "monitor" in diff and "r1 → r2" in diff
    created = as_engineer.post("/policies/new/json/", {"document": json.dumps({**document, "name": "From JSON"})})
    assert created.status_code == 302


def test_delete_revisions_and_simulation_pages(tenant_a, as_engineer) -> None:
    with schema_context(tenant_a.schema_name):
        policy = services.policy_create(tenant=tenant_a, actor=Actor.system("t"), document=DOCUMENT)
    assert as_engineer.post(f"/policies/{policy.pk}/delete/").status_code == 302
    listing = as_engineer.get("/policies/?deleted=1").content.decode()
    assert "Form policy" in listing and "deleted" in listing
    assert "Deleted" in as_engineer.get(f"/policies/{policy.pk}/revisions/").content.decode()
    assert as_engineer.get("/policies/simulate/?policy=not-a-policy", HTTP_ACCEPT="text/html").status_code == 404
    with schema_context(tenant_a.schema_name):
        default = Policy.objects.get(is_default=True)
    page = as_engineer.get(f"/policies/simulate/?policy={default.pk}").content.decode()
    assert "Critical vulnerabilities" in page
    result = as_engineer.post("/policies/simulate/", {"document": json.dumps(DOCUMENT), "scans": "10",
                                                       "replaces": ""})
    assert result.status_code == 200 and "completed scan" in result.content.decode()
    bad = as_engineer.post("/policies/simulate/", {"document": json.dumps({"name": "x", "rules": [{"action": "y"}]}),
                                                    "scans": "10"})
    assert bad.status_code == 400 and "rules[0].action" in bad.content.decode()


def test_reevaluate_button(tenant_a, as_engineer, django_capture_on_commit_callbacks) -> None:
    response = as_engineer.post("/policies/reevaluate/", {"days": "3"})
    assert response.status_code == 302
    assert as_engineer.post("/policies/reevaluate/", {"days": "0"}).status_code == 302  # refused with a message


def test_waiver_pages_request_approve_and_revoke(tenant_a, engineer) -> None:
    developer = make_user(tenant_a, "developer")
    with schema_context(tenant_a.schema_name):
        scan = ScanFactory(submitted_by=developer, name="left-pad", ecosystem="npm", version="1.3.0")
        finding = vuln(scan, advisory="GHSA-lp-0001")
    dev = login(tenant_a, developer)
    form = dev.get(f"/waivers/new/?finding={finding.pk}").content.decode()
    assert 'value="GHSA-lp-0001"' in form and 'value="left-pad"' in form
    expires = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    post = {"scope": "vulnerability", "value": "GHSA-lp-0001", "ecosystem": "npm", "package_name": "left-pad",
            "reason": "Only used at build time.", "expires_at": expires, "finding": str(finding.pk)}
    too_far = dev.post("/waivers/new/", {**post, "expires_at": (timezone.now() + timedelta(days=200))
                                         .strftime("%Y-%m-%dT%H:%M")})
    assert too_far.status_code == 400 and "at most 90 days" in too_far.content.decode()
    created = dev.post("/waivers/new/", post)
    assert created.status_code == 302
    with schema_context(tenant_a.schema_name):
        waiver = Waiver.objects.get(value="GHSA-LP-0001")
    own_page = dev.get(f"/waivers/{waiver.pk}/").content.decode()
    assert "someone else must approve" in own_page and "/approve/" not in own_page
    approver = login(tenant_a, engineer)
    detail = approver.get(f"/waivers/{waiver.pk}/").content.decode()
    assert f"/waivers/{waiver.pk}/approve/" in detail and "csrfmiddlewaretoken" in detail
    assert_no_inline_code(detail)
    assert approver.post(f"/waivers/{waiver.pk}/approve/", {"approve-note": "fine"}).status_code == 302
    with schema_context(tenant_a.schema_name):
        waiver.refresh_from_db()
        assert waiver.state == "approved" and waiver.decision_note == "fine"
    again = approver.post(f"/waivers/{waiver.pk}/approve/", {}, HTTP_REFERER=f"/waivers/{waiver.pk}/")
    assert again.status_code == 302  # refused (409) with a message, back to the page
    assert approver.post(f"/waivers/{waiver.pk}/revoke/", {"revoke-reason": "done"}).status_code == 302
    listing = approver.get("/waivers/?state=revoked").content.decode()
    assert "left-pad" in listing
    assert approver.get("/waivers/?state=nonsense", HTTP_ACCEPT="text/html").status_code == 400
    other = login(tenant_a, make_user(tenant_a, "developer"))
    assert other.get(f"/waivers/new/?finding={finding.pk}", HTTP_ACCEPT="text/html").status_code == 404


def test_self_approval_through_the_dashboard_is_refused(tenant_a, engineer) -> None:
    with schema_context(tenant_a.schema_name):
        waiver = services.waiver_request(tenant=tenant_a, actor=Actor.for_user(engineer), scope="check",
                                         value="PKG-HOOK-001", ecosystem="npm", package_name="x",
                                         reason="A reviewed build step.", expires_at=timezone.now() + timedelta(days=1))
    response = login(tenant_a, engineer).post(f"/waivers/{waiver.pk}/approve/", HTTP_ACCEPT="text/html")
    assert response.status_code == 403
    with schema_context(tenant_a.schema_name):
        assert Waiver.objects.get(pk=waiver.pk).state == "pending"


def test_forms_refuse_posts_without_csrf(tenant_a, engineer) -> None:
    client = Client(HTTP_HOST=tenant_a.primary_host, enforce_csrf_checks=True)
    client.cookies = login(tenant_a, engineer).cookies
    response = client.post("/policies/reevaluate/", {"days": "3"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 403 and "csrf" in response.content.decode().lower()


def test_other_organizations_pages_are_404(tenant_a, tenant_b) -> None:
    with schema_context(tenant_a.schema_name):
        # Not the default policy: it is cloned from the template, so every organization's copy has the same id.
        policy = services.policy_create(tenant=tenant_a, actor=Actor.system("t"), document=DOCUMENT)
        waiver = services.waiver_request(tenant=tenant_a, actor=Actor.system("t"), scope="check", value="X-1",
                                         ecosystem="npm", package_name="x", reason="A reason long enough.",
                                         expires_at=timezone.now() + timedelta(days=1))
    owner_b = login(tenant_b, make_user(tenant_b, "owner"))
    for path in (f"/policies/{policy.pk}/", f"/policies/{policy.pk}/edit/", f"/waivers/{waiver.pk}/"):
        assert owner_b.get(path, HTTP_ACCEPT="text/html").status_code == 404
    assert owner_b.post(f"/waivers/{waiver.pk}/approve/").status_code == 404


# --- The verdict panel on the scan page -----------------------------------------------------------------------

def panel_html(tenant: Any, user: Any, scan: Scan) -> str:
    request = RequestFactory().get("/", HTTP_HOST=tenant.primary_host)
    request.user = user
    request.tenant = tenant
    with schema_context(tenant.schema_name):
        context = scan_verdict_context(request, scan)
        return render_to_string("policies/scan_verdict_panel.html", context, request=request)


def test_verdict_panel(tenant_a, engineer, django_assert_max_num_queries) -> None:
    approver = make_user(tenant_a, "admin")
    with schema_context(tenant_a.schema_name):
        scan = ScanFactory(name="requests", version="2.31.0")
        critical = vuln(scan, title="requests: CVE-2024-1 in the proxy code")
        waived = FindingFactory(scan=scan, category="secrets", check_id="SECRET-AWS-001", title="AWS key in a test")
        waiver = services.waiver_request(tenant=tenant_a, actor=Actor.for_user(engineer), scope="check",
                                         value="SECRET-AWS-001", ecosystem="pypi", package_name="requests",
                                         reason="A revoked test key.", expires_at=timezone.now() + timedelta(days=1))
        services.waiver_approve(tenant=tenant_a, actor=Actor.for_user(approver), waiver=waiver)
        services.policy_create(tenant=tenant_a, actor=Actor.system("t"), document={
            "name": "Observe", "mode": "monitor", "rules": [{"name": "Any failed", "action": "block",
                                                             "conditions": [{"subject": "finding_count",
                                                                             "operator": "gte", "value": 1}]}]})
        services.scan_evaluate(tenant=tenant_a, actor=Actor.system("t"), scan=scan)
        scan.refresh_from_db()
    request = RequestFactory().get("/", HTTP_HOST=tenant_a.primary_host)
    request.user, request.tenant = engineer, tenant_a
    with schema_context(tenant_a.schema_name), django_assert_max_num_queries(4):
        scan_verdict_context(request, scan)
    html = panel_html(tenant_a, engineer, scan)
    assert 'badge-block">block' in html and "Critical vulnerabilities" in html
    assert critical.title in html and f"?finding={critical.pk}" in html
    assert "monitor — not enforced" in html and "Any failed" in html
    assert waived.title in html and f"/waivers/{waiver.pk}/" in html
    assert f"/policies/scans/{scan.pk}/evaluate/" in html and "csrfmiddlewaretoken" in html
    assert_no_inline_code(html)
    viewer_html = panel_html(tenant_a, make_user(tenant_a, "viewer"), scan)
    assert "Critical vulnerabilities" in viewer_html and "/evaluate/" not in viewer_html
    assert "request a waiver" not in viewer_html
    assert panel_html(tenant_a, make_user(tenant_a, None), scan).strip() == ""


def test_reevaluate_from_the_scan_page(tenant_a, engineer) -> None:
    with schema_context(tenant_a.schema_name):
        scan = ScanFactory(verdict="pass")
        vuln(scan)
    client = login(tenant_a, engineer)
    response = client.post(f"/policies/scans/{scan.pk}/evaluate/")
    assert response.status_code == 302 and response["Location"] == f"/scans/{scan.pk}/"
    with schema_context(tenant_a.schema_name):
        scan.refresh_from_db()
    assert scan.verdict == "block"
    page = client.get(f"/policies/scans/{scan.pk}/").content.decode()
    assert "Re-evaluated on request" in page and "was pass" in page
    viewer = login(tenant_a, make_user(tenant_a, "viewer"))
    assert viewer.post(f"/policies/scans/{scan.pk}/evaluate/", HTTP_ACCEPT="text/html").status_code == 403


def test_home_panel_lists_waivers_awaiting_a_decision(tenant_a, engineer) -> None:
    developer = make_user(tenant_a, "developer")
    with schema_context(tenant_a.schema_name):
        services.waiver_request(tenant=tenant_a, actor=Actor.for_user(developer), scope="check", value="X-1",
                                ecosystem="npm", package_name="x", reason="A reason long enough.",
                                expires_at=timezone.now() + timedelta(days=3))
    approver_home = login(tenant_a, engineer).get("/", HTTP_ACCEPT="text/html").content.decode()
    assert "1 waiver awaiting a decision" in approver_home
    requester_home = login(tenant_a, developer).get("/", HTTP_ACCEPT="text/html").content.decode()
    assert "1 pending request of yours" in requester_home and "awaiting a decision" not in requester_home
