"""Every write of the policies app: policies and revisions, evaluations and verdicts, waivers.

Each service validates, writes in one transaction, records the audit event and queues
the domain event (outbox) in that same transaction. Re-evaluations that a change
makes necessary are sent to Celery only once the transaction has committed.

How several policies combine: every enabled policy whose scope (ecosystems, package
patterns) covers the scan is evaluated, in priority order. The scan's verdict is the
strictest verdict among the `enforce` policies (block > warn > pass), `pass` when
none applies. `monitor` policies are evaluated and recorded (an Evaluation row with
mode `monitor`) but never change the scan's verdict.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.context import Actor
from audit.services import audit_record
from config.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from messaging.events import publish_event
from policies import engine, notify, selectors
from policies.models import Evaluation, Policy, PolicyRevision, Waiver
from scanning.analyzers.versions import normalize_name
from scanning.formats import ECOSYSTEMS
from scanning.models import Scan

logger = logging.getLogger(__name__)

# Event data stays well under messaging's 32 KB limit however many findings matched.
EVENT_FINDING_IDS = 10
EVENT_REASONS = 20
EVENT_POLICIES = 20
# An evaluation row keeps at most this many finding ids per reason (and always the count).
STORED_FINDING_IDS = 1000


def current_tenant() -> Any:
    from tenants.models import Tenant

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant) and tenant.schema_name == connection.schema_name:
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


def _actor_user(actor: Actor) -> Any:
    user = actor.user
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _actor_label(actor: Actor) -> str:
    return f"{actor.type}:{actor.email or actor.id or ''}"[:300]


# --- Policies ------------------------------------------------------------------------------------

def _validated(document: Any) -> dict[str, Any]:
    normalised, errors = engine.validate(document)
    if errors:
        raise ValidationFailed("The policy is invalid; see details.", details=errors)
    return normalised


def _check_name_free(name: str, *, exclude: Any = None) -> None:
    qs = Policy.objects.filter(deleted_at__isnull=True, name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    if qs.exists():
        raise ValidationFailed(details={"name": [f"A policy named '{name}' already exists; choose another name."]})


def _apply(policy: Policy, document: dict[str, Any]) -> None:
    policy.name = document["name"]
    policy.description = document.get("description", "")
    policy.enabled = document.get("enabled", True)
    policy.mode = document.get("mode", "enforce")
    policy.priority = document.get("priority", 100)
    policy.ecosystems = document["scope"]["ecosystems"]
    policy.package_patterns = document["scope"]["packages"]
    policy.rules = document["rules"]


def _record_revision(policy: Policy, *, actor: Actor, change: str, summary: str = "",
                     document: dict[str, Any] | None = None) -> PolicyRevision:
    number = (PolicyRevision.objects.filter(policy=policy).order_by("-number")
              .values_list("number", flat=True).first() or 0) + 1
    revision = PolicyRevision.objects.create(
        policy=policy, number=number, document=document if document is not None else policy.document(),
        change=change, summary=summary[:300], author_type=actor.type, author_id=(actor.id or "")[:64],
        author_email=(actor.email or "")[:254])
    policy.current_revision = revision
    policy.save(update_fields=["current_revision", "updated_at"])
    return revision


def _policy_event(tenant: Any, actor: Actor, policy: Policy, revision: PolicyRevision, type_: str) -> None:
    publish_event(tenant=tenant, type=type_, subject=f"policies/{policy.pk}", actor=actor, data={
        "policy_id": str(policy.pk), "name": policy.name, "revision": revision.number, "mode": policy.mode,
        "enabled": policy.enabled, "rules": len(policy.rules or [])})


def _reevaluate_after_commit(*, trigger: str, ecosystem: str = "", name: str = "") -> None:
    days = int(settings.POLICIES_REEVALUATE_DAYS)
    if days <= 0:
        return

    def send() -> None:
        from policies.tasks import reevaluate_recent

        reevaluate_recent.delay(days=days, trigger=trigger, ecosystem=ecosystem, name=name)

    transaction.on_commit(send)


def policy_create(*, tenant: Any, actor: Actor, document: dict[str, Any], summary: str = "") -> Policy:
    selectors.require_perm(actor, "policies.manage_policies", "You may not create policies.")
    normalised = _validated(document)
    with transaction.atomic():
        _check_name_free(normalised["name"])
        policy = Policy(created_by=_actor_user(actor), updated_by=_actor_user(actor))
        _apply(policy, normalised)
        try:
            with transaction.atomic():
                policy.save()
        except IntegrityError as exc:
            raise ValidationFailed(details={"name": ["A policy with this name already exists."]}) from exc
        revision = _record_revision(policy, actor=actor, change=PolicyRevision.Change.CREATED,
                                    summary=summary or "Created")
        audit_record(actor=actor, action="policy.create", resource_type="policy", resource_id=str(policy.pk),
                     changes={k: {"after": v} for k, v in normalised.items() if k != "rules"} |
                     {"rules": {"after": len(normalised["rules"])}},
                     metadata={"revision": revision.number})
        _policy_event(tenant, actor, policy, revision, "policy.created")
        _reevaluate_after_commit(trigger=Evaluation.Trigger.POLICY_CHANGED)
    return policy


def policy_update(*, tenant: Any, actor: Actor, policy: Policy, document: dict[str, Any], summary: str = ""
                  ) -> Policy:
    """Replace the policy's document; a new revision records it (nothing happens when nothing changed)."""
    selectors.require_perm(actor, "policies.manage_policies", "You may not change policies.")
    normalised = _validated(document)
    with transaction.atomic():
        locked = Policy.objects.select_for_update().filter(pk=policy.pk, deleted_at__isnull=True).first()
        if locked is None:
            raise NotFound("No such policy.")
        before = locked.document()
        if before == normalised:
            return locked
        if normalised["name"].lower() != locked.name.lower():
            _check_name_free(normalised["name"], exclude=locked.pk)
        _apply(locked, normalised)
        locked.updated_by = _actor_user(actor)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError as exc:
            raise ValidationFailed(details={"name": ["A policy with this name already exists."]}) from exc
        revision = _record_revision(locked, actor=actor, change=PolicyRevision.Change.UPDATED,
                                    summary=summary or "Updated")
        changes = {k: {"before": before.get(k), "after": normalised.get(k)}
                   for k in normalised if k != "rules" and before.get(k) != normalised.get(k)}
        if before.get("rules") != normalised["rules"]:
            changes["rules"] = {"before": len(before.get("rules", [])), "after": len(normalised["rules"])}
        audit_record(actor=actor, action="policy.update", resource_type="policy", resource_id=str(locked.pk),
                     changes=changes, metadata={"revision": revision.number})
        _policy_event(tenant, actor, locked, revision, "policy.updated")
        _reevaluate_after_commit(trigger=Evaluation.Trigger.POLICY_CHANGED)
    return locked


