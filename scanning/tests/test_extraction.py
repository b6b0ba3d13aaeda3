"""Safe extraction: every container format, and every hostile archive refused with the right check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanning.extraction import ArchiveRefused, Limits, classify, extract
from scanning.formats import UnsupportedArtifact, format_for, sniff, supported_types
from scanning.tests.builders import ESCAPE_MARKERS, HOSTILE, Hostile

KEYS = ["pypi-wheel", "pypi-sdist", "npm", "debian", "rpm", "alpine"]


def _everything_under(path: Path) -> set[str]:
    return {str(p) for p in path.rglob("*")}


@pytest.mark.parametrize("key", KEYS)
def test_each_format_extracts_into_the_sandbox(key, artifacts, tmp_path):
    path = artifacts.get(key)
    fmt = format_for(path.name)
    result = extract(path, fmt, tmp_path / "sandbox", Limits())
    assert result.files, "the package has files"
    for f in result.files:
        assert f.abs_path.is_file() and not f.abs_path.is_symlink()
        assert f.abs_path.resolve().is_relative_to((tmp_path / "sandbox").resolve())
        assert oct(f.abs_path.stat().st_mode & 0o777) == oct(0o600)
    assert not any(p.is_symlink() for p in (tmp_path / "sandbox").rglob("*"))


def test_rpm_symlinks_are_recorded_not_created(artifacts, tmp_path):
    path = artifacts.get("rpm")
    result = extract(path, format_for(path.name), tmp_path / "sandbox", Limits())
    assert result.links == {"usr/lib/sample-agent/current": "/usr/share/sample-agent"}
    assert result.rpm_header is not None and result.rpm_header.name == "sample-agent"
    assert not (tmp_path / "sandbox" / "usr/lib/sample-agent/current").exists()


def test_debian_control_files_land_in_DEBIAN(artifacts, tmp_path):
    path = artifacts.get("debian")
    result = extract(path, format_for(path.name), tmp_path / "sandbox", Limits())
    paths = {f.path for f in result.files}
    assert {"DEBIAN/control", "DEBIAN/postinst", "usr/bin/sample-daemon"} <= paths


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_hostile_archive_is_refused_with_its_check(case: Hostile, artifacts, tmp_path):
    path = artifacts.hostile(case)
    workdir = tmp_path / "work"
    workdir.mkdir()
    sandbox = workdir / "sandbox"
    before = _everything_under(tmp_path)
    with pytest.raises(ArchiveRefused) as refused:
        extract(path, format_for(path.name, case.ecosystem), sandbox, Limits())
    assert refused.value.check_id == case.check_id, refused.value.message
    assert refused.value.message
    # Nothing was written outside the sandbox: only sandbox paths are new.
    new = _everything_under(tmp_path) - before
    assert all(p == str(sandbox) or p.startswith(str(sandbox) + os.sep) for p in new)
    for marker in ESCAPE_MARKERS:
        assert not (tmp_path / marker).exists() and not Path("/tmp", marker).exists()
    assert not any(p.is_symlink() for p in sandbox.rglob("*")) if sandbox.exists() else True


def test_bomb_is_refused_before_writing_much(artifacts, tmp_path):
    case = next(c for c in HOSTILE if c.name == "tgz-bomb")
    path = artifacts.hostile(case)
    with pytest.raises(ArchiveRefused):
        extract(path, format_for(path.name, "npm"), tmp_path / "s", Limits())
    written = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert written <= Limits().ratio_floor_bytes + 2 * 1024 * 1024


def test_total_size_limit(artifacts, tmp_path):
    path = artifacts.get("npm")
    with pytest.raises(ArchiveRefused) as refused:
        extract(path, format_for(path.name), tmp_path / "s", Limits(max_total_bytes=64))
    assert refused.value.check_id == "PKG-INT-009"


def test_absolute_symlinks_stay_inside_os_packages(tmp_path):
    from scanning.extraction import Sandbox

    os_sandbox = Sandbox(tmp_path / "os", Limits(), absolute_links_inside=True)
    os_sandbox.symlink("usr/lib/libx.so", "/usr/lib/libx.so.1")
    lang_sandbox = Sandbox(tmp_path / "lang", Limits(), absolute_links_inside=False)
    with pytest.raises(ArchiveRefused) as refused:
        lang_sandbox.symlink("package/x", "/usr/lib/libx.so.1")
    assert refused.value.check_id == "PKG-INT-005"
    with pytest.raises(ArchiveRefused):
        os_sandbox.symlink("usr/lib/up", "../../../etc")


def test_formats_and_supported_types():
    assert format_for("x-1.0-py3-none-any.whl").key == "wheel"
    assert format_for("x-1.0.tar.gz").ecosystem == "pypi"
    assert format_for("x-1.0.0.tgz").ecosystem == "npm"
    assert format_for("x-1.0.tar.gz", "npm").key == "npm"
    assert format_for("x_1.0_amd64.deb").ecosystem == "debian"
    with pytest.raises(UnsupportedArtifact):
        format_for("x.exe")
    with pytest.raises(UnsupportedArtifact):
        format_for("x-1.0.whl", "npm")
    assert supported_types()["rpm"] == [".rpm"]
    assert sniff(b"\x7fELF") == "unknown" and sniff(b"!<arch>\nxx") == "ar"


def test_classify_binaries():
    assert classify("a/b", b"\x7fELF\x02") == "elf"
    pe = bytearray(b"MZ" + b"\x00" * 200)
    pe[60:64] = (128).to_bytes(4, "little")
    pe[128:132] = b"PE\x00\x00"
    assert classify("x.dll", bytes(pe)) == "pe"
    assert classify("x", b"\xcf\xfa\xed\xfe") == "macho"
    assert classify("A.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x34") != "macho"
    assert classify("run", b"#!/usr/bin/env python3\n") == "python"
    assert classify("x.js", b"var a") == "javascript"
    assert classify("x.txt", b"abc\x00def") == "binary"


def test_refused_archives_write_nothing_of_theirs(artifacts, tmp_path):
    """Small members are held in memory until the archive is read to its end: 50,000 files, no disk writes."""
    case = next(c for c in HOSTILE if c.name == "many-files")
    path = artifacts.hostile(case)
    with pytest.raises(ArchiveRefused) as refused:
        extract(path, format_for(path.name, "npm"), tmp_path / "s", Limits())
    assert refused.value.evidence["limit"] == Limits().max_files
    assert not [p for p in (tmp_path / "s").rglob("*")]
