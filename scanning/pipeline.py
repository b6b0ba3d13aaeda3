"""The scan pipeline: fetch → verify → extract → analyze → score → verdict → complete.

`scan_run(scan_id=...)` runs one scan in the current tenant schema (the Celery task
in scanning/tasks.py is a thin wrapper). It is idempotent: a scan already finished
is left alone, a scan found `running` (its worker died and the broker redelivered
the task) starts again from scratch, and every write of results replaces the
previous attempt's. Each stage is saved on the row and published through
`messaging.events.publish_progress`; cancellation is noticed at every stage
boundary. The sandbox and downloads live in a private temporary directory that is
removed whatever happens.

`analysis_context_for(path, ecosystem, workdir, ...)` is the same extraction and
parsing, for tests and corpus runs: it yields an `AnalysisContext` and removes the
sandbox afterwards (see docs/scanning.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from scanning import hooks
from scanning import integrity as _integrity  # noqa: F401 - registers the PKG-INT checks
from scanning.analyzers import registry
from scanning.analyzers.base import AnalysisContext, Check, FindingDraft, Severity, Status, get_check
from scanning.extraction import INT_DIGEST, ArchiveRefused, Limits, check_magic, extract, remove_tree
from scanning.formats import ArtifactFormat, format_for
from scanning.package_metadata import parse_metadata
from scanning.scoring import Row, ScoreResult, compute, row_score

logger = logging.getLogger(__name__)

PROGRESS = {"fetch": 5, "verify": 20, "extract": 30, "analyze": 45, "score": 90, "verdict": 95, "complete": 100}


class ScanCancelled(Exception):
    pass


class EnrichmentFailed(Exception):
    def __init__(self, name: str, exc: BaseException) -> None:
        super().__init__(f"The context enricher '{name}' failed: {type(exc).__name__}.")
        self.name = name


# --- Paths ---------------------------------------------------------------------------------

def tenant_root(schema: str) -> Path:
    return Path(settings.DATA_ROOT) / schema


def work_root() -> Path:
    root = Path(settings.SCANNING_WORK_DIR) if settings.SCANNING_WORK_DIR else Path(settings.DATA_ROOT) / ".work"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def artifact_storage_path(sha256: str) -> str:
    return f"artifacts/{sha256[:2]}/{sha256}"


def artifact_file(schema: str, storage_path: str) -> Path:
    return tenant_root(schema) / storage_path


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- Building the analysis context ---------------------------------------------------------

def build_context(path: Path, fmt: ArtifactFormat, sandbox: Path, *, name: str = "", version: str = "",
                  filename: str = "", sha256: str = "", size: int | None = None,
                  limits: Limits | None = None) -> AnalysisContext:
    """Extract `path` into `sandbox` (which must not exist) and parse its metadata."""
    extracted = extract(path, fmt, sandbox, limits)
    metadata = parse_metadata(extracted.files, fmt, extracted.rpm_header)
    return AnalysisContext(
        ecosystem=fmt.ecosystem, submitted_name=name or "", submitted_version=version or "", root=sandbox,
        files=extracted.files, metadata=metadata, artifact_name=filename or path.name, sha256=sha256,
        size=size if size is not None else path.stat().st_size, artifact_format=fmt.key, links=extracted.links,
        analysis_processes=_analysis_processes(),
        parallel_min_bytes=int(settings.SCANNING_PARALLEL_MIN_MB * 1024 * 1024),
    )


def _analysis_processes() -> int:
    configured = settings.SCANNING_ANALYSIS_PROCESSES
    return configured if configured > 0 else min(os.cpu_count() or 1, 4)


def run_enrichers(ctx: AnalysisContext) -> None:
    for name, enricher in hooks.context_enrichers():
        try:
            enricher(ctx)
        except Exception as exc:
            logger.exception("context enricher failed", extra={"enricher": name})
            raise EnrichmentFailed(name, exc) from exc


@contextmanager
def analysis_context_for(path: str | Path, ecosystem: str, workdir: str | Path, name: str | None = None,
                         version: str | None = None, *, filename: str | None = None, enrich: bool = False,
                         limits: Limits | None = None) -> Iterator[AnalysisContext]:
    """Yield the AnalysisContext of an artifact file, exactly as the pipeline builds it; clean up after.

    Raises `scanning.extraction.ArchiveRefused` for a hostile or corrupt archive and
    `scanning.formats.UnsupportedArtifact` for a file name that is not a supported type.
    """
    path = Path(path)
    fmt = format_for(filename or path.name, ecosystem)
    base = Path(tempfile.mkdtemp(prefix="gh-ctx-", dir=str(workdir)))
    try:
        sha256, size = file_sha256(path)
        ctx = build_context(path, fmt, base / "root", name=name or "", version=version or "",
                            filename=filename or path.name, sha256=sha256, size=size,
                            limits=limits or _default_limits())
        if enrich:
            run_enrichers(ctx)
        yield ctx
    finally:
        remove_tree(base)


def _default_limits() -> Limits:
    try:
        return Limits.from_settings()
    except Exception:  # settings not configured (a plain script)
        return Limits()


# --- Running analyzers ---------------------------------------------------------------------

@dataclass
class FindingRecord:
    check_id: str
    title: str
    category: str
    severity: str
    status: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    file_path: str = ""
    line: int | None = None
    weight: int = 0
    score: float = 0.0
    fingerprint: str = ""


def fingerprint(check_id: str, file_path: str, key: str) -> str:
    return hashlib.sha256(f"{check_id}\x00{file_path}\x00{key}".encode()).hexdigest()


def _record(check: Check, draft: FindingDraft) -> FindingRecord:
    severity = str(draft.severity or check.severity)
    status = str(draft.status)
    record = FindingRecord(
        check_id=check.id, title=(draft.title or check.title)[:300], category=str(check.category), severity=severity,
        status=status, detail=draft.detail, evidence=draft.evidence or {}, file_path=(draft.file_path or "")[:1024],
        line=draft.line if draft.line and draft.line > 0 else None, weight=check.weight,
        fingerprint=fingerprint(check.id, draft.file_path or "", draft.key or ("" if draft.file_path else
                                                                               draft.detail[:200])),
    )
    record.score = round(row_score(Row(check.id, record.category, severity, status, check.weight)), 2)
    return record


def check_record(check: Check, status: Status, detail: str = "") -> FindingRecord:
    return _record(check, FindingDraft(check_id=check.id, status=status, detail=detail, key=f"__{status}__"))


def analyze(ctx: AnalysisContext, *, on_analyzer: Callable[[int, int, str], None] | None = None
            ) -> list[FindingRecord]:
    """Run every analyzer; returns one record per draft plus `passed`/`not_applicable` rows for silent checks."""
    analyzers = registry.analyzers()
    records: list[FindingRecord] = []
    for index, analyzer in enumerate(analyzers):
        applicable = [c for c in analyzer.checks if c.applies_to(ctx.ecosystem)]
        drafts: list[FindingDraft] = []
        failed_exc: BaseException | None = None
        if applicable:
            started = time.perf_counter()
            try:
                drafts = list(analyzer.analyze(ctx) or [])
            except Exception as exc:  # one analyzer's bug must not lose the others' results
                failed_exc = exc
                logger.exception("analyzer failed", extra={"analyzer": analyzer.name})
            logger.debug("analyzer ran", extra={"analyzer": analyzer.name,
                                                "ms": round((time.perf_counter() - started) * 1000, 1)})
        by_check: dict[str, list[FindingDraft]] = {}
        for draft in drafts:
            by_check.setdefault(draft.check_id, []).append(draft)
        own = {c.id for c in analyzer.checks}
        for check in analyzer.checks:
            if failed_exc is not None and check in applicable:
                records.append(check_record(check, Status.ERROR,
                                            f"The {analyzer.name} analyzer failed ({type(failed_exc).__name__}); "
                                            "this check did not run."))
                continue
            check_drafts = by_check.get(check.id, [])
            if check_drafts:
                records.extend(_record(check, d) for d in check_drafts)
            elif not check.applies_to(ctx.ecosystem):
                records.append(check_record(check, Status.NOT_APPLICABLE,
                                            f"Does not apply to {ctx.ecosystem} packages."))
            else:
                records.append(check_record(check, Status.PASSED))
        for check_id, extra in by_check.items():
            if check_id in own:
                continue
            try:
                check = get_check(check_id)
            except KeyError:
                logger.warning("analyzer returned a draft for an unknown check",
                               extra={"analyzer": analyzer.name, "check": check_id})
                continue
            records.extend(_record(check, d) for d in extra)
        if on_analyzer is not None:
            on_analyzer(index + 1, len(analyzers), analyzer.name)
    return dedupe(records)


def dedupe(records: list[FindingRecord]) -> list[FindingRecord]:
    """One row per fingerprint; repeats are folded into the first row's evidence."""
    out: dict[str, FindingRecord] = {}
    for record in records:
        existing = out.get(record.fingerprint)
        if existing is None:
            out[record.fingerprint] = record
            continue
        more = existing.evidence.setdefault("other_occurrences", [])
        if isinstance(more, list) and len(more) < 20:
            more.append({"line": record.line, "detail": record.detail[:300]})
        if Severity(record.severity).rank > Severity(existing.severity).rank:
            existing.severity = record.severity
            existing.score = min(existing.score, record.score)
    return list(out.values())


