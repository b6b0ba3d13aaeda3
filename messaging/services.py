"""Every write of the messaging app: integrator MQTT credentials and the broker's view of organizations.

The database is the source of truth; the broker (Mosquitto dynamic security) is
brought in line with it after each commit. When the broker cannot be reached the
change still stands: the organization is marked `needs_sync` and reconciled by
the periodic `messaging.mqtt_reconcile` task or by `manage.py mqtt_setup`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import audit_record
from config.errors import NotFound, ValidationFailed
from messaging import crypto, dynsec
from messaging.events import publish_event
from messaging.models import MqttCredential, MqttSyncState
from messaging.mqtt import BrokerUnavailable

if TYPE_CHECKING:
    from audit.context import Actor
    from tenants.models import Tenant

logger = logging.getLogger(__name__)

BROKER_ERRORS = (BrokerUnavailable, dynsec.DynsecError, crypto.DecryptionFailed)
# WebSocket close code sent to an organization's live connections when it is suspended or deleted.
CLOSE_TENANT_SUSPENDED = 4403


def tenant_group(tenant_id: Any) -> str:
    """The channel-layer group of an organization: built from its id (a UUID), never its slug."""
    return f"gh.tenant.{getattr(tenant_id, 'hex', None) or str(tenant_id).replace('-', '')}"


# --- Sync state ----------------------------------------------------------------------

def _mark_needs_sync(tenant: Tenant, error: str) -> None:
    with schema_context(tenant.schema_name):
        MqttSyncState.objects.update_or_create(pk=1, defaults={"needs_sync": True, "last_error": error[:500]})
    logger.warning("MQTT broker not updated; will reconcile",
                   extra={"slug": tenant.schema_name, "error": error[:200]})


@dataclass
class SyncResult:
    tenant: str
    role_changed: bool = False
    clients_created_or_changed: list[str] = field(default_factory=list)
    clients_removed: list[str] = field(default_factory=list)


def mqtt_tenant_sync(*, tenant: Tenant, admin: dynsec.DynsecAdmin | None = None,
                     purge_unknown: bool = False) -> SyncResult:
    """Bring the broker in line with one organization (idempotent).

    Its role exists with exactly its ACLs; each live credential's account exists,
    holds only that role, and is enabled while the organization is active (disabled,
    which kicks it, while suspended); each revoked credential's account is gone.
    With `purge_unknown`, Gatehouse-made accounts of this slug that no credential
    row knows (left by a deleted organization of the same slug) are removed too.
    Raises BrokerUnavailable / DynsecError when the broker cannot be brought in line.
    """
    if admin is None:
        with dynsec.DynsecAdmin() as own:
            return mqtt_tenant_sync(tenant=tenant, admin=own, purge_unknown=purge_unknown)
    slug = tenant.schema_name
    result = SyncResult(tenant=slug)
    dynsec.ensure_platform_access_once(admin)
    rolename = dynsec.tenant_role_name(slug)
    result.role_changed = dynsec.ensure_role(admin, rolename, dynsec.tenant_acls(slug),
                                             textname=f"Organization {slug}")
    with schema_context(slug):
        credentials = list(MqttCredential.objects.all())
    if purge_unknown:
        known = {c.username for c in credentials}
        for client in dynsec.list_clients(admin):
            owner = dynsec.parse_textname(client.get("textname"))
            if owner and owner[0] == slug and client.get("username") not in known:
                dynsec.delete_client(admin, client["username"])
                result.clients_removed.append(client["username"])
    for credential in credentials:
        if credential.revoked_at is not None:
            if dynsec.delete_client(admin, credential.username):
                result.clients_removed.append(credential.username)
        else:
            if dynsec.ensure_client(admin, username=credential.username,
                                    password=crypto.decrypt(credential.password_encrypted),
                                    rolename=rolename, textname=dynsec.credential_textname(slug, str(credential.id)),
                                    enabled=tenant.is_active):
                result.clients_created_or_changed.append(credential.username)
    with schema_context(slug):
        MqttCredential.objects.filter(pk__in=[c.pk for c in credentials]).update(broker_synced=True)
        MqttSyncState.objects.update_or_create(pk=1, defaults={"needs_sync": False, "last_error": "",
                                                               "synced_at": timezone.now()})
    return result


def mqtt_tenant_sync_or_record(*, tenant: Tenant, purge_unknown: bool = False) -> SyncResult | None:
    """`mqtt_tenant_sync`, recording (instead of raising) a broker that cannot be reached."""
    try:
        return mqtt_tenant_sync(tenant=tenant, purge_unknown=purge_unknown)
    except BROKER_ERRORS as exc:
        _mark_needs_sync(tenant, str(exc))
        return None


def mqtt_tenant_remove(*, tenant: Tenant) -> None:
    """Delete every broker account of the organization (kicking them) and its role. Raises on broker errors."""
    slug = tenant.schema_name
    with schema_context(slug):
        usernames = set(MqttCredential.objects.values_list("username", flat=True))
    with dynsec.DynsecAdmin() as admin:
        for client in dynsec.list_clients(admin):
            owner = dynsec.parse_textname(client.get("textname"))
            if owner and owner[0] == slug:
                usernames.add(client["username"])
        for username in sorted(usernames):
            dynsec.delete_client(admin, username)
        dynsec.delete_role(admin, dynsec.tenant_role_name(slug))


def mqtt_reconcile(*, full: bool = False) -> dict[str, Any]:
    """Reconcile the broker with every organization.

    `full` (what `mqtt_setup` runs): platform access, every organization's role and
    accounts, and removal of Gatehouse-made roles and accounts whose organization
    no longer exists. Otherwise only organizations marked `needs_sync` or with a
    credential not yet reflected in the broker.
    """
    from tenants.models import Tenant

    report: dict[str, Any] = {"platform": [], "synced": [], "failed": {}, "orphans_removed": [], "reencrypted": 0}
    tenants = list(Tenant.objects.organizations().filter(provisioning_state=Tenant.ProvisioningState.READY))
    if not full:
        pending = []
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                dirty = (MqttSyncState.objects.filter(pk=1, needs_sync=True).exists()
                         or MqttCredential.objects.filter(broker_synced=False).exists())
            if dirty:
                pending.append(tenant)
        tenants = pending
        if not tenants:
            return report
    if full:
        report["reencrypted"] = _reencrypt_passwords(tenants)
    with dynsec.DynsecAdmin() as admin:
        if full:
            report["platform"] = dynsec.ensure_platform_access(admin)
        for tenant in tenants:
            try:
                mqtt_tenant_sync(tenant=tenant, admin=admin, purge_unknown=full)
                report["synced"].append(tenant.schema_name)
            except (dynsec.DynsecError, crypto.DecryptionFailed) as exc:
                _mark_needs_sync(tenant, str(exc))
                report["failed"][tenant.schema_name] = str(exc)
        if full:
            slugs = set(Tenant.objects.organizations().values_list("schema_name", flat=True))
            for client in dynsec.list_clients(admin):
                owner = dynsec.parse_textname(client.get("textname"))
                if owner and owner[0] not in slugs:
                    dynsec.delete_client(admin, client["username"])
                    report["orphans_removed"].append(f"client {client['username']}")
            for rolename in dynsec.list_roles(admin):
                if rolename.startswith(dynsec.TENANT_ROLE_PREFIX) and \
                        rolename.removeprefix(dynsec.TENANT_ROLE_PREFIX) not in slugs:
                    dynsec.delete_role(admin, rolename)
                    report["orphans_removed"].append(f"role {rolename}")
    return report


def _reencrypt_passwords(tenants: list[Tenant]) -> int:
    """Re-encrypt stored MQTT passwords with the first FERNET_KEYS key (key rotation)."""
    changed = 0
    for tenant in tenants:
        with schema_context(tenant.schema_name):
            for credential in MqttCredential.objects.filter(revoked_at__isnull=True).only("id", "password_encrypted"):
                if crypto.is_current(credential.password_encrypted):
                    continue
                try:
                    rotated = crypto.rotate(credential.password_encrypted)
                except crypto.DecryptionFailed:
                    continue  # reported when its broker account is synced
                MqttCredential.objects.filter(pk=credential.pk).update(password_encrypted=rotated)
                changed += 1
    return changed


# --- Integrator credentials -------------------------------------------------------------

def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(details={"name": ["Give the credential a name, e.g. 'CI mirror'."]})
    if len(name) > 100:
        raise ValidationFailed(details={"name": ["Use at most 100 characters."]})
    return name


def _push_credential(tenant: Tenant, credential_id: Any) -> None:
    """After commit: create (or remove) the credential's broker account, or record that it must be."""
    try:
        with schema_context(tenant.schema_name):
            credential = MqttCredential.objects.get(pk=credential_id)
        with dynsec.DynsecAdmin() as admin:
            dynsec.ensure_platform_access_once(admin)
            rolename = dynsec.tenant_role_name(tenant.schema_name)
            if credential.revoked_at is not None:
                dynsec.delete_client(admin, credential.username)
            else:
                dynsec.ensure_role(admin, rolename, dynsec.tenant_acls(tenant.schema_name))
                dynsec.ensure_client(admin, username=credential.username,
                                     password=crypto.decrypt(credential.password_encrypted), rolename=rolename,
                                     textname=dynsec.credential_textname(tenant.schema_name, str(credential.id)),
                                     enabled=tenant.is_active)
        with schema_context(tenant.schema_name):
            MqttCredential.objects.filter(pk=credential_id).update(broker_synced=True)
    except BROKER_ERRORS as exc:
        _mark_needs_sync(tenant, str(exc))


