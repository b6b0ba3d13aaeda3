"""The one place events leave Gatehouse. Services call these functions; nothing else publishes.

- `publish_event` writes a CloudEvents 1.0 envelope to the outbox in the caller's
  transaction; the relay (`manage.py mqtt_relay`) delivers it to MQTT at QoS 1
  after commit, on `org/<slug>/events/<type>`. A NOTIFY sent by the same statement
  wakes the relay the moment the transaction commits (and never if it rolls back).
- `publish_progress` sends a scan's progress tick straight to MQTT at QoS 0 on
  `org/<slug>/scans/<scan-id>/progress` (ticks are superseded by the next one;
  losing one is harmless). It never blocks the caller for long when the broker
  is down.

Envelope: `specversion, id, source, type, time, subject, datacontenttype, data`
plus the extensions `tenant` (the organization's slug) and `correlationid`
(the request id that caused the event). See docs/events.md for every type.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from config.logging import request_id_var

if TYPE_CHECKING:
    from audit.context import Actor
    from messaging.models import OutboxEvent
    from tenants.models import Tenant

logger = logging.getLogger(__name__)

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
# PostgreSQL channel the relay LISTENs on; the payload is the tenant's schema name.
NOTIFY_CHANNEL = "gatehouse_outbox"
PROGRESS_TYPE = "scan.progress"

# `scan.completed`, `waiver.approved`, `mqtt_credential.revoked`: dotted lower-case words.
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
# Integrator feed names: one or more topic levels of safe characters (no MQTT wildcards).
FEED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,3}$")
MAX_DATA_BYTES = 32 * 1024


class EventError(ValueError):
    """A service tried to publish something that is not a valid event (a programming error)."""


# --- Topics ------------------------------------------------------------------------

def event_topic(tenant_slug: str, event_type: str) -> str:
    return f"org/{tenant_slug}/events/{event_type}"


def progress_topic(tenant_slug: str, scan_id: str) -> str:
    return f"org/{tenant_slug}/scans/{scan_id}/progress"


def feed_topic(tenant_slug: str, name: str) -> str:
    return f"org/{tenant_slug}/feeds/{name}"


def tenant_topic_filter(tenant_slug: str) -> str:
    return f"org/{tenant_slug}/#"


def parse_topic(topic: str) -> tuple[str, str, str] | None:
    """`org/<slug>/events/<type>` -> (slug, "event", type); progress -> (slug, "progress", scan id);
    feeds -> (slug, "feed", name). None for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "org" or not parts[1]:
        return None
    slug, kind = parts[1], parts[2]
    if kind == "events" and len(parts) == 4 and EVENT_TYPE_RE.match(parts[3]):
        return slug, "event", parts[3]
    if kind == "scans" and len(parts) == 5 and parts[4] == "progress" and parts[3]:
        return slug, "progress", parts[3]
    if kind == "feeds":
        name = "/".join(parts[3:])
        if FEED_NAME_RE.match(name):
            return slug, "feed", name
    return None


# --- Envelope ----------------------------------------------------------------------

def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as plain JSON (UUIDs, datetimes and decimals become strings), size-checked."""
    if not isinstance(data, dict):
        raise EventError("Event data must be a dict.")
    try:
        text = json.dumps(data, cls=DjangoJSONEncoder)
    except TypeError as exc:
        raise EventError(f"Event data is not JSON-serializable: {exc}") from exc
    if len(text.encode()) > MAX_DATA_BYTES:
        raise EventError(f"Event data is larger than {MAX_DATA_BYTES} bytes; put a reference, not the content.")
    return json.loads(text)


def build_envelope(*, tenant: Tenant, type: str, subject: str, data: dict[str, Any],
                   correlation_id: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    if not EVENT_TYPE_RE.match(type or ""):
        raise EventError(f"Event type {type!r} must be dotted lower-case words, e.g. 'scan.completed'.")
    return {
        "specversion": SPEC_VERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": f"/gatehouse/{tenant.schema_name}",
        "type": type,
        "time": timezone.now().isoformat(),
        "subject": str(subject or ""),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": _json_data(data),
        "tenant": tenant.schema_name,
        "correlationid": correlation_id or request_id_var.get() or "",
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


# --- Publishing --------------------------------------------------------------------

def outbox_table(schema: str) -> str:
    """An organization's outbox table, schema-qualified and quoted. Schema names come from the
    tenants table (slugs match ^[a-z][a-z0-9_]{2,47}$); quoting keeps even a stray one an identifier."""
    return '"' + schema.replace('"', '""') + '".messaging_outboxevent'


# The row and the NOTIFY that wakes the relay (delivered at commit, dropped on rollback) in one
# round trip. The table is schema-qualified, so the caller's search path does not matter.
OUTBOX_INSERT_SQL = (
    "WITH row AS (INSERT INTO {table} (id, type, topic, envelope, created_at, attempts, last_error) "
    "VALUES (%s, %s, %s, %s::jsonb, %s, 0, '') RETURNING seq) "
    "SELECT row.seq, pg_notify(%s, %s) FROM row"
)


def publish_event(*, tenant: Tenant, type: str, subject: str, data: dict[str, Any],
                  actor: Actor | None = None, correlation_id: str | None = None) -> OutboxEvent:
    """Queue a domain event (e.g. `scan.completed`) in the outbox, inside the caller's transaction.

    Delivered at least once, in order per organization, after the transaction
    commits; nothing is sent if it rolls back. Consumers de-duplicate on `id`.
    """
    from messaging.models import OutboxEvent

    if actor is not None:
        data = {**data, "actor": {"type": actor.type, "id": actor.id}}
    envelope = build_envelope(tenant=tenant, type=type, subject=subject, data=data, correlation_id=correlation_id)
    event = OutboxEvent(id=uuid.UUID(envelope["id"]), type=type, topic=event_topic(tenant.schema_name, type),
                        envelope=envelope, created_at=timezone.now())
    # The driver's own cursor, on the caller's connection and so in its transaction: Django's
    # would first re-issue the tenant search path, a round trip this statement does not need.
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(OUTBOX_INSERT_SQL.format(table=outbox_table(tenant.schema_name)),
                       [event.id, event.type, event.topic, encode(envelope).decode(), event.created_at,
                        NOTIFY_CHANNEL, tenant.schema_name])
        event.seq = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias
    return event


def publish_progress(*, tenant: Tenant, scan_id: str, data: dict[str, Any]) -> None:
    """Publish a progress tick for a scan directly at QoS 0 (not through the outbox).

    `data` should carry `percent` (0-100), `stage`, and `submitted_by` (the user id
    of the scan's submitter, so that members who may only see their own scans
    receive it). Never raises for a broker problem: a tick that cannot be sent is
    dropped and counted.
    """
    from messaging import counters
    from messaging.mqtt import progress_publisher

    envelope = build_envelope(tenant=tenant, type=PROGRESS_TYPE, subject=str(scan_id),
                              data={**data, "scan_id": str(scan_id)})
    try:
        sent = progress_publisher.publish(progress_topic(tenant.schema_name, str(scan_id)), encode(envelope))
    except Exception:  # noqa: BLE001 - progress is best effort; the scan must go on
        logger.warning("scan progress tick could not be published", exc_info=True,
                       extra={"scan": str(scan_id)})
        sent = False
    counters.incr("progress_published_total" if sent else "progress_dropped_total")