def integrity_passed() -> list[FindingRecord]:
    from scanning.integrity import INTEGRITY_CHECKS

    return [check_record(c, Status.PASSED) for c in INTEGRITY_CHECKS]


def integrity_failure(refused: ArchiveRefused) -> FindingRecord:
    check = get_check(refused.check_id)
    return _record(check, FindingDraft(check_id=check.id, detail=refused.message, evidence=refused.evidence,
                                       file_path=str(refused.evidence.get("member", ""))[:1024],
                                       key=refused.check_id))


def score(records: list[FindingRecord]) -> ScoreResult:
    return compute(Row(r.check_id, r.category, r.severity, r.status, r.weight) for r in records)


def finding_counts(records: list[FindingRecord]) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for r in records:
        if r.status in ("failed", "warning"):
            counts[r.severity] = counts.get(r.severity, 0) + 1
    counts["total"] = sum(counts[s.value] for s in Severity)
    return counts


def metadata_summary(ctx: AnalysisContext) -> dict[str, Any]:
    meta = ctx.metadata
    base: dict[str, Any] = {"format": ctx.artifact_format, "files": len(ctx.files), "links": len(ctx.links),
                            "unpacked_bytes": sum(f.size for f in ctx.files)}
    if meta is None:
        return {**base, "found": False}
    deps = [asdict(d) for d in meta.dependencies[:200]]
    return {**base, "found": True, "name": meta.name, "version": meta.version, "summary": meta.summary[:500],
            "license": meta.license[:200], "author": meta.author[:200], "homepage": meta.homepage[:500],
            "source_file": meta.source_file, "dependencies": deps, "dependency_count": len(meta.dependencies),
            "install_scripts": sorted(meta.install_scripts)}


