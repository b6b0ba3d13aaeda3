"""Policies, their immutable revisions, evaluations of scans, and waivers (tenant schema).

- `Policy` holds the current document (name, mode, scope, ordered rules) and points at
  its `current_revision`. A deleted policy is kept (soft delete) so the evaluations
  that used it stay explainable.
- `PolicyRevision` is a full copy of the document at one change; a database trigger
  refuses UPDATE and DELETE on the table (migration 0001), so history cannot be
  rewritten, not even by code that bypasses the services.
- `Evaluation` is one policy's verdict on one scan; the rows written together for a
  scan share a `run`, and the latest run is flagged `is_current`.
- `Waiver` exempts matching findings of one package from the rules until it expires.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from scanning.models import ECOSYSTEM_CHOICES, Scan


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    WARN = "warn", "Warn"
    BLOCK = "block", "Block"


class Mode(models.TextChoices):
    ENFORCE = "enforce", "Enforce"
    MONITOR = "monitor", "Monitor (record only)"


class Policy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.ENFORCE)
    # Lower runs first; also the order in which verdicts and reasons are listed.
    priority = models.PositiveIntegerField(default=100)
    # Scope: empty lists mean every ecosystem / every package.
    ecosystems = models.JSONField(default=list, blank=True)
    package_patterns = models.JSONField(default=list, blank=True)
    rules = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    current_revision = models.ForeignKey("PolicyRevision", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), condition=models.Q(deleted_at__isnull=True),
                                    name="policy_name_unique_live"),
            models.CheckConstraint(condition=models.Q(mode__in=["enforce", "monitor"]), name="policy_mode_valid"),
        ]
        indexes = [models.Index(fields=["enabled", "priority"], name="policy_enabled_priority")]
        permissions = [
            ("view_policies", "Read policies, revisions and verdicts"),
            ("manage_policies", "Create, change, simulate and delete policies; re-evaluate scans"),
            ("request_waiver", "Request a waiver for a finding"),
            ("approve_waivers", "Approve, reject and revoke waivers requested by others"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def revision_number(self) -> int:
        return self.current_revision.number if self.current_revision_id and self.current_revision else 0

    def document(self) -> dict[str, Any]:
        """The policy as the engine, the API and the revisions see it."""
        return {
            "name": self.name, "description": self.description, "enabled": self.enabled, "mode": self.mode,
            "priority": self.priority,
            "scope": {"ecosystems": list(self.ecosystems or []), "packages": list(self.package_patterns or [])},
            "rules": list(self.rules or []),
        }


class PolicyRevision(models.Model):
    class Change(models.TextChoices):
        SEEDED = "seeded", "Seeded at provisioning"
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    # The whole policy document at this revision (plus "deleted": true for a deletion).
    document = models.JSONField()
    change = models.CharField(max_length=8, choices=Change.choices)
    summary = models.CharField(max_length=300, blank=True)
    # A snapshot of who made the change (no foreign key: revisions are never updated).
    author_type = models.CharField(max_length=16)
    author_id = models.CharField(max_length=64, blank=True)
    author_email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policy_revision_number_unique")]

    def __str__(self) -> str:
        return f"{self.policy_id} r{self.number}"

    @property
    def author_label(self) -> str:
        return self.author_email or (f"{self.author_type}:{self.author_id}" if self.author_id else self.author_type)


class Evaluation(models.Model):
    class Trigger(models.TextChoices):
        SCAN_COMPLETED = "scan_completed", "Scan completed"
        MANUAL = "manual", "Re-evaluated on request"
        POLICY_CHANGED = "policy_changed", "A policy changed"
        WAIVER_CHANGED = "waiver_changed", "A waiver changed"
        WAIVER_EXPIRED = "waiver_expired", "A waiver expired"
        BULK = "bulk", "Bulk re-evaluation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The rows written for one scan at one time share a run id.
    run = models.UUIDField(db_index=True)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="policy_evaluations")
    # Null when no enabled policy covered the scan (the run's verdict is then `pass`).
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations")
    revision = models.ForeignKey(PolicyRevision, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="evaluations")
    policy_name = models.CharField(max_length=100, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.ENFORCE)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    # The scan's verdict from this run (the strictest enforce-mode verdict).
    scan_verdict = models.CharField(max_length=8, choices=Verdict.choices)
    previous_verdict = models.CharField(max_length=8, blank=True)
    # [{"rule", "name", "action", "finding_ids", "detail"}], in rule order.
    reasons = models.JSONField(default=list, blank=True)
    # [{"finding_id", "waiver_id", "check_id", "rules"}]: findings a waiver set apart.
    waived = models.JSONField(default=list, blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    actor = models.CharField(max_length=300, blank=True)
    is_current = models.BooleanField(default=True)
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-evaluated_at"]
        indexes = [
            models.Index(fields=["scan"], condition=models.Q(is_current=True), name="evaluation_current_scan"),
            models.Index(fields=["scan", "-evaluated_at"], name="evaluation_scan_time"),
            models.Index(fields=["revision"], name="evaluation_revision"),
        ]

    def __str__(self) -> str:
        return f"{self.scan_id}: {self.policy_name or 'no policy'} -> {self.verdict}"


class Waiver(models.Model):
    class Scope(models.TextChoices):
        CHECK = "check", "Check id"
        VULNERABILITY = "vulnerability", "Vulnerability id or alias"
        FINGERPRINT = "fingerprint", "Finding fingerprint"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    value = models.CharField(max_length=128)
    ecosystem = models.CharField(max_length=16, choices=ECOSYSTEM_CHOICES)
    package_name = models.CharField(max_length=214)
    # The name as the ecosystem compares it (PyPI: PEP 503), for lookups.
    package_key = models.CharField(max_length=214)
    version_range = models.CharField(max_length=400, blank=True)
    reason = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_by_email = models.CharField(max_length=254, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    # Where the request came from, when it was made from a finding (kept as plain ids:
    # scans and findings may be deleted while the waiver lives on).
    source_scan_id = models.UUIDField(null=True, blank=True)
    source_finding_id = models.UUIDField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="waiver_state_expiry"),
            models.Index(fields=["ecosystem", "package_key", "state"], name="waiver_package_state"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=["pending", "approved", "rejected", "revoked",
                                                                 "expired"]), name="waiver_state_valid"),
            models.CheckConstraint(condition=models.Q(scope__in=["check", "vulnerability", "fingerprint"]),
                                   name="waiver_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}={self.value} for {self.ecosystem}:{self.package_name} [{self.state}]"

    def is_effective(self, now: Any = None) -> bool:
        """Approved and not past its expiry (an expiry not yet swept by the beat task counts as expired)."""
        return self.state == self.State.APPROVED and self.expires_at > (now or timezone.now())

    @property
    def display_state(self) -> str:
        if self.state in (self.State.APPROVED, self.State.PENDING) and self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.state
