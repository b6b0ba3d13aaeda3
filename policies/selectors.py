"""Every read of the policies app: policies, revisions, evaluations, waivers, the gate, simulation.

Reads are scoped to what the actor may see. Policies, revisions and verdicts are
organization-wide (`policies.view_policies`); waivers are all visible with that
permission, else only the ones the actor requested; scans are scoped by
`scanning.selectors` (a developer sees only their own).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from audit.context import Actor
from config.errors import NotFound, PermissionDenied, ValidationFailed, parse_uuid
from policies import engine, notify
from policies.models import Evaluation, Policy, PolicyRevision, Waiver
from scanning import selectors as scan_selectors
from scanning.analyzers.versions import normalize_name, versions_equal
from scanning.models import Finding, Scan

COMPLETED = Scan.StatusChoices.COMPLETED


# --- Actors ----------------------------------------------------------------------------------

def has_perm(actor: Actor, perm: str) -> bool:
    return actor.has_perm(perm)


def require_perm(actor: Actor, perm: str, message: str) -> None:
    actor.require_perm(perm, message)


# --- Policies and revisions ---------------------------------------------------------------------

def policy_list(*, actor: Actor, filters: dict[str, Any] | None = None, include_deleted: bool = False
                ) -> QuerySet[Policy]:
    require_perm(actor, "policies.view_policies", "You may not see the organization's policies.")
    qs = Policy.objects.select_related("current_revision", "created_by", "updated_by")
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    return qs.filter(**(filters or {})).order_by("priority", "name", "id")


def policy_get(*, actor: Actor, policy_id: Any, include_deleted: bool = False) -> Policy:
    pk = parse_uuid(policy_id, "policy")
    policy = policy_list(actor=actor, include_deleted=include_deleted).filter(pk=pk).first()
    if policy is None:
        raise NotFound("No such policy.")
    return policy


def revision_list(*, policy: Policy) -> QuerySet[PolicyRevision]:
    return PolicyRevision.objects.filter(policy=policy).order_by("-number")


def revision_get(*, policy: Policy, number: Any) -> PolicyRevision:
    try:
        value = int(number)
    except (TypeError, ValueError) as exc:
        raise NotFound("No such revision.") from exc
    revision = PolicyRevision.objects.filter(policy=policy, number=value).first()
    if revision is None:
        raise NotFound(f"Policy '{policy.name}' has no revision {number}.")
    return revision


def revision_diff(*, policy: Policy, from_number: Any, to_number: Any) -> dict[str, Any]:
    before = revision_get(policy=policy, number=from_number)
    after = revision_get(policy=policy, number=to_number)
    return {"policy": str(policy.pk), "from": before.number, "to": after.number,
            **engine.diff_documents(before.document, after.document)}


# --- Compiled policies (cached per immutable revision) ---------------------------------------------

_CACHE_SIZE = 512
_compiled: OrderedDict[str, engine.CompiledPolicy] = OrderedDict()
_compiled_lock = threading.Lock()


def compiled_revision(revision: PolicyRevision) -> engine.CompiledPolicy:
    """The compiled form of a revision; revisions never change, so the result is cached by id.

    The key carries the schema too: the default policy's seeded revision is cloned from the
    template, so it has the same id in every organization.
    """
    key = f"{connection.schema_name}:{revision.pk}"
    with _compiled_lock:
        hit = _compiled.get(key)
        if hit is not None:
            _compiled.move_to_end(key)
            return hit
    compiled = engine.compile_policy(revision.document, policy_id=str(revision.policy_id),
                                     revision_id=str(revision.pk), revision_number=revision.number, validated=True)
    with _compiled_lock:
        _compiled[key] = compiled
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    return compiled


def active_policies() -> list[engine.CompiledPolicy]:
    """Enabled, live policies of the current schema, compiled, in priority order."""
    policies = (Policy.objects.filter(deleted_at__isnull=True, enabled=True, current_revision__isnull=False)
                .select_related("current_revision").order_by("priority", "name", "id"))
    return [compiled_revision(p.current_revision) for p in policies]  # type: ignore[arg-type]


# --- Waivers ---------------------------------------------------------------------------------------

def waiver_list(*, actor: Actor, filters: dict[str, Any] | None = None) -> QuerySet[Waiver]:
    qs = Waiver.objects.select_related("requested_by", "decided_by", "revoked_by")
    if not has_perm(actor, "policies.view_policies"):
        if not has_perm(actor, "policies.request_waiver"):
            raise PermissionDenied("You may not see waivers.")
        user = actor.signed_in_user
        qs = qs.filter(requested_by=user) if user is not None else qs.none()
    return qs.filter(**(filters or {})).order_by("-requested_at", "id")


def waiver_get(*, actor: Actor, waiver_id: Any) -> Waiver:
    pk = parse_uuid(waiver_id, "waiver")
    waiver = waiver_list(actor=actor).filter(pk=pk).first()
    if waiver is None:
        raise NotFound("No such waiver.")
    return waiver


def waiver_facts(waiver: Waiver) -> engine.WaiverFacts:
    version_range = None
    if waiver.version_range:
        version_range, _problem = engine.parse_range(waiver.version_range)
    return engine.WaiverFacts(id=str(waiver.pk), scope=waiver.scope, value=waiver.value,
                              package=waiver.package_name, ecosystem=waiver.ecosystem,
                              version_range=version_range, expires_at=waiver.expires_at)


def effective_waivers(*, now: datetime, packages: Iterable[tuple[str, str]] | None = None) -> list[engine.WaiverFacts]:
    """Approved waivers not past their expiry (optionally only for these (ecosystem, package key) pairs)."""
    qs = Waiver.objects.filter(state=Waiver.State.APPROVED, expires_at__gt=now)
    pairs: set[tuple[str, str]] | None = None
    if packages is not None:
        pairs = set(packages)
        if not pairs:
            return []
        # A superset by two IN lists (one index scan), narrowed to the exact pairs here.
        qs = qs.filter(package_key__in={key for _eco, key in pairs}, ecosystem__in={eco for eco, _key in pairs})
    return [waiver_facts(w) for w in qs.order_by("requested_at", "id")
            if pairs is None or (w.ecosystem, w.package_key) in pairs]


def finding_for_waiver(*, actor: Actor, finding_id: Any) -> Finding:
    """A finding the actor may see (through its scan), to prefill a waiver request."""
    pk = parse_uuid(finding_id, "finding")
    finding = Finding.objects.select_related("scan").filter(pk=pk).first()
    if finding is None:
        raise NotFound("No such finding.")
    scan_selectors.scan_get(actor=actor, scan_id=finding.scan_id)
    return finding


# --- Scan facts --------------------------------------------------------------------------------------

SCAN_COLUMNS = ("id", "ecosystem", "name", "submitted_name", "version", "submitted_version", "score", "verdict",
                "status", "submitted_by_id", "package_metadata__license", "finished_at", "target")
FINDING_COLUMNS = ("scan_id", "id", "check_id", "category", "severity", "status", "fingerprint", "title",
                   "evidence__advisory", "evidence__aliases", "evidence__cvss_score", "evidence__spdx",
                   "evidence__license_expression", "evidence__expression", "evidence__license")


@dataclass
class ScanRow:
    """The columns of a scan that evaluation needs (no model instance, no JSON blobs)."""

    id: str
    ecosystem: str
    name: str
    version: str
    score: int | None
    verdict: str | None
    status: str
    submitted_by_id: str | None
    license: str
    finished_at: datetime | None = None
    target: str = ""

    @classmethod
    def from_values(cls, row: dict[str, Any]) -> ScanRow:
        license_value = row.get("package_metadata__license")
        return cls(id=str(row["id"]), ecosystem=row["ecosystem"], name=row["name"] or row["submitted_name"] or "",
                   version=row["version"] or row["submitted_version"] or "", score=row["score"],
                   verdict=row["verdict"], status=row["status"],
                   submitted_by_id=str(row["submitted_by_id"]) if row["submitted_by_id"] else None,
                   license=license_value if isinstance(license_value, str) else "",
                   finished_at=row.get("finished_at"), target=row.get("target") or "")

    @classmethod
    def from_scan(cls, scan: Scan) -> ScanRow:
        meta = scan.package_metadata or {}
        license_value = meta.get("license") if isinstance(meta, dict) else None
        return cls(id=str(scan.pk), ecosystem=scan.ecosystem, name=scan.name or scan.submitted_name or "",
                   version=scan.version or scan.submitted_version or "", score=scan.score, verdict=scan.verdict,
                   status=scan.status, submitted_by_id=str(scan.submitted_by_id) if scan.submitted_by_id else None,
                   license=license_value if isinstance(license_value, str) else "", finished_at=scan.finished_at,
                   target=scan.target)

    @property
    def package_key(self) -> tuple[str, str]:
        return self.ecosystem, normalize_name(self.ecosystem, self.name) if self.name else ""


def scan_rows(scan_ids: Sequence[Any]) -> list[ScanRow]:
    rows = Scan.objects.filter(pk__in=list(scan_ids)).values(*SCAN_COLUMNS)
    by_id = {str(r["id"]): ScanRow.from_values(r) for r in rows}
    return [by_id[str(i)] for i in scan_ids if str(i) in by_id]


def scan_facts(rows: Sequence[ScanRow]) -> dict[str, engine.ScanFacts]:
    """Facts for many scans with one query over their failed/warning findings."""
    facts = {r.id: engine.ScanFacts(id=r.id, ecosystem=r.ecosystem, name=r.name, version=r.version, score=r.score,
                                    license=r.license) for r in rows}
    if not facts:
        return facts
    findings = (Finding.objects.filter(scan_id__in=list(facts), status__in=engine.ACTIVE_STATUSES)
                .order_by().values_list(*FINDING_COLUMNS))
    for (scan_id, fid, check_id, category, severity, status, fingerprint, title, advisory, aliases, cvss, spdx,
         license_expression, expression, license_text) in findings.iterator(chunk_size=5000):
        evidence = {"advisory": advisory, "aliases": aliases, "cvss_score": cvss, "spdx": spdx,
                    "license_expression": license_expression, "expression": expression, "license": license_text}
        facts[str(scan_id)].findings.append(engine.finding_facts(
            id=fid, check_id=check_id, category=category, severity=severity, status=status,
            fingerprint=fingerprint, evidence=evidence, title=title))
    return facts


# --- Evaluations ---------------------------------------------------------------------------------------

def evaluation_current(*, scan: Scan) -> list[Evaluation]:
    """The latest run's rows for a scan: one per policy that covered it, in priority order."""
    rows = list(Evaluation.objects.filter(scan=scan, is_current=True).select_related("revision", "policy"))
    return sorted(rows, key=lambda e: (e.policy.priority if e.policy else 0, e.policy_name, str(e.pk)))