def policy_delete(*, tenant: Any, actor: Actor, policy: Policy) -> None:
    """Soft delete: the policy stops applying; its revisions and the evaluations that used it remain."""
    selectors.require_perm(actor, "policies.manage_policies", "You may not delete policies.")
    with transaction.atomic():
        locked = Policy.objects.select_for_update().filter(pk=policy.pk, deleted_at__isnull=True).first()
        if locked is None:
            raise NotFound("No such policy.")
        locked.deleted_at = timezone.now()
        locked.enabled = False
        locked.updated_by = _actor_user(actor)
        locked.save(update_fields=["deleted_at", "enabled", "updated_by", "updated_at"])
        revision = _record_revision(locked, actor=actor, change=PolicyRevision.Change.DELETED, summary="Deleted",
                                    document={**locked.document(), "deleted": True})
        audit_record(actor=actor, action="policy.delete", resource_type="policy", resource_id=str(locked.pk),
                     changes={"deleted_at": {"before": None, "after": locked.deleted_at}},
                     metadata={"name": locked.name, "revision": revision.number})
        _policy_event(tenant, actor, locked, revision, "policy.deleted")
        _reevaluate_after_commit(trigger=Evaluation.Trigger.POLICY_CHANGED)


def default_policy_seed() -> Policy | None:
    """Create the default policy in the current schema unless one was ever created (idempotent).

    Runs at provisioning (and in the template, so clones start with it). A seed is part
    of the schema's creation, like a migration: no audit record and no event.
    """
    if Policy.objects.filter(is_default=True).exists():
        return None
    document = _validated(engine.default_policy_document())
    name = document["name"]
    if Policy.objects.filter(deleted_at__isnull=True, name__iexact=name).exists():
        document["name"] = f"{name} (Gatehouse)"
    policy = Policy(is_default=True)
    _apply(policy, document)
    policy.save()
    _record_revision(policy, actor=Actor.system("provisioning"), change=PolicyRevision.Change.SEEDED,
                     summary="Seeded at provisioning")
    return policy


