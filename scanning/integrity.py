"""Integrity checks: the artifact itself (digest, type, archive structure).

These are not an analyzer: the pipeline emits them from the verify and extract
stages. A failing integrity check ends the scan as `failed` with one finding that
says why; on a scan that completes they are all recorded as `passed`.
Documented in docs/scanning.md ("Safe extraction").
"""

from __future__ import annotations

from scanning.analyzers.base import Category, Check, Severity, register_checks

_INTEGRITY = [
    ("PKG-INT-001", "Artifact digest does not match", Severity.CRITICAL,
     "The artifact's SHA-256 (or the registry's published digest) does not match the bytes received or stored: "
     "it was altered in transit or at rest.",
     "Fetch the artifact again from the official source and compare its digest with the registry's."),
    ("PKG-INT-002", "File content does not match its type", Severity.HIGH,
     "The file's first bytes do not announce the format its name claims (a .deb that is not an ar archive, a "
     ".whl that is not a zip...).",
     "Submit the real package file; check where this one came from."),
    ("PKG-INT-003", "Archive is corrupt or truncated", Severity.HIGH,
     "The archive cannot be read to the end: a truncated download, a damaged header, a bad checksum.",
     "Download the artifact again; if it stays unreadable, do not install it."),
    ("PKG-INT-004", "Archive member path escapes the package", Severity.CRITICAL,
     "A member has an absolute path or climbs out with '..': unpacking it naively writes outside the target "
     "directory (path traversal, 'zip slip').",
     "Do not unpack or install this artifact."),
    ("PKG-INT-005", "Archive link points outside the package", Severity.CRITICAL,
     "A symbolic or hard link points outside the package, or a later member is written through a link: a way to "
     "overwrite files elsewhere on the system when the archive is unpacked.",
     "Do not unpack or install this artifact."),
    ("PKG-INT-006", "Archive contains device or special files", Severity.HIGH,
     "The archive contains character or block devices, FIFOs or sockets, which no package needs.",
     "Do not unpack or install this artifact."),
    ("PKG-INT-007", "Archive is a decompression bomb", Severity.HIGH,
     "The archive expands far more than real packages do (compression ratio above the limit), to exhaust disk "
     "or memory of whatever unpacks it.",
     "Do not unpack this artifact."),
    ("PKG-INT-008", "Archive has too many files", Severity.MEDIUM,
     "The archive has more members than the configured limit (SCANNING_MAX_FILES).",
     "Split the package or raise the limit if the package is genuinely this large."),
    ("PKG-INT-009", "Archive unpacks to more than the size limit", Severity.MEDIUM,
     "The archive unpacks to more bytes than the configured limit (SCANNING_MAX_EXTRACTED_MB).",
     "Raise the limit if the package is genuinely this large."),
    ("PKG-INT-010", "Archive paths are too deep or too long", Severity.MEDIUM,
     "A member path is deeper or longer than the configured limit (SCANNING_MAX_PATH_DEPTH).",
     "Do not unpack this artifact; real packages do not nest this deep."),
]

INTEGRITY_CHECKS = tuple(
    Check(id=cid, title=title, category=Category.INTEGRITY, severity=sev, weight=10, description=desc, fix=fix)
    for cid, title, sev, desc, fix in _INTEGRITY
)

register_checks(INTEGRITY_CHECKS)
