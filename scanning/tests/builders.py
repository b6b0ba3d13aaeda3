"""Artifacts the tests build themselves: every ecosystem benign and malicious, and hostile archives.

The package builders live in `scanning.samples` (the demo data and benchmarks use
them too); this module adds the hostile archives, each paired with the integrity
check it must trigger, and a session cache of built files.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from scanning import samples
from scanning.samples import apk, deb, npm, rpm, sdist, wheel

__all__ = ["ArtifactSet", "HOSTILE", "Hostile", "apk", "deb", "npm", "rpm", "sdist", "wheel"]

MB = 1024 * 1024


class ArtifactSet:
    """Built artifacts on disk, cached by (key, malicious)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[tuple[str, bool], Path] = {}

    def get(self, key: str, *, malicious: bool = False) -> Path:
        if (key, malicious) not in self._cache:
            filename, data = samples.BUILDERS[key](malicious=malicious)
            folder = self.directory / ("malicious" if malicious else "benign")
            folder.mkdir(exist_ok=True)
            path = folder / filename
            path.write_bytes(data)
            self._cache[(key, malicious)] = path
        return self._cache[(key, malicious)]

    def hostile(self, case: Hostile) -> Path:
        key = (f"hostile:{case.name}", True)
        if key not in self._cache:
            folder = self.directory / "hostile" / case.name
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / case.filename
            path.write_bytes(case.build())
            self._cache[key] = path
        return self._cache[key]

    def write(self, filename: str, data: bytes) -> Path:
        folder = self.directory / "custom"
        folder.mkdir(exist_ok=True)
        path = folder / filename
        path.write_bytes(data)
        return path


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]], *, level: int = 6) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), compresslevel=level, mtime=0)


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def _package_json(name: str = "hostile") -> tuple[tarfile.TarInfo, bytes]:
    return _file("package/package.json", f'{{"name": "{name}", "version": "1.0.0"}}'.encode())


def zip_bomb() -> bytes:
    """One 64 MB member of zeros, deflated to ~64 KB (ratio ~1000)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("bomb-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n")
        with archive.open("bomb/zeros.bin", "w", force_zip64=True) as handle:
            chunk = b"\x00" * MB
            for _ in range(64):
                handle.write(chunk)
    return buffer.getvalue()


def tgz_bomb() -> bytes:
    """A gzip stream that expands ~1000 times: 64 MB of zeros in one tar member."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("package/zeros.bin")
        info.size = 64 * MB
        tar.addfile(info, io.BytesIO(bytes(64 * MB)))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(raw.getvalue()) + compressor.flush()


def zip_slip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("slip-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: slip\nVersion: 1.0\n")
        archive.writestr("../../gatehouse-zip-slip.txt", "escaped")
    return buffer.getvalue()


def tar_dotdot() -> bytes:
    return _tar_gz([_package_json(), _file("package/../../gatehouse-escaped.txt", b"escaped")])


def tar_absolute() -> bytes:
    return _tar_gz([_package_json(), _file("/tmp/gatehouse-absolute.txt", b"escaped")])


def tar_symlink_out() -> bytes:
    link = tarfile.TarInfo("package/evil-link")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../../../etc/passwd"
    return _tar_gz([_package_json(), (link, None), _file("package/evil-link/payload", b"through the link")])


def tar_write_through_link() -> bytes:
    link = tarfile.TarInfo("package/lib")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    return _tar_gz([_package_json(), (link, None), _file("package/lib/cron.d/evil", b"* * * * * root id")])


def tar_device() -> bytes:
    device = tarfile.TarInfo("package/dev/sda")
    device.type = tarfile.BLKTYPE
    device.devmajor, device.devminor = 8, 0
    return _tar_gz([_package_json(), (device, None)])


def tar_many_files(count: int = 100_000) -> bytes:
    """`count` one-byte files: one tar header template patched per file (fast), gzip level 1."""
    info = tarfile.TarInfo("")
    info.size = 1
    info.mode = 0o644
    template = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    template[148:156] = b" " * 8  # the checksum field counts as spaces
    base = sum(template)
    block = b"x" + b"\x00" * 511
    raw = io.BytesIO()
    for i in range(count):
        name = f"package/f/{i // 1000:03d}/{i:06d}".encode()
        header = bytearray(template)
        header[: len(name)] = name
        header[148:156] = b"%06o\x00 " % (base + sum(name))
        raw.write(header)
        raw.write(block)
    raw.write(b"\x00" * 1024)
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def truncated_gzip() -> bytes:
    _, data = npm("truncated", "1.0.0", padding=256 * 1024)
    return data[: len(data) // 2]


def wrong_magic_deb() -> bytes:
    return b"This is not a Debian package, just text pretending.\n" * 20


def wrong_magic_wheel() -> bytes:
    return gzip.compress(b"not a zip")


def deep_paths() -> bytes:
    return _tar_gz([_package_json(), _file("package/" + "/".join(["d"] * 40) + "/deep.txt")])


def corrupt_rpm() -> bytes:
    _, data = rpm("corrupt", "1.0", "1")
    return data[:120]  # lead + the start of the signature header


def deb_without_data() -> bytes:
    from scanning.samples import _ar, _tar

    return _ar([("debian-binary", b"2.0\n"), ("control.tar.gz", _tar({"./control": b"Package: x\nVersion: 1\n"}))])


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    ecosystem: str
    check_id: str
    builder: object

    def build(self) -> bytes:
        return self.builder()  # type: ignore[operator]


HOSTILE = [
    Hostile("zip-bomb", "bomb-1.0-py3-none-any.whl", "pypi", "PKG-INT-007", zip_bomb),
    Hostile("tgz-bomb", "bomb-1.0.0.tgz", "npm", "PKG-INT-007", tgz_bomb),
    Hostile("zip-slip", "slip-1.0-py3-none-any.whl", "pypi", "PKG-INT-004", zip_slip),
    Hostile("tar-dotdot", "dotdot-1.0.0.tgz", "npm", "PKG-INT-004", tar_dotdot),
    Hostile("tar-absolute", "absolute-1.0.0.tgz", "npm", "PKG-INT-004", tar_absolute),
    Hostile("symlink-out", "symlink-1.0.0.tgz", "npm", "PKG-INT-005", tar_symlink_out),
    Hostile("write-through-link", "through-1.0.0.tgz", "npm", "PKG-INT-005", tar_write_through_link),
    Hostile("device-file", "device-1.0.0.tgz", "npm", "PKG-INT-006", tar_device),
    Hostile("many-files", "many-1.0.0.tgz", "npm", "PKG-INT-008", tar_many_files),
    Hostile("truncated-gzip", "truncated-1.0.0.tgz", "npm", "PKG-INT-003", truncated_gzip),
    Hostile("wrong-magic-deb", "fake_1.0_amd64.deb", "debian", "PKG-INT-002", wrong_magic_deb),
    Hostile("wrong-magic-wheel", "fake-1.0-py3-none-any.whl", "pypi", "PKG-INT-002", wrong_magic_wheel),
    Hostile("deep-paths", "deep-1.0.0.tgz", "npm", "PKG-INT-010", deep_paths),
    Hostile("corrupt-rpm", "corrupt-1.0-1.x86_64.rpm", "rpm", "PKG-INT-003", corrupt_rpm),
    Hostile("deb-without-data", "nodata_1.0_amd64.deb", "debian", "PKG-INT-003", deb_without_data),
]
ESCAPE_MARKERS = ("gatehouse-zip-slip.txt", "gatehouse-escaped.txt", "gatehouse-absolute.txt")