# --- Evaluation --------------------------------------------------------------------------------

@dataclass
class Outcome:
    scan_id: str
    previous: str | None
    verdict: str
    results: list[engine.Result]
    row: selectors.ScanRow
    run: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def changed(self) -> bool:
        return self.previous != self.verdict


def _evaluate_rows(rows: Sequence[selectors.ScanRow], *, policies: list[engine.CompiledPolicy] | None = None,
                   now: datetime | None = None) -> list[Outcome]:
    now = now or timezone.now()
    policies = selectors.active_policies() if policies is None else policies
    facts = selectors.scan_facts(rows)
    waivers = selectors.effective_waivers(now=now, packages={r.package_key for r in rows})
    outcomes = []
    for row in rows:
        verdict, results = engine.evaluate_all(policies, facts[row.id], waivers, now)
        outcomes.append(Outcome(scan_id=row.id, previous=row.verdict, verdict=verdict, results=results, row=row))
    return outcomes


def _evaluation_rows(outcome: Outcome, *, trigger: str, actor: Actor, now: datetime) -> list[Evaluation]:
    common = {"run": outcome.run, "scan_id": outcome.scan_id, "scan_verdict": outcome.verdict,
              "previous_verdict": outcome.previous or "", "trigger": trigger, "actor": _actor_label(actor),
              "evaluated_at": now, "is_current": True}
    if not outcome.results:
        return [Evaluation(policy=None, revision=None, policy_name="", mode="enforce", verdict="pass",
                           reasons=[], waived=[], **common)]
    return [Evaluation(policy_id=r.policy_id, revision_id=r.revision_id, policy_name=r.policy_name[:100],
                       mode=r.mode, verdict=r.verdict, reasons=[x.as_dict(STORED_FINDING_IDS) for x in r.reasons],
                       waived=[w.as_dict() for w in r.waived], **common) for r in outcome.results]


def _event_data(outcome: Outcome, trigger: str) -> dict[str, Any]:
    row = outcome.row
    reasons = []
    for result in outcome.results:
        for reason in result.reasons:
            if len(reasons) >= EVENT_REASONS:
                break
            reasons.append({"policy": result.policy_name, "policy_id": result.policy_id, "mode": result.mode,
                            "rule": reason.name, "action": reason.action, "findings": len(reason.finding_ids),
                            "finding_ids": reason.finding_ids[:EVENT_FINDING_IDS]})
    return {
        "scan_id": row.id, "ecosystem": row.ecosystem, "name": row.name, "version": row.version,
        "verdict": outcome.verdict, "previous_verdict": outcome.previous, "trigger": trigger,
        "submitted_by": row.submitted_by_id,
        "policies": [{"policy_id": r.policy_id, "name": r.policy_name, "revision": r.revision_number,
                      "mode": r.mode, "verdict": r.verdict} for r in outcome.results[:EVENT_POLICIES]],
        "reasons": reasons,
        "waived": sum(len(r.waived) for r in outcome.results),
    }


