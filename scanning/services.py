"""Every write of the scanning app: submissions, cancellation, re-runs, deletion, connections.

Each service validates, writes in one transaction, records the audit event and
queues the domain event (outbox) in that same transaction. The scan task is sent
to Celery only once the transaction has committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.context import Actor
from audit.services import audit_record, diff
from config.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)
from messaging.events import publish_event
from scanning import crypto
from scanning.formats import ECOSYSTEMS, UnsupportedArtifact, format_for, supported_types
from scanning.models import Artifact, Connection, Scan
from scanning.pipeline import artifact_file, artifact_storage_path, event_data, tenant_root
from scanning.registries import ConnectionSpec, FetchError, probe_connection

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9@._+~/-]{0,213}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,127}$")
CONNECTION_KINDS_FOR = {"pypi": ("pypi", "pypi_simple"), "npm": ("npm",), "debian": ("debian",), "rpm": ("rpm",),
                        "alpine": ("alpine",)}


@dataclass
class SubmitResult:
    scan: Scan
    replayed: bool = False


# --- Helpers -------------------------------------------------------------------------------

def _has(actor: Actor, perm: str) -> bool:
    if actor.type == "system":
        return True
    user = actor.signed_in_user
    return bool(user is not None and user.has_perm(perm))


def can_see(actor: Actor, scan: Scan) -> bool:
    if _has(actor, "scanning.view_all_scans"):
        return True
    user = actor.signed_in_user
    return user is not None and scan.submitted_by_id == user.pk


def _require_manage(actor: Actor, scan: Scan, *, own_perm: str = "scanning.submit_scan") -> None:
    if not can_see(actor, scan):
        raise NotFound("No such scan.")
    if _has(actor, "scanning.manage_scans"):
        return
    user = actor.signed_in_user
    if user is not None and scan.submitted_by_id == user.pk and _has(actor, own_perm):
        return
    raise PermissionDenied("You may only change your own scans, and only with the 'submit scans' permission.")


def _tenant_today_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _check_quota(tenant: Any) -> None:
    """Per-tier scans per day (UTC); serialized per schema with an advisory lock."""
    plan = tenant.plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"scan-quota:{connection.schema_name}"])
    now = timezone.now()
    start = _tenant_today_start(now)
    used = Scan.objects.filter(created_at__gte=start).count()
    if used >= plan.scans_per_day:
        reset = start + timedelta(days=1)
        raise RateLimited(
            f"Your organization's {plan.label} plan allows {plan.scans_per_day} scans per day and "
            f"{used} have been submitted today (UTC). New scans are accepted again at "
            f"{reset:%Y-%m-%d %H:%M} UTC; upgrade the plan for a higher quota.",
            code="scan_quota_exceeded", retry_after=int((reset - now).total_seconds()) + 1,
        )


def _fingerprint(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _replay(actor: Actor, key: str, fingerprint: str) -> Scan | None:
    if not key:
        return None
    user = actor.signed_in_user
    existing = Scan.objects.filter(submitted_by=user, idempotency_key=key).first() if user is not None else None
    if existing is None:
        return None
    if existing.idempotency_fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different submission; use a new key.",
                       code="idempotency_key_reused", details={"scan_id": str(existing.id)})
    return existing


def _validate_identity(name: str, version: str, *, required: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if required or name:
        if not name:
            errors["name"] = ["The package name is required."]
        elif not NAME_PATTERN.match(name) or ".." in name:
            errors["name"] = ["Use letters, digits and . _ - + ~ @ / (at most 214 characters)."]
    if required or version:
        if not version:
            errors["version"] = ["The version is required."]
        elif not VERSION_PATTERN.match(version):
            errors["version"] = ["Use letters, digits and . _ - + ~ : (at most 128 characters)."]
    return errors


def enqueue(scan: Scan) -> None:
    from scanning.tasks import run_scan

    run_scan.apply_async(args=[str(scan.id)], task_id=scan.task_id or None, queue=settings.SCANNING_QUEUE)


# --- Artifacts -----------------------------------------------------------------------------

def artifact_store(*, schema: str, source: Path, sha256: str, size: int, filename: str, ecosystem: str,
                   fmt: str) -> tuple[Artifact, bool]:
    """Keep `source` as the organization's copy of the artifact with this SHA-256 (moved, not copied).

    Returns (artifact, known) where `known` says the same bytes were stored before.
    """
    storage = artifact_storage_path(sha256)
    target = artifact_file(schema, storage)
    existing = Artifact.objects.filter(sha256=sha256).first()
    if existing is None or not target.exists():
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:
            shutil.move(str(source), str(target))
        os.chmod(target, 0o600)
    if existing is not None:
        return existing, True
    try:
        with transaction.atomic():
            artifact = Artifact.objects.create(sha256=sha256, size=size, filename=filename[:255],
                                               ecosystem=ecosystem, format=fmt, storage_path=storage)
        return artifact, False
    except IntegrityError:
        return Artifact.objects.get(sha256=sha256), True


# --- Submission ----------------------------------------------------------------------------

def scan_submit(
    *,
    tenant: Any,
    actor: Actor,
    ecosystem: str = "",
    name: str = "",
    version: str = "",
    upload: Any = None,
    connection_id: str | uuid.UUID | None = None,
    filename: str = "",
    idempotency_key: str = "",
    enqueue_task: bool = True,
) -> SubmitResult:
    """Submit an uploaded artifact (`upload`: a StoredUpload) or a registry reference (name + version)."""
    if not _has(actor, "scanning.submit_scan"):
        raise PermissionDenied("You do not have permission to submit scans.")
    ecosystem = (ecosystem or "").strip().lower()
    name, version, filename = (name or "").strip(), (version or "").strip(), (filename or "").strip()
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > 255:
        raise ValidationFailed(details={"Idempotency-Key": ["Use at most 255 characters."]})
    if ecosystem and ecosystem not in ECOSYSTEMS:
        raise ValidationFailed(details={"ecosystem": [f"Choose one of: {', '.join(ECOSYSTEMS)}."]})
    if upload is not None:
        return _submit_upload(tenant=tenant, actor=actor, ecosystem=ecosystem, name=name, version=version,
                              upload=upload, key=idempotency_key, enqueue_task=enqueue_task)
    errors = _validate_identity(name, version, required=True)
    if not ecosystem:
        errors["ecosystem"] = ["Give the ecosystem of the referenced package."]
    if filename and (not re.match(r"^[A-Za-z0-9._+~-]{1,255}$", filename)):
        errors["filename"] = ["Give a plain file name."]
    if errors:
        raise ValidationFailed(details=errors)
    conn = _connection_for(ecosystem, connection_id)
    fingerprint = _fingerprint(source="reference", ecosystem=ecosystem, name=name, version=version,
                               connection=str(conn.id), filename=filename)
    with transaction.atomic():
        replay = _replay(actor, idempotency_key, fingerprint)
        if replay is not None:
            return SubmitResult(scan=replay, replayed=True)
        _check_quota(tenant)
        scan = Scan(source=Scan.Source.REFERENCE, target=f"{ecosystem}:{name}=={version}"[:300], ecosystem=ecosystem,
                    name=name, version=version, submitted_name=name, submitted_version=version, filename=filename,
                    connection=conn)
        _create(scan, tenant=tenant, actor=actor, key=idempotency_key, fingerprint=fingerprint,
                enqueue_task=enqueue_task)
    return SubmitResult(scan=scan)


def _submit_upload(*, tenant: Any, actor: Actor, ecosystem: str, name: str, version: str, upload: Any, key: str,
                   enqueue_task: bool) -> SubmitResult:
    original = Path(getattr(upload, "name", "") or "artifact").name[:255]
    try:
        fmt = format_for(original, ecosystem or None)
    except UnsupportedArtifact as exc:
        raise UnsupportedMediaType(f"{exc.message} Supported artifact types: "
                                   + "; ".join(f"{eco}: {', '.join(s)}" for eco, s in supported_types().items())
                                   + ".", code="unsupported_artifact_type",
                                   details={"supported": supported_types(), "filename": original}) from exc
    errors = _validate_identity(name, version, required=False)
    if errors:
        raise ValidationFailed(details=errors)
    sha256 = upload.sha256
    size = int(upload.size)
    if size == 0:
        raise Unprocessable("The uploaded file is empty.", code="empty_artifact")
    fingerprint = _fingerprint(source="upload", ecosystem=fmt.ecosystem, name=name, version=version, sha256=sha256,
                               filename=original)
    schema = connection.schema_name
    with transaction.atomic():
        replay = _replay(actor, key, fingerprint)
        if replay is not None:
            return SubmitResult(scan=replay, replayed=True)
        _check_quota(tenant)
        artifact, known = artifact_store(schema=schema, source=Path(upload.temporary_file_path()), sha256=sha256,
                                         size=size, filename=original, ecosystem=fmt.ecosystem, fmt=fmt.key)
        previous = Scan.objects.filter(artifact=artifact).order_by("-created_at").first() if known else None
        scan = Scan(source=Scan.Source.UPLOAD, target=original, ecosystem=fmt.ecosystem, name=name, version=version,
                    submitted_name=name, submitted_version=version, filename=original, artifact=artifact,
                    sha256=sha256, size=size, previous_scan=previous)
        _create(scan, tenant=tenant, actor=actor, key=key, fingerprint=fingerprint, enqueue_task=enqueue_task,
                extra={"artifact_known": known})
    return SubmitResult(scan=scan)


def _create(scan: Scan, *, tenant: Any, actor: Actor, key: str, fingerprint: str, enqueue_task: bool,
            extra: dict[str, Any] | None = None) -> None:
    now = timezone.now()
    scan.submitted_by = actor.signed_in_user
    scan.status = Scan.StatusChoices.QUEUED
    scan.stage = Scan.Stage.SUBMITTED
    scan.queued_at = now
    scan.task_id = str(uuid.uuid4())
    scan.idempotency_key = key
    scan.idempotency_fingerprint = fingerprint if key else ""
    scan.save()
    audit_record(actor=actor, action="scan.create", resource_type="scan", resource_id=str(scan.id),
                 changes={"target": {"after": scan.target}, "ecosystem": {"after": scan.ecosystem},
                          "source": {"after": scan.source}, "sha256": {"after": scan.sha256}},
                 metadata=extra or {})
    publish_event(tenant=tenant, type="scan.queued", subject=f"scans/{scan.id}", data=event_data(scan), actor=actor)
    if enqueue_task:
        transaction.on_commit(lambda: enqueue(scan))


def _connection_for(ecosystem: str, connection_id: Any) -> Connection:
    kinds = CONNECTION_KINDS_FOR[ecosystem]
    if connection_id:
        try:
            conn = Connection.objects.filter(pk=uuid.UUID(str(connection_id))).first()
        except ValueError:
            conn = None
        if conn is None:
            raise ValidationFailed(details={"connection": ["No such connection."]})
        if conn.kind not in kinds:
            raise ValidationFailed(details={"connection": [f"The connection '{conn.name}' serves {conn.ecosystem} "
                                                           f"packages, not {ecosystem}."]})
        return conn
    conn = Connection.objects.filter(kind__in=kinds).order_by("-is_default", "name").first()
    if conn is None:
        raise Unprocessable(f"No registry connection serves {ecosystem} packages. An administrator can add one "
                            "under Connections (or upload the artifact instead).", code="no_connection",
                            details={"ecosystem": ecosystem})
    return conn


# --- Life cycle ----------------------------------------------------------------------------

def scan_cancel(*, tenant: Any, actor: Actor, scan: Scan) -> Scan:
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        _require_manage(actor, scan)
        if scan.is_terminal:
            raise Conflict(f"The scan is already {scan.status}; there is nothing to cancel.", code="scan_finished")
        before = scan.status
        scan.cancel_requested = True
        if scan.status != Scan.StatusChoices.RUNNING:
            scan.status = Scan.StatusChoices.CANCELLED
            scan.finished_at = timezone.now()
        scan.save()
        audit_record(actor=actor, action="scan.cancel", resource_type="scan", resource_id=str(scan.id),
                     changes={"status": {"before": before, "after": scan.status},
                              "cancel_requested": {"before": False, "after": True}})
        if scan.status == Scan.StatusChoices.CANCELLED:
            publish_event(tenant=tenant, type="scan.cancelled", subject=f"scans/{scan.id}", data=event_data(scan),
                          actor=actor)
    return scan


def scan_rescan(*, tenant: Any, actor: Actor, scan: Scan, enqueue_task: bool = True) -> Scan:
    """A new scan of the same artifact (or the same registry reference)."""
    _require_manage(actor, scan)
    if not _has(actor, "scanning.submit_scan"):
        raise PermissionDenied("You do not have permission to submit scans.")
    with transaction.atomic():
        _check_quota(tenant)
        new = Scan(source=scan.source, target=scan.target, ecosystem=scan.ecosystem, submitted_name=scan.submitted_name,
                   submitted_version=scan.submitted_version, name=scan.submitted_name, version=scan.submitted_version,
                   filename=scan.filename if scan.source == Scan.Source.UPLOAD else "",
                   connection=scan.connection)
        if scan.source == Scan.Source.UPLOAD:
            if scan.artifact is None or not artifact_file(connection.schema_name, scan.artifact.storage_path).exists():
                raise Conflict("The artifact of this scan is no longer stored; upload it again.",
                               code="artifact_missing")
            new.artifact, new.sha256, new.size, new.previous_scan = scan.artifact, scan.sha256, scan.size, scan
        elif scan.connection is None:
            raise Conflict("The registry connection of this scan was deleted; submit the reference again with "
                           "another connection.", code="connection_missing")
        _create(new, tenant=tenant, actor=actor, key="", fingerprint="", enqueue_task=enqueue_task,
                extra={"rescan_of": str(scan.id)})
    return new


def scan_delete(*, tenant: Any, actor: Actor, scan: Scan) -> None:
    if not can_see(actor, scan):
        raise NotFound("No such scan.")
    if not _has(actor, "scanning.manage_scans"):
        raise PermissionDenied("Deleting scans needs the 'manage scans' permission.")
    schema = connection.schema_name
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        artifact = scan.artifact
        snapshot = event_data(scan)
        Scan.objects.filter(previous_scan=scan).update(previous_scan=None)
        scan_id = str(scan.id)
        scan.delete()
        orphan = artifact is not None and not Scan.objects.filter(artifact=artifact).exists()
        if orphan:
            path = artifact_file(schema, artifact.storage_path)
            artifact.delete()
            transaction.on_commit(lambda: path.unlink(missing_ok=True))
        audit_record(actor=actor, action="scan.delete", resource_type="scan", resource_id=scan_id,
                     changes={"status": {"before": snapshot["status"], "after": None}},
                     metadata={"target": snapshot["target"], "artifact_removed": orphan})
        publish_event(tenant=tenant, type="scan.deleted", subject=f"scans/{scan_id}", data=snapshot, actor=actor)


def artifact_download(*, actor: Actor, scan: Scan) -> tuple[Path, Artifact]:
    """Check and audit a download of a scan's artifact; returns the file to stream."""
    if not can_see(actor, scan):
        raise NotFound("No such scan.")
    if not _has(actor, "scanning.download_artifact"):
        raise PermissionDenied("Downloading artifacts needs the 'download artifacts' permission.")
    if scan.artifact is None:
        raise NotFound("This scan has no stored artifact (the registry fetch did not complete).")
    path = artifact_file(connection.schema_name, scan.artifact.storage_path)
    if not path.exists():
        raise NotFound("The artifact file is no longer stored.")
    audit_record(actor=actor, action="artifact.download", resource_type="artifact",
                 resource_id=str(scan.artifact.id), metadata={"scan": str(scan.id), "sha256": scan.artifact.sha256})
    return path, scan.artifact


