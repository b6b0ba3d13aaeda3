"""Metadata checks: does the package say what it is, and is it what was asked for?

Pure: reads the parsed `PackageMetadata` and the file list, never the database or
the network. Documented in docs/checks/metadata.md.
"""

from __future__ import annotations

import re

from scanning.analyzers.base import (
    AnalysisContext,
    Category,
    Check,
    Ecosystem,
    FindingDraft,
    PackageMetadata,
    Severity,
    Status,
    register_analyzer,
)

NAME_MISMATCH = Check(
    id="PKG-META-001", title="Package name differs from the name submitted", category=Category.METADATA,
    severity=Severity.HIGH, weight=10,
    description="The name declared inside the package (METADATA, package.json, control, RPM header, .PKGINFO) is not "
                "the name it was submitted or published under. A renamed copy of another package is a common way "
                "to slip a trojaned build into a mirror.",
    fix="Scan the artifact the registry really publishes for this name, or correct the submitted name.",
)
VERSION_MISMATCH = Check(
    id="PKG-META-002", title="Package version differs from the version submitted", category=Category.METADATA,
    severity=Severity.HIGH, weight=8,
    description="The version declared inside the package is not the version it was submitted or published as, so "
                "vulnerability matching and policies would judge the wrong release.",
    fix="Check that the artifact is the intended release; re-build or re-download it from the official source.",
)
METADATA_MISSING = Check(
    id="PKG-META-003", title="Package metadata is missing or unreadable", category=Category.METADATA,
    severity=Severity.HIGH, weight=8,
    description="The artifact has no metadata file its ecosystem requires (METADATA, PKG-INFO, package.json, "
                "DEBIAN/control, .PKGINFO), or it cannot be parsed. Installers would refuse it or guess.",
    fix="Rebuild the package with the ecosystem's standard tooling.",
)
REQUIRED_FIELDS = Check(
    id="PKG-META-004", title="Name or version missing from the package metadata", category=Category.METADATA,
    severity=Severity.HIGH, weight=6,
    description="The metadata file exists but its name or version field is empty.",
    fix="Declare the package's name and version in its metadata.",
)
DESCRIPTIVE_FIELDS = Check(
    id="PKG-META-005", title="Descriptive metadata fields are empty", category=Category.METADATA,
    severity=Severity.LOW, weight=2,
    description="The package declares no summary, author or maintainer, licence, or homepage/repository. "
                "Throw-away malicious packages often leave these empty; honest ones rarely do.",
    fix="Fill in the summary, author, licence and project URL.",
)
BUNDLED_BINARIES = Check(
    id="PKG-META-006", title="Native binaries bundled in a source package", category=Category.METADATA,
    severity=Severity.MEDIUM, weight=6, ecosystems=frozenset({Ecosystem.PYPI, Ecosystem.NPM}),
    description="A source distribution, pure-Python wheel or npm tarball ships ELF, PE or Mach-O executables. "
                "Prebuilt binaries cannot be reviewed like source and are a favourite hiding place for droppers.",
    fix="Build native code from source at install time or publish platform-specific wheels/packages; remove "
        "stray executables from the source package.",
)
EXTERNAL_DEPENDENCY = Check(
    id="PKG-META-007", title="Dependency fetched from outside the registry", category=Category.METADATA,
    severity=Severity.MEDIUM, weight=4, ecosystems=frozenset({Ecosystem.PYPI, Ecosystem.NPM}),
    description="A declared dependency points at a URL, a git repository or a local path instead of a registry "
                "release, so what gets installed is whatever that location serves at install time.",
    fix="Depend on a published release from the registry, pinned to a version.",
)

CHECKS = (NAME_MISMATCH, VERSION_MISMATCH, METADATA_MISSING, REQUIRED_FIELDS, DESCRIPTIVE_FIELDS, BUNDLED_BINARIES,
          EXTERNAL_DEPENDENCY)

BINARY_KINDS = ("elf", "pe", "macho")


def normalize_name(ecosystem: str, name: str) -> str:
    name = (name or "").strip()
    if ecosystem == Ecosystem.PYPI:
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.lower()