# --- The scan run --------------------------------------------------------------------------

def current_tenant() -> Any:
    from tenants.models import Tenant

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.get(schema_name=connection.schema_name)


def _progress(tenant: Any, scan_id: str, **data: Any) -> None:
    from messaging.events import publish_progress

    try:
        publish_progress(tenant=tenant, scan_id=scan_id, data={"scan_id": scan_id, **data})
    except Exception:  # a lost tick is harmless; the row holds the truth
        logger.warning("progress tick not published", exc_info=True, extra={"scan": scan_id})


class _Run:
    def __init__(self, scan_id: str, tenant: Any, workdir: Path | None = None) -> None:
        self.scan_id = scan_id
        self.tenant = tenant
        self.workdir = workdir
        self.timings: dict[str, float] = {}
        self._stage_started = time.perf_counter()
        self._stage = ""

    def stage(self, stage: str, progress: int | None = None) -> None:
        from scanning.models import Scan

        now = time.perf_counter()
        if self._stage:
            self.timings[self._stage] = round(self.timings.get(self._stage, 0) + now - self._stage_started, 4)
        self._stage, self._stage_started = stage, now
        pct = PROGRESS[stage] if progress is None else progress
        updated = Scan.objects.filter(pk=self.scan_id, status=Scan.StatusChoices.RUNNING,
                                      cancel_requested=False).update(stage=stage, progress=pct,
                                                                     updated_at=timezone.now())
        if not updated:
            raise ScanCancelled()
        _progress(self.tenant, self.scan_id, status="running", stage=stage, progress=pct)

    def tick(self, progress: int, **extra: Any) -> None:
        from scanning.models import Scan

        Scan.objects.filter(pk=self.scan_id, status=Scan.StatusChoices.RUNNING).update(progress=progress,
                                                                                       updated_at=timezone.now())
        _progress(self.tenant, self.scan_id, status="running", stage=self._stage, progress=progress, **extra)

    def cleanup(self) -> None:
        """Remove the run's private directory (before the scan is marked finished, and again at the end)."""
        if self.workdir is not None and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.workdir.exists():
                remove_tree(self.workdir)

    def close(self) -> dict[str, float]:
        if self._stage:
            self.timings[self._stage] = round(self.timings.get(self._stage, 0) + time.perf_counter()
                                              - self._stage_started, 4)
            self._stage = ""
        self.timings["total"] = round(sum(v for k, v in self.timings.items() if k != "total"), 4)
        return self.timings


