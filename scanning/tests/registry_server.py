"""A local HTTP server that imitates PyPI (JSON and simple), npm, Debian, RPM and Alpine repositories."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)  # statuses answered first, once each


class FakeRegistry:
    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[dict[str, Any]] = []
        self.required_auth: dict[str, str] = {}  # path prefix -> Authorization value
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                registry.requests.append({"path": path, "host": self.headers.get("Host", ""),
                                          "authorization": self.headers.get("Authorization")})
                for prefix, expected in registry.required_auth.items():
                    if path.startswith(prefix) and self.headers.get("Authorization") != expected:
                        self._send(401, b"unauthorized", {})
                        return
                reply = registry.routes.get(path)
                if reply is None:
                    self._send(404, b"not found", {})
                    return
                if reply.failures:
                    self._send(reply.failures.pop(0), b"try later", {})
                    return
                self._send(reply.status, reply.body, reply.headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeRegistry:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None,
            failures: list[int] | None = None) -> None:
        self.routes[path] = Reply(status, body, headers or {}, list(failures or []))

    # --- Registry layouts ------------------------------------------------------------------

    def pypi(self, name: str, version: str, filename: str, data: bytes, *, sha256: str | None = None) -> None:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        self.add(f"/files/{filename}", data)
        doc = {"info": {"name": name, "version": version},
               "urls": [{"filename": filename, "url": f"{self.url}/files/{filename}", "packagetype": "bdist_wheel",
                         "digests": {"sha256": digest}, "yanked": False}]}
        self.add(f"/pypi/{name}/{version}/json", json.dumps(doc).encode())
        html = f'<html><body><a href="../../files/{filename}#sha256={digest}">{filename}</a></body></html>'
        self.add(f"/simple/{name}/", html.encode(), headers={"Content-Type": "text/html"})

    def npm(self, name: str, version: str, filename: str, data: bytes) -> None:
        self.add(f"/npm/{name}/-/{filename}", data)
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        doc = {"name": name, "versions": {version: {"dist": {
            "tarball": f"{self.url}/npm/{name}/-/{filename}", "integrity": integrity,
            "shasum": hashlib.sha1(data).hexdigest()}}}}  # noqa: S324 - npm's own field
        self.add(f"/npm/{name}", json.dumps(doc).encode())

    def debian(self, name: str, version: str, filename: str, data: bytes) -> None:
        pool = f"pool/main/{name[0]}/{name}/{filename}"
        self.add(f"/debian/{pool}", data)
        packages = (f"Package: other\nVersion: 1\nFilename: pool/x.deb\n\nPackage: {name}\nVersion: {version}\n"
                    f"Architecture: amd64\nFilename: {pool}\nSize: {len(data)}\n"
                    f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n")
        self.add("/debian/dists/stable/main/binary-amd64/Packages.gz", gzip.compress(packages.encode()))
        self.add("/debian/dists/stable/Release", b"Origin: fake\n")

    def rpm(self, name: str, version: str, release: str, filename: str, data: bytes) -> None:
        self.add(f"/rpm/Packages/{filename}", data)
        primary = (
            '<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" packages="1">'
            f'<package type="rpm"><name>{name}</name><arch>x86_64</arch>'
            f'<version epoch="0" ver="{version}" rel="{release}"/>'
            f'<checksum type="sha256" pkgid="YES">{hashlib.sha256(data).hexdigest()}</checksum>'
            f'<location href="Packages/{filename}"/></package></metadata>')
        self.add("/rpm/repodata/primary.xml.gz", gzip.compress(primary.encode()))
        repomd = ('<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
                  '<data type="primary"><location href="repodata/primary.xml.gz"/></data></repomd>')
        self.add("/rpm/repodata/repomd.xml", repomd.encode())

    def alpine(self, name: str, version: str, data: bytes, control_sha1: str) -> None:
        filename = f"{name}-{version}.apk"
        self.add(f"/alpine/x86_64/{filename}", data)
        checksum = "Q1" + base64.b64encode(bytes.fromhex(control_sha1)).decode()
        index = f"C:{checksum}\nP:{name}\nV:{version}\nA:x86_64\n\n".encode()
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo("APKINDEX")
            info.size = len(index)
            tar.addfile(info, io.BytesIO(index))
        self.add("/alpine/x86_64/APKINDEX.tar.gz", raw.getvalue())
