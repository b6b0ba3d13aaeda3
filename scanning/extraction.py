"""Safe extraction of package archives into a private sandbox directory.

Every archive format Gatehouse reads (zip, tar with gzip/xz/bzip2/zstd, Debian `ar`
with its control and data tarballs, RPM with its cpio payload, Alpine's
concatenated gzip tar segments) is read as a stream of members and written by one
`Sandbox`, which enforces the rules:

- a member path must be relative, free of `..`, NUL bytes and drive letters, and no
  deeper than `max_depth` components (PKG-INT-004, PKG-INT-010);
- device files, FIFOs and sockets are refused (PKG-INT-006);
- links are never created on disk: symlinks are recorded in a manifest, and one whose
  target leaves the package is refused (PKG-INT-005); a hard link is written as a
  copy of a member already extracted; a member that would be written through a
  recorded link is refused;
- at most `max_files` members (PKG-INT-008) and `max_total_bytes` written
  (PKG-INT-009); once more than `ratio_floor_bytes` have been written, the ratio
  of bytes written to compressed bytes read may not exceed `max_ratio` (PKG-INT-007);
- files are created with O_NOFOLLOW and mode 0600, directories 0700, nothing keeps
  its owner, set-id bits or timestamps; small files are held in memory (at most
  PENDING_LIMIT bytes) and written once the archive has been read, so a refused
  archive leaves little or nothing on disk;
- anything unreadable (truncated gzip, bad headers, CRC errors) is PKG-INT-003.

Limits are counted on bytes actually produced, never on sizes an archive declares.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scanning.analyzers.base import ArtifactFile
from scanning.formats import ArtifactFormat, expected_magic, sniff
from scanning.rpm import RpmFormatError, RpmHeader, cpio_data_padding, read_cpio_header, read_header

CHUNK = 1024 * 1024
HEAD_BYTES = 8192
SMALL_FILE = 256 * 1024
PENDING_LIMIT = 32 * 1024 * 1024

INT_DIGEST = "PKG-INT-001"
INT_MAGIC = "PKG-INT-002"
INT_CORRUPT = "PKG-INT-003"
INT_PATH = "PKG-INT-004"
INT_LINK = "PKG-INT-005"
INT_SPECIAL = "PKG-INT-006"
INT_RATIO = "PKG-INT-007"
INT_COUNT = "PKG-INT-008"
INT_SIZE = "PKG-INT-009"
INT_DEPTH = "PKG-INT-010"


class ArchiveRefused(Exception):
    """The archive was refused or could not be read; `check_id` names the integrity check."""

    def __init__(self, check_id: str, message: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.check_id = check_id
        self.message = message
        self.evidence = evidence or {}


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = 1024 * 1024 * 1024
    max_files: int = 50_000
    max_ratio: int = 200
    ratio_floor_bytes: int = 16 * 1024 * 1024
    max_depth: int = 32
    max_path_length: int = 1024

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        return cls(
            max_total_bytes=int(settings.SCANNING_MAX_EXTRACTED_MB) * 1024 * 1024,
            max_files=int(settings.SCANNING_MAX_FILES),
            max_ratio=int(settings.SCANNING_MAX_COMPRESSION_RATIO),
            ratio_floor_bytes=int(settings.SCANNING_RATIO_FLOOR_MB) * 1024 * 1024,
            max_depth=int(settings.SCANNING_MAX_PATH_DEPTH),
        )


@dataclass
class ExtractedArchive:
    root: Path
    files: list[ArtifactFile]
    links: dict[str, str]
    total_bytes: int
    members: int
    rpm_header: RpmHeader | None = None


class CountingReader(io.RawIOBase):
    """A read-only view of a file that counts the bytes read (the compressed side of the ratio)."""

    def __init__(self, handle: IO[bytes], limit: int | None = None) -> None:
        self.handle = handle
        self.count = 0
        self.limit = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.limit is not None:
            remaining = self.limit - self.count
            if remaining <= 0:
                return b""
            size = remaining if size is None or size < 0 else min(size, remaining)
        data = self.handle.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- File kinds ----------------------------------------------------------------------

_EXT_KIND = {
    ".py": "python", ".pyw": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "javascript", ".tsx": "javascript", ".mts": "javascript", ".cts": "javascript",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell",
}
_ARCHIVE_KINDS = {"zip", "gzip", "xz", "bzip2", "zstd", "ar", "rpm", "tar"}


def classify(rel_path: str, head: bytes) -> str:
    """The kind of a file from its name and first bytes (see ArtifactFile.kind)."""
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head[:2] == b"MZ" and len(head) >= 64:
        offset = int.from_bytes(head[60:64], "little")
        if offset + 4 <= len(head) and head[offset: offset + 4] == b"PE\x00\x00":
            return "pe"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "macho"
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8 and 0 < int.from_bytes(head[4:8], "big") < 20:
        return "macho"  # a fat binary; Java class files have a major version >= 45 here
    if sniff(head) in _ARCHIVE_KINDS:
        return "archive"
    lower = rel_path.lower()
    ext = os.path.splitext(lower)[1]
    if ext in _EXT_KIND:
        return _EXT_KIND[ext]
    if head.startswith(b"#!"):
        first = head.split(b"\n", 1)[0].lower()
        if b"python" in first:
            return "python"
        if b"node" in first:
            return "javascript"
        if any(sh in first for sh in (b"/sh", b"bash", b"dash", b"zsh", b"ksh", b"env sh")):
            return "shell"
    if b"\x00" in head:
        return "binary"
    return "text"


# --- The sandbox ---------------------------------------------------------------------

class Sandbox:
    def __init__(self, root: Path, limits: Limits, *, absolute_links_inside: bool) -> None:
        self.root = root
        self.root_str = os.path.realpath(root)
        self.limits = limits
        # OS packages install relative to "/", so their absolute link targets stay inside the package.
        self.absolute_links_inside = absolute_links_inside
        self.members = 0
        self.total = 0
        self.files: dict[str, ArtifactFile] = {}
        self.dirs: set[str] = set()
        self.links: dict[str, str] = {}
        self.consumed: Callable[[], int] = lambda: 0
        # Small files are held in memory and written when the archive has been read to the end
        # (or when more than PENDING_LIMIT bytes are held), so a refused archive writes little or nothing.
        self.pending: dict[str, bytes] = {}
        self.pending_bytes = 0
        self._made: set[str] = set()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    # Paths

    def clean(self, raw: str, *, for_link: bool = False) -> str:
        check_path = INT_LINK if for_link else INT_PATH
        if "\x00" in raw:
            raise ArchiveRefused(check_path, "An archive member name contains a NUL byte.", {"member": raw[:200]})
        name = raw.replace("\\", "/")
        if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
            raise ArchiveRefused(check_path, f"The archive member '{raw[:200]}' has an absolute path.",
                                 {"member": raw[:200]})
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ArchiveRefused(check_path, f"The archive member '{raw[:200]}' climbs out of the package with '..'.",
                                 {"member": raw[:200]})
        if len(parts) > self.limits.max_depth:
            raise ArchiveRefused(INT_DEPTH, f"An archive member is {len(parts)} directories deep; "
                                            f"the limit is {self.limits.max_depth}.",
                                 {"member": raw[:200], "depth": len(parts), "limit": self.limits.max_depth})
        if len(raw) > self.limits.max_path_length:
            raise ArchiveRefused(INT_DEPTH, f"An archive member path is {len(raw)} characters long; "
                                            f"the limit is {self.limits.max_path_length}.",
                                 {"member": raw[:200], "length": len(raw)})
        return "/".join(parts)

    def _count(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_files:
            raise ArchiveRefused(INT_COUNT, f"The archive has more than {self.limits.max_files} members.",
                                 {"limit": self.limits.max_files, "member": name[:200]})

    def _check_parents(self, rel: str) -> Path:
        """Validate the parents of `rel` (no link, no file among them) and record them; returns its path."""
        parts = rel.split("/")
        prefix = ""
        for part in parts[:-1]:
            prefix = f"{prefix}/{part}" if prefix else part
            if prefix in self.dirs:
                continue
            if prefix in self.links:
                raise ArchiveRefused(INT_LINK, f"The archive writes '{rel}' through the link '{prefix}'.",
                                     {"member": rel, "link": prefix, "target": self.links[prefix]})
            if prefix in self.files:
                raise ArchiveRefused(INT_CORRUPT, f"The archive uses the file '{prefix}' as a directory.",
                                     {"member": rel})
            self.dirs.add(prefix)
        return self.root.joinpath(*parts)

    def _make_parent(self, target: Path) -> None:
        parent = target.parent
        key = str(parent)
        if key in self._made:
            return
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Defence in depth: nothing in the sandbox is a link, but check each new directory once.
        real = os.path.realpath(parent)
        if real != self.root_str and not real.startswith(self.root_str + os.sep):
            raise ArchiveRefused(INT_PATH, f"'{parent}' resolves outside the sandbox.")
        self._made.add(key)

    def _write(self, target: Path, data: bytes) -> None:
        self._make_parent(target)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)

    def flush(self) -> None:
        """Write the small files held back (archives are refused before anything of theirs reaches disk)."""
        pending, self.pending = self.pending, {}
        self.pending_bytes = 0
        for rel, data in pending.items():
            self._write(self.files[rel].abs_path, data)

    def _check_ratio(self) -> None:
        if self.total <= self.limits.ratio_floor_bytes:
            return
        consumed = max(self.consumed(), 1)
        ratio = self.total / consumed
        if ratio > self.limits.max_ratio:
            raise ArchiveRefused(
                INT_RATIO,
                f"The archive expands more than {self.limits.max_ratio} times "
                f"({self.total} bytes from {consumed} compressed bytes): a decompression bomb.",
                {"written": self.total, "compressed_read": consumed, "max_ratio": self.limits.max_ratio},
            )

    # Members

    def directory(self, raw: str) -> None:
        rel = self.clean(raw)
        if not rel:
            return
        self._count(rel)
        if rel in self.files or rel in self.links:
            raise ArchiveRefused(INT_CORRUPT, f"The archive declares '{rel}' both as a file and a directory.",
                                 {"member": rel})
        self._check_parents(rel + "/x")

    def regular(self, raw: str, stream: IO[bytes], *, declared_size: int | None = None,
                zip_ratio: tuple[int, int] | None = None) -> None:
        rel = self.clean(raw)
        if not rel:
            return
        self._count(rel)
        if zip_ratio is not None:
            size, compressed = zip_ratio
            if size > self.limits.ratio_floor_bytes and size / max(compressed, 1) > self.limits.max_ratio:
                raise ArchiveRefused(
                    INT_RATIO,
                    f"The member '{rel}' expands {size // max(compressed, 1)} times ({size} bytes from "
                    f"{compressed}): a decompression bomb.",
                    {"member": rel, "size": size, "compressed": compressed, "max_ratio": self.limits.max_ratio},
                )
        if declared_size is not None and self.total + declared_size > self.limits.max_total_bytes:
            raise ArchiveRefused(INT_SIZE, f"The archive unpacks to more than {self.limits.max_total_bytes} bytes.",
                                 {"limit": self.limits.max_total_bytes, "member": rel})
        if rel in self.dirs:
            raise ArchiveRefused(INT_CORRUPT, f"The archive declares '{rel}' both as a directory and a file.",
                                 {"member": rel})
        self.links.pop(rel, None)
        self.pending_bytes -= len(self.pending.pop(rel, b""))
        target = self._check_parents(rel)
        head = b""
        size = 0
        held: list[bytes] = []
        out: IO[bytes] | None = None
        try:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                size += len(chunk)
                self.total += len(chunk)
                if self.total > self.limits.max_total_bytes:
                    raise ArchiveRefused(INT_SIZE,
                                         f"The archive unpacks to more than {self.limits.max_total_bytes} bytes.",
                                         {"limit": self.limits.max_total_bytes, "member": rel})
                self._check_ratio()
                if out is None and size <= SMALL_FILE and self.pending_bytes + size <= PENDING_LIMIT:
                    held.append(chunk)
                    continue
                if out is None:
                    self.flush()
                    self._make_parent(target)
                    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
                    out = os.fdopen(os.open(target, flags, 0o600), "wb")
                    for part in held:
                        out.write(part)
                    held = []
                out.write(chunk)
        finally:
            if out is not None:
                out.close()
        self.files[rel] = ArtifactFile(path=rel, abs_path=target, size=size, kind=classify(rel, head))
        if out is None:
            data = b"".join(held)
            self.pending[rel] = data
            self.pending_bytes += len(data)

    def read_member(self, rel: str) -> bytes | None:
        """A small member's content while it is held back, else None (read it from disk)."""
        return self.pending.get(rel)

    def symlink(self, raw: str, target: str) -> None:
        rel = self.clean(raw)
        if not rel:
            return
        self._count(rel)
        if self._link_escapes(rel, target):
            raise ArchiveRefused(INT_LINK, f"The link '{rel}' points outside the package (to '{target[:200]}').",
                                 {"member": rel, "target": target[:500]})
        if rel in self.dirs:
            raise ArchiveRefused(INT_CORRUPT, f"The archive declares '{rel}' both as a directory and a link.",
                                 {"member": rel})
        self._check_parents(rel)
        if rel in self.files:
            previous = self.files.pop(rel)
            if rel in self.pending:
                self.pending_bytes -= len(self.pending.pop(rel))
            else:
                os.unlink(previous.abs_path)
        self.links[rel] = target

    def hardlink(self, raw: str, target_raw: str) -> None:
        rel = self.clean(raw)
        if not rel:
            return
        try:
            target = self.clean(target_raw, for_link=True)
        except ArchiveRefused as exc:
            exc.check_id = INT_LINK if exc.check_id == INT_PATH else exc.check_id
            raise
        source = self.files.get(target)
        if source is None:
            if target in self.links:
                self.symlink(raw, self.links[target])
                return
            raise ArchiveRefused(INT_LINK, f"The hard link '{rel}' points to '{target_raw[:200]}', "
                                           "which is not a file of the package.",
                                 {"member": rel, "target": target_raw[:500]})
        held = self.read_member(target)
        if held is not None:
            self.regular(raw, io.BytesIO(held))
            return
        with open(source.abs_path, "rb") as handle:
            self.regular(raw, handle)

    def special(self, raw: str, kind: str) -> None:
        raise ArchiveRefused(INT_SPECIAL, f"The archive contains a {kind} ('{raw[:200]}'); packages may not ship "
                                          "device files, FIFOs or sockets.", {"member": raw[:200], "type": kind})

    def _link_escapes(self, rel: str, target: str) -> bool:
        if not target or "\x00" in target:
            return True
        normalized = target.replace("\\", "/")
        if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
            if not self.absolute_links_inside or normalized[1:2] == ":":
                return True
            base: list[str] = []
        else:
            base = rel.split("/")[:-1]
        for part in normalized.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not base:
                    return True
                base.pop()
            else:
                base.append(part)
        return False

    def result(self, rpm_header: RpmHeader | None = None) -> ExtractedArchive:
        self.flush()
        for rel in sorted(self.dirs):
            self._make_parent(self.root.joinpath(*rel.split("/"), "x"))
        files = sorted(self.files.values(), key=lambda f: f.path)
        return ExtractedArchive(root=self.root, files=files, links=dict(self.links), total_bytes=self.total,
                                members=self.members, rpm_header=rpm_header)