def scan_run(*, scan_id: str, task_id: str = "") -> str:
    """Run (or re-run) one scan to a terminal state; returns that state. Raises TransientFetchError to retry."""
    from scanning.models import Scan
    from scanning.registries import FetchError, TransientFetchError

    tenant = current_tenant()
    scan_id = str(scan_id)
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None:
            logger.info("scan vanished before it ran", extra={"scan": scan_id})
            return "missing"
        if scan.is_terminal:
            return scan.status
        if scan.cancel_requested:
            _finish_cancelled(scan, tenant)
            return Scan.StatusChoices.CANCELLED
        # Found `running`: its worker died and the broker redelivered the task. Planned retries of
        # transient fetch errors come back `queued` and do not count against the limit.
        if scan.status == Scan.StatusChoices.RUNNING and scan.attempts >= settings.SCANNING_MAX_ATTEMPTS:
            _finish_failed(scan, tenant, code="too_many_attempts",
                           message=f"The scan was started {scan.attempts} times without finishing (its worker "
                                   "stopped each time); it was given up.")
            return Scan.StatusChoices.FAILED
        scan.attempts += 1
        scan.status = Scan.StatusChoices.RUNNING
        scan.started_at = timezone.now()
        scan.stage = Scan.Stage.FETCH
        scan.progress = PROGRESS["fetch"]
        scan.error_code = ""
        scan.error_message = ""
        if task_id:
            scan.task_id = task_id
        scan.save(update_fields=["attempts", "status", "started_at", "stage", "progress", "error_code",
                                 "error_message", "task_id", "updated_at"])
    workdir = Path(tempfile.mkdtemp(prefix=f"{connection.schema_name}-{scan_id[:8]}-", dir=str(work_root())))
    run = _Run(scan_id, tenant, workdir)
    _progress(tenant, scan_id, status="running", stage="fetch", progress=PROGRESS["fetch"])
    try:
        return _execute(scan, run, workdir)
    except ScanCancelled:
        run.cleanup()
        return _settle_cancelled(scan_id, tenant)
    except TransientFetchError:
        raise
    except FetchError as exc:
        run.cleanup()
        _fail(scan_id, tenant, code=exc.code, message=exc.message, timings=run.close())
        return Scan.StatusChoices.FAILED
    except EnrichmentFailed as exc:
        run.cleanup()
        _fail(scan_id, tenant, code="enrichment_failed", message=str(exc), timings=run.close())
        return Scan.StatusChoices.FAILED
    except Exception as exc:
        from celery.exceptions import SoftTimeLimitExceeded

        run.cleanup()
        if isinstance(exc, SoftTimeLimitExceeded):
            _fail(scan_id, tenant, code="time_limit",
                  message=f"The scan took longer than {settings.SCANNING_SOFT_TIME_LIMIT} s and was stopped.",
                  timings=run.close())
            return Scan.StatusChoices.FAILED
        logger.exception("scan failed unexpectedly", extra={"scan": scan_id})
        _fail(scan_id, tenant, code="internal_error",
              message="The scan failed because of an internal error. It has been logged; re-run the scan or "
                      "contact your Gatehouse administrator.", timings=run.close())
        return Scan.StatusChoices.FAILED
    finally:
        run.cleanup()


