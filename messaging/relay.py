"""The outbox relay: committed outbox rows -> Mosquitto at QoS 1, marked sent on PUBACK.

Guarantees (see docs/messaging.md):

- **At least once.** A row is marked sent only after the broker acknowledged it,
  in the same transaction that selected it. A relay killed mid-batch leaves its
  transaction uncommitted: the rows are published again by the next relay and
  consumers drop the duplicates by event id.
- **In order per organization.** Each organization's rows are published in `seq`
  order by one relay at a time: a transaction-scoped advisory lock per schema is
  the lease, so a second relay skips that organization instead of racing it; only
  the acknowledged *prefix* of a batch is marked sent.
- **One transaction per cycle.** A cycle leases every organization with work, takes
  up to a batch of each, publishes them all, waits for the PUBACKs once and marks
  them in the same transaction (committed without waiting for the disk: a lost mark
  only means a re-publication, which consumers drop).
- **Fast after commit, robust without it.** `publish_event` sends a NOTIFY in the
  writer's transaction; the relay LISTENs and drains that organization at once,
  and also sweeps every organization every `OUTBOX_RELAY_POLL_SECONDS`.
- **Broker down.** Batches fail, nothing is marked, and the relay retries with
  exponential backoff (0.5 s doubling to 30 s, with jitter) until it is back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from paho.mqtt.enums import MQTTErrorCode

from messaging import counters, dynsec, mqtt
from messaging.events import NOTIFY_CHANNEL, outbox_table
from messaging.mqtt import Backoff

logger = logging.getLogger(__name__)

# pg_try_advisory_xact_lock(class, key): the class keeps our keys apart from anyone else's.
ADVISORY_LOCK_CLASS = 0x4748  # "GH"


class BatchPublisher:
    """One QoS 1 connection; publishes a batch in order and reports how many were acknowledged.

    It has no network thread: the relay's thread writes each PUBLISH itself and reads
    the PUBACKs (`mqtt.pump`), and keeps the idle connection alive with `service()`.
    """

    def __init__(self, role: str = "relay") -> None:
        self.role = role
        self._client: Any = None
        self._acks: dict[int, bool] = {}
        self._lost = False

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._lost and self._client.socket() is not None

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._acks[mid] = not reason_code.is_failure

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._lost = True

    def connect(self) -> None:
        self.close()
        client = mqtt.new_client(mqtt.client_id(self.role), reconnect_on_failure=False)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.on_publish = self._on_publish
        self._lost = False
        self._acks.clear()
        mqtt.connect(client, network_thread=False)
        client.on_disconnect = self._on_disconnect
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                mqtt.close(client)
            except Exception:  # noqa: BLE001 - a dead connection may fail to close; it is dropped anyway
                logger.debug("closing the relay's MQTT client failed", exc_info=True)

    def service(self) -> None:
        """While idle: read what the broker sent (PINGRESP, DISCONNECT) and keep the connection alive."""
        if self._client is not None and not self._lost:
            mqtt.pump(self._client, lambda: False, 0)

    def publish(self, messages: list[tuple[str, bytes]], *, timeout: float = 10.0) -> tuple[int, str]:
        """Publish in order; (number of leading messages the broker acknowledged, error or "")."""
        if not self.connected:
            self.connect()
        mids: list[int] = []
        error = ""
        for topic, payload in messages:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                error = f"publish refused locally ({info.rc})"
                break
            mids.append(info.mid)
        mqtt.pump(self._client, lambda: self._lost or all(m in self._acks for m in mids), timeout)
        acked = 0
        for mid in mids:
            if self._acks.get(mid) is True:
                acked += 1
            else:
                break
        refused = any(self._acks.get(mid) is False for mid in mids)
        for mid in mids:
            self._acks.pop(mid, None)
        if acked < len(messages):
            if refused:
                error = error or "the broker refused a publication (run `manage.py mqtt_setup`)"
            elif self._lost:
                error = error or "the broker connection was lost"
            else:
                error = error or "no PUBACK in time"
            # Unacknowledged messages may still be in paho's queue: start clean next time.
            self.close()
        return acked, error


@dataclass
class CycleResult:
    published: int = 0
    locked: set[str] = field(default_factory=set)  # organizations another relay holds
    more: set[str] = field(default_factory=set)  # organizations with a full batch: more may wait
    error: str = ""


# Lease and oldest pending rows of one organization; no rows at all when another relay holds it.
LEASE_AND_BATCH_SQL = (
    "SELECT lease.ok, o.seq, o.topic, o.envelope::text "
    "FROM (SELECT pg_try_advisory_xact_lock(%s, hashtext(%s)) AS ok) lease "
    "LEFT JOIN LATERAL (SELECT seq, topic, envelope FROM {table} "
    "WHERE lease.ok AND sent_at IS NULL ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) o ON true"
)


def _results(cursor: Any) -> Iterator[list[tuple[Any, ...]]]:
    """The row sets of a multi-statement execute, skipping statements that return none."""
    while True:
        if cursor.description is not None:
            yield cursor.fetchall()
        if not cursor.nextset():
            return


def relay_cycle(schemas: Iterable[str], publisher: BatchPublisher, *, batch_size: int | None = None,
                publish_timeout: float = 10.0) -> CycleResult:
    """One transaction: lease each organization, take its oldest pending rows, publish them all
    (each organization's in `seq` order) and mark the acknowledged prefix sent.

    Two round trips to PostgreSQL whatever the number of organizations: BEGIN with the leases
    and batches in one multi-statement query, the marks with COMMIT in another. Called inside
    a transaction of the caller's (a test, a shell), the cycle runs in a savepoint of it instead.
    """
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
    schemas = list(schemas)
    if not schemas:
        return CycleResult()
    if not connection.get_autocommit():
        with transaction.atomic(), connection.cursor() as cursor:
            result = _cycle(cursor, schemas, publisher, batch_size, publish_timeout, own_transaction=False)
    else:
        with connection.cursor() as cursor:
            try:
                result = _cycle(cursor, schemas, publisher, batch_size, publish_timeout, own_transaction=True)
            except BaseException:
                with contextlib.suppress(Exception):  # a broken connection is closed by the caller
                    cursor.execute("ROLLBACK")
                raise
    if result.published:
        counters.incr("outbox_published_total", result.published)
    if result.error:
        counters.incr("outbox_publish_failures_total")
    return result


def _cycle(cursor: Any, schemas: list[str], publisher: BatchPublisher, batch_size: int, publish_timeout: float,
           *, own_transaction: bool) -> CycleResult:
    result = CycleResult()
    # Marking rows sent need not wait for the disk: were a mark lost in a crash, the rows
    # would be published again, which consumers already tolerate (they dedupe on id).
    statements = ["BEGIN"] if own_transaction else []
    statements.append("SET LOCAL synchronous_commit TO OFF")
    params: list[Any] = []
    for schema in schemas:
        table = outbox_table(schema)  # the only interpolation: a quoted identifier
        statements.append(LEASE_AND_BATCH_SQL.format(table=table))
        params += [ADVISORY_LOCK_CLASS, schema, batch_size]
    cursor.execute(";\n".join(statements), params)
    work: list[tuple[str, list[tuple[int, str, str]]]] = []
    for schema, fetched in zip(schemas, _results(cursor), strict=True):
        if not fetched[0][0]:
            result.locked.add(schema)
            continue
        rows = [(seq, topic, text) for _ok, seq, topic, text in fetched if seq is not None]
        if rows:
            work.append((schema, rows))
            if len(rows) >= batch_size:
                result.more.add(schema)
    statements, params = [], []
    if work:
        messages = [(topic, text.encode()) for _schema, rows in work for _seq, topic, text in rows]
        try:
            acked, error = publisher.publish(messages, timeout=publish_timeout)
        except mqtt.BrokerUnavailable as exc:
            acked, error = 0, str(exc)
        now = timezone.now()
        for schema, rows in work:
            done = min(acked, len(rows))
            acked -= done
            if done:
                statements.append(f"UPDATE {outbox_table(schema)} SET sent_at = %s, attempts = attempts + 1 "  # noqa: S608
                                  f"WHERE seq = ANY(%s)")
                params += [now, [seq for seq, _t, _e in rows[:done]]]
                result.published += done
            if done < len(rows):
                if not result.error:
                    # The first message that was not acknowledged records why.
                    statements.append(f"UPDATE {outbox_table(schema)} SET attempts = attempts + 1, "  # noqa: S608
                                      f"last_error = %s WHERE seq = %s")
                    params += [error[:500], rows[done][0]]
                result.error = error or "not acknowledged"
                result.more.add(schema)
    if own_transaction:
        statements.append("COMMIT")  # also ends a cycle with no work, releasing its leases
    if statements:
        cursor.execute(";\n".join(statements), params)
    return result


@dataclass
class DrainResult:
    published: int = 0
    locked: bool = False
    error: str = ""


def drain_tenant(schema: str, publisher: BatchPublisher, *, batch_size: int | None = None,
                 publish_timeout: float = 10.0) -> DrainResult:
    """Publish every pending outbox row of one organization, batch by batch, in order."""
    result = DrainResult()
    while True:
        cycle = relay_cycle([schema], publisher, batch_size=batch_size, publish_timeout=publish_timeout)
        result.published += cycle.published
        if cycle.locked:
            result.locked = True
            return result
        if cycle.error:
            result.error = cycle.error
            return result
        if schema not in cycle.more:
            return result


def ready_schemas() -> list[str]:
    from tenants.models import Tenant

    connection.set_schema_to_public()
    return list(Tenant.objects.organizations().filter(provisioning_state=Tenant.ProvisioningState.READY)
                .order_by("schema_name").values_list("schema_name", flat=True))


def direct_connection() -> psycopg.Connection[Any]:
    """A connection of its own to Django's database (autocommit), outside Django's handling."""
    db = connection.settings_dict
    params: dict[str, Any] = {"dbname": db["NAME"], "host": db.get("HOST") or "127.0.0.1",
                              "port": db.get("PORT") or 5432, "user": db.get("USER") or None,
                              "password": db.get("PASSWORD") or None, "autocommit": True, "connect_timeout": 5}
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None})


class NotificationListener:
    """A dedicated autocommit connection LISTENing for `publish_event`'s NOTIFYs."""

    def __init__(self) -> None:
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        conn = direct_connection()
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def listen(self) -> None:
        """Start listening (idempotent). Done before each sweep, so no commit falls between the two."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()

    def wait(self, timeout: float) -> set[str] | None:
        """Schemas notified within `timeout` seconds; None when the wait timed out with nothing."""
        self.listen()
        assert self._conn is not None
        schemas: set[str] = set()
        for notify in self._conn.notifies(timeout=timeout, stop_after=1):
            schemas.add(notify.payload)
        if not schemas:
            return None
        # Gather what arrived together, without waiting more than a moment.
        for notify in self._conn.notifies(timeout=0.0):
            schemas.add(notify.payload)
        return schemas

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class OutboxRelay:
    SCHEMAS_TTL_SECONDS = 5.0

    def __init__(self, *, batch_size: int | None = None, poll_seconds: float | None = None,
                 heartbeat: Path | None = None, on_ready: Callable[[], None] | None = None) -> None:
        self.batch_size = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
        self.poll_seconds = poll_seconds or settings.OUTBOX_RELAY_POLL_SECONDS
        self.heartbeat = heartbeat
        self.stop_event = threading.Event()
        self.publisher = BatchPublisher()
        self.listener = NotificationListener()
        self.broker_backoff = Backoff()
        self.db_backoff = Backoff()
        self.on_ready = on_ready
        self._schemas: set[str] = set()
        self._schemas_at = -1e9
        self._beat_at = -1e9

    def stop(self) -> None:
        self.stop_event.set()

    def _beat(self) -> None:
        now = time.monotonic()
        if self.heartbeat is not None and now - self._beat_at >= 1.0:
            self.heartbeat.touch()
            self._beat_at = now

    def known_schemas(self, wanted: Iterable[str] = ()) -> set[str]:
        """Ready organizations, re-read every few seconds or when a notified one is not known yet."""
        now = time.monotonic()
        if now - self._schemas_at > self.SCHEMAS_TTL_SECONDS or not set(wanted) <= self._schemas:
            self._schemas = set(ready_schemas())
            self._schemas_at = now
        return self._schemas

    def _ensure_platform(self) -> None:
        with dynsec.DynsecAdmin() as admin:
            dynsec.ensure_platform_access_once(admin)

    def _sleep(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    def drain(self, schemas: Iterable[str]) -> tuple[set[str], bool]:
        """Drain these organizations, all of them in each cycle; (those left to retry, broker failed)."""
        pending = sorted(set(schemas))
        while pending:
            cycle = relay_cycle(pending, self.publisher, batch_size=self.batch_size)
            if cycle.error:
                logger.warning("outbox relay: broker not accepting events; backing off",
                               extra={"error": cycle.error[:200]})
                return set(pending), True
            # Organizations another relay holds are its job; those with a full batch go again.
            pending = sorted(cycle.more)
            self._beat()
        return set(), False

    def run(self) -> None:
        platform_ok = False
        sweep_all = True
        retry: set[str] = set()
        while not self.stop_event.is_set():
            self._beat()
            try:
                if not platform_ok:
                    self._ensure_platform()
                    platform_ok = True
                # LISTEN first, then sweep: a commit is either seen by the sweep or notified.
                self.listener.listen()
                if self.on_ready is not None:
                    self.on_ready()
                    self.on_ready = None
                known = self.known_schemas(() if sweep_all else retry)
                targets = set(known) if sweep_all else {s for s in retry if s in known}
                retry, failed = self.drain(sorted(targets))
                sweep_all = False
                self.db_backoff.reset()
                if failed:
                    self.publisher.close()
                    self._sleep(self.broker_backoff.next())
                    continue
                self.broker_backoff.reset()
                notified = self._wait_for_work()
                if notified is None:
                    sweep_all = True
                else:
                    retry |= notified
            except mqtt.BrokerUnavailable as exc:
                logger.warning("outbox relay: broker unavailable; backing off", extra={"error": str(exc)[:200]})
                self._sleep(self.broker_backoff.next())
                sweep_all = True
            except dynsec.DynsecError as exc:
                logger.error("outbox relay: the platform account cannot be set up", extra={"error": str(exc)})
                self._sleep(self.broker_backoff.next())
            except (DatabaseError, psycopg.Error) as exc:
                logger.warning("outbox relay: database unavailable; backing off",
                               extra={"error": type(exc).__name__})
                connection.close()
                self.listener.close()
                self.publisher.close()  # nobody services it while we wait: reconnect when needed
                self._schemas_at = -1e9  # an organization may have been deleted meanwhile
                self._sleep(self.db_backoff.next())
                sweep_all = True
        self.publisher.close()
        self.listener.close()
        counters.flush()

    def _wait_for_work(self) -> set[str] | None:
        """Block until a NOTIFY arrives (its schemas) or the poll interval passes (None)."""
        deadline = time.monotonic() + self.poll_seconds
        while not self.stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            notified = self.listener.wait(min(remaining, 1.0))
            self.publisher.service()
            self._beat()
            if notified:
                return notified
        return set()