def _publish(tenant: Any, actor: Actor, outcome: Outcome, trigger: str, *, always: bool) -> None:
    """policy.evaluated (always on completion and on request; on bulk runs only when the verdict changed)
    and policy.blocked (when the verdict is block and was not already)."""
    if not always and not outcome.changed:
        return
    data = _event_data(outcome, trigger)
    publish_event(tenant=tenant, type="policy.evaluated", subject=f"scans/{outcome.scan_id}", data=data,
                  actor=actor if actor.type != "system" else None)
    if outcome.verdict == "block" and (outcome.previous != "block" or trigger == Evaluation.Trigger.SCAN_COMPLETED):
        publish_event(tenant=tenant, type="policy.blocked", subject=f"scans/{outcome.scan_id}", data=data,
                      actor=actor if actor.type != "system" else None)


def _persist(outcomes: Sequence[Outcome], *, tenant: Any, actor: Actor, trigger: str, now: datetime,
             update_scans: bool, always_publish: bool) -> None:
    if not outcomes:
        return
    ids = [o.scan_id for o in outcomes]
    Evaluation.objects.filter(scan_id__in=ids, is_current=True).update(is_current=False)
    rows: list[Evaluation] = []
    for outcome in outcomes:
        rows.extend(_evaluation_rows(outcome, trigger=trigger, actor=actor, now=now))
    Evaluation.objects.bulk_create(rows, batch_size=1000)
    if update_scans:
        by_verdict: dict[str, list[str]] = {}
        for outcome in outcomes:
            if outcome.changed:
                by_verdict.setdefault(outcome.verdict, []).append(outcome.scan_id)
        for verdict, scan_ids in by_verdict.items():
            Scan.objects.filter(pk__in=scan_ids).update(verdict=verdict, updated_at=now)
    for outcome in outcomes:
        _publish(tenant, actor, outcome, trigger, always=always_publish)


def verdict_hook(scan: Scan) -> None:
    """Registered with scanning.hooks: runs inside the transaction that completes the scan.

    Sets `scan.verdict` (the pipeline saves the row) and records the evaluations. Waiting
    clients are woken once that transaction commits.
    """
    tenant = current_tenant()
    now = timezone.now()
    row = selectors.ScanRow.from_scan(scan)
    row.verdict = None
    [outcome] = _evaluate_rows([row], now=now)
    _persist([outcome], tenant=tenant, actor=Actor.system("scan-pipeline"), trigger=Evaluation.Trigger.SCAN_COMPLETED,
             now=now, update_scans=False, always_publish=True)
    scan.verdict = outcome.verdict
    schema, scan_id, verdict = connection.schema_name, str(scan.pk), outcome.verdict
    transaction.on_commit(lambda: notify.announce(schema, scan_id, verdict))


def scan_evaluate(*, tenant: Any, actor: Actor, scan: Scan) -> Outcome:
    """Re-evaluate one completed scan now (POST /api/v1/scans/{id}/evaluate)."""
    selectors.require_perm(actor, "policies.manage_policies", "You may not re-evaluate scans.")
    now = timezone.now()
    with transaction.atomic():
        locked = Scan.objects.select_for_update().filter(pk=scan.pk).first()
        if locked is None:
            raise NotFound("No such scan.")
        if locked.status != Scan.StatusChoices.COMPLETED:
            raise Conflict(f"The scan is {locked.status}; only completed scans have a verdict to evaluate.",
                           code="scan_not_completed")
        [outcome] = _evaluate_rows([selectors.ScanRow.from_scan(locked)], now=now)
        _persist([outcome], tenant=tenant, actor=actor, trigger=Evaluation.Trigger.MANUAL, now=now,
                 update_scans=True, always_publish=True)
        audit_record(actor=actor, action="scan.evaluate", resource_type="scan", resource_id=str(locked.pk),
                     changes={"verdict": {"before": outcome.previous, "after": outcome.verdict}},
                     metadata={"policies": [{"policy_id": r.policy_id, "revision": r.revision_number,
                                             "verdict": r.verdict, "mode": r.mode} for r in outcome.results]})
        schema, scan_id, verdict = connection.schema_name, str(locked.pk), outcome.verdict
        transaction.on_commit(lambda: notify.announce(schema, scan_id, verdict))
    scan.verdict = outcome.verdict
    return outcome