def _execute(scan: Any, run: _Run, workdir: Path) -> str:
    from scanning.models import Scan

    schema = connection.schema_name
    # fetch
    run.stage("fetch")
    path, fmt, actual, expected = _fetch(scan, workdir, schema)
    # verify
    run.stage("verify")
    try:
        _verify(scan, path, fmt, actual, expected)
        check_magic(path, fmt)
    except ArchiveRefused as refused:
        return _refuse(scan.id, run, refused)
    # extract
    run.stage("extract")
    try:
        ctx = build_context(path, fmt, workdir / "sandbox", name=scan.submitted_name, version=scan.submitted_version,
                            filename=scan.filename or path.name, sha256=actual.get("sha256", ""),
                            size=scan.size, limits=Limits.from_settings())
    except ArchiveRefused as refused:
        return _refuse(scan.id, run, refused)
    # analyze
    run.stage("analyze")
    run_enrichers(ctx)
    span = PROGRESS["score"] - PROGRESS["analyze"]
    records = analyze(ctx, on_analyzer=lambda i, n, name: run.tick(PROGRESS["analyze"] + span * i // max(n, 1),
                                                                  analyzer=name))
    records = integrity_passed() + records
    # score
    run.stage("score")
    result = score(records)
    summary = metadata_summary(ctx)
    run.stage("verdict")
    run.cleanup()
    timings = run.close()
    with transaction.atomic():
        locked = Scan.objects.select_for_update().filter(pk=scan.id).first()
        if locked is None:
            return "missing"
        if locked.status != Scan.StatusChoices.RUNNING or locked.cancel_requested:
            raise ScanCancelled()
        _store_results(locked, records, result)
        meta = ctx.metadata
        if meta is not None:
            locked.name = locked.name or meta.name[:214]
            locked.version = locked.version or meta.version[:128]
        locked.package_metadata = summary
        locked.timings = timings
        _run_verdict_hooks(locked)
        locked.status = Scan.StatusChoices.COMPLETED
        locked.stage = Scan.Stage.COMPLETE
        locked.progress = 100
        locked.finished_at = timezone.now()
        locked.save()
        _completed_event(locked, run.tenant)
    _progress(run.tenant, str(scan.id), status="completed", stage="complete", progress=100, score=result.overall,
              grade=result.grade, verdict=locked.verdict)
    return Scan.StatusChoices.COMPLETED


