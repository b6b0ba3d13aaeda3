"""Fetching referenced artifacts (`ecosystem + name + version`) through a tenant's registry connection.

| kind | how the artifact is found | digest checked in `verify` |
|---|---|---|
| pypi | `{base}/pypi/{name}/{version}/json` → `urls[]` | sha256 |
| pypi_simple | `{base}/{normalized-name}/` (PEP 691 JSON or PEP 503 HTML) | sha256 from the URL fragment / hashes |
| npm | `{base}/{name}` (packument) → `versions[v].dist.tarball` | sha512 (integrity) or sha1 (shasum) |
| debian | `{base}/dists/{suite}/{component}/binary-{arch}/Packages(.gz/.xz)` → `Filename` | sha256 |
| rpm | `{base}/repodata/repomd.xml` → primary.xml → `location` | sha256 (or the listed type) |
| alpine | `{base}/{arch}/APKINDEX.tar.gz` → `{name}-{version}.apk` | sha1 of the control segment (`C:Q1…`) |

Which distribution file of a PyPI release is scanned: the one named in the reference
(`filename`), else a universal wheel (`py3-none-any`), else the sdist, else the first
wheel.

Errors: a timeout, a refused connection, HTTP 429 or 5xx are *transient*
(`TransientFetchError`, retried with backoff by the task); anything else — 404,
401/403, an index without the version, a response over the size limit, an address
refused by the SSRF guard — is permanent (`FetchError`) and fails the scan with a
message saying what to fix. Credentials are sent only to the connection's own host,
never along a redirect to another host.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import ipaddress
import json
import lzma
import re
import socket
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET  # noqa: S405 - parses repository metadata; expat refuses external entities
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from django.conf import settings

CHUNK = 256 * 1024
MAX_INDEX_BYTES = 512 * 1024 * 1024
USER_AGENT = "Gatehouse-scanner/1 (+https://github.com/gatehouse)"


class FetchError(Exception):
    """A permanent fetch failure: retrying will not help."""

    code = "fetch_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class TransientFetchError(FetchError):
    """Worth retrying later: timeouts, refused connections, 429 and 5xx answers."""

    code = "fetch_transient"


@dataclass(frozen=True)
class ConnectionSpec:
    """What a fetch needs from a Connection row (decrypted), so this module needs no models."""

    kind: str
    base_url: str
    auth_type: str = "none"
    username: str = ""
    secret: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    timeout: int = 30

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.base_url).hostname or ""


@dataclass
class ResolvedArtifact:
    url: str
    filename: str
    expected: dict[str, str] = field(default_factory=dict)


@dataclass
class Downloaded:
    path: Path
    filename: str
    sha256: str
    size: int
    expected: dict[str, str]
    actual: dict[str, str]
    url: str


# --- HTTP with an SSRF guard ------------------------------------------------------------------

def _address_allowed(host: str) -> None:
    if settings.SCANNING_FETCH_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise TransientFetchError(f"The registry host '{host}' cannot be resolved ({exc.strerror}).") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified):
            raise FetchError(
                f"The registry host '{host}' resolves to {address}, a private or local address; Gatehouse does "
                "not fetch from those (set SCANNING_FETCH_ALLOW_PRIVATE=true for an internal registry).",
                code="fetch_address_refused")


def _check_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"Only http and https URLs can be fetched, not '{url[:200]}'.", code="fetch_bad_url")
    _address_allowed(parts.hostname)
    return parts


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, credential_host: str) -> None:
        self.credential_host = credential_host

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        target = _check_url(newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and (target.hostname or "") != self.credential_host:
            new.remove_header("Authorization")
        return new


class RegistryClient:
    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec
        self.base = spec.base_url.rstrip("/")
        self.opener = urllib.request.build_opener(_GuardedRedirects(spec.host))

    def _request(self, url: str, accept: str | None = None) -> urllib.request.Request:
        parts = _check_url(url)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310 - scheme checked
        if accept:
            request.add_header("Accept", accept)
        if (parts.hostname or "") == self.spec.host:
            if self.spec.auth_type == "basic" and (self.spec.username or self.spec.secret):
                token = base64.b64encode(f"{self.spec.username}:{self.spec.secret}".encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            elif self.spec.auth_type == "token" and self.spec.secret:
                request.add_header("Authorization", f"Bearer {self.spec.secret}")
        return request

    def open(self, url: str, accept: str | None = None) -> Any:
        request = self._request(url, accept)
        try:
            return self.opener.open(request, timeout=self.spec.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            where = _redact(url)
            if exc.code == 404:
                raise FetchError(f"The registry answered 404 Not Found for {where}: check the name, the version "
                                 "and the connection's base URL.", code="fetch_not_found") from exc
            if exc.code in (401, 403):
                raise FetchError(f"The registry refused the request ({exc.code}) for {where}: check the "
                                 "connection's credentials.", code="fetch_unauthorized") from exc
            if exc.code == 429 or exc.code >= 500:
                raise TransientFetchError(f"The registry answered {exc.code} for {where}; retrying later.") from exc
            raise FetchError(f"The registry answered {exc.code} for {where}.") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, FetchError):
                raise exc.reason from exc
            raise TransientFetchError(f"The registry at {_redact(url)} cannot be reached ({exc.reason}).") from exc
        except (TimeoutError, socket.timeout, ConnectionError) as exc:
            raise TransientFetchError(f"The registry at {_redact(url)} did not answer in time ({exc}).") from exc

    def read(self, url: str, *, accept: str | None = None, limit: int = 64 * 1024 * 1024) -> bytes:
        with self.open(url, accept) as response:
            try:
                data = response.read(limit + 1)
            except (TimeoutError, socket.timeout, ConnectionError, OSError) as exc:
                raise TransientFetchError(f"Reading {_redact(url)} failed ({exc}).") from exc
        if len(data) > limit:
            raise FetchError(f"The response of {_redact(url)} is larger than {limit} bytes.", code="fetch_too_large")
        return data

    def probe(self, url: str) -> int:
        with self.open(url) as response:
            response.read(64 * 1024)
            return int(getattr(response, "status", 200))

    def download(self, url: str, dest: Path, *, max_bytes: int) -> tuple[str, int, dict[str, str]]:
        """Stream `url` to `dest`; returns (sha256, size, {"sha1", "sha512"} hex digests)."""
        digests = {"sha256": hashlib.sha256(), "sha1": hashlib.sha1(), "sha512": hashlib.sha512()}  # noqa: S324
        size = 0
        with self.open(url) as response, open(dest, "wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"The artifact is {int(declared)} bytes; the limit is {max_bytes}.",
                                 code="fetch_too_large")
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (TimeoutError, socket.timeout, ConnectionError, OSError) as exc:
                    raise TransientFetchError(f"The download of {_redact(url)} was interrupted ({exc}).") from exc
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"The artifact is larger than the limit of {max_bytes} bytes.",
                                     code="fetch_too_large")
                for digest in digests.values():
                    digest.update(chunk)
                out.write(chunk)
            if declared and declared.isdigit() and int(declared) != size:
                raise TransientFetchError(f"The download of {_redact(url)} stopped after {size} of {declared} bytes.")
        return digests["sha256"].hexdigest(), size, {k: d.hexdigest() for k, d in digests.items() if k != "sha256"}


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- Resolvers ---------------------------------------------------------------------------------

def normalize_pypi(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pypi_version_equal(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _pick_python_file(files: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    if wanted:
        for f in files:
            if f["filename"] == wanted:
                return f
        raise FetchError(f"The release has no file named '{wanted}'; available: "
                         f"{', '.join(f['filename'] for f in files)[:500]}.", code="fetch_not_found")
    usable = [f for f in files if not f.get("yanked")] or files
    for predicate in (lambda n: n.endswith("-none-any.whl"),
                      lambda n: n.endswith((".tar.gz", ".zip", ".tar.bz2", ".tar.xz")),
                      lambda n: n.endswith(".whl")):
        for f in usable:
            if predicate(f["filename"]):
                return f
    raise FetchError("The release has no wheel or sdist Gatehouse can scan.", code="fetch_not_found")


def _file_version(filename: str, name: str) -> str | None:
    norm = normalize_pypi(name).replace("-", "_")
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 5 and normalize_pypi(parts[0]).replace("-", "_") == norm else None
    match = re.match(r"^(.+)-([^-]+)\.(tar\.gz|zip|tar\.bz2|tar\.xz|tgz)$", filename)
    if match and normalize_pypi(match.group(1)).replace("-", "_") == norm:
        return match.group(2)
    return None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, dict[str, str | None]]] = []
        self._href: str | None = None
        self._attrs: dict[str, str | None] = {}
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)
            self._href = self._attrs.get("href")
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip(), self._attrs))
            self._href = None


def resolve_pypi_json(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    url = f"{client.base}/pypi/{urllib.parse.quote(name)}/{urllib.parse.quote(version)}/json"
    try:
        data = json.loads(client.read(url, accept="application/json"))
        files = [{"filename": f["filename"], "url": f["url"], "sha256": (f.get("digests") or {}).get("sha256", ""),
                  "yanked": f.get("yanked", False)} for f in data.get("urls", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"The PyPI JSON API at {_redact(url)} answered something that is not release "
                         "metadata.") from exc
    if not files:
        raise FetchError(f"PyPI lists no files for {name} {version}.", code="fetch_not_found")
    chosen = _pick_python_file(files, filename)
    return ResolvedArtifact(url=urllib.parse.urljoin(url, chosen["url"]), filename=chosen["filename"],
                            expected={"sha256": chosen["sha256"]} if chosen["sha256"] else {})


def resolve_pypi_simple(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    url = f"{client.base}/{normalize_pypi(name)}/"
    raw = client.read(url, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    files: list[dict[str, Any]] = []
    try:
        data = json.loads(raw)
        for f in data.get("files", []):
            files.append({"filename": f["filename"], "url": urllib.parse.urljoin(url, f["url"]),
                          "sha256": (f.get("hashes") or {}).get("sha256", ""), "yanked": bool(f.get("yanked"))})
    except (ValueError, KeyError, TypeError, AttributeError):
        parser = _Anchors()
        parser.feed(raw.decode("utf-8", errors="replace"))
        for href, text, attrs in parser.links:
            target, _, fragment = href.partition("#")
            digest = fragment.split("=", 1)[1] if fragment.startswith("sha256=") else ""
            fname = text or urllib.parse.unquote(target.rsplit("/", 1)[-1])
            files.append({"filename": fname, "url": urllib.parse.urljoin(url, target), "sha256": digest,
                          "yanked": "data-yanked" in attrs})
    matching = [f for f in files if (v := _file_version(f["filename"], name)) is not None and
                _pypi_version_equal(v, version)]
    if not matching:
        raise FetchError(f"The index at {_redact(url)} has no files for {name} {version}.", code="fetch_not_found")
    chosen = _pick_python_file(matching, filename)
    return ResolvedArtifact(url=chosen["url"], filename=chosen["filename"],
                            expected={"sha256": chosen["sha256"]} if chosen["sha256"] else {})


def resolve_npm(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    encoded = urllib.parse.quote(name, safe="@").replace("/", "%2f")
    url = f"{client.base}/{encoded}"
    try:
        data = json.loads(client.read(url, accept="application/vnd.npm.install-v1+json; q=1.0, "
                                                  "application/json; q=0.8"))
    except ValueError as exc:
        raise FetchError(f"The npm registry at {_redact(url)} answered something that is not a packument.") from exc
    entry = (data.get("versions") or {}).get(version.lstrip("v=")) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("dist"), dict):
        raise FetchError(f"The npm registry has no version {version} of {name}.", code="fetch_not_found")
    dist = entry["dist"]
    tarball = str(dist.get("tarball", ""))
    if not tarball:
        raise FetchError(f"The npm registry lists no tarball for {name}@{version}.", code="fetch_not_found")
    expected: dict[str, str] = {}
    integrity = str(dist.get("integrity", ""))
    for item in integrity.split():
        algo, _, b64 = item.partition("-")
        if algo in ("sha512", "sha256", "sha1"):
            try:
                expected[algo] = base64.b64decode(b64).hex()
            except ValueError:
                continue
    if "sha1" not in expected and dist.get("shasum"):
        expected["sha1"] = str(dist["shasum"]).lower()
    return ResolvedArtifact(url=urllib.parse.urljoin(url, tarball), filename=tarball.rsplit("/", 1)[-1].split("?")[0],
                            expected=expected)


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    if fields:
        yield fields


def resolve_debian(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    opts = client.spec.options or {}
    suite, component, arch = opts.get("suite", "stable"), opts.get("component", "main"), opts.get("arch", "amd64")
    index_base = f"{client.base}/dists/{suite}/{component}/binary-{arch}/Packages"
    text = None
    last_error: FetchError | None = None
    for suffix, decompress in ((".gz", gzip.decompress), (".xz", lzma.decompress), ("", lambda b: b)):
        try:
            raw = client.read(index_base + suffix, limit=MAX_INDEX_BYTES)
        except FetchError as exc:
            if isinstance(exc, TransientFetchError):
                raise
            last_error = exc
            continue
        try:
            text = decompress(raw).decode("utf-8", errors="replace")
        except (OSError, lzma.LZMAError, EOFError) as exc:
            raise FetchError(f"The package index {_redact(index_base + suffix)} is corrupt.") from exc
        break
    if text is None:
        raise last_error or FetchError("The Debian repository has no package index.", code="fetch_not_found")
    for para in _paragraphs(text):
        if para.get("Package") == name and para.get("Version") == version:
            path = para.get("Filename", "")
            if not path or ".." in path.split("/"):
                raise FetchError(f"The index entry of {name} {version} has no usable Filename.")
            expected = {"sha256": para["SHA256"].lower()} if para.get("SHA256") else {}
            return ResolvedArtifact(url=f"{client.base}/{path.lstrip('/')}", filename=path.rsplit("/", 1)[-1],
                                    expected=expected)
    raise FetchError(f"The Debian repository ({suite}/{component}/{arch}) has no {name} {version}.",
                     code="fetch_not_found")


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def resolve_rpm(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    arch_pref = (client.spec.options or {}).get("arch")
    repomd_url = f"{client.base}/repodata/repomd.xml"
    try:
        repomd = ET.fromstring(client.read(repomd_url))  # noqa: S314
    except ET.ParseError as exc:
        raise FetchError(f"{_redact(repomd_url)} is not valid XML.") from exc
    primary_href = None
    for data in repomd:
        if _strip_ns(data.tag) == "data" and data.get("type") == "primary":
            for child in data:
                if _strip_ns(child.tag) == "location":
                    primary_href = child.get("href")
    if not primary_href or ".." in primary_href.split("/"):
        raise FetchError("The RPM repository's repomd.xml lists no primary metadata.", code="fetch_not_found")
    raw = client.read(f"{client.base}/{primary_href.lstrip('/')}", limit=MAX_INDEX_BYTES)
    stream: IO[bytes]
    if raw[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=io.BytesIO(raw))
    elif raw[:6] == b"\xfd7zXZ\x00":
        stream = lzma.LZMAFile(io.BytesIO(raw))
    elif raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw))
    else:
        stream = io.BytesIO(raw)
    candidates = []
    try:
        for _event, elem in ET.iterparse(stream, events=("end",)):  # noqa: S314
            if _strip_ns(elem.tag) != "package":
                continue
            fields = {_strip_ns(c.tag): c for c in elem}
            pkg_name = (fields["name"].text or "") if "name" in fields else ""
            if pkg_name == name and "version" in fields:
                v = fields["version"]
                ver, rel, epoch = v.get("ver", ""), v.get("rel", ""), v.get("epoch", "0")
                accepted = {ver, f"{ver}-{rel}", f"{epoch}:{ver}-{rel}"}
                if version in accepted:
                    location = fields["location"].get("href", "") if "location" in fields else ""
                    checksum = fields.get("checksum")
                    arch = (fields["arch"].text or "") if "arch" in fields else ""
                    expected = {}
                    if checksum is not None and checksum.get("type") in ("sha256", "sha512", "sha1"):
                        expected[checksum.get("type", "sha256")] = (checksum.text or "").strip().lower()
                    candidates.append((arch, location, expected))
            elem.clear()
    except (ET.ParseError, OSError, EOFError, lzma.LZMAError) as exc:
        raise FetchError("The RPM repository's primary metadata cannot be parsed.") from exc
    if not candidates:
        raise FetchError(f"The RPM repository has no {name} {version}.", code="fetch_not_found")
    candidates.sort(key=lambda c: (c[0] != arch_pref, c[0] == "src"))
    arch, location, expected = candidates[0]
    if not location or ".." in location.split("/"):
        raise FetchError(f"The repository entry of {name} {version} has no usable location.")
    return ResolvedArtifact(url=f"{client.base}/{location.lstrip('/')}", filename=location.rsplit("/", 1)[-1],
                            expected=expected)


def resolve_alpine(client: RegistryClient, name: str, version: str, filename: str | None) -> ResolvedArtifact:
    arch = (client.spec.options or {}).get("arch", "x86_64")
    index_url = f"{client.base}/{arch}/APKINDEX.tar.gz"
    raw = client.read(index_url, limit=MAX_INDEX_BYTES)
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name == "APKINDEX" and m.isreg()), None)
            handle = tar.extractfile(member) if member is not None else None
            text = handle.read().decode("utf-8", errors="replace") if handle is not None else None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FetchError(f"{_redact(index_url)} is not a valid APKINDEX archive.") from exc
    if text is None:
        raise FetchError(f"{_redact(index_url)} has no APKINDEX file.")
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if len(line) > 2 and line[1] == ":")
        if fields.get("P") == name and fields.get("V") in (version, ) or (
                fields.get("P") == name and re.sub(r"-r\d+$", "", fields.get("V", "")) == version):
            full_version = fields["V"]
            expected = {}
            checksum = fields.get("C", "")
            if checksum.startswith("Q1"):
                try:
                    expected["apk_control_sha1"] = base64.b64decode(checksum[2:]).hex()
                except ValueError:
                    pass
            fname = f"{name}-{full_version}.apk"
            return ResolvedArtifact(url=f"{client.base}/{arch}/{urllib.parse.quote(fname)}", filename=fname,
                                    expected=expected)
    raise FetchError(f"The Alpine repository ({arch}) has no {name} {version}.", code="fetch_not_found")


RESOLVERS = {
    "pypi": resolve_pypi_json, "pypi_simple": resolve_pypi_simple, "npm": resolve_npm, "debian": resolve_debian,
    "rpm": resolve_rpm, "alpine": resolve_alpine,
}


def fetch(spec: ConnectionSpec, *, name: str, version: str, filename: str | None, dest_dir: Path,
          max_bytes: int) -> Downloaded:
    """Resolve and download one artifact into `dest_dir`."""
    client = RegistryClient(spec)
    resolved = RESOLVERS[spec.kind](client, name, version, filename)
    safe_name = re.sub(r"[^A-Za-z0-9._+~-]", "_", urllib.parse.unquote(resolved.filename))[:200] or "artifact"
    dest = dest_dir / safe_name
    sha256, size, others = client.download(resolved.url, dest, max_bytes=max_bytes)
    return Downloaded(path=dest, filename=safe_name, sha256=sha256, size=size,
                      expected={k: v for k, v in resolved.expected.items() if v},
                      actual={"sha256": sha256, **others}, url=_redact(resolved.url))


def probe_connection(spec: ConnectionSpec) -> str:
    """Reach the connection's index with its credentials; returns what was checked. Raises FetchError."""
    client = RegistryClient(spec)
    opts = spec.options or {}
    url = {
        "pypi": f"{client.base}/pypi/pip/json",
        "pypi_simple": f"{client.base}/",
        "npm": f"{client.base}/",
        "debian": f"{client.base}/dists/{opts.get('suite', 'stable')}/Release",
        "rpm": f"{client.base}/repodata/repomd.xml",
        "alpine": f"{client.base}/{opts.get('arch', 'x86_64')}/APKINDEX.tar.gz",
    }[spec.kind]
    status = client.probe(url)
    return f"{_redact(url)} answered {status}."


def apk_control_sha1(path: Path) -> str | None:
    """SHA-1 of the gzip segment of an .apk that holds .PKGINFO (what APKINDEX's `C:Q1` records)."""
    import zlib

    with open(path, "rb") as handle:
        offset = 0
        for _segment in range(4):
            handle.seek(offset)
            decomp = zlib.decompressobj(31)
            head = b""
            fed = 0
            while not decomp.eof:
                chunk = handle.read(CHUNK)
                if not chunk:
                    return None
                fed += len(chunk)
                buf = chunk
                try:
                    while buf and not decomp.eof:
                        out = decomp.decompress(buf, 65536)
                        if len(head) < 4096:
                            head += out[: 4096 - len(head)]
                        buf = decomp.unconsumed_tail
                except zlib.error:
                    return None
            end = offset + fed - len(decomp.unused_data)
            if b".PKGINFO" in head[:1024]:
                handle.seek(offset)
                return hashlib.sha1(handle.read(end - offset)).hexdigest()  # noqa: S324 - the format's own digest
            offset = end
    return None