def evaluation_history(*, scan: Scan, limit: int = 20) -> list[Evaluation]:
    return list(Evaluation.objects.filter(scan=scan).select_related("revision").order_by("-evaluated_at")[:limit])


def verdict_summary(*, scan: Scan, evaluations: Sequence[Evaluation] | None = None) -> dict[str, Any]:
    """The scan's verdict with its reasons, as the API, the gate and the dashboard show it."""
    evaluations = list(evaluations) if evaluations is not None else evaluation_current(scan=scan)
    policies = []
    for e in evaluations:
        policies.append({
            "policy_id": str(e.policy_id) if e.policy_id else None, "name": e.policy_name or None,
            "revision": e.revision.number if e.revision_id and e.revision else None, "mode": e.mode,
            "verdict": e.verdict, "reasons": e.reasons, "waived": e.waived,
            "evaluation_id": str(e.pk),
        })
    evaluated_at = max((e.evaluated_at for e in evaluations), default=None)
    return {"verdict": scan.verdict or "unknown", "evaluated_at": evaluated_at,
            "trigger": evaluations[0].trigger if evaluations else None, "policies": policies}


def findings_by_id(*, scan: Scan, ids: Iterable[str]) -> dict[str, Finding]:
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    return {str(f.pk): f for f in Finding.objects.filter(scan=scan, pk__in=wanted)
            .only("id", "check_id", "title", "severity", "category", "status", "fingerprint", "evidence")}