def _fetch(scan: Any, workdir: Path, schema: str) -> tuple[Path, ArtifactFormat, dict[str, str], dict[str, str]]:
    """The artifact file to scan, its format, its actual digests and the registry's expected ones."""
    from scanning.models import Scan
    from scanning.registries import FetchError, fetch
    from scanning.services import artifact_store, connection_spec

    if scan.source == Scan.Source.UPLOAD:
        artifact = scan.artifact
        path = artifact_file(schema, artifact.storage_path)
        if not path.exists():
            raise FetchError("The uploaded artifact is no longer stored; submit it again.", code="artifact_missing")
        return path, format_for(scan.filename or artifact.filename, scan.ecosystem), {}, {}
    conn = scan.connection
    if conn is None:
        raise FetchError("The scan's registry connection was deleted; re-submit it with another connection.",
                         code="connection_missing")
    downloads = workdir / "download"
    downloads.mkdir(mode=0o700)
    downloaded = fetch(connection_spec(conn), name=scan.submitted_name, version=scan.submitted_version,
                       filename=scan.filename or None, dest_dir=downloads, max_bytes=max_artifact_bytes())
    fmt = format_for(downloaded.filename, scan.ecosystem)
    artifact, known = artifact_store(schema=schema, source=downloaded.path, sha256=downloaded.sha256,
                                     size=downloaded.size, filename=downloaded.filename, ecosystem=scan.ecosystem,
                                     fmt=fmt.key)
    previous = Scan.objects.filter(artifact=artifact).exclude(pk=scan.pk).order_by("-created_at").first()
    Scan.objects.filter(pk=scan.pk).update(
        artifact=artifact, sha256=downloaded.sha256, size=downloaded.size, filename=downloaded.filename,
        expected_digests=downloaded.expected, previous_scan=previous, updated_at=timezone.now())
    scan.artifact, scan.sha256, scan.size, scan.filename = artifact, downloaded.sha256, downloaded.size, \
        downloaded.filename
    stored = artifact_file(schema, artifact.storage_path)
    logger.info("artifact fetched", extra={"scan": str(scan.id), "url": downloaded.url, "size": downloaded.size,
                                           "known": known})
    return stored, fmt, downloaded.actual, downloaded.expected


def _verify(scan: Any, path: Path, fmt: ArtifactFormat, actual: dict[str, str], expected: dict[str, str]) -> None:
    from scanning.registries import apk_control_sha1

    sha256, size = file_sha256(path)
    recorded = scan.artifact.sha256 if scan.artifact is not None else scan.sha256
    if recorded and sha256 != recorded:
        raise ArchiveRefused(INT_DIGEST, "The stored artifact no longer matches the SHA-256 recorded when it was "
                                         "received: it changed at rest.",
                             {"recorded": recorded, "actual": sha256})
    actual = {**actual, "sha256": sha256}
    for algo in ("sha256", "sha512", "sha1"):
        want = (expected.get(algo) or "").lower()
        if want and actual.get(algo) and actual[algo] != want:
            raise ArchiveRefused(INT_DIGEST, f"The downloaded artifact's {algo} does not match the one the registry "
                                             f"publishes: it was altered in transit or the registry is inconsistent.",
                                 {"algorithm": algo, "expected": want, "actual": actual[algo]})
    if expected.get("apk_control_sha1") and fmt.key == "apk":
        got = apk_control_sha1(path)
        if got != expected["apk_control_sha1"]:
            raise ArchiveRefused(INT_DIGEST, "The package's control segment does not match the checksum in "
                                             "APKINDEX.", {"expected": expected["apk_control_sha1"], "actual": got})


def max_artifact_bytes(tenant: Any = None) -> int:
    tenant = tenant or current_tenant()
    plan_mb = tenant.plan.max_upload_mb if hasattr(tenant, "plan") else settings.SCANNING_MAX_UPLOAD_MB
    return min(int(settings.SCANNING_MAX_UPLOAD_MB), int(plan_mb)) * 1024 * 1024