@dataclass
class BulkResult:
    scans: int = 0
    changed: int = 0
    verdicts: dict[str, int] = field(default_factory=lambda: {v: 0 for v in engine.VERDICTS})

    def as_dict(self) -> dict[str, Any]:
        return {"scans": self.scans, "changed": self.changed, "verdicts": dict(self.verdicts)}


def scans_reevaluate(*, tenant: Any, actor: Actor, scan_ids: Sequence[Any], trigger: str,
                     policies: list[engine.CompiledPolicy] | None = None) -> BulkResult:
    """Re-evaluate many scans in one transaction (a chunk of a bulk run): one query for the scans,
    one for their findings, one for the waivers, bulk writes. Only completed scans are evaluated."""
    result = BulkResult()
    now = timezone.now()
    with transaction.atomic():
        # Lock in a stable order so concurrent chunks and on-demand evaluations never deadlock.
        locked_ids = list(Scan.objects.select_for_update().filter(pk__in=list(scan_ids),
                                                                  status=Scan.StatusChoices.COMPLETED)
                          .order_by("pk").values_list("pk", flat=True))
        rows = selectors.scan_rows(locked_ids)
        outcomes = _evaluate_rows(rows, policies=policies, now=now)
        _persist(outcomes, tenant=tenant, actor=actor, trigger=trigger, now=now, update_scans=True,
                 always_publish=False)
    result.scans = len(outcomes)
    for outcome in outcomes:
        result.verdicts[outcome.verdict] += 1
        result.changed += int(outcome.changed)
    return result


def bulk_reevaluation_record(*, actor: Actor, trigger: str, days: int, scans: int, chunks: int,
                             ecosystem: str = "", name: str = "") -> None:
    """The audit record of a bulk run (one per run, not one per scan)."""
    audit_record(actor=actor, action="policy.reevaluate", resource_type="scan", resource_id="",
                 metadata={"trigger": trigger, "days": days, "scans": scans, "chunks": chunks,
                           "ecosystem": ecosystem, "name": name})


def reevaluation_request(*, tenant: Any, actor: Actor, days: int) -> dict[str, Any]:
    """Queue the re-evaluation of every completed scan of the last `days` days (202 from the API)."""
    selectors.require_perm(actor, "policies.manage_policies", "You may not re-evaluate scans.")
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise ValidationFailed(details={"days": ["Give a number of days from 1 to 3650."]})
    with transaction.atomic():
        audit_record(actor=actor, action="policy.reevaluate_request", resource_type="scan", resource_id="",
                     metadata={"days": days})

        def send() -> None:
            from policies.tasks import reevaluate_recent

            reevaluate_recent.delay(days=days, trigger=Evaluation.Trigger.BULK)

        transaction.on_commit(send)
    return {"days": days, "queued": True}


# --- Waivers -----------------------------------------------------------------------------------

VALUE_PATTERNS = {
    "check": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
    "vulnerability": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$",
    "fingerprint": r"^[0-9a-f]{64}$",
}


def _waiver_snapshot(waiver: Waiver) -> dict[str, Any]:
    return {"scope": waiver.scope, "value": waiver.value, "ecosystem": waiver.ecosystem,
            "package_name": waiver.package_name, "version_range": waiver.version_range, "state": waiver.state,
            "expires_at": waiver.expires_at}