def delete_tenant_files(schema: str) -> None:
    """Remove an organization's stored artifacts and uploads (its schema is being dropped)."""
    root = tenant_root(schema)
    if root.exists() and root.resolve().parent == Path(settings.DATA_ROOT).resolve():
        shutil.rmtree(root, ignore_errors=True)


# --- Connections ---------------------------------------------------------------------------

CONNECTION_FIELDS = ("name", "kind", "base_url", "auth_type", "username", "options", "is_default", "timeout_seconds")
_OPTION_KEYS = {"debian": {"suite", "component", "arch"}, "rpm": {"arch"}, "alpine": {"arch"}}


def _validate_connection(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if data.get("kind") not in Connection.Kind.values:
        errors["kind"] = [f"Choose one of: {', '.join(Connection.Kind.values)}."]
    url = str(data.get("base_url") or "")
    if not re.match(r"^https?://[^\s/]+", url):
        errors["base_url"] = ["Give the registry's http(s) base URL."]
    if data.get("auth_type") not in Connection.AuthType.values:
        errors["auth_type"] = [f"Choose one of: {', '.join(Connection.AuthType.values)}."]
    options = data.get("options") or {}
    if not isinstance(options, dict):
        errors["options"] = ["Options must be an object."]
    else:
        allowed = _OPTION_KEYS.get(str(data.get("kind")), set())
        unknown = sorted(set(options) - allowed)
        if unknown:
            errors["options"] = [f"Unknown option(s) {', '.join(unknown)}; "
                                 f"this kind accepts: {', '.join(sorted(allowed)) or 'none'}."]
        elif any(not isinstance(v, str) or not re.match(r"^[A-Za-z0-9._-]{1,64}$", v) for v in options.values()):
            errors["options"] = ["Option values are short names (letters, digits, . _ -)."]
    if not str(data.get("name") or "").strip():
        errors["name"] = ["A name is required."]
    timeout = data.get("timeout_seconds", 30)
    if not isinstance(timeout, int) or not 1 <= timeout <= 300:
        errors["timeout_seconds"] = ["Use 1 to 300 seconds."]
    return errors


def _snapshot(conn: Connection) -> dict[str, Any]:
    return {f: getattr(conn, f) for f in CONNECTION_FIELDS} | {"has_secret": conn.has_secret}


def _save_connection(conn: Connection) -> None:
    try:
        with transaction.atomic():
            if conn.is_default:
                Connection.objects.filter(kind=conn.kind, is_default=True).exclude(pk=conn.pk).update(is_default=False)
            conn.save()
    except IntegrityError as exc:
        raise Conflict(f"A connection named '{conn.name}' already exists.", code="connection_exists") from exc


def connection_create(*, actor: Actor, data: dict[str, Any], secret: str = "") -> Connection:
    if not _has(actor, "scanning.manage_connections"):
        raise PermissionDenied("Managing connections needs the 'manage connections' permission.")
    values = {"auth_type": "none", "options": {}, "is_default": False, "timeout_seconds": 30, "username": "", **data}
    errors = _validate_connection(values)
    if errors:
        raise ValidationFailed(details=errors)
    with transaction.atomic():
        conn = Connection(**{f: values[f] for f in CONNECTION_FIELDS if f in values})
        conn.name = conn.name.strip()
        conn.base_url = conn.base_url.rstrip("/")
        conn.secret_encrypted = crypto.encrypt(secret) if secret else ""
        conn.created_by = actor.signed_in_user
        _save_connection(conn)
        audit_record(actor=actor, action="connection.create", resource_type="connection", resource_id=str(conn.id),
                     changes={k: {"after": v} for k, v in _snapshot(conn).items()})
    return conn


def connection_update(*, actor: Actor, conn: Connection, data: dict[str, Any], secret: str | None = None) -> Connection:
    if not _has(actor, "scanning.manage_connections"):
        raise PermissionDenied("Managing connections needs the 'manage connections' permission.")
    before = _snapshot(conn)
    values = {**{f: getattr(conn, f) for f in CONNECTION_FIELDS}, **{k: v for k, v in data.items()
                                                                    if k in CONNECTION_FIELDS}}
    errors = _validate_connection(values)
    if errors:
        raise ValidationFailed(details=errors)
    with transaction.atomic():
        for f in CONNECTION_FIELDS:
            setattr(conn, f, values[f])
        conn.base_url = conn.base_url.rstrip("/")
        if secret is not None:
            conn.secret_encrypted = crypto.encrypt(secret) if secret else ""
        _save_connection(conn)
        changes = diff(before, _snapshot(conn))
        if secret is not None:
            changes["secret"] = {"before": "(set)" if before["has_secret"] else "", "after": "(changed)"}
        audit_record(actor=actor, action="connection.update", resource_type="connection", resource_id=str(conn.id),
                     changes=changes)
    return conn


def connection_delete(*, actor: Actor, conn: Connection) -> None:
    if not _has(actor, "scanning.manage_connections"):
        raise PermissionDenied("Managing connections needs the 'manage connections' permission.")
    with transaction.atomic():
        conn_id = str(conn.id)
        snapshot = _snapshot(conn)
        conn.delete()
        audit_record(actor=actor, action="connection.delete", resource_type="connection", resource_id=conn_id,
                     changes={k: {"before": v} for k, v in snapshot.items()})


def connection_spec(conn: Connection) -> ConnectionSpec:
    return ConnectionSpec(kind=conn.kind, base_url=conn.base_url, auth_type=conn.auth_type, username=conn.username,
                          secret=crypto.decrypt(conn.secret_encrypted), options=dict(conn.options or {}),
                          timeout=int(conn.timeout_seconds or 30))


def connection_test(*, actor: Actor, conn: Connection) -> tuple[bool, str]:
    """Reach the registry with the stored credentials; records and audits the outcome."""
    if not _has(actor, "scanning.manage_connections"):
        raise PermissionDenied("Managing connections needs the 'manage connections' permission.")
    try:
        message = probe_connection(connection_spec(conn))
        ok = True
    except FetchError as exc:
        ok, message = False, exc.message
    except crypto.SecretUnreadable as exc:
        ok, message = False, str(exc)
    conn.last_tested_at = timezone.now()
    conn.last_test_ok = ok
    conn.last_test_message = message[:500]
    with transaction.atomic():
        conn.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message", "updated_at"])
        audit_record(actor=actor, action="connection.test", resource_type="connection", resource_id=str(conn.id),
                     outcome="success" if ok else "failure", reason=message[:500])
    return ok, message


def connections_rotate_keys(*, actor: Actor) -> int:
    """Re-encrypt every stored secret of this schema with the first FERNET_KEYS key."""
    count = 0
    with transaction.atomic():
        for conn in Connection.objects.select_for_update().exclude(secret_encrypted=""):
            conn.secret_encrypted = crypto.rotate(conn.secret_encrypted)
            conn.save(update_fields=["secret_encrypted", "updated_at"])
            count += 1
        if count:
            audit_record(actor=actor, action="connection.rotate_keys", resource_type="connection",
                         metadata={"count": count})
    return count