def version_matches(ecosystem: str, submitted: str, meta: PackageMetadata) -> bool:
    submitted = submitted.strip()
    declared = (meta.version or "").strip()
    if ecosystem == Ecosystem.PYPI:
        from packaging.version import InvalidVersion, Version

        try:
            return Version(submitted) == Version(declared)
        except InvalidVersion:
            return submitted == declared
    if ecosystem == Ecosystem.NPM:
        return submitted.lstrip("v=") == declared.lstrip("v=")
    if ecosystem == Ecosystem.RPM:
        release = str(meta.raw.get("release") or "")
        epoch = meta.raw.get("epoch")
        accepted = {declared, f"{declared}-{release}"}
        if epoch is not None:
            accepted |= {f"{epoch}:{declared}", f"{epoch}:{declared}-{release}"}
        return submitted in accepted
    if ecosystem == Ecosystem.ALPINE:
        return submitted in {declared, re.sub(r"-r\d+$", "", declared)}
    if ecosystem == Ecosystem.DEBIAN:
        return submitted == declared or (":" not in submitted and declared.split(":", 1)[-1] == submitted)
    return submitted == declared


def _expected_from_filename(ctx: AnalysisContext) -> tuple[str, str] | None:
    from scanning.formats import UnsupportedArtifact, format_for, name_version_from_filename

    if not ctx.artifact_name:
        return None
    try:
        fmt = format_for(ctx.artifact_name, ctx.ecosystem)
    except UnsupportedArtifact:
        return None
    return name_version_from_filename(ctx.artifact_name, fmt)