def _waiver_event(tenant: Any, actor: Actor | None, waiver: Waiver, type_: str) -> None:
    publish_event(tenant=tenant, type=type_, subject=f"waivers/{waiver.pk}", actor=actor, data={
        "waiver_id": str(waiver.pk), "state": waiver.state, "scope": waiver.scope, "value": waiver.value,
        "ecosystem": waiver.ecosystem, "package": waiver.package_name, "version_range": waiver.version_range,
        "expires_at": waiver.expires_at,
        "requested_by": str(waiver.requested_by_id) if waiver.requested_by_id else None,
        "decided_by": str(waiver.decided_by_id) if waiver.decided_by_id else None,
    })


def _validate_waiver(*, tenant: Any, scope: str, value: str, ecosystem: str, package_name: str, version_range: str,
                     reason: str, expires_at: Any, now: datetime) -> dict[str, list[str]]:
    import re

    errors: dict[str, list[str]] = {}
    if scope not in Waiver.Scope.values:
        errors["scope"] = [f"'{scope}' is not a waiver scope; choose from {', '.join(Waiver.Scope.values)}."]
    elif not isinstance(value, str) or not re.match(VALUE_PATTERNS[scope], value.strip()):
        hint = {"check": "a check id such as PKG-HOOK-001", "vulnerability": "an advisory id or alias such as "
                "CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx", "fingerprint": "a finding's 64-character fingerprint"}[scope]
        errors["value"] = [f"Give {hint}."]
    if ecosystem not in ECOSYSTEMS:
        errors["ecosystem"] = [f"'{ecosystem}' is not an ecosystem; choose from {', '.join(ECOSYSTEMS)}."]
    if not isinstance(package_name, str) or not package_name.strip() or len(package_name) > 214:
        errors["package_name"] = ["Give the package's name (at most 214 characters)."]
    if version_range:
        _parsed, problem = engine.parse_range(version_range, ecosystem=ecosystem if ecosystem in ECOSYSTEMS else None)
        if problem:
            errors["version_range"] = [problem]
    if not isinstance(reason, str) or len(reason.strip()) < 10:
        errors["reason"] = ["Explain why the finding is acceptable (at least 10 characters)."]
    elif len(reason) > 4000:
        errors["reason"] = ["Use at most 4000 characters."]
    max_days = int(tenant.setting("waiver_max_days") or 90)
    if not isinstance(expires_at, datetime):
        errors["expires_at"] = ["Give the date and time the waiver expires."]
    elif timezone.is_naive(expires_at):
        errors["expires_at"] = ["Give the expiry with a time zone (e.g. 2026-03-01T00:00:00Z)."]
    elif expires_at <= now:
        errors["expires_at"] = ["The expiry must be in the future."]
    elif expires_at > now + timedelta(days=max_days):
        errors["expires_at"] = [f"A waiver may last at most {max_days} days (your organization's "
                                f"waiver_max_days setting); choose {(now + timedelta(days=max_days)):%Y-%m-%d} or "
                                "earlier."]
    return errors