def _store_results(scan: Any, records: list[FindingRecord], result: ScoreResult) -> None:
    from scanning.models import CategoryScore, Finding

    Finding.objects.filter(scan=scan).delete()
    CategoryScore.objects.filter(scan=scan).delete()
    Finding.objects.bulk_create([
        Finding(scan=scan, check_id=r.check_id, title=r.title, category=r.category, severity=r.severity,
                status=r.status, detail=r.detail, evidence=_jsonable(r.evidence), file_path=r.file_path, line=r.line,
                weight=r.weight, score=r.score, fingerprint=r.fingerprint)
        for r in records
    ], batch_size=500)
    CategoryScore.objects.bulk_create([
        CategoryScore(scan=scan, category=c.category, score=c.score, max_score=c.max_score, weight=c.weight,
                      counts=c.counts)
        for c in result.categories
    ])
    scan.score = result.overall
    scan.grade = result.grade
    scan.finding_counts = finding_counts(records)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value.replace("\x00", "") if isinstance(value, str) else value
    return str(value)


def _run_verdict_hooks(scan: Any) -> None:
    for name, hook in hooks.verdict_hooks():
        try:
            with transaction.atomic():
                hook(scan)
        except Exception:
            logger.exception("verdict hook failed", extra={"hook": name, "scan": str(scan.id)})
            scan.verdict = None
            scan.error_message = ("The policy step failed, so the scan has no verdict; re-evaluate it once the "
                                  "problem is fixed.")[:1000]


def _refuse(scan_id: Any, run: _Run, refused: ArchiveRefused) -> str:
    from scanning.models import CategoryScore, Finding, Scan

    run.cleanup()
    timings = run.close()
    record = integrity_failure(refused)
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None:
            return "missing"
        Finding.objects.filter(scan=scan).delete()
        CategoryScore.objects.filter(scan=scan).delete()
        Finding.objects.create(scan=scan, check_id=record.check_id, title=record.title, category=record.category,
                               severity=record.severity, status=record.status, detail=record.detail,
                               evidence=_jsonable(record.evidence), file_path=record.file_path, line=record.line,
                               weight=record.weight, score=record.score, fingerprint=record.fingerprint)
        scan.finding_counts = finding_counts([record])
        scan.timings = timings
        _finish_failed(scan, run.tenant, code="archive_refused", message=f"{record.check_id}: {refused.message}")
    return Scan.StatusChoices.FAILED


def _fail(scan_id: Any, tenant: Any, *, code: str, message: str, timings: dict[str, float] | None = None) -> None:
    from scanning.models import Scan

    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None or scan.is_terminal:
            return
        if timings:
            scan.timings = timings
        _finish_failed(scan, tenant, code=code, message=message)


def _finish_failed(scan: Any, tenant: Any, *, code: str, message: str, actor: Any = None) -> None:
    """Mark a locked scan failed, with audit and event, inside the caller's transaction."""
    from audit.context import Actor
    from audit.services import audit_record
    from messaging.events import publish_event
    from scanning.models import Scan

    before = scan.status
    scan.status = Scan.StatusChoices.FAILED
    scan.error_code = code[:64]
    scan.error_message = message[:1000]
    scan.finished_at = timezone.now()
    scan.save()
    actor = actor or Actor.system("scan-pipeline")
    audit_record(actor=actor, action="scan.fail", resource_type="scan", resource_id=str(scan.id),
                 changes={"status": {"before": before, "after": scan.status}}, outcome="failure",
                 reason=f"{code}: {message}"[:500])
    publish_event(tenant=tenant, type="scan.failed", subject=f"scans/{scan.id}",
                  data={**event_data(scan), "error": {"code": scan.error_code, "message": scan.error_message}})
    transaction.on_commit(lambda: _progress(tenant, str(scan.id), status="failed", stage=scan.stage,
                                            progress=scan.progress, error=scan.error_code))


def _finish_cancelled(scan: Any, tenant: Any) -> None:
    from audit.context import Actor
    from audit.services import audit_record
    from messaging.events import publish_event
    from scanning.models import Scan

    before = scan.status
    scan.status = Scan.StatusChoices.CANCELLED
    scan.finished_at = scan.finished_at or timezone.now()
    scan.save()
    audit_record(actor=Actor.system("scan-pipeline"), action="scan.cancelled", resource_type="scan",
                 resource_id=str(scan.id), changes={"status": {"before": before, "after": scan.status}})
    publish_event(tenant=tenant, type="scan.cancelled", subject=f"scans/{scan.id}", data=event_data(scan))
    transaction.on_commit(lambda: _progress(tenant, str(scan.id), status="cancelled", stage=scan.stage,
                                            progress=scan.progress))