class MetadataAnalyzer:
    name = "metadata"
    checks = CHECKS

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        drafts: list[FindingDraft] = []
        meta = ctx.metadata
        if meta is None:
            drafts.append(FindingDraft(
                check_id=METADATA_MISSING.id,
                detail="No metadata file was found in the artifact, so its identity cannot be checked.",
                evidence={"format": ctx.artifact_format, "files": len(ctx.files)},
            ))
            for check in (NAME_MISMATCH, VERSION_MISMATCH, REQUIRED_FIELDS, DESCRIPTIVE_FIELDS):
                drafts.append(FindingDraft(check_id=check.id, status=Status.NOT_APPLICABLE,
                                           detail="The package has no metadata to check."))
        else:
            drafts.extend(self._identity(ctx, meta))
            drafts.extend(self._fields(ctx, meta))
            drafts.extend(self._external_dependencies(ctx, meta))
        drafts.extend(self._binaries(ctx))
        return drafts

    def _identity(self, ctx: AnalysisContext, meta: PackageMetadata) -> list[FindingDraft]:
        drafts = []
        if meta.raw.get("error"):
            drafts.append(FindingDraft(check_id=METADATA_MISSING.id, file_path=meta.source_file,
                                       detail=f"The metadata file cannot be parsed: {meta.raw['error']}.",
                                       evidence={"file": meta.source_file}))
        from_name = _expected_from_filename(ctx)
        expected_name, name_source = ctx.submitted_name, "submitted"
        expected_version, version_source = ctx.submitted_version, "submitted"
        if not expected_name and from_name:
            expected_name, name_source = from_name[0], "file name"
        if not expected_version and from_name:
            expected_version, version_source = from_name[1], "file name"
        if expected_name and meta.name and normalize_name(ctx.ecosystem, expected_name) != normalize_name(
                ctx.ecosystem, meta.name):
            drafts.append(FindingDraft(
                check_id=NAME_MISMATCH.id, file_path=meta.source_file,
                detail=f"The package calls itself '{meta.name}' but was {name_source} as '{expected_name}'.",
                evidence={"declared": meta.name, "expected": expected_name, "expected_from": name_source},
                key=normalize_name(ctx.ecosystem, meta.name),
            ))
        if expected_version and meta.version and not version_matches(ctx.ecosystem, expected_version, meta):
            drafts.append(FindingDraft(
                check_id=VERSION_MISMATCH.id, file_path=meta.source_file,
                detail=f"The package declares version '{meta.version}' but was {version_source} as "
                       f"'{expected_version}'.",
                evidence={"declared": meta.version, "expected": expected_version, "expected_from": version_source},
                key=meta.version,
            ))
        return drafts

    def _fields(self, ctx: AnalysisContext, meta: PackageMetadata) -> list[FindingDraft]:
        drafts = []
        missing_required = [f for f, v in (("name", meta.name), ("version", meta.version)) if not v.strip()]
        if missing_required:
            drafts.append(FindingDraft(
                check_id=REQUIRED_FIELDS.id, file_path=meta.source_file,
                detail=f"The metadata declares no {' and no '.join(missing_required)}.",
                evidence={"missing": missing_required}, key=",".join(missing_required),
            ))
        descriptive = {"summary": meta.summary, "author": meta.author, "license": meta.license,
                       "homepage": meta.homepage}
        if ctx.ecosystem == Ecosystem.DEBIAN:
            descriptive.pop("license")  # Debian keeps it in the copyright file, which is optional in binaries
        empty = sorted(k for k, v in descriptive.items() if not (v or "").strip())
        if empty:
            drafts.append(FindingDraft(
                check_id=DESCRIPTIVE_FIELDS.id, status=Status.WARNING, file_path=meta.source_file,
                severity=Severity.LOW if len(empty) >= 2 else Severity.INFO,
                detail=f"Empty metadata fields: {', '.join(empty)}.", evidence={"empty": empty},
                key=",".join(empty),
            ))
        return drafts

    def _external_dependencies(self, ctx: AnalysisContext, meta: PackageMetadata) -> list[FindingDraft]:
        if ctx.ecosystem not in (Ecosystem.PYPI, Ecosystem.NPM):
            return []
        drafts = []
        for dep in meta.dependencies:
            spec = dep.spec or ""
            external = False
            if ctx.ecosystem == Ecosystem.PYPI:
                external = spec.startswith("@")
            elif dep.source == "package.json":
                external = bool(re.match(r"^(git(\+\w+)?:|https?:|file:|link:|github:|gitlab:|bitbucket:|"
                                         r"[\w.-]+/[\w.-]+(#.*)?$)", spec))
            if external:
                drafts.append(FindingDraft(
                    check_id=EXTERNAL_DEPENDENCY.id, file_path=meta.source_file,
                    detail=f"The dependency '{dep.name}' is fetched from '{spec[:200]}', not from the registry.",
                    evidence={"dependency": dep.name, "spec": spec[:500], "declared_in": dep.source},
                    key=dep.name,
                ))
        return drafts

    def _binaries(self, ctx: AnalysisContext) -> list[FindingDraft]:
        if ctx.ecosystem not in (Ecosystem.PYPI, Ecosystem.NPM):
            return []
        if ctx.artifact_format == "wheel" and not _pure_wheel(ctx):
            return []  # platform wheels exist to carry compiled code
        name = (ctx.metadata.name if ctx.metadata else "").lower()
        binaries = [f for f in ctx.files if f.kind in BINARY_KINDS
                    and not (name in SCRIPT_LAUNCHER_OWNERS and WINDOWS_SCRIPT_LAUNCHER.search(f.path))]
        if not binaries:
            return []
        listed = [{"path": f.path, "kind": f.kind, "size": f.size} for f in binaries[:20]]
        kinds = sorted({f.kind for f in binaries})
        return [FindingDraft(
            check_id=BUNDLED_BINARIES.id, file_path=binaries[0].path,
            severity=Severity.HIGH if {"pe", "macho"} & set(kinds) and ctx.ecosystem == Ecosystem.PYPI
            else None,
            detail=f"{len(binaries)} native executable(s) ({', '.join(k.upper() for k in kinds)}) ship in a "
                   f"{'pure-Python wheel' if ctx.artifact_format == 'wheel' else 'source package'}, "
                   f"e.g. '{binaries[0].path}'.",
            evidence={"binaries": listed, "count": len(binaries)},
        )]


# setuptools, pip and distlib ship Windows console/GUI script launchers (cli-64.exe, t64.exe...) in their
# pure-Python wheels: they write the .exe wrappers installers put in Scripts/. Only these packages are
# excused, and only for launcher file names in their own package directories.
SCRIPT_LAUNCHER_OWNERS = frozenset({"setuptools", "pip", "distlib"})
WINDOWS_SCRIPT_LAUNCHER = re.compile(
    r"(?:^|/)(?:setuptools|pip/_vendor/distlib|distlib)/(?:cli|gui|t|w)(?:-?(?:32|64))?(?:-arm(?:64)?)?\.exe$")


def _pure_wheel(ctx: AnalysisContext) -> bool:
    from scanning.formats import wheel_platform

    platform = wheel_platform(ctx.artifact_name)
    if platform is not None:
        return platform == "any"
    wheel = (ctx.metadata.raw.get("WHEEL") if ctx.metadata else None) or {}
    return str(wheel.get("Root-Is-Purelib", "")).lower() == "true"


register_analyzer(MetadataAnalyzer())
