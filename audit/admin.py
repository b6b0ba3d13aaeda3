"""Staff admin: the platform's own audit trail (read-only), and the admin's changes recorded in it.

The admin runs on the platform host, in the public schema, so the events shown and
recorded here are staff actions. Organizations' trails stay in their schemas and are
read through their own API and dashboard.

Every change made through the admin is recorded: additions, changes and single
deletions through Django's change log (LogEntry), and bulk deletions through the
site-wide "delete selected" action, replaced here by one that records each object.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models import QuerySet
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponse

from audit.context import Actor
from audit.models import AuditEvent
from audit.services import audit_record

_ACTIONS = {ADDITION: "create", CHANGE: "update", DELETION: "delete"}
_bulk_delete_in_progress: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_bulk_delete", default=False)


def _changed_fields(change_message: str) -> dict[str, dict[str, Any]]:
    """The admin's change message names the changed fields (not their values): record that much."""
    try:
        parts = json.loads(change_message or "[]")
    except ValueError:
        return {}
    changes: dict[str, dict[str, Any]] = {}
    for part in parts if isinstance(parts, list) else []:
        for fields in (part.get("changed", {}) or {}).get("fields", []) if isinstance(part, dict) else []:
            changes[str(fields)] = {"changed": True}
    return changes


def _staff_actor(user: Any) -> Actor:
    return Actor.for_user(user, staff=True)


def record_log_entry(sender: Any, instance: LogEntry, created: bool, **_: Any) -> None:
    """post_save of LogEntry: the admin saved a change log line; record it in the audit trail."""
    if not created or _bulk_delete_in_progress.get():
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    resource_type = model._meta.label_lower if model is not None else "unknown"
    action = _ACTIONS.get(instance.action_flag, "change")
    audit_record(
        actor=_staff_actor(instance.user),
        action=f"admin.{action}",
        resource_type=resource_type,
        resource_id=instance.object_id,
        changes=_changed_fields(instance.change_message) if instance.action_flag == CHANGE else {},
        metadata={"object": instance.object_repr, "message": instance.get_change_message()},
    )


post_save.connect(record_log_entry, sender=LogEntry, dispatch_uid="audit.admin.log_entry")


def audited_delete_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """Django's "delete selected", recording one audit event per deleted object."""
    confirmed = bool(request.POST.get("post"))
    targets = [(str(obj.pk), str(obj)[:200]) for obj in queryset] if confirmed else []
    token = _bulk_delete_in_progress.set(True)
    try:
        response: HttpResponse | None = delete_selected(modeladmin, request, queryset)
    finally:
        _bulk_delete_in_progress.reset(token)
    if confirmed and response is None:  # None: deleted, the admin redirects to the list
        actor = _staff_actor(request.user)
        for pk, label in targets:
            audit_record(actor=actor, action="admin.delete", resource_type=modeladmin.model._meta.label_lower,
                         resource_id=pk, metadata={"object": label, "message": "Deleted (bulk action)."})
    return response


audited_delete_selected.short_description = delete_selected.short_description  # type: ignore[attr-defined]
audited_delete_selected.allowed_permissions = ("delete",)  # type: ignore[attr-defined]
admin.site.add_action(audited_delete_selected, "delete_selected")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "sequence", "actor_display", "action", "resource_type", "resource_id", "outcome")
    list_filter = ("outcome", "actor_type", "action", "occurred_at")
    search_fields = ("action", "actor_email", "actor_id", "resource_type", "resource_id", "request_id")
    date_hierarchy = "occurred_at"
    ordering = ("-sequence",)
    list_per_page = 100
    show_full_result_count = False
    fields = ("id", "sequence", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "resource_type",
              "resource_id", "changes", "outcome", "reason", "ip", "user_agent", "request_id", "metadata",
              "prev_hash", "hash")
    readonly_fields = fields

    @admin.display(description="Actor")
    def actor_display(self, obj: AuditEvent) -> str:
        return obj.actor_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
