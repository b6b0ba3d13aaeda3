"""Policies, revisions and evaluations through the services, on the real database."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.models import AuditEvent
from config.errors import Conflict, PermissionDenied, ValidationFailed
from messaging.models import OutboxEvent
from policies import selectors, services
from policies.models import Evaluation, Policy, PolicyRevision
from policies.tests.factories import FindingFactory, ScanFactory, vuln
from scanning import hooks
from scanning.models import Scan

SYSTEM = Actor.system("tests")

STRICT = {"name": "Strict", "mode": "enforce", "priority": 10,
          "rules": [{"name": "Anything high", "action": "block",
                     "conditions": [{"subject": "severity", "operator": "gte", "value": "high"}]}]}


def events(type_: str) -> list[dict[str, Any]]:
    return [e.envelope for e in OutboxEvent.objects.filter(type=type_).order_by("created_at")]


def test_default_policy_is_seeded_in_every_organization(tenant_a, tenant_b) -> None:
    for tenant in (tenant_a, tenant_b):
        with schema_context(tenant.schema_name):
            policy = Policy.objects.get(is_default=True)
            assert policy.name == "Default policy" and policy.mode == "enforce"
            assert [r["name"] for r in policy.rules][:4] == ["Critical vulnerabilities", "Malicious code",
                                                             "Dangerous install hooks", "Typosquats"]
            assert policy.current_revision.change == "seeded"
    with schema_context("_template"):
        assert Policy.objects.filter(is_default=True).count() == 1


def test_seeding_is_idempotent(acme) -> None:
    assert services.default_policy_seed() is None
    assert Policy.objects.filter(is_default=True).count() == 1


def test_revisions_are_immutable_in_the_database(acme) -> None:
    revision = PolicyRevision.objects.get(policy__is_default=True)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        PolicyRevision.objects.filter(pk=revision.pk).update(summary="rewritten")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM policies_policyrevision")
    revision.refresh_from_db()
    assert revision.summary == "Seeded at provisioning"


def test_every_change_records_a_revision_audit_and_event(acme, member) -> None:
    engineer = member("security_engineer")
    actor = Actor.for_user(engineer)
    policy = services.policy_create(tenant=acme, actor=actor, document=STRICT, summary="first")
    assert policy.current_revision.number == 1 and policy.current_revision.author_email == engineer.email
    updated = services.policy_update(tenant=acme, actor=actor, policy=policy, document={**STRICT, "mode": "monitor"})
    assert updated.current_revision.number == 2 and updated.mode == "monitor"
    # Saving the same document again records nothing.
    same = services.policy_update(tenant=acme, actor=actor, policy=policy, document={**STRICT, "mode": "monitor"})
    assert same.current_revision.number == 2
    services.policy_delete(tenant=acme, actor=actor, policy=updated)
    revisions = list(PolicyRevision.objects.filter(policy=policy).order_by("number"))
    assert [(r.number, r.change) for r in revisions] == [(1, "created"), (2, "updated"), (3, "deleted")]
    assert revisions[1].document["mode"] == "monitor" and revisions[0].document["mode"] == "enforce"
    assert revisions[2].document["deleted"] is True
    assert not Policy.objects.filter(pk=policy.pk, deleted_at__isnull=True).exists()
    assert [a.action for a in AuditEvent.objects.filter(resource_id=str(policy.pk)).order_by("sequence")] == \
        ["policy.create", "policy.update", "policy.delete"]
    assert [e["data"]["revision"] for e in events("policy.updated")] == [2]
    assert events("policy.created")[0]["data"]["actor"] == {"type": "user", "id": str(engineer.pk)}
    diff = selectors.revision_diff(policy=policy, from_number=1, to_number=2)
    assert diff["fields"] == {"mode": {"before": "enforce", "after": "monitor"}}


def test_names_are_unique_among_live_policies(acme) -> None:
    services.policy_create(tenant=acme, actor=SYSTEM, document=STRICT)
    with pytest.raises(ValidationFailed) as refused:
        services.policy_create(tenant=acme, actor=SYSTEM, document={**STRICT, "name": "strict"})
    assert "name" in refused.value.details


def test_invalid_documents_are_refused_with_paths(acme) -> None:
    bad = {**STRICT, "rules": [{"action": "block", "conditions": [{"subject": "package", "operator": "regex",
                                                                    "value": "(["}]}]}
    with pytest.raises(ValidationFailed) as refused:
        services.policy_create(tenant=acme, actor=SYSTEM, document=bad)
    assert list(refused.value.details) == ["rules[0].conditions[0].value"]


def test_a_member_without_the_permission_is_refused(acme, member) -> None:
    with pytest.raises(PermissionDenied):
        services.policy_create(tenant=acme, actor=Actor.for_user(member("developer")), document=STRICT)


def test_the_verdict_hook_evaluates_a_completing_scan(acme) -> None:
    scan = ScanFactory(status=Scan.StatusChoices.RUNNING, verdict=None)
    vuln(scan, severity="critical")
    FindingFactory(scan=scan, check_id="META-OK", category="metadata", severity="critical", status="passed")
    name, hook = next((n, h) for n, h in hooks.verdict_hooks() if n == "policies.verdict")
    hook(scan)
    assert scan.verdict == "block"  # the pipeline saves the row
    [evaluation] = Evaluation.objects.filter(scan=scan, is_current=True)
    assert evaluation.trigger == "scan_completed" and evaluation.revision.policy.is_default
    assert [r["name"] for r in evaluation.reasons] == ["Critical vulnerabilities", "High vulnerabilities"]
    assert len(evaluation.reasons[0]["finding_ids"]) == 1  # the passed row takes no part
    [evaluated] = events("policy.evaluated")
    assert evaluated["subject"] == f"scans/{scan.pk}" and evaluated["data"]["verdict"] == "block"
    assert events("policy.blocked")[0]["data"]["reasons"][0]["rule"] == "Critical vulnerabilities"


def test_warning_findings_take_part(acme) -> None:
    scan = ScanFactory()
    FindingFactory(scan=scan, check_id="SECRET-1", category="secrets", severity="medium", status="warning")
    outcome = services.scan_evaluate(tenant=acme, actor=SYSTEM, scan=scan)
    assert outcome.verdict == "warn"


def test_monitor_policies_are_recorded_without_effect_and_strictest_enforce_wins(acme) -> None:
    services.policy_create(tenant=acme, actor=SYSTEM, document={**STRICT, "mode": "monitor"})
    services.policy_create(tenant=acme, actor=SYSTEM, document={
        "name": "npm only", "priority": 5, "scope": {"ecosystems": ["npm"]},
        "rules": [{"action": "block", "conditions": [{"subject": "category", "operator": "eq", "value": "secrets"}]}]})
    pypi = ScanFactory(verdict="pass")
    FindingFactory(scan=pypi, check_id="SECRET-1", category="secrets", severity="high")
    outcome = services.scan_evaluate(tenant=acme, actor=SYSTEM, scan=pypi)
    assert outcome.verdict == "warn"  # default policy warns; the monitor policy would block
    rows = {e.policy_name: (e.mode, e.verdict) for e in Evaluation.objects.filter(scan=pypi, is_current=True)}
    assert rows == {"Default policy": ("enforce", "warn"), "Strict": ("monitor", "block")}
    npm = ScanFactory(ecosystem="npm", name="left-pad", version="1.3.0")
    FindingFactory(scan=npm, check_id="SECRET-1", category="secrets", severity="high")
    assert services.scan_evaluate(tenant=acme, actor=SYSTEM, scan=npm).verdict == "block"


def test_no_applicable_policy_passes_and_says_so(acme) -> None:
    Policy.objects.update(enabled=False)
    scan = ScanFactory()
    vuln(scan)
    assert services.scan_evaluate(tenant=acme, actor=SYSTEM, scan=scan).verdict == "pass"
    [row] = Evaluation.objects.filter(scan=scan, is_current=True)
    assert row.policy is None and row.verdict == "pass"


def test_on_demand_evaluation_keeps_history_and_refuses_unfinished_scans(acme, member) -> None:
    engineer = Actor.for_user(member("security_engineer"))
    scan = ScanFactory(verdict="pass")
    vuln(scan)
    first = services.scan_evaluate(tenant=acme, actor=engineer, scan=scan)
    second = services.scan_evaluate(tenant=acme, actor=engineer, scan=scan)
    assert first.previous == "pass" and first.verdict == "block" and second.previous == "block"
    scan.refresh_from_db()
    assert scan.verdict == "block"
    assert Evaluation.objects.filter(scan=scan).count() == 2
    assert list(Evaluation.objects.filter(scan=scan, is_current=True).values_list("run", flat=True)) == [second.run]
    assert AuditEvent.objects.filter(action="scan.evaluate", resource_id=str(scan.pk)).count() == 2
    assert len(events("policy.blocked")) == 1  # only when it became blocked
    running = ScanFactory(status=Scan.StatusChoices.RUNNING)
    with pytest.raises(Conflict):
        services.scan_evaluate(tenant=acme, actor=engineer, scan=running)


def test_bulk_reevaluation_in_one_pass(acme, django_assert_max_num_queries) -> None:
    scans = []
    for i in range(30):
        scan = ScanFactory(verdict="pass")
        if i % 3 == 0:
            vuln(scan, severity="critical")
        elif i % 3 == 1:
            vuln(scan, severity="high")
        scans.append(scan)
    ScanFactory(status=Scan.StatusChoices.FAILED)
    policies = selectors.active_policies()
    # Reads and writes constant in the number of scans (lock, scans, findings, waivers, bulk writes);
    # each event is its own outbox insert + NOTIFY (20 policy.evaluated, 10 policy.blocked).
    with django_assert_max_num_queries(12 + 3 * 30):
        result = services.scans_reevaluate(tenant=acme, actor=SYSTEM, scan_ids=[s.pk for s in scans],
                                           trigger="bulk", policies=policies)
    assert result.as_dict() == {"scans": 30, "changed": 20, "verdicts": {"pass": 10, "warn": 10, "block": 10}}
    assert dict(Scan.objects.filter(pk__in=[s.pk for s in scans]).values_list("verdict").annotate()
                .values_list("verdict", "verdict")).keys() == {"pass", "warn", "block"}
    assert len(events("policy.evaluated")) == 20 and len(events("policy.blocked")) == 10


def test_reevaluate_task_fans_out_in_chunks(acme, eager_celery, settings) -> None:
    from policies import tasks

    settings.POLICIES_REEVALUATE_CHUNK = 4
    scans = [ScanFactory(verdict="pass") for _ in range(10)]
    for scan in scans:
        vuln(scan)
    old = ScanFactory(verdict="pass")
    Scan.objects.filter(pk=old.pk).update(finished_at=old.finished_at.replace(year=2000))
    summary = tasks.reevaluate_recent(days=30, trigger="policy_changed")
    assert summary == {"schema": "acme", "scans": 10, "chunks": 3}
    assert set(Scan.objects.filter(pk__in=[s.pk for s in scans]).values_list("verdict", flat=True)) == {"block"}
    assert Scan.objects.get(pk=old.pk).verdict == "pass"
    record = AuditEvent.objects.get(action="policy.reevaluate")
    assert record.metadata["scans"] == 10 and record.metadata["chunks"] == 3


def test_a_policy_change_queues_reevaluation_after_commit(acme, eager_celery, django_capture_on_commit_callbacks
                                                         ) -> None:
    scan = ScanFactory(verdict="pass")
    FindingFactory(scan=scan, check_id="SECRET-1", category="secrets", severity="high")
    with django_capture_on_commit_callbacks(execute=True):
        services.policy_create(tenant=acme, actor=SYSTEM, document=STRICT)
    scan.refresh_from_db()
    assert scan.verdict == "block"
    assert Evaluation.objects.get(scan=scan, is_current=True, policy__name="Strict").trigger == "policy_changed"


def test_simulation_reports_changed_verdicts_without_saving(acme, member) -> None:
    engineer = Actor.for_user(member("security_engineer"))
    secret = ScanFactory(verdict="warn")
    FindingFactory(scan=secret, check_id="SECRET-1", category="secrets", severity="high")
    clean = ScanFactory(verdict="pass")
    default = Policy.objects.get(is_default=True)
    draft = default.document()
    draft["rules"] = [r for r in draft["rules"] if r["name"] != "Secrets"] + [
        {"name": "Secrets block", "action": "block",
         "conditions": [{"subject": "category", "operator": "eq", "value": "secrets"}]}]
    before = (Policy.objects.count(), PolicyRevision.objects.count(), Evaluation.objects.count())
    result = selectors.simulate(actor=engineer, document=draft, replaces=default.pk, limit=50)
    assert (Policy.objects.count(), PolicyRevision.objects.count(), Evaluation.objects.count()) == before
    assert result["changed"] == 1 and result["scans"] == 2
    [change] = result["changes"]
    assert change["scan_id"] == str(secret.pk) and (change["before"], change["after"]) == ("warn", "block")
    assert change["draft_reasons"][0]["name"] == "Secrets block"
    assert clean.pk not in [c["scan_id"] for c in result["changes"]]
    added = selectors.simulate(actor=engineer, document={**STRICT, "mode": "monitor"}, limit=50)
    assert added["changed"] == 0 and added["draft_verdicts"]["block"] == 1
    with pytest.raises(ValidationFailed):
        selectors.simulate(actor=engineer, document={"name": "x", "rules": [{"action": "nope"}]}, limit=5)


def test_demo_data_adds_a_monitor_policy_and_evaluates_the_demo_scans(acme) -> None:
    from policies.provisioning import DEMO_POLICY, demo_policies

    scan = ScanFactory(package_metadata={"license": "GPL-3.0-only"}, verdict=None)
    demo_policies(acme, "unused-password")
    demo_policies(acme, "unused-password")  # idempotent
    policy = Policy.objects.get(name=DEMO_POLICY["name"])
    assert policy.mode == "monitor" and Policy.objects.filter(name=DEMO_POLICY["name"]).count() == 1
    scan.refresh_from_db()
    assert scan.verdict == "pass"
    monitor = Evaluation.objects.get(scan=scan, is_current=True, policy=policy)
    assert monitor.verdict == "block" and monitor.reasons[0]["name"] == "Copyleft or unlisted licenses"


def test_large_results_stay_bounded_in_rows_and_events(acme) -> None:
    from policies import services as policy_services

    document = {"name": "Wide", "priority": 1, "rules": [
        {"name": f"Everything {i}", "action": "warn",
         "conditions": [{"subject": "severity", "operator": "gte", "value": "info"}]} for i in range(40)]}
    services.policy_create(tenant=acme, actor=SYSTEM, document=document)
    scan = ScanFactory(status=Scan.StatusChoices.RUNNING, verdict=None)
    FindingFactory.create_batch(1200, scan=scan, category="metadata", check_id="META-X", severity="low")
    services.verdict_hook(scan)
    assert scan.verdict == "warn"
    row = Evaluation.objects.get(scan=scan, is_current=True, policy__name="Wide")
    assert len(row.reasons) == 40
    assert row.reasons[0]["count"] == 1200 and len(row.reasons[0]["finding_ids"]) == policy_services.STORED_FINDING_IDS
    [event] = events("policy.evaluated")
    assert len(event["data"]["reasons"]) == policy_services.EVENT_REASONS
    assert event["data"]["reasons"][0]["findings"] == 1200
