"""Which exact package versions an artifact brings: itself, its pinned dependencies, its lockfiles.

Pure functions over an `AnalysisContext`, shared by the vulnerability analyzer and by
the advisory enricher (which needs the same names to prefetch candidate advisories).

Sources, per ecosystem:
- the scanned package itself (metadata name/version, else the submitted ones);
- declared dependencies that pin one version: `Requires-Dist: x (==1.2)`, package.json
  `"x": "1.2.3"`, Debian/RPM `Depends: x (= 1.2-3)`, Alpine `depend = x=1.2-r0`;
- npm lockfiles found anywhere in the artifact: package-lock.json / npm-shrinkwrap.json
  (lockfileVersion 1, 2 and 3), yarn.lock (classic and berry), pnpm-lock.yaml;
- packages bundled under node_modules/ (their own package.json).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from scanning.analyzers.base import AnalysisContext, ArtifactFile
from scanning.analyzers.versions import is_exact_semver, normalize_name

MAX_LOCKFILE_BYTES = 16 * 1024 * 1024
LOCKFILE_NAMES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")


@dataclass(frozen=True)
class PinnedPackage:
    name: str
    version: str
    source: str  # "package", "Requires-Dist", "package.json", "package-lock.json", "yarn.lock", ...
    file_path: str = ""
    is_self: bool = False


_PEP440_PIN = re.compile(r"^\(?\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*\)?$")
_EQ_PIN = re.compile(r"^\(?\s*=\s*([0-9][A-Za-z0-9.+~:_^-]*)\s*\)?$")


def pinned_version(ecosystem: str, spec: str) -> str | None:
    """The one version a dependency spec allows, or None for ranges and anything unusual."""
    spec = spec.split(";", 1)[0].strip()
    if not spec:
        return None
    if ecosystem == "pypi":
        parts = [p.strip() for p in spec.strip("()").split(",") if p.strip()]
        if len(parts) != 1:
            return None
        match = _PEP440_PIN.match(parts[0])
        if match and not match.group(1).endswith(".*"):
            return match.group(1)
        return None
    if ecosystem == "npm":
        if is_exact_semver(spec):
            return spec.strip().lstrip("v=").strip()
        return None
    match = _EQ_PIN.match(spec)
    return match.group(1) if match else None


def _name_from_requirement(text: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return match.group(1) if match else ""


def _read(f: ArtifactFile, limit: int = MAX_LOCKFILE_BYTES) -> str | None:
    if f.size > limit:
        return None
    try:
        return f.abs_path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


# --- npm lockfiles ---------------------------------------------------------------------

def _after_node_modules(path: str) -> str:
    return path.rsplit("node_modules/", 1)[-1]


def parse_package_lock(text: str) -> Iterator[tuple[str, str]]:
    """(name, version) pairs from package-lock.json / npm-shrinkwrap.json, lockfileVersion 1 to 3."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    packages = data.get("packages")
    if isinstance(packages, dict):
        for path, entry in packages.items():
            if not path or not isinstance(entry, dict) or entry.get("link"):
                continue
            version = entry.get("version")
            name = entry.get("name") if isinstance(entry.get("name"), str) else _after_node_modules(path)
            if isinstance(version, str) and is_exact_semver(version) and "node_modules/" in path:
                yield name, version
        return

    def walk(deps: Any) -> Iterator[tuple[str, str]]:
        if not isinstance(deps, dict):
            return
        for name, entry in deps.items():
            if not isinstance(entry, dict):
                continue
            version = entry.get("version")
            if isinstance(version, str) and is_exact_semver(version):
                yield name, version
            yield from walk(entry.get("dependencies"))

    yield from walk(data.get("dependencies"))


def _spec_name(spec: str) -> str:
    spec = spec.strip().strip('"').strip("'")
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


