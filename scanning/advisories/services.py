"""Writes to the advisory database: importing OSV data from files, directories, zips and URLs.

Imports run in batches: each batch looks up which ids exist (one query), inserts the
new advisories and their affected packages with bulk inserts, and rewrites the
advisories whose `modified` time is newer than the stored one. Unchanged advisories
are left alone, so re-importing the same export is cheap. A malformed advisory is
reported (origin and reason) and skipped; the rest still load.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from audit.context import Actor
from audit.services import audit_record
from config.errors import ValidationFailed
from scanning.advisories.models import Advisory, AffectedPackage
from scanning.advisories.osv import OsvError, ParsedAdvisory, iter_documents, parse_osv

logger = logging.getLogger(__name__)

ADVISORY_FIELDS = (
    "aliases", "summary", "details", "severity", "severity_source", "cvss_vector", "cvss_score", "references",
    "published", "modified", "withdrawn", "schema_version", "source",
)
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)  # "origin: reason", at most MAX_REPORTED_ERRORS kept
    sources: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.created + self.updated

    def add_error(self, origin: str, reason: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"{origin}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "skipped": self.skipped, "errors": self.errors[:20], "sources": self.sources}


def _advisory_row(parsed: ParsedAdvisory, source: str) -> Advisory:
    return Advisory(
        osv_id=parsed.osv_id, aliases=parsed.aliases, summary=parsed.summary, details=parsed.details,
        severity=parsed.severity, severity_source=parsed.severity_source, cvss_vector=parsed.cvss_vector,
        cvss_score=parsed.cvss_score, references=parsed.references, published=parsed.published,
        modified=parsed.modified, withdrawn=parsed.withdrawn, schema_version=parsed.schema_version,
        source=source[:500],
    )


def _affected_rows(advisory_id: int, parsed: ParsedAdvisory) -> Iterator[AffectedPackage]:
    for item in parsed.affected:
        yield AffectedPackage(
            advisory_id=advisory_id, osv_ecosystem=item.osv_ecosystem, ecosystem=item.ecosystem, name=item.name,
            normalized_name=item.normalized_name, purl=item.purl, ranges=item.ranges,
            versions=[v[:200] for v in item.versions], fixed=[v[:200] for v in item.fixed], severity=item.severity,
        )


def _write_batch(batch: dict[str, tuple[ParsedAdvisory, str]], report: ImportReport) -> None:
    existing = {
        osv_id: (pk, modified)
        for osv_id, pk, modified in Advisory.objects.filter(osv_id__in=list(batch)).values_list("osv_id", "pk", "modified")
    }
    to_create: list[tuple[Advisory, ParsedAdvisory]] = []
    to_update: list[tuple[Advisory, ParsedAdvisory]] = []
    for osv_id, (parsed, source) in batch.items():
        row = _advisory_row(parsed, source)
        if osv_id not in existing:
            to_create.append((row, parsed))
        elif parsed.modified > existing[osv_id][1]:
            row.pk = existing[osv_id][0]
            to_update.append((row, parsed))
        else:
            report.unchanged += 1
    if not to_create and not to_update:
        return
    with transaction.atomic():
        created = Advisory.objects.bulk_create([row for row, _ in to_create], batch_size=1000)
        if to_update:
            Advisory.objects.bulk_update([row for row, _ in to_update], ADVISORY_FIELDS, batch_size=500)
            AffectedPackage.objects.filter(advisory_id__in=[row.pk for row, _ in to_update]).delete()
        affected: list[AffectedPackage] = []
        for row, (_, parsed) in zip(created, to_create, strict=True):
            affected.extend(_affected_rows(row.pk, parsed))
        for row, parsed in to_update:
            affected.extend(_affected_rows(row.pk, parsed))
        AffectedPackage.objects.bulk_create(affected, batch_size=2000)
    report.created += len(to_create)
    report.updated += len(to_update)


def _import_documents(documents: Iterable[tuple[str, Any, str]], report: ImportReport, batch_size: int) -> None:
    """documents: (origin, document or None, error) triples."""
    batch: dict[str, tuple[ParsedAdvisory, str]] = {}
    for origin, document, error in documents:
        if error:
            report.add_error(origin, error)
            continue
        try:
            parsed = parse_osv(document)
        except OsvError as exc:
            label = document.get("id") if isinstance(document, dict) and isinstance(document.get("id"), str) else ""
            report.add_error(f"{origin} ({label})" if label else origin, str(exc))
            continue
        previous = batch.get(parsed.osv_id)
        if previous is not None:
            # The same id twice in one import: keep the newer, count the other as unchanged.
            report.unchanged += 1
            if previous[0].modified >= parsed.modified:
                continue
        batch[parsed.osv_id] = (parsed, origin)
        if len(batch) >= batch_size:
            _write_batch(batch, report)
            batch = {}
    if batch:
        _write_batch(batch, report)


def _ensure_public_schema() -> None:
    if getattr(connection, "schema_name", "public") != settings.PUBLIC_SCHEMA_NAME:
        raise ValidationFailed("Advisories are shared data: import them from the platform (public schema), "
                               "not from inside an organization.")


def advisories_import(*, paths: Iterable[str | Path], actor: Actor, batch_size: int = 1000) -> ImportReport:
    """Import OSV advisories from files, directories or zip archives; returns what happened."""
    _ensure_public_schema()
    report = ImportReport()
    for raw_path in paths:
        path = Path(raw_path)
        report.sources.append(str(path))

        def documents(p: Path = path) -> Iterator[tuple[str, Any, str]]:
            for raw in iter_documents(p):
                yield raw.origin, raw.document, raw.error

        _import_documents(documents(), report, batch_size)
    audit_record(
        actor=actor, action="advisory.import", resource_type="advisory_source",
        resource_id=(",".join(report.sources))[:64],
        outcome="success" if report.loaded or not report.skipped else "failure",
        metadata=report.as_dict(),
    )
    logger.info("advisories imported", extra={"advisories": report.as_dict()})
    return report


def _download(url: str, directory: Path) -> Path:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise ValidationFailed(f"Advisory source {url!r} is neither a path nor an http(s) URL.")
    name = Path(parsed.path).name or "advisories.json"
    target = directory / name
    limit = settings.ADVISORY_DOWNLOAD_MAX_BYTES
    # The scheme was checked above: http(s) only.
    request = urllib.request.Request(url, headers={"User-Agent": f"Gatehouse/{settings.GATEHOUSE_VERSION}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=settings.ADVISORY_DOWNLOAD_TIMEOUT) as response:  # noqa: S310
        with open(target, "wb") as out:
            copied = 0
            while chunk := response.read(1024 * 1024):
                copied += len(chunk)
                if copied > limit:
                    raise ValidationFailed(f"Advisory source {url} is larger than {limit} bytes; "
                                           "raise ADVISORY_DOWNLOAD_MAX_BYTES to accept it.")
                out.write(chunk)
    return target


def advisories_sync(*, sources: Iterable[str] | None = None, actor: Actor) -> ImportReport:
    """Import every configured source (ADVISORY_SOURCES): local paths as they are, URLs downloaded first.

    A source that cannot be fetched is reported in the result and the others still load.
    """
    chosen = list(settings.ADVISORY_SOURCES if sources is None else sources)
    total = ImportReport()
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-advisories-"))
    try:
        for source in chosen:
            is_url = "://" in source
            try:
                path = _download(source, workdir) if is_url else Path(source)
                report = advisories_import(paths=[path], actor=actor)
            except (OSError, ValidationFailed) as exc:
                reason = getattr(exc, "message", None) or str(exc)
                total.sources.append(source)
                total.add_error(source, f"could not be fetched: {reason}")
                logger.warning("advisory source failed", extra={"source": source, "reason": reason})
                continue
            total.created += report.created
            total.updated += report.updated
            total.unchanged += report.unchanged
            total.skipped += report.skipped
            total.errors.extend(report.errors[: MAX_REPORTED_ERRORS - len(total.errors)])
            total.sources.append(source)
            if is_url:
                path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return total
