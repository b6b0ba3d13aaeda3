"""Every read of the messaging app, and who may see which event.

`event_visible` is the one rule the WebSocket consumer, the recent-events API and
the home panel share (documented in docs/events.md):

- an event type's family may require a permission (`policy.*` needs
  `policies.view_policies`, `member.*` needs `accounts.view_members`...);
- a scan event — type `scan.*`, or any event whose data names a `scan_id` — is
  visible to members with `scanning.view_all_scans`, and otherwise only to the
  member named in `data.submitted_by`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from messaging.models import MqttCredential, OutboxEvent

VIEW_ALL_SCANS = "scanning.view_all_scans"
# Stands for every permission (a superuser), as Django's has_perm treats them.
ALL_PERMISSIONS = "*"

# Longest matching prefix wins; families not listed need no permission beyond membership.
TYPE_PERMISSIONS: dict[str, str] = {
    "policy.": "policies.view_policies",
    "waiver.": "policies.view_policies",
    "member.": "accounts.view_members",
    "audit.": "audit.view_audit",
    "mqtt_credential.": "messaging.manage_mqtt_credentials",
    "report.": "scanning.generate_reports",
}


def required_permission(event_type: str) -> str | None:
    matches = [prefix for prefix in TYPE_PERMISSIONS if event_type.startswith(prefix)]
    return TYPE_PERMISSIONS[max(matches, key=len)] if matches else None


def is_scan_event(event_type: str, data: dict[str, Any]) -> bool:
    return event_type.startswith("scan.") or bool(data.get("scan_id"))


def event_visible(envelope: dict[str, Any], *, permissions: Iterable[str] | frozenset[str], user_id: str,
                  own_scans: Iterable[str] = ()) -> bool:
    """Whether a member with these permissions may receive this event.

    `own_scans`: scan ids already known to be the member's own (learned from an
    earlier event), so a progress tick without `submitted_by` still reaches them.
    """
    perms = permissions if isinstance(permissions, frozenset | set) else frozenset(permissions)
    if ALL_PERMISSIONS in perms:
        return True
    event_type = str(envelope.get("type") or "")
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    needed = required_permission(event_type)
    if needed and needed not in perms:
        return False
    if is_scan_event(event_type, data) and VIEW_ALL_SCANS not in perms:
        if str(data.get("submitted_by") or "") == user_id and user_id:
            return True
        return str(data.get("scan_id") or "") in set(own_scans)
    if event_type.startswith("report.") and VIEW_ALL_SCANS not in perms:
        # Like scans: a member who sees only their own scans sees only the reports they asked for.
        return bool(user_id) and str(data.get("requested_by") or "") == user_id
    return True


def events_recent(*, permissions: frozenset[str], user_id: str, limit: int = 50,
                  scan_id: str | None = None, window: int = 1000) -> list[dict[str, Any]]:
    """The latest events of the current organization this member may see, newest first.

    Reads the outbox (kept `OUTBOX_RETENTION_DAYS` after sending); used to fill the
    live stream on first display and after a reconnect.
    """
    limit = max(1, min(limit, 200))
    rows: QuerySet[OutboxEvent] = OutboxEvent.objects.order_by("-seq")
    if scan_id:
        rows = rows.filter(envelope__data__scan_id=str(scan_id))
    out: list[dict[str, Any]] = []
    for envelope in rows.values_list("envelope", flat=True)[:window]:
        if event_visible(envelope, permissions=permissions, user_id=user_id):
            out.append(envelope)
            if len(out) >= limit:
                break
    return out


def user_permissions(user: Any) -> frozenset[str]:
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset({ALL_PERMISSIONS})
    return frozenset(user.get_all_permissions())


def mqtt_credential_list(*, include_revoked: bool = True) -> QuerySet[MqttCredential]:
    """The current organization's credentials (the caller is in its schema), newest first."""
    rows = MqttCredential.objects.all()
    if not include_revoked:
        rows = rows.filter(revoked_at__isnull=True)
    return rows.order_by("-created_at")


def mqtt_credential_get(*, credential_id: Any) -> MqttCredential | None:
    return MqttCredential.objects.filter(pk=credential_id).first()
