"""The shared advisory database (public schema only; every organization reads it, none writes it)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class Advisory(models.Model):
    class Severity(models.TextChoices):
        CRITICAL = "critical"
        HIGH = "high"
        MEDIUM = "medium"
        LOW = "low"
        INFO = "info"

    osv_id = models.CharField("id", max_length=100, unique=True, help_text="OSV id: GHSA-..., PYSEC-..., DSA-...")
    aliases = ArrayField(models.CharField(max_length=100), default=list, blank=True,
                         help_text="Other ids of the same vulnerability, such as CVE ids.")
    summary = models.CharField(max_length=1000, blank=True)
    details = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    severity_source = models.CharField(
        max_length=20, blank=True,
        help_text="cvss_v3 / cvss_v2 (computed from the vector), database (the advisory's own rating) or default.")
    cvss_vector = models.CharField(max_length=200, blank=True)
    cvss_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    references = models.JSONField(default=list, blank=True)
    published = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField()
    withdrawn = models.DateTimeField(null=True, blank=True)
    schema_version = models.CharField(max_length=20, blank=True)
    source = models.CharField(max_length=500, blank=True, help_text="Where it was imported from.")
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-modified",)
        verbose_name_plural = "advisories"
        indexes = [
            GinIndex(fields=["aliases"], name="advisory_aliases_gin"),
            models.Index(fields=["-modified"], name="advisory_modified_idx"),
            models.Index(fields=["severity"], name="advisory_severity_idx"),
        ]

    def __str__(self) -> str:
        return self.osv_id


class AffectedPackage(models.Model):
    """One `affected[]` entry of an advisory: a package in an ecosystem, its ranges and versions."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    osv_ecosystem = models.CharField(max_length=100, help_text='As written in OSV: "PyPI", "Debian:12", "Alpine:v3.19".')
    ecosystem = models.CharField(max_length=20, blank=True,
                                 help_text="Gatehouse ecosystem (pypi, npm, debian, rpm, alpine); empty for others.")
    name = models.CharField(max_length=255)
    normalized_name = models.CharField(max_length=255)
    purl = models.CharField(max_length=500, blank=True)
    ranges = models.JSONField(default=list, blank=True)
    versions = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    fixed = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    severity = models.CharField(max_length=10, blank=True, help_text="The ecosystem's own rating, when it has one.")

    class Meta:
        indexes = [models.Index(fields=["ecosystem", "normalized_name"], name="affected_eco_name_idx")]
        verbose_name_plural = "affected packages"

    def __str__(self) -> str:
        return f"{self.osv_ecosystem}/{self.name}"
