"""The one way to write to the audit trail.

Every service that changes something calls `audit_record` inside its own
transaction, so the event is committed with the change or not at all.

Writers of one schema are serialized by a transaction-level advisory lock, held until
the caller's transaction ends: each event names the hash of the one before it, so
two events must never be chained to the same predecessor. Call `audit_record` as late
in a service's transaction as is convenient; the lock is per schema, so organizations
never wait for each other.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from audit.context import Actor
from audit.integrity import HASHED_FIELDS, PURGE_ACTION, event_hash
from audit.models import AuditEvent
from config.errors import ServiceUnavailable
from config.logging import redact

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(key1, key2): key1 marks Gatehouse's audit chain, key2 the schema.
CHAIN_LOCK_CLASS = 0x61756474  # "audt"
PURGE_SETTING = "gatehouse.audit_purge"


class _Encoder(DjangoJSONEncoder):
    """Datetimes, decimals and UUIDs as DjangoJSONEncoder writes them; anything else as text."""

    def default(self, o: Any) -> Any:
        if isinstance(o, set | frozenset):
            return sorted(o, key=str)
        if isinstance(o, bytes):
            return f"<{len(o)} bytes>"
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _scrub(value: Any) -> Any:
    """What JSON in PostgreSQL cannot hold: NaN and infinities, NUL characters."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _to_json(value: dict[str, Any] | None) -> str:
    return json.dumps(_scrub(json.loads(json.dumps(redact(value or {}), cls=_Encoder))))


def _text(value: Any, limit: int) -> str:
    return ("" if value is None else str(value)).replace("\x00", "")[:limit]


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _chain_table() -> str:
    return connection.ops.quote_name(AuditEvent._meta.db_table)


def _lock_chain(cursor: Any, *json_documents: str) -> tuple[Any, ...]:
    """Take this schema's chain lock (until the transaction ends): (database clock once held, *documents).

    Each JSON document comes back as jsonb prints it, in the same round trip. The wait is
    bounded by AUDIT_CHAIN_LOCK_WAIT_MS: a transaction left open while holding the lock
    makes other writers fail clearly (503, nothing changed) instead of hanging. Must run
    inside transaction.atomic(), which the error rolls back.
    """
    wait_ms = int(getattr(settings, "AUDIT_CHAIN_LOCK_WAIT_MS", 30_000))
    casts = "".join(", %s::jsonb::text" for _ in json_documents)
    try:
        cursor.execute(f"SELECT public.gatehouse_audit_lock(%s, %s){casts}", [CHAIN_LOCK_CLASS, wait_ms,
                                                                               *json_documents])
        return tuple(cursor.fetchone())
    except OperationalError as exc:
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) != "55P03":  # lock_not_available
            raise
        logger.error("audit chain lock not obtained", extra={"schema": connection.schema_name, "wait_ms": wait_ms})
        raise ServiceUnavailable(
            "The audit trail is held by another transaction; the change was not made. Retry in a moment.",
            code="audit_busy", headers={"Retry-After": "5"}) from exc


def audit_record(
    *,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    changes: dict[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that `actor` did `action` (e.g. `scan.create`) to a resource, in the current schema.

    `changes` is `{"field": {"before": x, "after": y}}` (or `{"field": {"after": y}}` on
    create); secret-looking fields are redacted before they are stored.
    """
    if outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"outcome must be one of {', '.join(AuditEvent.Outcome.values)}, not {outcome!r}")
    changes_json, metadata_json = _to_json(changes), _to_json(metadata)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The chain lock (its time is the event's), and the JSON documents as jsonb will return them.
            occurred_at, changes_text, metadata_text = _lock_chain(cursor, changes_json, metadata_json)
            cursor.execute(f"SELECT sequence, hash FROM {_chain_table()} ORDER BY sequence DESC LIMIT 1")  # noqa: S608
            last = cursor.fetchone()
        event = AuditEvent(
            sequence=(last[0] + 1) if last else 1,
            prev_hash=last[1] if last else "",
            occurred_at=occurred_at,
            actor_type=_text(actor.type, 16),
            actor_id=_text(actor.id, 64),
            actor_email=_text(actor.email, 254),
            action=_text(action, 64),
            resource_type=_text(resource_type, 64),
            resource_id=_text(resource_id, 64),
            changes=json.loads(changes_text),
            ip=_ip(actor.ip),
            user_agent=_text(actor.user_agent, 512),
            request_id=_text(actor.request_id, 128),
            outcome=outcome,
            reason=_text(reason, 500),
            metadata=json.loads(metadata_text),
        )
        event.hash = event_hash({name: getattr(event, name) for name in HASHED_FIELDS})
        event.save(force_insert=True)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The changed fields between two snapshots, in the shape `changes` expects."""
    keys = set(before) | set(after)
    return {k: {"before": before.get(k), "after": after.get(k)} for k in sorted(keys) if before.get(k) != after.get(k)}


def audit_purge(*, actor: Actor, retention_days: int, now: datetime | None = None) -> int:
    """Delete the current schema's events older than `retention_days`; record the purge. Returns the count.

    The oldest events are removed as a prefix of the chain (every event up to the last
    one older than the cut-off), so the chain stays verifiable: the `audit.purge` event
    names the last deleted event's sequence and hash, which the first remaining event
    points to. This is the only path that may delete events: it sets the
    transaction-local `gatehouse.audit_purge` setting that the trigger checks.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = (now or timezone.now()) - timedelta(days=retention_days)
    table = _chain_table()
    with transaction.atomic():
        with connection.cursor() as cursor:
            _lock_chain(cursor)
            cursor.execute(
                f"SELECT sequence, hash FROM {table} WHERE sequence = "  # noqa: S608 - table name is ours, quoted
                f"(SELECT max(sequence) FROM {table} WHERE occurred_at < %s)", [cutoff])
            through = cursor.fetchone()
            if through is None:
                return 0
            cursor.execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
            cursor.execute(f"DELETE FROM {table} WHERE sequence <= %s", [through[0]])  # noqa: S608
            deleted = cursor.rowcount
            cursor.execute("SELECT set_config(%s, 'off', true)", [PURGE_SETTING])
        audit_record(
            actor=actor, action=PURGE_ACTION, resource_type="audit_event",
            reason=f"retention of {retention_days} days",
            metadata={"deleted": deleted, "cutoff": cutoff.isoformat(), "retention_days": retention_days,
                      "through_sequence": through[0], "through_hash": through[1]},
        )
    logger.info("audit events purged", extra={"deleted": deleted, "retention_days": retention_days,
                                              "schema": connection.schema_name})
    return deleted