# --- Packages and the gate ---------------------------------------------------------------------------------

def _name_query(ecosystem: str, name: str) -> Q:
    """Scans whose name is `name` as the ecosystem compares names (PyPI: PEP 503)."""
    if ecosystem == "pypi":
        parts = [re.escape(p) for p in re.split(r"[-_.]+", name.strip()) if p]
        pattern = "^" + "[-_.]+".join(parts) + "$"
        return Q(name__iregex=pattern) | Q(name="", submitted_name__iregex=pattern)
    return Q(name__iexact=name.strip()) | Q(name="", submitted_name__iexact=name.strip())


def scans_of_package(*, ecosystem: str, name: str) -> QuerySet[Scan]:
    """Every scan of a package in the organization (not actor-scoped: used by the gate and re-evaluation)."""
    return Scan.objects.filter(_name_query(ecosystem, name), ecosystem=ecosystem)


GATE_CANDIDATES = 200


def gate_verdict(*, actor: Actor, ecosystem: str, name: str = "", version: str = "", sha256: str = ""
                 ) -> dict[str, Any]:
    """The current verdict of the latest completed scan of an artifact, or `unknown`.

    The artifact is (ecosystem, name, version) — versions compared with the ecosystem's
    rules, names as the ecosystem normalises them — or its SHA-256. Organization-wide:
    the gate answers for the organization, whoever submitted the scan.
    """
    require_perm(actor, "policies.view_policies", "You may not read verdicts.")
    base = Scan.objects.select_related("submitted_by")
    if sha256:
        candidates = list(base.filter(sha256=sha256.lower(), **({"ecosystem": ecosystem} if ecosystem else {}))
                          .order_by("-created_at")[:GATE_CANDIDATES])
    else:
        candidates = [s for s in base.filter(_name_query(ecosystem, name), ecosystem=ecosystem)
                      .order_by("-created_at")[:GATE_CANDIDATES]
                      if versions_equal(ecosystem, s.version or s.submitted_version, version)]
    completed = sorted((s for s in candidates if s.status == COMPLETED),
                       key=lambda s: (s.finished_at or s.created_at), reverse=True)
    in_progress = next((s for s in candidates if s.status in Scan.ACTIVE), None)
    answer: dict[str, Any] = {"ecosystem": ecosystem, "name": name, "version": version}
    if sha256:
        answer["sha256"] = sha256.lower()
    if in_progress is not None:
        answer["scan_in_progress"] = _scan_ref(in_progress)
    if not completed:
        return {"verdict": "unknown", **answer, "reason": "No completed scan of this artifact.", "scan": None,
                "reasons": [], "waived": [], "policies": [], "evaluated_at": None}
    scan = completed[0]
    summary = verdict_summary(scan=scan)
    reasons = [{"policy": p["name"], "policy_id": p["policy_id"], "revision": p["revision"], "mode": p["mode"],
                "rule": r["name"], "action": r["action"], "findings": r.get("count", len(r["finding_ids"])),
                "finding_ids": r["finding_ids"][:50], "detail": r.get("detail", "")}
               for p in summary["policies"] for r in p["reasons"]]
    waived = [w for p in summary["policies"] for w in p["waived"]]
    out = {**answer, "verdict": summary["verdict"], "scan": _scan_ref(scan), "evaluated_at": summary["evaluated_at"],
           "reasons": reasons, "waived": waived,
           "policies": [{k: p[k] for k in ("policy_id", "name", "revision", "mode", "verdict")}
                        for p in summary["policies"]]}
    if scan.verdict is None:
        out["reason"] = "The latest completed scan has no verdict (its policy step failed); re-evaluate it."
    return out


