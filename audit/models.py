"""The audit trail: one append-only table in each schema (staff actions in public).

Rows are written only by `audit.services.audit_record`; a PostgreSQL trigger
(`public.gatehouse_audit_guard`, see migration 0002) refuses every UPDATE, DELETE and
TRUNCATE except the retention purge, and each row carries a hash chained to the row
before it (`audit.integrity`).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    class ActorType(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        STAFF = "staff", "Platform staff"
        SYSTEM = "system", "Gatehouse"
        ANONYMOUS = "anonymous", "Anonymous"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Position in this schema's hash chain: 1, 2, 3... (gap-free until a retention purge).
    sequence = models.BigIntegerField(editable=False)
    # Taken from the database clock once the chain lock is held, so it grows with `sequence`.
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    reason = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-sequence"]
        permissions = [("view_audit", "Can view and export the audit trail")]
        indexes = [
            models.Index(fields=["resource_type", "resource_id"]),
            models.Index(fields=["actor_type", "actor_id"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["sequence"], name="audit_event_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_email or self.actor_type} {self.action}"

    @property
    def actor_display(self) -> str:
        if self.actor_email:
            return self.actor_email
        if self.actor_type == self.ActorType.SYSTEM:
            return f"Gatehouse ({self.actor_id})" if self.actor_id else "Gatehouse"
        return self.get_actor_type_display()
