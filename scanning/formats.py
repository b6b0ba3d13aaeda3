"""Which artifacts Gatehouse accepts, and how to tell them apart.

A format is chosen from the file name (and the ecosystem, when the submitter gave
one) at submission; the pipeline then checks the file's magic bytes against it in
the `verify` stage, so a `.deb` that is really a text file ends as a failed scan
with an integrity finding rather than an extraction error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scanning.analyzers.base import Ecosystem


@dataclass(frozen=True)
class ArtifactFormat:
    key: str  # wheel, sdist, npm, deb, rpm, apk
    ecosystem: str
    suffix: str  # the suffix that matched, e.g. ".tar.gz"
    # zip, tar (compressed by `compression`), ar (Debian), rpm, apk (concatenated gzip tars)
    container: str
    compression: str = ""  # gzip, xz, bzip2, zstd, "" (none)
    # Source packages ship code, not build products (PKG-META-006 looks for binaries there).
    source_package: bool = False


# ecosystem -> (suffix, format key, container, compression, source package), longest suffix first.
_TABLE: dict[str, list[tuple[str, str, str, str, bool]]] = {
    Ecosystem.PYPI: [
        (".whl", "wheel", "zip", "", False),
        (".tar.gz", "sdist", "tar", "gzip", True),
        (".tgz", "sdist", "tar", "gzip", True),
        (".tar.bz2", "sdist", "tar", "bzip2", True),
        (".tar.xz", "sdist", "tar", "xz", True),
        (".zip", "sdist", "zip", "", True),
    ],
    Ecosystem.NPM: [
        (".tgz", "npm", "tar", "gzip", True),
        (".tar.gz", "npm", "tar", "gzip", True),
    ],
    Ecosystem.DEBIAN: [(".deb", "deb", "ar", "", False), (".udeb", "deb", "ar", "", False)],
    Ecosystem.RPM: [(".rpm", "rpm", "rpm", "", False)],
    Ecosystem.ALPINE: [(".apk", "apk", "apk", "gzip", False)],
}

# Which ecosystem a suffix implies when the submitter named none.
_DEFAULT_ECOSYSTEM = {
    ".whl": Ecosystem.PYPI, ".tar.gz": Ecosystem.PYPI, ".tar.bz2": Ecosystem.PYPI, ".tar.xz": Ecosystem.PYPI,
    ".zip": Ecosystem.PYPI, ".tgz": Ecosystem.NPM, ".deb": Ecosystem.DEBIAN, ".udeb": Ecosystem.DEBIAN,
    ".rpm": Ecosystem.RPM, ".apk": Ecosystem.ALPINE,
}

ECOSYSTEMS = [e.value for e in Ecosystem]


class UnsupportedArtifact(Exception):
    """The file name matches no supported format (of the given ecosystem)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def supported_types() -> dict[str, list[str]]:
    return {str(eco): [row[0] for row in rows] for eco, rows in _TABLE.items()}


def _suffix_of(filename: str, candidates: list[str]) -> str | None:
    lower = filename.lower()
    for suffix in sorted(candidates, key=len, reverse=True):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    return None


def format_for(filename: str, ecosystem: str | None = None) -> ArtifactFormat:
    """The format of an artifact from its name, within `ecosystem` when given."""
    name = Path(filename or "").name
    if ecosystem:
        if ecosystem not in _TABLE:
            raise UnsupportedArtifact(f"Unknown ecosystem '{ecosystem}'. Choose one of: {', '.join(ECOSYSTEMS)}.")
        rows = _TABLE[Ecosystem(ecosystem)]
        suffix = _suffix_of(name, [r[0] for r in rows])
        if suffix is None:
            raise UnsupportedArtifact(
                f"'{name}' is not a supported {ecosystem} artifact; supported: {', '.join(r[0] for r in rows)}.")
    else:
        suffix = _suffix_of(name, list(_DEFAULT_ECOSYSTEM))
        if suffix is None:
            raise UnsupportedArtifact(f"'{name}' is not a supported artifact type.")
        ecosystem = _DEFAULT_ECOSYSTEM[suffix]
        rows = _TABLE[Ecosystem(ecosystem)]
    row = next(r for r in rows if r[0] == suffix)
    return ArtifactFormat(key=row[1], ecosystem=str(ecosystem), suffix=suffix, container=row[2],
                          compression=row[3], source_package=row[4])


# --- Magic bytes ---------------------------------------------------------------------

MAGIC_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
MAGIC_GZIP = b"\x1f\x8b"
MAGIC_XZ = b"\xfd7zXZ\x00"
MAGIC_BZIP2 = b"BZh"
MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
MAGIC_AR = b"!<arch>\n"
MAGIC_RPM = b"\xed\xab\xee\xdb"


def sniff(head: bytes) -> str:
    """The container or compression a file's first bytes announce."""
    if head.startswith(MAGIC_ZIP):
        return "zip"
    if head.startswith(MAGIC_GZIP):
        return "gzip"
    if head.startswith(MAGIC_XZ):
        return "xz"
    if head.startswith(MAGIC_BZIP2):
        return "bzip2"
    if head.startswith(MAGIC_ZSTD):
        return "zstd"
    if head.startswith(MAGIC_AR):
        return "ar"
    if head.startswith(MAGIC_RPM):
        return "rpm"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "unknown"


def expected_magic(fmt: ArtifactFormat) -> str:
    if fmt.container == "zip":
        return "zip"
    if fmt.container in ("ar", "rpm"):
        return fmt.container
    if fmt.container == "apk":
        return "gzip"
    return fmt.compression or "tar"


_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$",
                         re.IGNORECASE)
_SDIST_NAME = re.compile(r"^(?P<name>.+)-(?P<version>\d[^-]*)\.(tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$", re.IGNORECASE)
_DEB_NAME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]+)_(?P<version>[^_]+)_(?P<arch>[^_.]+)\.u?deb$", re.IGNORECASE)


def name_version_from_filename(filename: str, fmt: ArtifactFormat) -> tuple[str, str] | None:
    """(name, version) when the file name follows its ecosystem's convention unambiguously."""
    base = Path(filename or "").name
    pattern = {"wheel": _WHEEL_NAME, "sdist": _SDIST_NAME, "deb": _DEB_NAME}.get(fmt.key)
    match = pattern.match(base) if pattern else None
    if not match:
        return None
    return match.group("name"), match.group("version")


def wheel_platform(filename: str) -> str | None:
    match = _WHEEL_NAME.match(Path(filename or "").name)
    return match.group("plat").lower() if match else None