def mqtt_credential_create(*, tenant: Tenant, actor: Actor, name: str) -> tuple[MqttCredential, str]:
    """A new integrator credential for the organization's topics. Returns it and its password (shown once)."""
    name = _validate_name(name)
    password = secrets.token_urlsafe(24)
    username = f"{tenant.schema_name}.{secrets.token_hex(5)}"
    with schema_context(tenant.schema_name), transaction.atomic():
        credential = MqttCredential.objects.create(
            name=name, username=username, password_encrypted=crypto.encrypt(password),
            created_by_id=actor.id or "", created_by_email=actor.email or "",
        )
        audit_record(actor=actor, action="mqtt_credential.create", resource_type="mqtt_credential",
                     resource_id=str(credential.id),
                     changes={"name": {"after": name}, "username": {"after": username}})
        publish_event(tenant=tenant, type="mqtt_credential.created", subject=str(credential.id),
                      data={"credential_id": str(credential.id), "name": name, "username": username}, actor=actor)
        transaction.on_commit(lambda: _push_credential(tenant, credential.id))
    if not transaction.get_connection().in_atomic_block:
        # Committed (and pushed to the broker) by now: report the broker's state.
        with schema_context(tenant.schema_name):
            credential.refresh_from_db(fields=["broker_synced"])
    return credential, password


