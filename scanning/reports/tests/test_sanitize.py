"""The custom-CSS sanitiser, logo validation and the accent colour (no database)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from config.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from scanning.reports.sanitize import clean_accent, clean_image, sanitize_css, validate_css
from scanning.reports.tests.factories import SVG_LOGO, jpeg_bytes, png_bytes


@pytest.mark.parametrize("css, gone", [
    ("@import url(http://127.0.0.1:9/x.css); p { color: red }", "@import"),
    ("@import 'https://evil.example/x.css';", "@import"),
    ("@\\69mport 'http://127.0.0.1:9/x.css';", "@import"),            # an escaped at-keyword
    ("p { background: url(file:///etc/passwd) }", "file:"),
    ("p { background: url('http://127.0.0.1:9/bg.png') }", "http:"),
    ("p { background: url(//evil.example/bg.png) }", "evil.example"),  # protocol-relative
    ("p { background: url(bg.png) }", "bg.png"),                        # relative: resolved against nothing
    ("p { background: \\75 rl(http://127.0.0.1:9/) }", "127.0.0.1"),    # an escaped function name
    ("p { width: expression(alert(1)) }", "expression"),
    ("p { background: image-set('http://127.0.0.1:9/a.png' 1x) }", "image-set"),
    ("p { background: -webkit-image-set(url(http://x/a.png) 1x) }", "image-set"),
    ("@font-face { font-family: x; src: url(https://evil.example/f.woff) } h1 { font-family: x }", "@font-face"),
    ("p { behavior: url(x.htc) }", "behavior"),
    ("p { -moz-binding: url(x.xml#x) }", "binding"),
    ("p { background: url(data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=) }", "svg"),
    ("@media print { p { background: url(http://127.0.0.1:9/m.png) } }", "127.0.0.1"),
    ("@page { @top-center { content: url(http://127.0.0.1:9/p.png) } }", "127.0.0.1"),
    ("@namespace svg url(http://www.w3.org/2000/svg);", "@namespace"),
    ("@color-profile --p { src: url(http://127.0.0.1:9/p.icc) }", "@color-profile"),
    ("a[href^='http'] { color: red } p { list-style-image: url(http://127.0.0.1:9/l.png) }", "127.0.0.1:9"),
])
def test_what_could_load_a_resource_is_dropped_and_reported(css: str, gone: str):
    result = sanitize_css(css)
    assert result.problems, f"no problem reported for {css!r}"
    assert gone.lower() not in result.css.lower().replace("@media", ""), result.css
    assert "url(" not in result.css.lower()
    with pytest.raises(ValidationFailed) as refused:
        validate_css(css)
    assert refused.value.details["custom_css"] == result.problems


def test_harmless_css_passes_through():
    css = ("h1, h2 { color: #0f766e; letter-spacing: .02em !important }\n"
           "a:not(.plain) > code { background: rgb(240 240 240); }\n"
           "@media print { .cover { border-top-width: calc(2mm + 1px); } }\n"
           "@page :first { margin: 1cm; @top-center { content: 'Confidential'; } }\n"
           "table tr:nth-child(2n) td { background: linear-gradient(90deg, #fff, #eee); }")
    result = sanitize_css(css)
    assert result.problems == []
    assert "letter-spacing: .02em !important" in result.css
    assert "@media print" in result.css and "calc(2mm + 1px)" in result.css
    assert '@top-center { content: "Confidential"; }' in result.css
    assert "nth-child(2n)" in result.css and "linear-gradient(90deg, #fff, #eee)" in result.css
    assert validate_css(css) == css


def test_a_data_image_is_decoded_checked_and_re_encoded():
    png = png_bytes(8, 8) + b"trailing bytes after IEND, e.g. a polyglot"
    css = f"h1 {{ background: url(data:image/png;base64,{base64.b64encode(png).decode()}) no-repeat }}"
    result = sanitize_css(css)
    assert result.problems == []
    [uri] = result.data_uris
    assert uri in result.css and "no-repeat" in result.css
    reencoded = base64.b64decode(uri.split(",", 1)[1])
    assert b"polyglot" not in reencoded and Image.open(io.BytesIO(reencoded)).size == (8, 8)


def test_a_broken_data_image_is_refused():
    result = sanitize_css("h1 { background: url(data:image/png;base64,bm90IGFuIGltYWdl) }")
    assert result.problems and "not a PNG or JPEG" in result.problems[0]
    assert result.css == "h1 {  }"


def test_markup_cannot_leave_the_style_element():
    result = sanitize_css('p::after { content: "</style><script>alert(1)</script>" }')
    assert "<" not in result.css and "\\3c /style>" in result.css
    assert any("'<'" in p for p in result.problems)


def test_css_size_is_capped(settings):
    settings.REPORTS_CUSTOM_CSS_MAX_KB = 1
    with pytest.raises(ValidationFailed) as refused:
        validate_css("p { color: red; }\n" * 100)
    assert "At most 1 KB" in refused.value.details["custom_css"][0]


def test_syntax_errors_are_reported():
    result = sanitize_css("p { color: red; } h1 { background: url(http://x y) }")
    assert result.problems and "p { color: red; }" in result.css


# --- images ----------------------------------------------------------------------------------------

def test_png_and_jpeg_logos_are_re_encoded():
    png = clean_image(png_bytes(120, 40))
    assert (png.content_type, png.width, png.height) == ("image/png", 120, 40)
    jpeg = clean_image(jpeg_bytes())
    assert jpeg.content_type == "image/jpeg" and jpeg.data.startswith(b"\xff\xd8")
    assert jpeg.data_uri().startswith("data:image/jpeg;base64,")


def test_svg_logos_are_refused():
    with pytest.raises(UnsupportedMediaType) as refused:
        clean_image(SVG_LOGO)
    assert refused.value.code == "unsupported_image_type" and "SVG" in refused.value.message
    with pytest.raises(UnsupportedMediaType):
        clean_image(b"\n  <svg xmlns='http://www.w3.org/2000/svg'></svg>")


@pytest.mark.parametrize("data", [b"GIF89a" + b"\x00" * 40, b"%PDF-1.7 not an image", b"\x89PNG\r\n\x1a\n broken"])
def test_other_files_are_refused(data: bytes):
    with pytest.raises(UnsupportedMediaType):
        clean_image(data)


def test_logo_size_and_dimensions_are_capped(settings):
    settings.REPORTS_LOGO_MAX_KB = 1
    with pytest.raises(PayloadTooLarge) as too_large:
        clean_image(b"\x89PNG" + b"\x00" * 2048)
    assert too_large.value.code == "logo_too_large"
    settings.REPORTS_LOGO_MAX_KB = 512
    settings.REPORTS_LOGO_MAX_SIDE = 100
    with pytest.raises(ValidationFailed) as too_big:
        clean_image(png_bytes(101, 10))
    assert "101×10 pixels" in too_big.value.message


@pytest.mark.parametrize("lenient", [False, True])
def test_a_truncated_image_is_refused(lenient: bool, monkeypatch: pytest.MonkeyPatch):
    """Even when Pillow pads truncated images (WeasyPrint turns that on for the whole process)."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient)
    for data in (png_bytes(200, 200), jpeg_bytes(200, 200)):
        with pytest.raises(ValidationFailed) as refused:
            clean_image(data[: len(data) // 2])
        assert "damaged or truncated" in refused.value.message


@pytest.mark.parametrize("value, ok", [("#0F766E", "#0f766e"), ("#abcdef", "#abcdef"), ("red", None),
                                       ("#fff", None), ("#12345g", None), ("#123456; background: url(x)", None),
                                       (None, None)])
def test_accent_colour(value: object, ok: str | None):
    if ok is None:
        with pytest.raises(ValidationFailed):
            clean_accent(value)
    else:
        assert clean_accent(value) == ok
