"""Rendering never reads local files or reaches the network, whatever a template's CSS asks for.

Two layers are tested: the sanitiser drops everything that could load a resource
(even from CSS stored before validation existed, or written around it), and the
WeasyPrint URL fetcher refuses every URL it did not generate — checked here with the
sanitiser bypassed. A listener on 127.0.0.1 must receive no request at all.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import schema_context

from audit.context import Actor
from scanning.reports import rendering
from scanning.reports.models import SECTION_ORDER
from scanning.reports.tests.conftest import generate, pdftotext
from scanning.reports.tests.factories import ReportTemplateFactory, png_bytes, scan_with_findings

PASSWD_MARKER = "root:x:0:0"


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets (and would answer them)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                listener.requests.append(self.path)
                body = b"h1 { color: red }" if self.path.endswith(".css") else png_bytes(4, 4)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def hostile_css(listener: Listener) -> str:
    return f"""
@import url({listener.url("import.css")});
@import "file:///etc/passwd";
@\\69mport "{listener.url("escaped-import.css")}";
@font-face {{ font-family: leak; src: url({listener.url("font.woff")}) }}
h1 {{ font-family: leak; background: url(file:///etc/passwd) }}
h2 {{ background-image: url("{listener.url("bg.png")}") }}
h2::after {{ content: url(file:///etc/hostname) }}
p {{ background: \\75 rl({listener.url("escaped-function.png")}) }}
body {{ background: url(https://example.com/remote.png) }}
.cover {{ background: image-set("{listener.url("image-set.png")}" 1x) }}
.cover::before {{ content: "MARKER " url({listener.url("content.png")}) }}
@page {{ background: url({listener.url("page.png")}); @top-left {{ content: url(file:///etc/passwd) }} }}
@media print {{ .org {{ list-style-image: url({listener.url("media.png")}) }} }}
.org::after {{ content: " SAFE-MARKER" }}
"""


def test_css_injection_leaks_nothing_into_the_pdf(tenant_a: Any, listener: Listener, poppler: None,
                                                  tmp_path: Path):
    from accounts.tests.factories import make_member

    owner = make_member(tenant_a, "owner")
    with schema_context(tenant_a.schema_name):
        scan = scan_with_findings(submitted_by=owner)
        # Stored around validation (as from an older version): the renderer sanitises again.
        template = ReportTemplateFactory(name="Hostile", sections=list(SECTION_ORDER),
                                         custom_css=hostile_css(listener))
        report, pdf = generate(tenant_a, Actor.for_user(owner), fmt="pdf", template=template, scan_id=scan.pk)
        _, html = generate(tenant_a, Actor.for_user(owner), fmt="html", template=template, scan_id=scan.pk)
    assert report.status == "completed"
    assert listener.requests == [], "rendering reached the network"
    text = pdftotext(pdf, tmp_path)
    assert PASSWD_MARKER not in text
    assert "SAFE-MARKER" in text, "harmless rules of the same CSS still apply"
    assert PASSWD_MARKER.encode() not in pdf
    page = html.decode()
    assert str(listener.port) not in page and "file:" not in page and "example.com" not in page
    assert "@import" not in page and "@font-face" not in page


def test_the_fetcher_refuses_what_the_renderer_did_not_generate(listener: Listener):
    """With the sanitiser bypassed entirely, WeasyPrint still loads nothing but our own data: URIs."""
    from weasyprint import HTML

    ours = rendering.data_uri("image/png", png_bytes(6, 6))
    foreign = rendering.data_uri("image/png", png_bytes(7, 7))
    html = f"""<html><head>
<link rel="stylesheet" href="{listener.url("linked.css")}">
<link rel="stylesheet" href="file:///etc/passwd">
<style>@import url({listener.url("import.css")}); body {{ background: url(file:///etc/passwd) }}</style>
</head><body>
<img src="{listener.url("img.png")}"><img src="file:///etc/passwd"><img src="relative.png">
<object data="{listener.url("object.png")}"></object><embed src="{listener.url("embed.png")}">
<img src="{foreign}"><img id="ours" src="{ours}">
<svg><image href="{listener.url("svg.png")}" width="5" height="5"/></svg>
</body></html>"""
    fetcher = rendering._sealed_fetcher({ours})
    pdf = HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    assert pdf.startswith(b"%PDF-")
    assert listener.requests == []
    refused = "\n".join(fetcher.refused)
    for wanted in ("linked.css", "import.css", "img.png", "object.png", "file:///etc/passwd", foreign[:60]):
        assert wanted in refused, wanted
    assert ours not in fetcher.refused
    with pytest.raises(rendering.RefusedFetch):
        fetcher(listener.url("direct"))
    assert listener.requests == []


def test_a_spec_with_unsanitised_css_still_loads_nothing(listener: Listener):
    from scanning.analyzers import registry
    from scanning.reports import document as doc
    from scanning.reports.sample import sample_record

    document = doc.build([sample_record()], report={"id": "x", "title": "T", "scope": "scan", "format": "pdf",
                                                    "generated_at": "2026-01-01T00:00:00+00:00",
                                                    "template": "raw", "sections": ["executive_summary"]},
                         organization={"name": "Acme Corp", "slug": "acme"}, catalog=registry.checks(),
                         tool_version="0")
    spec = rendering.RenderSpec(custom_css=hostile_css(listener).replace("<", ""), sections=["executive_summary"])
    result = rendering.render_pdf(document, spec)
    assert result.data.startswith(b"%PDF-")
    assert listener.requests == []
    assert any(str(listener.port) in url for url in result.refused)
    assert any(url.startswith("file:") for url in result.refused)


def test_the_api_refuses_hostile_css_and_saves_nothing(client_for: Any, tenant_a: Any, listener: Listener):
    from scanning.reports.models import ReportTemplate

    _, client = client_for("admin")
    response = client.post("/api/v1/report-templates", {"name": "Hostile", "custom_css": hostile_css(listener)},
                           content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    problems = error["details"]["custom_css"]
    assert any("@import" in p for p in problems) and any("file URL" in p for p in problems)
    assert any("expression" in p or "image-set" in p for p in problems)
    with schema_context(tenant_a.schema_name):
        assert not ReportTemplate.objects.filter(name="Hostile").exists()
    assert listener.requests == []


def test_a_logo_is_embedded_as_generated_data_and_svg_is_refused(client_for: Any, tenant_a: Any):
    from scanning.reports.tests.factories import SVG_LOGO

    _, client = client_for("admin")
    svg = client.post("/api/v1/report-templates", {"name": "Svg", "logo": _upload("logo.svg", SVG_LOGO)})
    assert svg.status_code == 415 and svg.json()["error"]["code"] == "unsupported_image_type"
    png = client.post("/api/v1/report-templates", {"name": "Branded", "logo": _upload("logo.png", png_bytes(90, 30))})
    assert png.status_code == 201, png.content
    assert png.json()["logo"]["width"] == 90
    preview = client.get(png.json()["urls"]["preview"])
    assert preview.status_code == 200
    page = preview.content.decode()
    assert '<img class="logo" src="data:image/png;base64,' in page
    encoded = page.split('<img class="logo" src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(encoded).startswith(b"\x89PNG")


def _upload(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