def mqtt_credential_revoke(*, tenant: Tenant, actor: Actor, credential_id: Any) -> MqttCredential:
    """Revoke a credential: its broker account is disabled (its live session kicked) and deleted."""
    with schema_context(tenant.schema_name), transaction.atomic():
        credential = MqttCredential.objects.select_for_update().filter(pk=credential_id).first()
        if credential is None:
            raise NotFound("No MQTT credential with this id.")
        if credential.revoked_at is not None:
            return credential
        credential.revoked_at = timezone.now()
        credential.revoked_by_email = actor.email or ""
        credential.broker_synced = False
        credential.save(update_fields=["revoked_at", "revoked_by_email", "broker_synced"])
        audit_record(actor=actor, action="mqtt_credential.revoke", resource_type="mqtt_credential",
                     resource_id=str(credential.id),
                     changes={"revoked_at": {"before": None, "after": credential.revoked_at.isoformat()}})
        publish_event(tenant=tenant, type="mqtt_credential.revoked", subject=str(credential.id),
                      data={"credential_id": str(credential.id), "name": credential.name,
                            "username": credential.username}, actor=actor)
        transaction.on_commit(lambda: _push_credential(tenant, credential.id))
    if not transaction.get_connection().in_atomic_block:
        with schema_context(tenant.schema_name):
            credential.refresh_from_db(fields=["broker_synced"])
    return credential