def _settle_cancelled(scan_id: str, tenant: Any) -> str:
    from scanning.models import Scan

    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None:
            return "missing"
        if scan.status == Scan.StatusChoices.RUNNING:
            _finish_cancelled(scan, tenant)
        return scan.status


def _completed_event(scan: Any, tenant: Any) -> None:
    from audit.context import Actor
    from audit.services import audit_record
    from messaging.events import publish_event

    audit_record(actor=Actor.system("scan-pipeline"), action="scan.complete", resource_type="scan",
                 resource_id=str(scan.id), changes={"status": {"before": "running", "after": "completed"},
                                                    "score": {"after": scan.score}, "verdict": {"after": scan.verdict}})
    publish_event(tenant=tenant, type="scan.completed", subject=f"scans/{scan.id}",
                  data={**event_data(scan), "score": scan.score, "grade": scan.grade, "verdict": scan.verdict,
                        "finding_counts": scan.finding_counts})


def event_data(scan: Any) -> dict[str, Any]:
    return {
        "scan_id": str(scan.id), "status": scan.status, "ecosystem": scan.ecosystem, "name": scan.name,
        "version": scan.version, "target": scan.target, "sha256": scan.sha256,
        "submitted_by": str(scan.submitted_by_id) if scan.submitted_by_id else None,
    }


def mark_retrying(*, scan_id: str, message: str, countdown: int) -> None:
    """A transient fetch error: back to `queued` until the retry runs."""
    from scanning.models import Scan

    Scan.objects.filter(pk=scan_id, status=Scan.StatusChoices.RUNNING).update(
        status=Scan.StatusChoices.QUEUED, stage=Scan.Stage.FETCH, error_code="fetch_retrying",
        error_message=f"{message} Retrying in {countdown} s."[:1000], updated_at=timezone.now())
    _progress(current_tenant(), str(scan_id), status="queued", stage="fetch", progress=PROGRESS["fetch"],
              retry_in=countdown)


def fail_after_retries(*, scan_id: str, message: str) -> None:
    _fail(scan_id, current_tenant(), code="fetch_failed",
          message=f"{message} Gave up after {settings.SCANNING_FETCH_RETRIES} retries.")


def reap_stuck(*, older_than_seconds: int | None = None, now: Any = None) -> list[str]:
    """Fail (or settle as cancelled) scans left `running` past the hard time limit in this schema."""
    from datetime import timedelta

    from scanning.models import Scan

    limit = older_than_seconds if older_than_seconds is not None else \
        settings.SCANNING_TIME_LIMIT + settings.SCANNING_STUCK_GRACE_SECONDS
    cutoff = (now or timezone.now()) - timedelta(seconds=limit)
    reaped = []
    tenant = None
    candidates = list(Scan.objects.filter(status=Scan.StatusChoices.RUNNING, started_at__lt=cutoff)
                      .values_list("pk", flat=True))
    for scan_id in candidates:
        tenant = tenant or current_tenant()
        with transaction.atomic():
            scan = Scan.objects.select_for_update(skip_locked=True).filter(
                pk=scan_id, status=Scan.StatusChoices.RUNNING, started_at__lt=cutoff).first()
            if scan is None:
                continue
            if scan.cancel_requested:
                _finish_cancelled(scan, tenant)
            else:
                _finish_failed(scan, tenant, code="stuck",
                               message=f"The scan stayed in stage '{scan.stage}' for more than {limit} s: its worker "
                                       "stopped or was killed. Re-run the scan.")
            reaped.append(str(scan_id))
    return reaped


def stored_file_size(path: Path) -> int:
    return os.stat(path).st_size