# --- Formats -------------------------------------------------------------------------

def _decompressor(stream: IO[bytes], compression: str) -> IO[bytes]:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if compression == "xz" or compression == "lzma":
        return lzma.LZMAFile(stream)  # type: ignore[return-value]
    if compression == "bzip2":
        return bz2.BZ2File(stream)  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)  # type: ignore[return-value]
    return stream


def _extract_tar(stream: IO[bytes], sandbox: Sandbox, *, prefix: str = "") -> None:
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 - closed below
    except tarfile.ReadError as exc:
        raise ArchiveRefused(INT_CORRUPT, f"The tar archive cannot be read: {exc}.") from exc
    with tar:
        for member in tar:
            name = prefix + member.name if prefix else member.name
            if member.isdir():
                sandbox.directory(name)
            elif member.isreg():
                reader = tar.extractfile(member)
                if reader is None:
                    raise ArchiveRefused(INT_CORRUPT, f"The member '{member.name}' cannot be read.")
                sandbox.regular(name, reader, declared_size=member.size)
            elif member.issym():
                sandbox.symlink(name, member.linkname)
            elif member.islnk():
                sandbox.hardlink(name, prefix + member.linkname if prefix else member.linkname)
            elif member.ischr() or member.isblk():
                sandbox.special(name, "character device" if member.ischr() else "block device")
            elif member.isfifo():
                sandbox.special(name, "FIFO")
            else:
                raise ArchiveRefused(INT_CORRUPT, f"The member '{member.name[:200]}' has an unknown tar type.",
                                     {"member": member.name[:200], "type": member.type.decode("latin-1", "replace")})


