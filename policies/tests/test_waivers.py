"""Waivers: request, approve (never by the requester), reject, revoke, expire — audited, published,
and effective in evaluations only while approved and unexpired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from audit.models import AuditEvent
from config.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from messaging.models import OutboxEvent
from policies import services, tasks
from policies.models import Evaluation, Waiver
from policies.tests.factories import ScanFactory, vuln
from scanning.models import Scan

SYSTEM = Actor.system("tests")


@pytest.fixture
def people(acme, member) -> dict[str, Any]:
    return {"dev": member("developer"), "engineer": member("security_engineer"),
            "other_engineer": member("security_engineer"), "viewer": member("viewer")}


def blocked_scan(**kw: Any) -> Scan:
    scan = ScanFactory(name="requests", version="2.31.0", verdict="block", **kw)
    vuln(scan, advisory="GHSA-9999-aaaa-bbbb", aliases=("CVE-2024-9999",), severity="critical")
    return scan


def request(acme, user, **kw: Any) -> Waiver:
    values = {"scope": "vulnerability", "value": "CVE-2024-9999", "ecosystem": "pypi", "package_name": "requests",
              "reason": "Not reachable from our code: we never call the affected API.",
              "expires_at": timezone.now() + timedelta(days=30)}
    values.update(kw)
    return services.waiver_request(tenant=acme, actor=Actor.for_user(user), **values)


def types() -> list[str]:
    return list(OutboxEvent.objects.filter(type__startswith="waiver.").order_by("created_at")
                .values_list("type", flat=True))


def test_full_life_cycle_is_audited_and_published(acme, people) -> None:
    waiver = request(acme, people["dev"])
    assert waiver.state == "pending" and waiver.value == "CVE-2024-9999" and waiver.package_key == "requests"
    approved = services.waiver_approve(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver,
                                       note="Checked the call graph.")
    assert approved.state == "approved" and approved.decided_by == people["engineer"]
    revoked = services.waiver_revoke(tenant=acme, actor=Actor.for_user(people["other_engineer"]), waiver=approved,
                                     reason="Fix released upstream.")
    assert revoked.state == "revoked" and revoked.revoked_by == people["other_engineer"]
    rejected = services.waiver_reject(tenant=acme, actor=Actor.for_user(people["engineer"]),
                                      waiver=request(acme, people["dev"]), note="Upgrade instead.")
    assert rejected.state == "rejected"
    assert types() == ["waiver.requested", "waiver.approved", "waiver.revoked", "waiver.requested",
                       "waiver.rejected"]
    actions = list(AuditEvent.objects.filter(resource_type="waiver").order_by("sequence")
                   .values_list("action", flat=True))
    assert actions == ["waiver.request", "waiver.approve", "waiver.revoke", "waiver.request", "waiver.reject"]
    envelope = OutboxEvent.objects.get(type="waiver.approved").envelope
    assert envelope["data"]["waiver_id"] == str(waiver.pk) and envelope["data"]["decided_by"] == \
        str(people["engineer"].pk)


def test_self_approval_is_refused(acme, people) -> None:
    waiver = request(acme, people["engineer"])
    with pytest.raises(PermissionDenied) as refused:
        services.waiver_approve(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver)
    assert refused.value.code == "self_approval"
    with pytest.raises(PermissionDenied):
        services.waiver_reject(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver)
    waiver.refresh_from_db()
    assert waiver.state == "pending"
    # A requester may still withdraw their own request.
    assert services.waiver_revoke(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver).state == \
        "revoked"


def test_who_may_do_what(acme, people) -> None:
    with pytest.raises(PermissionDenied):
        request(acme, people["viewer"])
    waiver = request(acme, people["dev"])
    with pytest.raises(PermissionDenied):
        services.waiver_approve(tenant=acme, actor=Actor.for_user(people["viewer"]), waiver=waiver)
    with pytest.raises(PermissionDenied):
        services.waiver_revoke(tenant=acme, actor=Actor.for_user(people["viewer"]), waiver=waiver)
    other_dev = services.waiver_request(tenant=acme, actor=Actor.for_user(people["dev"]), scope="check",
                                        value="PKG-HOOK-001", ecosystem="npm", package_name="x",
                                        reason="A reviewed build step, nothing else.",
                                        expires_at=timezone.now() + timedelta(days=1))
    approved = services.waiver_approve(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=other_dev)
    with pytest.raises(Conflict):
        services.waiver_approve(tenant=acme, actor=Actor.for_user(people["other_engineer"]), waiver=approved)


REQUEST_ERRORS = [
    ("no expiry", {"expires_at": None}, "expires_at"),
    ("past expiry", {"expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
    ("beyond the maximum", {"expires_at": timezone.now() + timedelta(days=91)}, "expires_at"),
    ("unknown scope", {"scope": "package"}, "scope"),
    ("bad fingerprint", {"scope": "fingerprint", "value": "abc"}, "value"),
    ("unknown ecosystem", {"ecosystem": "cargo"}, "ecosystem"),
    ("no package", {"package_name": ""}, "package_name"),
    ("bad version range", {"version_range": ">=2.0,<1.0"}, "version_range"),
    ("short reason", {"reason": "ok"}, "reason"),
]


@pytest.mark.parametrize(("changes", "field"), [r[1:] for r in REQUEST_ERRORS], ids=[r[0] for r in REQUEST_ERRORS])
def test_requests_are_validated(acme, people, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        request(acme, people["dev"], **changes)
    assert field in refused.value.details


def test_the_maximum_follows_the_organization_setting(acme, people) -> None:
    acme.settings = {**(acme.settings or {}), "waiver_max_days": 7}
    with pytest.raises(ValidationFailed) as refused:
        request(acme, people["dev"], expires_at=timezone.now() + timedelta(days=8))
    assert "at most 7 days" in refused.value.details["expires_at"][0]
    assert request(acme, people["dev"], expires_at=timezone.now() + timedelta(days=6)).state == "pending"


def test_a_request_from_a_finding_takes_its_scope(acme, people) -> None:
    scan = blocked_scan(submitted_by=people["dev"])
    finding = scan.findings.get()
    waiver = services.waiver_request(tenant=acme, actor=Actor.for_user(people["dev"]), finding_id=finding.pk,
                                     reason="Not reachable from our code at all.",
                                     expires_at=timezone.now() + timedelta(days=10))
    assert (waiver.scope, waiver.value, waiver.ecosystem, waiver.package_name) == \
        ("vulnerability", "GHSA-9999-AAAA-BBBB", "pypi", "requests")
    assert waiver.source_scan_id == scan.pk and waiver.source_finding_id == finding.pk
    someone_elses = blocked_scan(submitted_by=people["engineer"]).findings.get()
    with pytest.raises(NotFound):
        services.waiver_request(tenant=acme, actor=Actor.for_user(people["dev"]), finding_id=someone_elses.pk,
                                reason="Not reachable from our code at all.",
                                expires_at=timezone.now() + timedelta(days=10))


def test_approved_waiver_passes_and_revocation_blocks_again(acme, people) -> None:
    scan = blocked_scan()
    engineer = Actor.for_user(people["engineer"])
    waiver = request(acme, people["dev"])
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=scan).verdict == "block"  # pending: no effect
    services.waiver_approve(tenant=acme, actor=Actor.for_user(people["other_engineer"]), waiver=waiver)
    outcome = services.scan_evaluate(tenant=acme, actor=engineer, scan=scan)
    assert outcome.verdict == "pass"
    current = Evaluation.objects.get(scan=scan, is_current=True)
    assert current.reasons == [] and current.waived[0]["waiver_id"] == str(waiver.pk)
    assert current.waived[0]["rules"] == [0, 4]  # critical and high vulnerability rules of the default policy
    services.waiver_revoke(tenant=acme, actor=engineer, waiver=waiver)
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=scan).verdict == "block"


def test_expiry_stops_a_waiver_by_itself_and_the_sweep_records_it(acme, people, eager_celery,
                                                                   django_capture_on_commit_callbacks) -> None:
    scan = blocked_scan()
    engineer = Actor.for_user(people["engineer"])
    waiver = services.waiver_approve(tenant=acme, actor=Actor.for_user(people["other_engineer"]),
                                     waiver=request(acme, people["dev"]))
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=scan).verdict == "pass"
    # Time passes: the waiver is past its expiry but still "approved" until the sweep runs.
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=scan).verdict == "block"
    Scan.objects.filter(pk=scan.pk).update(verdict="pass")
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.expire_waivers_tenant()
    assert result["expired"] == [str(waiver.pk)]
    waiver.refresh_from_db()
    assert waiver.state == "expired" and waiver.expired_at is not None
    assert "waiver.expired" in types()
    assert AuditEvent.objects.filter(action="waiver.expire", resource_id=str(waiver.pk)).exists()
    scan.refresh_from_db()
    assert scan.verdict == "block"  # the sweep re-evaluated the package's scans
    assert Evaluation.objects.get(scan=scan, is_current=True).trigger == "waiver_expired"
    with pytest.raises(Conflict):
        services.waiver_revoke(tenant=acme, actor=engineer, waiver=waiver)


def test_approving_an_expired_request_is_refused(acme, people) -> None:
    waiver = request(acme, people["dev"])
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as refused:
        services.waiver_approve(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver)
    assert refused.value.code == "waiver_expired"


def test_waiver_scopes_version_range(acme, people) -> None:
    old = blocked_scan()
    Scan.objects.filter(pk=old.pk).update(version="2.0.0")
    new = blocked_scan()
    waiver = request(acme, people["dev"], scope="check", value="VULN-PKG-001", version_range="<2.1")
    services.waiver_approve(tenant=acme, actor=Actor.for_user(people["engineer"]), waiver=waiver)
    engineer = Actor.for_user(people["engineer"])
    old.refresh_from_db()
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=old).verdict == "pass"
    assert services.scan_evaluate(tenant=acme, actor=engineer, scan=new).verdict == "block"


def test_beat_task_fans_out_to_organizations(tenant_a, eager_celery) -> None:
    result = tasks.expire_waivers()
    assert {"acme", "globex"} <= {item["schema"] for item in result}
    with schema_context("acme"):
        assert Waiver.objects.filter(state="expired").count() == 0
