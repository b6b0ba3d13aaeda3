"""The analyzer contract: pure functions from an unpacked package to finding drafts.

An analyzer imports no models and touches no network. The pipeline gives it an
`AnalysisContext` (the sandbox directory, its file list, the parsed metadata and,
for vulnerability matching, the candidate advisories it fetched beforehand) and
persists what it returns. Analyzers are therefore fast to test and safe to run
in parallel.

Every check has a stable id (`PKG-HOOK-001`), a category, a default severity, a
weight, a one-line title, a description and a fix. Ids never change meaning once
released. A check that ran and returned nothing for a scan is recorded by the
pipeline as `passed`; one that does not apply to the ecosystem as
`not_applicable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


class Status(StrEnum):
    FAILED = "failed"
    WARNING = "warning"
    PASSED = "passed"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"


class Category(StrEnum):
    VULNERABILITY = "vulnerability"
    MALICIOUS_CODE = "malicious_code"
    INSTALL_HOOKS = "install_hooks"
    SECRETS = "secrets"
    LICENSE = "license"
    TYPOSQUATTING = "typosquatting"
    METADATA = "metadata"
    INTEGRITY = "integrity"  # the archive itself: corrupt, hostile, refused by the sandbox


class Ecosystem(StrEnum):
    PYPI = "pypi"
    NPM = "npm"
    DEBIAN = "debian"
    RPM = "rpm"
    ALPINE = "alpine"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    category: Category
    severity: Severity
    weight: int
    description: str
    fix: str
    # Ecosystems the check applies to; empty means all.
    ecosystems: frozenset[Ecosystem] = frozenset()

    def applies_to(self, ecosystem: str) -> bool:
        return not self.ecosystems or ecosystem in self.ecosystems


@dataclass
class FindingDraft:
    check_id: str
    status: Status = Status.FAILED
    # Defaults to the check's own severity and title when left empty.
    severity: Severity | None = None
    title: str = ""
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    file_path: str = ""
    line: int | None = None
    # What makes two drafts of one check distinct (an advisory id, a variable name...);
    # the pipeline derives the finding's fingerprint from check, file, line-independent key.
    key: str = ""


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative to the sandbox root, always with forward slashes
    abs_path: Path
    size: int
    # "python", "javascript", "shell", "text", "binary", "elf", "pe", "macho", "archive", ...
    kind: str = "text"


@dataclass(frozen=True)
class Dependency:
    name: str
    spec: str = ""  # as declared: ">=1.0", "==2.31.0", "^4.17.21", "= 1.2-3"
    version: str | None = None  # the exact version when the spec pins one
    source: str = ""  # where it was found: "Requires-Dist", "package.json", "package-lock.json", "Depends"


@dataclass
class PackageMetadata:
    ecosystem: str
    name: str = ""
    version: str = ""
    summary: str = ""
    license: str = ""
    author: str = ""
    homepage: str = ""
    dependencies: list[Dependency] = field(default_factory=list)
    # Install-time hooks by name: npm scripts, maintainer scripts (preinst...), RPM scriptlets, .pre-install...
    install_scripts: dict[str, str] = field(default_factory=dict)
    # The metadata file it came from (relative path) and its raw fields.
    source_file: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdvisoryRecord:
    """A plain copy of an advisory row, so analyzers need no database."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    ecosystem: str
    package: str
    severity: str  # critical/high/medium/low/info
    cvss_vector: str
    cvss_score: float | None
    # OSV "affected[].ranges" and "versions" for this package, as stored.
    ranges: tuple[dict[str, Any], ...]
    versions: tuple[str, ...]
    fixed: tuple[str, ...]
    references: tuple[str, ...] = ()


@dataclass
class AnalysisContext:
    ecosystem: str
    submitted_name: str
    submitted_version: str
    root: Path
    files: list[ArtifactFile]
    metadata: PackageMetadata | None
    artifact_name: str = ""
    sha256: str = ""
    size: int = 0
    # Candidate advisories per normalised package name (the package itself and its
    # dependencies), fetched by the pipeline before the analyzers run.
    advisories: dict[str, list[AdvisoryRecord]] = field(default_factory=dict)
    # Limits on how much of one file an analyzer reads.
    max_file_bytes: int = 2 * 1024 * 1024
    # The artifact's format: "wheel", "sdist", "npm", "deb", "rpm" or "apk".
    artifact_format: str = ""
    # Symlinks of the package (path -> target). They are recorded, never created in `root`.
    links: dict[str, str] = field(default_factory=dict)
    # Processes an analyzer may use for CPU-bound work (see `parallel`), once the artifact
    # holds at least `parallel_min_bytes` of source: below that, starting them costs more.
    analysis_processes: int = 1
    parallel_min_bytes: int = 1024 * 1024

    def iter_files(self, *kinds: str) -> Iterator[ArtifactFile]:
        for f in self.files:
            if not kinds or f.kind in kinds:
                yield f

    def read_text(self, f: ArtifactFile) -> str:
        return read_text(f.abs_path, self.max_file_bytes)


def read_text(path: Path, max_bytes: int) -> str:
    """The first `max_bytes` of a file, as text (undecodable bytes replaced)."""
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes)
    return raw.decode("utf-8", errors="replace")


class Analyzer(Protocol):
    name: str
    checks: tuple[Check, ...]

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]: ...


_checks: dict[str, Check] = {}
_analyzers: dict[str, Analyzer] = {}


def register_checks(checks: Iterable[Check]) -> None:
    for check in checks:
        existing = _checks.get(check.id)
        if existing is not None and existing != check:
            raise ValueError(f"check id {check.id} registered twice with different meanings")
        _checks[check.id] = check


def register_analyzer(analyzer: Analyzer) -> Analyzer:
    register_checks(analyzer.checks)
    _analyzers[analyzer.name] = analyzer
    return analyzer


def all_checks() -> list[Check]:
    return sorted(_checks.values(), key=lambda c: c.id)


def get_check(check_id: str) -> Check:
    return _checks[check_id]


def all_analyzers() -> list[Analyzer]:
    return [a for _, a in sorted(_analyzers.items())]