def _scan_ref(scan: Scan) -> dict[str, Any]:
    return {"id": str(scan.pk), "status": scan.status, "name": scan.name or scan.submitted_name,
            "version": scan.version or scan.submitted_version, "sha256": scan.sha256, "score": scan.score,
            "grade": scan.grade, "finished_at": scan.finished_at,
            "url": reverse("scanning-api:scan-detail", kwargs={"pk": scan.pk}),
            "dashboard_url": reverse("scanning:scan_detail", kwargs={"scan_id": scan.pk})}


# --- Waiting for a verdict ------------------------------------------------------------------------------------

POLL_FIRST = 0.05
POLL_MAX = 1.0


def _scan_for_wait(pk: uuid.UUID) -> Scan | None:
    return Scan.objects.select_related("submitted_by", "artifact", "connection").filter(pk=pk).first()


def wait_for_verdict(*, scan_id: Any, timeout_seconds: float) -> Scan | None:
    """Block until the scan reaches a terminal state or `timeout_seconds` pass; returns the scan as it is then.

    The scan is returned fresh from the database (None if it does not exist): check
    `scan.is_terminal` to know whether it finished in time, and `scan.verdict` for the
    verdict (None when it failed or has no verdict). The wait subscribes to the scan's
    verdict channel in Redis (`policies.notify`) and also re-reads the row with a
    backoff from 50 ms to 1 s, so a scan that fails (and announces nothing) or a lost
    message is noticed too. Not scoped to an actor: call it on a scan the caller has
    already resolved. The timeout is capped by POLICIES_MAX_WAIT_SECONDS.
    """
    pk = parse_uuid(scan_id, "scan")
    limit = max(0.0, min(float(timeout_seconds), float(settings.POLICIES_MAX_WAIT_SECONDS)))
    deadline = time.monotonic() + limit
    scan = _scan_for_wait(pk)
    if scan is None or scan.is_terminal or limit <= 0:
        return scan
    pubsub = None
    try:
        pubsub = notify.client().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(notify.channel(connection.schema_name, str(pk)))
    except redis.RedisError:
        pubsub = None
    delay = POLL_FIRST
    try:
        while True:
            # Read after subscribing, so a verdict announced in between is not missed.
            scan = _scan_for_wait(pk)
            if scan is None or scan.is_terminal:
                return scan
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return scan
            pause = min(delay, remaining)
            if pubsub is not None:
                try:
                    pubsub.get_message(timeout=pause)
                except redis.RedisError:
                    pubsub = None
                    time.sleep(pause)
            else:
                time.sleep(pause)
            delay = min(delay * 2, POLL_MAX)
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError:
                pass