def waiver_request(*, tenant: Any, actor: Actor, reason: str, expires_at: Any, scope: str = "", value: str = "",
                   ecosystem: str = "", package_name: str = "", version_range: str = "",
                   finding_id: Any = None) -> Waiver:
    """Ask for a waiver. From a finding (`finding_id`), scope and package default to the finding's."""
    selectors.require_perm(actor, "policies.request_waiver", "You may not request waivers.")
    now = timezone.now()
    source_scan = source_finding = None
    if finding_id:
        finding = selectors.finding_for_waiver(actor=actor, finding_id=finding_id)
        scan = finding.scan
        source_scan, source_finding = scan.pk, finding.pk
        scope = scope or ("vulnerability" if finding.evidence.get("advisory") else "check")
        if not value:
            value = {"check": finding.check_id, "fingerprint": finding.fingerprint,
                     "vulnerability": str(finding.evidence.get("advisory") or "")}.get(scope, "")
        ecosystem = ecosystem or scan.ecosystem
        package_name = package_name or scan.name or scan.submitted_name
    scope, value = (scope or "").strip(), (value or "").strip()
    ecosystem, package_name = (ecosystem or "").strip(), (package_name or "").strip()
    version_range, reason = (version_range or "").strip(), (reason or "").strip()
    errors = _validate_waiver(tenant=tenant, scope=scope, value=value, ecosystem=ecosystem,
                              package_name=package_name, version_range=version_range, reason=reason,
                              expires_at=expires_at, now=now)
    if errors:
        raise ValidationFailed(details=errors)
    user = _actor_user(actor)
    with transaction.atomic():
        waiver = Waiver.objects.create(
            scope=scope, value=value.upper() if scope in ("check", "vulnerability") else value.lower(),
            ecosystem=ecosystem, package_name=package_name, package_key=normalize_name(ecosystem, package_name),
            version_range=version_range, reason=reason, requested_by=user,
            requested_by_email=(actor.email or "")[:254], requested_at=now, expires_at=expires_at,
            source_scan_id=source_scan, source_finding_id=source_finding)
        audit_record(actor=actor, action="waiver.request", resource_type="waiver", resource_id=str(waiver.pk),
                     changes={k: {"after": v} for k, v in _waiver_snapshot(waiver).items()}, reason=reason[:500])
        _waiver_event(tenant, actor, waiver, "waiver.requested")
    return waiver


def _lock_waiver(waiver: Waiver) -> Waiver:
    locked = Waiver.objects.select_for_update().filter(pk=waiver.pk).first()
    if locked is None:
        raise NotFound("No such waiver.")
    return locked


def _refuse_self(actor: Actor, waiver: Waiver, verb: str) -> None:
    user = _actor_user(actor)
    if user is not None and waiver.requested_by_id == user.pk:
        raise PermissionDenied(f"You requested this waiver, so someone else must {verb} it.", code="self_approval")


def _expire_if_due(tenant: Any, waiver: Waiver, now: datetime) -> bool:
    if waiver.state in (Waiver.State.PENDING, Waiver.State.APPROVED) and waiver.expires_at <= now:
        _mark_expired(tenant, waiver, now)
        return True
    return False


def waiver_approve(*, tenant: Any, actor: Actor, waiver: Waiver, note: str = "") -> Waiver:
    selectors.require_perm(actor, "policies.approve_waivers", "You may not approve waivers.")
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_waiver(waiver)
        _refuse_self(actor, locked, "approve")
        if _expire_if_due(tenant, locked, now):
            raise Conflict("The waiver expired before it was approved; request a new one.", code="waiver_expired")
        if locked.state != Waiver.State.PENDING:
            raise Conflict(f"The waiver is {locked.state}; only a pending waiver can be approved.",
                           code="waiver_not_pending")
        locked.state = Waiver.State.APPROVED
        locked.decided_by = _actor_user(actor)
        locked.decided_at = now
        locked.decision_note = (note or "").strip()[:4000]
        locked.save()
        audit_record(actor=actor, action="waiver.approve", resource_type="waiver", resource_id=str(locked.pk),
                     changes={"state": {"before": "pending", "after": "approved"}}, reason=locked.decision_note[:500])
        _waiver_event(tenant, actor, locked, "waiver.approved")
        _reevaluate_after_commit(trigger=Evaluation.Trigger.WAIVER_CHANGED, ecosystem=locked.ecosystem,
                                 name=locked.package_name)
    return locked