def parse_yarn_lock(text: str) -> Iterator[tuple[str, str]]:
    """(name, version) pairs from yarn.lock, classic (v1) and berry (YAML) formats."""
    header_names: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "\t")):
            if line.rstrip().endswith(":"):
                specs = line.rstrip()[:-1]
                header_names = [] if specs.strip('"') == "__metadata" else [
                    _spec_name(s) for s in specs.split(",") if s.strip()]
            else:
                header_names = []
            continue
        match = re.match(r'^\s+version:?\s+"?([^"\s]+)"?\s*$', line)
        if match and header_names:
            version = match.group(1)
            if is_exact_semver(version):
                for name in dict.fromkeys(header_names):
                    yield name, version
            header_names = []


_PNPM_PEER = re.compile(r"\(.*$")


def parse_pnpm_lock(text: str) -> Iterator[tuple[str, str]]:
    """(name, version) pairs from pnpm-lock.yaml (lockfile formats 5, 6 and 9)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(data, dict) or not isinstance(data.get("packages"), dict):
        return
    for key, entry in data["packages"].items():
        if not isinstance(key, str):
            continue
        entry = entry if isinstance(entry, dict) else {}
        name, version = entry.get("name"), entry.get("version")
        if not (isinstance(name, str) and isinstance(version, str)):
            ref = _PNPM_PEER.sub("", key.lstrip("/"))
            at = ref.find("@", 1)
            if at > 0:
                name, version = ref[:at], ref[at + 1:]
            else:  # format 5: /name/1.2.3_peer@x or /@scope/name/1.2.3
                name, _, version = ref.rpartition("/")
                version = version.split("_", 1)[0]
        if isinstance(name, str) and isinstance(version, str) and name and is_exact_semver(version):
            yield name, version


_LOCKFILE_PARSERS = {
    "package-lock.json": parse_package_lock,
    "npm-shrinkwrap.json": parse_package_lock,
    "yarn.lock": parse_yarn_lock,
    "pnpm-lock.yaml": parse_pnpm_lock,
}
_BUNDLED = re.compile(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/]+)/package\.json$")


def collect_packages(ctx: AnalysisContext) -> list[PinnedPackage]:
    """Every (name, exact version) the artifact brings, de-duplicated, the package itself first."""
    ecosystem = ctx.ecosystem
    found: dict[tuple[str, str], PinnedPackage] = {}

    def add(pkg: PinnedPackage) -> None:
        key = (normalize_name(ecosystem, pkg.name), pkg.version)
        if pkg.name and pkg.version and key not in found:
            found[key] = pkg

    metadata = ctx.metadata
    name = (metadata.name if metadata and metadata.name else "") or ctx.submitted_name
    version = (metadata.version if metadata and metadata.version else "") or ctx.submitted_version
    add(PinnedPackage(name, version, "package", metadata.source_file if metadata else "", is_self=True))
    if metadata is not None:
        for dep in metadata.dependencies:
            pinned = dep.version or pinned_version(ecosystem, dep.spec)
            dep_name = dep.name if ecosystem != "pypi" else (_name_from_requirement(dep.name) or dep.name)
            if pinned:
                add(PinnedPackage(dep_name, pinned, dep.source or "dependency", metadata.source_file))
    if ecosystem == "npm":
        for f in ctx.files:
            base = f.path.rsplit("/", 1)[-1]
            parser = _LOCKFILE_PARSERS.get(base)
            if parser is not None and "node_modules/" not in f.path:
                text = _read(f)
                if text is not None:
                    for dep_name, dep_version in parser(text):
                        add(PinnedPackage(dep_name, dep_version, base, f.path))
                continue
            match = _BUNDLED.search(f.path)
            if match:
                text = _read(f, 1024 * 1024)
                try:
                    data = json.loads(text) if text else None
                except ValueError:
                    data = None
                if isinstance(data, dict) and isinstance(data.get("version"), str) and is_exact_semver(data["version"]):
                    add(PinnedPackage(str(data.get("name") or match.group(1)), data["version"], "bundled", f.path))
    return list(found.values())