# --- Simulation --------------------------------------------------------------------------------------------------

SIMULATION_CHUNK = 500


def simulate(*, actor: Actor, document: dict[str, Any], replaces: Any = None, limit: int = 100) -> dict[str, Any]:
    """Evaluate a draft policy (never saved) against the actor's last `limit` completed scans.

    The draft takes the place of the policy `replaces` (or joins the live policies when
    it is None); both the current and the simulated verdicts are computed now, so only
    the draft's effect is reported — not drift from waivers that expired since.
    """
    require_perm(actor, "policies.manage_policies", "You may not simulate policies.")
    normalised, errors = engine.validate(document)
    if errors:
        raise ValidationFailed("The draft policy is invalid; see details.", details=errors)
    maximum = int(settings.POLICIES_SIMULATION_MAX_SCANS)
    if not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValidationFailed(details={"scans": [f"Give a number of scans from 1 to {maximum}."]})
    replaced = policy_get(actor=actor, policy_id=replaces) if replaces else None
    draft = engine.compile_policy(normalised, policy_id=str(replaced.pk) if replaced else None, validated=True)
    current = active_policies()
    simulated = [p for p in current if replaced is None or p.policy_id != str(replaced.pk)]
    simulated.append(draft)
    simulated.sort(key=lambda p: (p.priority, p.name))
    now = timezone.now()
    scans = list(scan_selectors.scan_list(actor=actor).filter(status=COMPLETED)
                 .order_by("-finished_at", "-created_at").values_list("pk", flat=True)[:limit])
    before_counts = {v: 0 for v in engine.VERDICTS}
    after_counts = {v: 0 for v in engine.VERDICTS}
    changes: list[dict[str, Any]] = []
    draft_counts = {v: 0 for v in engine.VERDICTS}
    applied = 0
    for start in range(0, len(scans), SIMULATION_CHUNK):
        rows = scan_rows(scans[start:start + SIMULATION_CHUNK])
        facts = scan_facts(rows)
        waivers = effective_waivers(now=now, packages={r.package_key for r in rows})
        for row in rows:
            scan = facts[row.id]
            before, _ = engine.evaluate_all(current, scan, waivers, now)
            after, results = engine.evaluate_all(simulated, scan, waivers, now)
            before_counts[before] += 1
            after_counts[after] += 1
            draft_result = next((r for r in results if r.policy_id == draft.policy_id and r.revision_id is None),
                                None)
            if draft_result is not None:
                applied += 1
                draft_counts[draft_result.verdict] += 1
            if before != after:
                changes.append({
                    "scan_id": row.id, "ecosystem": row.ecosystem, "name": row.name, "version": row.version,
                    "before": before, "after": after, "stored_verdict": row.verdict,
                    "draft_verdict": draft_result.verdict if draft_result else None,
                    "draft_reasons": [r.as_dict(50) for r in draft_result.reasons][:20] if draft_result else [],
                    "url": reverse("scanning-api:scan-detail", kwargs={"pk": row.id}),
                    "dashboard_url": reverse("scanning:scan_detail", kwargs={"scan_id": row.id}),
                })
    return {"scans": len(scans), "changed": len(changes), "draft_applies_to": applied, "mode": draft.mode,
            "replaces": str(replaced.pk) if replaced else None, "before": before_counts, "after": after_counts,
            "draft_verdicts": draft_counts, "changes": changes}


# --- Recent scans for bulk re-evaluation ------------------------------------------------------------------------

def recent_completed_scan_ids(*, days: int, ecosystem: str = "", name: str = "") -> list[str]:
    since = timezone.now() - timedelta(days=days)
    qs = Scan.objects.filter(status=COMPLETED, finished_at__gte=since)
    if ecosystem and name:
        qs = qs.filter(_name_query(ecosystem, name), ecosystem=ecosystem)
    return [str(pk) for pk in qs.order_by("finished_at", "id").values_list("pk", flat=True)]