def waiver_reject(*, tenant: Any, actor: Actor, waiver: Waiver, note: str = "") -> Waiver:
    selectors.require_perm(actor, "policies.approve_waivers", "You may not reject waivers.")
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_waiver(waiver)
        _refuse_self(actor, locked, "reject")
        if _expire_if_due(tenant, locked, now):
            raise Conflict("The waiver has already expired.", code="waiver_expired")
        if locked.state != Waiver.State.PENDING:
            raise Conflict(f"The waiver is {locked.state}; only a pending waiver can be rejected.",
                           code="waiver_not_pending")
        locked.state = Waiver.State.REJECTED
        locked.decided_by = _actor_user(actor)
        locked.decided_at = now
        locked.decision_note = (note or "").strip()[:4000]
        locked.save()
        audit_record(actor=actor, action="waiver.reject", resource_type="waiver", resource_id=str(locked.pk),
                     changes={"state": {"before": "pending", "after": "rejected"}}, reason=locked.decision_note[:500])
        _waiver_event(tenant, actor, locked, "waiver.rejected")
    return locked


def waiver_revoke(*, tenant: Any, actor: Actor, waiver: Waiver, reason: str = "") -> Waiver:
    """Withdraw a pending or approved waiver: approvers may revoke any, requesters their own."""
    user = _actor_user(actor)
    is_requester = user is not None and waiver.requested_by_id == user.pk
    if not (selectors.has_perm(actor, "policies.approve_waivers")
            or (is_requester and selectors.has_perm(actor, "policies.request_waiver"))):
        raise PermissionDenied("Only an approver, or the member who requested it, may revoke a waiver.")
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_waiver(waiver)
        if _expire_if_due(tenant, locked, now):
            raise Conflict("The waiver has already expired.", code="waiver_expired")
        if locked.state not in (Waiver.State.PENDING, Waiver.State.APPROVED):
            raise Conflict(f"The waiver is {locked.state}; only a pending or approved waiver can be revoked.",
                           code="waiver_not_active")
        before = locked.state
        locked.state = Waiver.State.REVOKED
        locked.revoked_by = user
        locked.revoked_at = now
        locked.revoke_reason = (reason or "").strip()[:4000]
        locked.save()
        audit_record(actor=actor, action="waiver.revoke", resource_type="waiver", resource_id=str(locked.pk),
                     changes={"state": {"before": before, "after": "revoked"}}, reason=locked.revoke_reason[:500])
        _waiver_event(tenant, actor, locked, "waiver.revoked")
        if before == Waiver.State.APPROVED:
            _reevaluate_after_commit(trigger=Evaluation.Trigger.WAIVER_CHANGED, ecosystem=locked.ecosystem,
                                     name=locked.package_name)
    return locked


def _mark_expired(tenant: Any, waiver: Waiver, now: datetime) -> None:
    before = waiver.state
    waiver.state = Waiver.State.EXPIRED
    waiver.expired_at = now
    waiver.save(update_fields=["state", "expired_at", "updated_at"])
    audit_record(actor=Actor.system("waiver-expiry"), action="waiver.expire", resource_type="waiver",
                 resource_id=str(waiver.pk), changes={"state": {"before": before, "after": "expired"}},
                 reason=f"expired at {waiver.expires_at.isoformat()}")
    _waiver_event(tenant, None, waiver, "waiver.expired")


def waivers_expire_due(*, tenant: Any, now: datetime | None = None) -> list[str]:
    """Mark pending and approved waivers past their expiry as expired; re-evaluate the packages of
    the approved ones. (They already stopped applying: evaluation compares `expires_at` itself.)"""
    now = now or timezone.now()
    expired: list[str] = []
    packages: set[tuple[str, str]] = set()
    with transaction.atomic():
        due = list(Waiver.objects.select_for_update(skip_locked=True)
                   .filter(state__in=[Waiver.State.PENDING, Waiver.State.APPROVED], expires_at__lte=now)
                   .order_by("expires_at", "id")[:1000])
        for waiver in due:
            if waiver.state == Waiver.State.APPROVED:
                packages.add((waiver.ecosystem, waiver.package_name))
            _mark_expired(tenant, waiver, now)
            expired.append(str(waiver.pk))
        for ecosystem, name in sorted(packages):
            _reevaluate_after_commit(trigger=Evaluation.Trigger.WAIVER_EXPIRED, ecosystem=ecosystem, name=name)
    return expired