def _extract_zip(path: Path, sandbox: Sandbox) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveRefused(INT_CORRUPT, f"The zip archive cannot be read: {exc}.") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > sandbox.limits.max_files:
            raise ArchiveRefused(INT_COUNT, f"The archive has {len(infos)} members; the limit is "
                                            f"{sandbox.limits.max_files}.",
                                 {"members": len(infos), "limit": sandbox.limits.max_files})
        consumed = 0
        sandbox.consumed = lambda: consumed
        for info in infos:
            mode = info.external_attr >> 16
            consumed += info.compress_size
            if info.is_dir():
                sandbox.directory(info.filename)
            elif stat.S_ISLNK(mode):
                with archive.open(info) as handle:
                    target = handle.read(4097).decode("utf-8", errors="replace")
                sandbox.symlink(info.filename, target)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                sandbox.special(info.filename, "device or special file")
            else:
                with archive.open(info) as handle:
                    sandbox.regular(info.filename, handle, declared_size=info.file_size,
                                    zip_ratio=(info.file_size, info.compress_size))


_AR_HEADER = 60


def _extract_deb(handle: CountingReader, sandbox: Sandbox) -> None:
    if handle.read(8) != b"!<arch>\n":
        raise ArchiveRefused(INT_MAGIC, "The file is not an ar archive, so not a Debian package.")
    seen: list[str] = []
    while True:
        header = handle.read(_AR_HEADER)
        if not header:
            break
        if len(header) != _AR_HEADER or header[58:60] != b"`\n":
            raise ArchiveRefused(INT_CORRUPT, "The Debian package has a damaged ar member header.")
        name = header[:16].decode("ascii", errors="replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as exc:
            raise ArchiveRefused(INT_CORRUPT, "The Debian package has an ar member with an invalid size.") from exc
        seen.append(name)
        body = CountingReader(handle, limit=size)
        if name == "debian-binary":
            version = body.read(64)
            if not version.startswith(b"2."):
                raise ArchiveRefused(INT_CORRUPT, f"Unsupported Debian package format {version[:16]!r}.")
        elif name.startswith(("control.tar", "data.tar")):
            compression = {"": "", ".gz": "gzip", ".xz": "xz", ".bz2": "bzip2", ".zst": "zstd", ".lzma": "lzma"}.get(
                name.split(".tar", 1)[1])
            if compression is None:
                raise ArchiveRefused(INT_CORRUPT, f"The Debian member '{name}' uses an unknown compression.")
            prefix = "DEBIAN/" if name.startswith("control") else ""
            _extract_tar(_decompressor(body, compression), sandbox, prefix=prefix)  # type: ignore[arg-type]
        # Drain what the member reader left (tar end blocks, signatures we do not read).
        while body.read(CHUNK):
            pass
        if size % 2 and handle.read(1) == b"":
            break
    if not seen or seen[0] != "debian-binary":
        raise ArchiveRefused(INT_CORRUPT, "The file is an ar archive but not a Debian package (no debian-binary).")
    for required in ("control.tar", "data.tar"):
        if not any(n.startswith(required) for n in seen):
            raise ArchiveRefused(INT_CORRUPT, f"The Debian package has no {required} member.", {"members": seen})


def _extract_rpm(handle: CountingReader, sandbox: Sandbox) -> RpmHeader:
    header = read_header(handle)
    compressor = header.compressor
    fmt = header.string(1124) or "cpio"
    if fmt != "cpio":
        raise ArchiveRefused(INT_CORRUPT, f"The RPM payload format '{fmt}' is not supported.")
    if compressor not in ("gzip", "bzip2", "xz", "lzma", "zstd"):
        raise ArchiveRefused(INT_CORRUPT, f"The RPM payload compressor '{compressor}' is not supported.")
    stream = _decompressor(handle, compressor)
    pending: dict[tuple[int, int, int], list[str]] = {}
    while True:
        entry = read_cpio_header(stream)
        if entry is None:
            break
        kind = stat.S_IFMT(entry.mode)
        body = CountingReader(stream, limit=entry.size)
        if kind == stat.S_IFDIR:
            sandbox.directory(entry.name)
        elif kind == stat.S_IFREG:
            key = (entry.dev[0], entry.dev[1], entry.ino)
            if entry.nlink > 1 and entry.size == 0:
                pending.setdefault(key, []).append(entry.name)
            else:
                sandbox.regular(entry.name, body, declared_size=entry.size)
                for other in pending.pop(key, []):
                    sandbox.hardlink(other, entry.name)
        elif kind == stat.S_IFLNK:
            target = body.read(4097).decode("utf-8", errors="surrogateescape")
            sandbox.symlink(entry.name, target)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
            sandbox.special(entry.name, {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
                                         stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}[kind])
        else:
            raise ArchiveRefused(INT_CORRUPT, f"The RPM payload entry '{entry.name[:200]}' has an unknown type.")
        if body.count != entry.size:
            while body.read(CHUNK):
                pass
            if body.count != entry.size:
                raise ArchiveRefused(INT_CORRUPT, "The RPM payload ends inside a file.")
        pad = cpio_data_padding(entry.size)
        if pad and len(stream.read(pad)) != pad:
            raise ArchiveRefused(INT_CORRUPT, "The RPM payload ends inside cpio padding.")
    for names in pending.values():
        for name in names:
            sandbox.regular(name, io.BytesIO(b""))
    return header


def check_magic(path: Path, fmt: ArtifactFormat) -> None:
    """Refuse (PKG-INT-002) a file whose first bytes do not announce its declared format."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    found = sniff(head)
    wanted = expected_magic(fmt)
    # A zip may legitimately be empty (end-of-central-directory first); a plain tar has no compression magic.
    if found != wanted:
        raise ArchiveRefused(
            INT_MAGIC,
            f"The file's content does not match its type: a {fmt.suffix} file should start as {wanted}, "
            f"but this one looks like {'unknown data' if found == 'unknown' else found}.",
            {"expected": wanted, "found": found, "first_bytes": head[:16].hex()},
        )


_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError, zipfile.BadZipFile,
                RpmFormatError, RuntimeError, NotImplementedError)


def extract(path: Path, fmt: ArtifactFormat, dest: Path, limits: Limits | None = None) -> ExtractedArchive:
    """Extract `path` (already checked to be `fmt`) into the new directory `dest`."""
    limits = limits or Limits.from_settings()
    sandbox = Sandbox(dest, limits, absolute_links_inside=fmt.ecosystem in ("debian", "rpm", "alpine"))
    rpm_header = None
    try:
        check_magic(path, fmt)
        with open(path, "rb") as raw:
            counting = CountingReader(raw)
            sandbox.consumed = lambda: counting.count
            if fmt.container == "zip":
                _extract_zip(path, sandbox)
            elif fmt.container in ("tar", "apk"):
                _extract_tar(_decompressor(counting, fmt.compression or ("gzip" if fmt.container == "apk" else "")),
                             sandbox)
            elif fmt.container == "ar":
                _extract_deb(counting, sandbox)
            elif fmt.container == "rpm":
                rpm_header = _extract_rpm(counting, sandbox)
            else:  # pragma: no cover - formats.py lists every container
                raise ArchiveRefused(INT_CORRUPT, f"Unknown container {fmt.container}.")
    except ArchiveRefused:
        raise
    except RpmFormatError as exc:
        raise ArchiveRefused(INT_CORRUPT, f"The RPM package is corrupt: {exc}.") from exc
    except _READ_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a real I/O problem on our side (disk full...), not the archive's fault
        raise ArchiveRefused(INT_CORRUPT, f"The archive is corrupt or truncated: {_describe(exc)}.",
                             {"error": type(exc).__name__}) from exc
    except Exception as exc:
        if exc.__class__.__module__.startswith("zstd"):
            raise ArchiveRefused(INT_CORRUPT, f"The archive is corrupt or truncated: {_describe(exc)}.") from exc
        raise
    return sandbox.result(rpm_header)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200].rstrip(".")


def remove_tree(path: Path) -> None:
    """Remove a sandbox even when an archive left read-only directories behind."""
    if not path.exists():
        return

    def _onerror(func: Any, target: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=_onerror)


__all__ = ["ArchiveRefused", "ExtractedArchive", "Limits", "check_magic", "classify", "extract", "remove_tree"]
