"""Messaging tables, in each organization's schema.

- `OutboxEvent`: domain events committed with the change that caused them; the
  relay publishes them in `seq` order and stamps `sent_at` on PUBACK.
- `MqttCredential`: an integrator's broker account (username + password) bound
  to the organization's role (`org-<slug>`: read `org/<slug>/#`, publish only
  `org/<slug>/feeds/#`). The password is shown once; it is kept encrypted
  (Fernet) only so that the broker's accounts can be rebuilt by `mqtt_setup`.
- `MqttSyncState`: whether the broker still has to be brought in line with this
  organization (a step that could not reach it is recorded here and reconciled).
"""

from __future__ import annotations

import uuid

from django.db import models


class OutboxEvent(models.Model):
    # Commit-order key: the relay publishes each organization's events in this order.
    seq = models.BigAutoField(primary_key=True)
    # The CloudEvents `id`: consumers de-duplicate on it.
    id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    topic = models.CharField(max_length=255)
    envelope = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["seq"], condition=models.Q(sent_at__isnull=True), name="messaging_outbox_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class MqttCredential(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'CI mirror' or 'SIEM'.")
    username = models.CharField(max_length=150, unique=True)
    # Fernet token of the password (see messaging.crypto); never shown after creation.
    password_encrypted = models.TextField()
    created_by_id = models.CharField(max_length=64, blank=True)
    created_by_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_email = models.EmailField(blank=True)
    # False until the broker reflects this row (account present and enabled, or removed once revoked).
    broker_synced = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        default_permissions = ()
        permissions = [
            ("manage_mqtt_credentials", "Create, list and revoke integrator MQTT credentials"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.username})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MqttSyncState(models.Model):
    """One row per organization schema (pk 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    needs_sync = models.BooleanField(default=False)
    last_error = models.CharField(max_length=500, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return "needs sync" if self.needs_sync else "in sync"
