"""Report templates, generated reports and report schedules (tenant schema).

Files (logos, generated reports) live under DATA_ROOT/<schema>/ and are named by the
paths stored here, relative to that directory; they are only ever served through
authenticated, permission-checked and audited views.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from scanning.models import ECOSYSTEM_CHOICES, Scan


class Section(models.TextChoices):
    """The parts a report can contain, in the order they are printed."""

    EXECUTIVE_SUMMARY = "executive_summary", "Executive summary"
    SCORES = "scores", "Scores by category"
    POLICY = "policy", "Policy verdict and waivers"
    VULNERABILITIES = "vulnerabilities", "Known vulnerabilities"
    MALICIOUS = "malicious", "Malicious code and install hooks"
    SECRETS = "secrets", "Exposed secrets"
    LICENSES = "licenses", "Licenses"
    OTHER = "other", "Typosquatting, metadata and integrity"
    REMEDIATION = "remediation", "Remediation plan"
    APPENDIX = "appendix", "Appendix: checks"


SECTION_ORDER = [s.value for s in Section]
DEFAULT_ACCENT = "#1d4ed8"


class Format(models.TextChoices):
    PDF = "pdf", "PDF"
    HTML = "html", "HTML"
    JSON = "json", "JSON"
    SARIF = "sarif", "SARIF 2.1.0"
    CSV = "csv", "CSV of findings"


class ReportTemplate(models.Model):
    """How reports look: logo, accent colour, sections, extra CSS (sanitised)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    title = models.CharField(max_length=120, default="Security report")
    footer_text = models.CharField(max_length=200, blank=True)
    accent_color = models.CharField(max_length=7, default=DEFAULT_ACCENT)
    sections = models.JSONField(default=list)
    # Stored as sent (after validation); sanitised again every time it is rendered.
    custom_css = models.TextField(blank=True)
    # Relative to DATA_ROOT/<schema>/; the image re-encoded by Pillow (PNG or JPEG), never SVG.
    logo_path = models.CharField(max_length=255, blank=True)
    logo_content_type = models.CharField(max_length=32, blank=True)
    logo_sha256 = models.CharField(max_length=64, blank=True)
    logo_width = models.PositiveIntegerField(null=True, blank=True)
    logo_height = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="report_template_name_unique"),
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True),
                                    name="report_template_one_default"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_logo(self) -> bool:
        return bool(self.logo_path)


class ReportSchedule(models.Model):
    """A posture report generated every week or month and emailed to its recipients."""

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    # Weekly: 0 = Monday ... 6 = Sunday. Monthly: day 1-28. Both at `hour` UTC.
    weekday = models.PositiveSmallIntegerField(default=0)
    day_of_month = models.PositiveSmallIntegerField(default=1)
    hour = models.PositiveSmallIntegerField(default=6)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.PDF)
    template = models.ForeignKey(ReportTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="schedules")
    recipients = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="report_schedule_due")]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="report_schedule_name_unique"),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="report_schedule_weekday"),
            models.CheckConstraint(condition=models.Q(day_of_month__gte=1, day_of_month__lte=28),
                                   name="report_schedule_day"),
            models.CheckConstraint(condition=models.Q(hour__lte=23), name="report_schedule_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.frequency})"


class Report(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        GENERATING = "generating", "Generating"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Scope(models.TextChoices):
        SCAN = "scan", "One scan"
        PERIOD = "period", "Every scan in a period"
        PACKAGE = "package", "Every version of a package"

    TERMINAL = (Status.COMPLETED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    scan = models.ForeignKey(Scan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ecosystem = models.CharField(max_length=16, choices=ECOSYSTEM_CHOICES, blank=True)
    package_name = models.CharField(max_length=214, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices)
    template = models.ForeignKey(ReportTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reports")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=32, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # Whether the requester could see every scan: a period report of a member who may see
    # only their own scans covers only those.
    all_scans = models.BooleanField(default=False)
    schedule = models.ForeignKey(ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reports")
    # Relative to DATA_ROOT/<schema>/.
    file_path = models.CharField(max_length=255, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # Score, grade, verdict, counts: what lists show without opening the file.
    summary = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="report_created"),
            models.Index(fields=["requested_by", "-created_at"], name="report_requester_created"),
            models.Index(fields=["scan"], name="report_scan"),
            models.Index(fields=["status"], name="report_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="report_progress_max_100"),
        ]

    def __str__(self) -> str:
        return f"{self.title} [{self.format}, {self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def filename(self) -> str:
        """The name a download is saved under: gatehouse-report-<what>-<date>.<ext>."""
        from scanning.reports.rendering import EXTENSIONS

        stem = self.summary.get("slug") if isinstance(self.summary, dict) else ""
        date = (self.finished_at or self.created_at).strftime("%Y%m%d") if (self.finished_at or self.created_at) \
            else "report"
        return f"gatehouse-report-{stem or self.scope}-{date}.{EXTENSIONS[self.format]}"
