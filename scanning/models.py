"""Scans of package artifacts, their findings and scores, and registry connections (tenant schema)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from scanning.analyzers.base import Category, Ecosystem, Severity, Status

ECOSYSTEM_CHOICES = [(e.value, e.value) for e in Ecosystem]


class Artifact(models.Model):
    """A package file, stored once per organization and recognised by its SHA-256."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    filename = models.CharField(max_length=255)
    ecosystem = models.CharField(max_length=16, choices=ECOSYSTEM_CHOICES)
    format = models.CharField(max_length=16)
    # Relative to DATA_ROOT/<schema>/.
    storage_path = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]})"


class Connection(models.Model):
    """A package registry or repository the organization fetches referenced artifacts from."""

    class Kind(models.TextChoices):
        PYPI = "pypi", "PyPI (JSON API)"
        PYPI_SIMPLE = "pypi_simple", "PyPI (simple index)"
        NPM = "npm", "npm registry"
        DEBIAN = "debian", "Debian repository"
        RPM = "rpm", "RPM repository (repodata)"
        ALPINE = "alpine", "Alpine repository"

    class AuthType(models.TextChoices):
        NONE = "none", "No authentication"
        BASIC = "basic", "Username and password"
        TOKEN = "token", "Bearer token"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    base_url = models.URLField(max_length=500)
    auth_type = models.CharField(max_length=8, choices=AuthType.choices, default=AuthType.NONE)
    username = models.CharField(max_length=200, blank=True)
    # Password or token, encrypted with MultiFernet (settings.FERNET_KEYS); never returned by the API.
    secret_encrypted = models.TextField(blank=True)
    # Debian: {"suite", "component", "arch"}; Alpine: {"arch"}; RPM: {"arch"}.
    options = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    timeout_seconds = models.PositiveIntegerField(default=30)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(is_default=True),
                                    name="scanning_connection_one_default_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def ecosystem(self) -> str:
        return "pypi" if self.kind in (self.Kind.PYPI, self.Kind.PYPI_SIMPLE) else self.kind

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class Scan(models.Model):
    class StatusChoices(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        FETCH = "fetch", "Fetching"
        VERIFY = "verify", "Verifying"
        EXTRACT = "extract", "Extracting"
        ANALYZE = "analyze", "Analyzing"
        SCORE = "score", "Scoring"
        VERDICT = "verdict", "Evaluating policy"
        COMPLETE = "complete", "Complete"

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        REFERENCE = "reference", "Registry reference"

    class Verdict(models.TextChoices):
        PASS = "pass", "Pass"
        WARN = "warn", "Warn"
        BLOCK = "block", "Block"

    TERMINAL = (StatusChoices.COMPLETED, StatusChoices.FAILED, StatusChoices.CANCELLED)
    ACTIVE = (StatusChoices.PENDING, StatusChoices.QUEUED, StatusChoices.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=16, choices=Source.choices)
    # What was asked for, for display: "pypi:requests==2.31.0" or the uploaded file name.
    target = models.CharField(max_length=300)
    ecosystem = models.CharField(max_length=16, choices=ECOSYSTEM_CHOICES)
    name = models.CharField(max_length=214, blank=True)
    version = models.CharField(max_length=128, blank=True)
    # The name/version as submitted (may be empty for uploads); name/version above are filled from metadata.
    submitted_name = models.CharField(max_length=214, blank=True)
    submitted_version = models.CharField(max_length=128, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    artifact = models.ForeignKey(Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="scans")
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="scans")
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    size = models.BigIntegerField(null=True, blank=True)
    # The same artifact was scanned before: the latest earlier scan of it.
    previous_scan = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=StatusChoices.choices, default=StatusChoices.PENDING)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SUBMITTED)
    progress = models.PositiveSmallIntegerField(default=0)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="scans")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    grade = models.CharField(max_length=1, blank=True)
    # Filled by the policies app's verdict hook; null until a policy has been evaluated.
    verdict = models.CharField(max_length=8, choices=Verdict.choices, null=True, blank=True)  # noqa: DJ001
    # Failed/warning findings per severity, so lists need no extra query.
    finding_counts = models.JSONField(default=dict, blank=True)
    # Parsed package metadata (summary, licence, dependencies...), for display and reports.
    package_metadata = models.JSONField(default=dict, blank=True)
    # Expected digests published by the registry: {"sha256": ..., "sha512": ..., "sha1": ...}.
    expected_digests = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    idempotency_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="scan_status_created"),
            models.Index(fields=["ecosystem", "name"], name="scan_ecosystem_name"),
            models.Index(fields=["name"], name="scan_name"),
            models.Index(fields=["verdict"], name="scan_verdict"),
            models.Index(fields=["submitted_by", "-created_at"], name="scan_submitter_created"),
            models.Index(fields=["-created_at"], name="scan_created"),
            models.Index(fields=["status", "started_at"], name="scan_status_started"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["submitted_by", "idempotency_key"],
                                    condition=~models.Q(idempotency_key=""), name="scan_idempotency_key_per_user"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="scan_progress_max_100"),
        ]
        permissions = [
            ("submit_scan", "Submit, cancel and re-run their own scans"),
            ("view_all_scans", "See every scan of the organization, not only their own"),
            ("manage_scans", "Cancel, re-run and delete any scan"),
            ("download_artifact", "Download the artifacts of scans they can see"),
            ("manage_connections", "Configure registry connections and their credentials"),
            ("generate_reports", "Generate and download reports for scans they can see"),
            ("manage_report_templates", "Create and change report templates and schedules"),
        ]

    def __str__(self) -> str:
        return f"{self.target} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def display_name(self) -> str:
        if self.name:
            return f"{self.name} {self.version}".strip()
        return self.target


class Finding(models.Model):
    SEVERITY_CHOICES = [(s.value, s.value) for s in Severity]
    STATUS_CHOICES = [(s.value, s.value) for s in Status]
    CATEGORY_CHOICES = [(c.value, c.value) for c in Category]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    check_id = models.CharField(max_length=32)
    title = models.CharField(max_length=300)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    detail = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    file_path = models.CharField(max_length=1024, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    weight = models.PositiveSmallIntegerField(default=0)
    # Points this row keeps out of `weight` (docs/scoring.md).
    score = models.FloatField(default=0)
    # sha256(check id, file path, key): stable across scans, for de-duplication and waivers.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scan", "check_id", "file_path"]
        indexes = [
            models.Index(fields=["scan", "status"], name="finding_scan_status"),
            models.Index(fields=["scan", "severity"], name="finding_scan_severity"),
            models.Index(fields=["scan", "category"], name="finding_scan_category"),
            models.Index(fields=["scan", "check_id"], name="finding_scan_check"),
            models.Index(fields=["fingerprint"], name="finding_fingerprint"),
            models.Index(fields=["check_id", "status"], name="finding_check_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["scan", "fingerprint"], name="finding_unique_per_scan"),
        ]

    def __str__(self) -> str:
        return f"{self.check_id} {self.status} ({self.severity})"


class CategoryScore(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="category_scores")
    category = models.CharField(max_length=32, choices=Finding.CATEGORY_CHOICES)
    score = models.PositiveSmallIntegerField()
    max_score = models.PositiveSmallIntegerField(default=100)
    weight = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["category"]
        constraints = [models.UniqueConstraint(fields=["scan", "category"], name="category_score_unique")]

    def __str__(self) -> str:
        return f"{self.category}: {self.score}/{self.max_score}"