# --- Organization life cycle ------------------------------------------------------------

def close_tenant_websockets(*, tenant: Tenant, code: int = CLOSE_TENANT_SUSPENDED) -> None:
    """Tell every live WebSocket of the organization to close with `code`."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(tenant_group(tenant.pk), {"type": "tenant.closed", "code": code})
    except Exception:  # noqa: BLE001 - Redis down: the consumers also re-check the organization
        logger.warning("could not notify the organization's WebSockets", exc_info=True,
                       extra={"slug": tenant.schema_name})


def on_tenant_suspended(tenant: Tenant) -> None:
    close_tenant_websockets(tenant=tenant)
    mqtt_tenant_sync_or_record(tenant=tenant)


def on_tenant_reactivated(tenant: Tenant) -> None:
    mqtt_tenant_sync_or_record(tenant=tenant)


def on_tenant_deleting(tenant: Tenant) -> None:
    close_tenant_websockets(tenant=tenant)
    try:
        mqtt_tenant_remove(tenant=tenant)
    except BROKER_ERRORS as exc:
        # The schema is about to go: `mqtt_setup` removes the leftovers (their text names
        # name a slug that no organization has any more).
        logger.warning("MQTT accounts of a deleted organization left for mqtt_setup to remove",
                       extra={"slug": tenant.schema_name, "error": str(exc)[:200]})


# --- Outbox housekeeping ----------------------------------------------------------------

def outbox_sweep(*, retention_days: int | None = None, batch: int = 5000) -> dict[str, Any]:
    """Delete sent outbox rows older than the retention, and record the backlog as metrics.

    The backlog (unsent events over every organization, and the age of the oldest)
    goes to the shared metrics store that /metrics reads (`gatehouse_outbox_backlog_events`,
    `gatehouse_outbox_oldest_pending_seconds`).
    """
    import time as _time
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection

    from messaging import counters
    from messaging.models import OutboxEvent
    from tenants.models import Tenant

    retention_days = settings.OUTBOX_RETENTION_DAYS if retention_days is None else retention_days
    now = timezone.now()
    cutoff = now - timedelta(days=retention_days)
    deleted = 0
    backlog = 0
    oldest: Any = None
    by_tenant: dict[str, int] = {}
    connection.set_schema_to_public()
    schemas = list(Tenant.objects.organizations().filter(provisioning_state=Tenant.ProvisioningState.READY)
                   .values_list("schema_name", flat=True))
    for schema in schemas:
        with schema_context(schema):
            while True:
                ids = list(OutboxEvent.objects.filter(sent_at__lt=cutoff).order_by("seq")
                           .values_list("seq", flat=True)[:batch])
                if not ids:
                    break
                deleted += OutboxEvent.objects.filter(seq__in=ids).delete()[0]
            pending = OutboxEvent.objects.filter(sent_at__isnull=True)
            count = pending.count()
            if count:
                by_tenant[schema] = count
                backlog += count
                first = pending.order_by("seq").values_list("created_at", flat=True).first()
                if first is not None and (oldest is None or first < oldest):
                    oldest = first
    oldest_seconds = (now - oldest).total_seconds() if oldest is not None else 0.0
    counters.set_gauges({"outbox_backlog_events": backlog, "outbox_oldest_pending_seconds": oldest_seconds,
                         "outbox_backlog_updated_timestamp_seconds": _time.time()})
    return {"deleted": deleted, "backlog": backlog, "oldest_pending_seconds": round(oldest_seconds, 3),
            "backlog_by_tenant": by_tenant}
