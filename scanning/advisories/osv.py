"""Reading OSV documents (https://ossf.github.io/osv-schema/) into plain values (no database).

`parse_osv(doc)` validates one advisory and returns a `ParsedAdvisory`, or raises
`OsvError` saying what is wrong, so the importer can report and skip it while the
rest load. `iter_documents(path)` yields the raw documents of a single JSON file
(an advisory or a list of advisories), a directory (recursively) or a zip archive
such as an OSV ecosystem export.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanning.analyzers.cvss import CvssError, score_vector
from scanning.analyzers.versions import fixed_versions, normalize_name


class OsvError(ValueError):
    """One advisory that cannot be loaded, and why."""


# OSV ecosystem (the part before any ':') -> Gatehouse ecosystem.
ECOSYSTEM_MAP = {
    "pypi": "pypi",
    "npm": "npm",
    "debian": "debian",
    "alpine": "alpine",
    "red hat": "rpm",
    "rocky linux": "rpm",
    "almalinux": "rpm",
    "opensuse": "rpm",
    "suse": "rpm",
    "mageia": "rpm",
    "openeuler": "rpm",
    "photon os": "rpm",
    "azure linux": "rpm",
    "fedora": "rpm",
}

SEVERITIES = ("critical", "high", "medium", "low", "info")
# Ratings used by advisory databases (GitHub's "moderate", Debian's "unimportant"...).
_RATING_MAP = {
    "critical": "critical", "high": "high", "important": "high", "moderate": "medium", "medium": "medium",
    "low": "low", "negligible": "low", "unimportant": "low", "none": "info", "info": "info",
}
MAX_TEXT = 20_000
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def map_ecosystem(osv_ecosystem: str) -> str:
    return ECOSYSTEM_MAP.get(osv_ecosystem.split(":", 1)[0].strip().lower(), "")


@dataclass
class ParsedAffected:
    osv_ecosystem: str
    ecosystem: str
    name: str
    normalized_name: str
    purl: str
    ranges: list[dict[str, Any]]
    versions: list[str]
    fixed: list[str]
    severity: str = ""


@dataclass
class ParsedAdvisory:
    osv_id: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    aliases: list[str]
    summary: str
    details: str
    severity: str
    severity_source: str
    cvss_vector: str
    cvss_score: float | None
    references: list[str]
    affected: list[ParsedAffected] = field(default_factory=list)
    schema_version: str = ""


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any, what: str, *, required: bool = False) -> datetime | None:
    if value in (None, ""):
        if required:
            raise OsvError(f"missing {what}")
        return None
    if not isinstance(value, str):
        raise OsvError(f"{what} must be an RFC 3339 string")
    text = _FRACTION.sub(r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise OsvError(f"{what} {value!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _string_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OsvError(f"{what} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _rating(value: Any) -> str:
    if isinstance(value, str):
        return _RATING_MAP.get(value.strip().lower(), "")
    return ""


def _severity(doc: dict[str, Any]) -> tuple[str, str, str, float | None]:
    """(severity, source, vector, score): the best CVSS v3 vector, else v2, else the database's rating."""
    entries: list[dict[str, Any]] = []
    for item in doc.get("severity") or ():
        if isinstance(item, dict):
            entries.append(item)
    for affected in doc.get("affected") or ():
        if isinstance(affected, dict):
            entries.extend(item for item in affected.get("severity") or () if isinstance(item, dict))
    by_type: dict[str, list[str]] = {}
    for item in entries:
        kind, score = str(item.get("type", "")).upper(), item.get("score")
        if isinstance(score, str) and score.strip():
            by_type.setdefault(kind, []).append(score.strip())
    v4_vector = ""
    for kind in ("CVSS_V3", "CVSS_V2"):
        best = None
        for vector in by_type.get(kind, []):
            try:
                scored = score_vector(vector)
            except CvssError:
                continue
            if best is None or scored.score > best.score:
                best = scored
        if best is not None:
            source = "cvss_v3" if kind == "CVSS_V3" else "cvss_v2"
            return best.severity, source, best.vector, best.score
    if by_type.get("CVSS_V4"):
        v4_vector = by_type["CVSS_V4"][0]
    ratings = [_rating((doc.get("database_specific") or {}).get("severity"))]
    for affected in doc.get("affected") or ():
        if isinstance(affected, dict):
            for block in ("ecosystem_specific", "database_specific"):
                spec = affected.get(block)
                if isinstance(spec, dict):
                    ratings.append(_rating(spec.get("severity")))
    ratings = [r for r in ratings if r]
    if ratings:
        worst = max(ratings, key=lambda r: -SEVERITIES.index(r))
        return worst, "database", v4_vector, None
    # No rating at all: treat as medium until the database says otherwise.
    return "medium", "default", v4_vector, None


def _affected(item: Any, index: int) -> ParsedAffected:
    if not isinstance(item, dict):
        raise OsvError(f"affected[{index}] must be an object")
    package = item.get("package")
    if not isinstance(package, dict):
        raise OsvError(f"affected[{index}].package is missing")
    osv_ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(osv_ecosystem, str) or not osv_ecosystem.strip():
        raise OsvError(f"affected[{index}].package.ecosystem is missing")
    if not isinstance(name, str) or not name.strip():
        raise OsvError(f"affected[{index}].package.name is missing")
    ranges = item.get("ranges") or []
    if not isinstance(ranges, list):
        raise OsvError(f"affected[{index}].ranges must be a list")
    clean_ranges: list[dict[str, Any]] = []
    for r_index, osv_range in enumerate(ranges):
        if not isinstance(osv_range, dict) or not isinstance(osv_range.get("type"), str):
            raise OsvError(f"affected[{index}].ranges[{r_index}] needs a type")
        events = osv_range.get("events")
        if not isinstance(events, list) or not events or not all(isinstance(e, dict) and len(e) == 1 for e in events):
            raise OsvError(f"affected[{index}].ranges[{r_index}].events must be a non-empty list of one-key objects")
        for event in events:
            (kind, value), = event.items()
            if kind not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(value, str):
                raise OsvError(f"affected[{index}].ranges[{r_index}] has an unknown event {kind!r}")
        clean_ranges.append({"type": osv_range["type"].upper(), "events": events,
                             **({"repo": osv_range["repo"]} if isinstance(osv_range.get("repo"), str) else {})})
    versions = _string_list(item.get("versions"), f"affected[{index}].versions")
    ecosystem = map_ecosystem(osv_ecosystem)
    rating = ""
    for block in ("ecosystem_specific", "database_specific"):
        spec = item.get(block)
        if isinstance(spec, dict):
            rating = rating or _rating(spec.get("severity"))
    return ParsedAffected(
        osv_ecosystem=osv_ecosystem.strip()[:100],
        ecosystem=ecosystem,
        name=name.strip()[:255],
        normalized_name=normalize_name(ecosystem, name)[:255],
        purl=str(package.get("purl") or "")[:500],
        ranges=clean_ranges,
        versions=versions,
        fixed=fixed_versions(clean_ranges),
        severity=rating,
    )


def parse_osv(doc: Any) -> ParsedAdvisory:
    if not isinstance(doc, dict):
        raise OsvError("an advisory must be a JSON object")
    osv_id = doc.get("id")
    if not isinstance(osv_id, str) or not osv_id.strip() or len(osv_id) > 100:
        raise OsvError("missing or invalid id")
    modified = parse_time(doc.get("modified"), "modified", required=True)
    assert modified is not None
    affected_raw = doc.get("affected") or []
    if not isinstance(affected_raw, list):
        raise OsvError("affected must be a list")
    references: list[str] = []
    for ref in doc.get("references") or ():
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            references.append(ref["url"][:1000])
    summary, details = doc.get("summary") or "", doc.get("details") or ""
    if not isinstance(summary, str) or not isinstance(details, str):
        raise OsvError("summary and details must be strings")
    severity, source, vector, score = _severity(doc)
    return ParsedAdvisory(
        osv_id=osv_id.strip(),
        modified=modified,
        published=parse_time(doc.get("published"), "published"),
        withdrawn=parse_time(doc.get("withdrawn"), "withdrawn"),
        aliases=sorted(set(_string_list(doc.get("aliases"), "aliases")))[:100],
        summary=summary.strip()[:1000],
        details=details[:MAX_TEXT],
        severity=severity,
        severity_source=source,
        cvss_vector=vector[:200],
        cvss_score=score,
        references=references[:200],
        affected=[_affected(item, i) for i, item in enumerate(affected_raw)],
        schema_version=str(doc.get("schema_version") or "")[:20],
    )


# --- Sources -------------------------------------------------------------------------

@dataclass
class RawDocument:
    origin: str  # "file.json", "dir/x.json", "export.zip:GHSA-x.json", "file.json[3]"
    document: Any = None
    error: str = ""  # set when the file itself could not be read or decoded


def _documents_from_bytes(origin: str, data: bytes) -> Iterator[RawDocument]:
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        yield RawDocument(origin, error=f"not valid JSON: {exc}")
        return
    if isinstance(loaded, list):
        for index, item in enumerate(loaded):
            yield RawDocument(f"{origin}[{index}]", item)
    else:
        yield RawDocument(origin, loaded)


def _from_zip(path: Path, label: str) -> Iterator[RawDocument]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        yield RawDocument(label, error=f"not a readable zip archive: {exc}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            origin = f"{label}:{info.filename}"
            if info.file_size > MAX_DOCUMENT_BYTES:
                yield RawDocument(origin, error=f"larger than {MAX_DOCUMENT_BYTES} bytes")
                continue
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                yield RawDocument(origin, error=f"unreadable zip member: {exc}")
                continue
            yield from _documents_from_bytes(origin, data)


def _from_file(path: Path, label: str) -> Iterator[RawDocument]:
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        yield from _from_zip(path, label)
        return
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            yield RawDocument(label, error=f"larger than {MAX_DOCUMENT_BYTES} bytes")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield RawDocument(label, error=f"unreadable: {exc.strerror or exc}")
        return
    yield from _documents_from_bytes(label, data)


def iter_documents(path: Path) -> Iterator[RawDocument]:
    """Every OSV document under `path`: a JSON file, a zip archive or a directory of them."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in (".json", ".zip"):
                yield from _from_file(child, str(child.relative_to(path)))
    elif path.is_file():
        yield from _from_file(path, path.name)
    else:
        yield RawDocument(str(path), error="no such file or directory")
