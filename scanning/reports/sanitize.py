"""What a template owner controls, made safe to render: custom CSS, the logo, the accent colour.

Custom CSS is parsed with tinycss2 (a CSS Syntax Level 3 tokenizer, so escapes such as
`\\75 rl(` or `@\\69mport` are decoded before anything is judged) and rebuilt from an
allow-list:

- at-rules: only `@media` (its rules sanitised the same way) and `@page` (with its margin
  boxes); `@import`, `@font-face`, `@namespace`, `@color-profile` and the rest are dropped;
- functions: an allow-list of colours, maths, gradients, transforms and page counters;
  `expression()`, `image-set()`, `image()`, `cross-fade()`, `element()`... are dropped;
- `url(...)` only for `data:image/png` or `data:image/jpeg` base64 images, which are
  decoded, checked by Pillow and re-encoded (what reaches the renderer is an image we
  produced ourselves, never the bytes that were sent); any other URL — http(s), file:,
  relative, SVG data — is dropped with its declaration;
- properties that bind behaviour (`behavior`, `-moz-binding`) are dropped;
- `<` is refused (the CSS ends up inside a <style> element) and escaped on output.

`sanitize_css` returns the rebuilt CSS, the data: URIs it generated (the only URLs the
PDF renderer will agree to load) and the list of problems; services refuse CSS with
problems, and the renderer uses the rebuilt CSS whatever is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import Any

import tinycss2
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from config.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

ACCENT_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
ALLOWED_AT_RULES = {"media", "page"}
PAGE_MARGIN_BOXES = {
    "top-left-corner", "top-left", "top-center", "top-right", "top-right-corner",
    "bottom-left-corner", "bottom-left", "bottom-center", "bottom-right", "bottom-right-corner",
    "left-top", "left-middle", "left-bottom", "right-top", "right-middle", "right-bottom",
}
ALLOWED_FUNCTIONS = {
    # colours
    "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color-mix",
    # maths
    "calc", "min", "max", "clamp",
    # gradients
    "linear-gradient", "radial-gradient", "repeating-linear-gradient", "repeating-radial-gradient",
    # transforms and timing
    "translate", "translatex", "translatey", "rotate", "scale", "scalex", "scaley", "skew", "skewx", "skewy",
    "matrix", "cubic-bezier", "steps",
    # generated content and paged media
    "counter", "counters", "attr", "string", "target-counter", "target-counters", "target-text", "leader",
    "running",
    # checked separately: only data: images we re-encode
    "url",
}
FORBIDDEN_PROPERTIES = {"behavior", "-moz-binding", "binding", "-ms-behavior"}
DATA_IMAGE_RE = re.compile(r"^data:image/(png|jpeg);base64,([A-Za-z0-9+/=\s]+)$", re.IGNORECASE)
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}


# --- Images -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"

    def data_uri(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head


def clean_image(data: bytes, *, what: str = "The logo", max_bytes: int | None = None,
                max_side: int | None = None) -> CleanImage:
    """Check an uploaded image and re-encode it (metadata, trailing bytes and anything else dropped).

    PNG and JPEG only; SVG is refused because it can carry scripts and load other resources.
    Raises PayloadTooLarge (413), UnsupportedMediaType (415) or ValidationFailed (400).
    """
    max_bytes = max_bytes if max_bytes is not None else settings.REPORTS_LOGO_MAX_KB * 1024
    max_side = max_side if max_side is not None else settings.REPORTS_LOGO_MAX_SIDE
    if not data:
        raise ValidationFailed(f"{what} is empty.", details={"logo": [f"{what} is an empty file."]})
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{what} is {len(data) // 1024} KB; the largest accepted is {max_bytes // 1024} KB.",
                              code="logo_too_large", details={"limit_bytes": max_bytes})
    if _looks_like_svg(data):
        raise UnsupportedMediaType(f"{what} is an SVG image. SVG is refused because it can carry scripts and "
                                   "links to other resources; upload a PNG or JPEG.", code="unsupported_image_type",
                                   details={"supported": sorted(IMAGE_FORMATS.values())})
    try:
        image = Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMediaType(f"{what} is not a PNG or JPEG image.", code="unsupported_image_type",
                                   details={"supported": sorted(IMAGE_FORMATS.values())}) from exc
    width, height = image.size
    if width < 1 or height < 1 or width > max_side or height > max_side:
        raise ValidationFailed(f"{what} is {width}×{height} pixels; each side may be at most {max_side} pixels.",
                               code="logo_too_big", details={"logo": [f"At most {max_side}×{max_side} pixels."]})
    fmt = image.format or ""
    damaged = ValidationFailed(f"{what} could not be read: the file is damaged or truncated.",
                               details={"logo": ["The image could not be decoded."]})
    # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, which would pad a truncated
    # image silently: check the file's own structure first (PNG chunks and CRCs, JPEG end marker).
    try:
        Image.open(io.BytesIO(data), formats=[fmt]).verify()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise damaged from exc
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise damaged
    try:
        image.load()
        out = io.BytesIO()
        if fmt == "PNG":
            mode = image.mode if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else "RGBA"
            image.convert(mode).save(out, format="PNG")
        else:
            image.convert("RGB").save(out, format="JPEG", quality=90)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise damaged from exc
    cleaned = out.getvalue()
    return CleanImage(data=cleaned, content_type=IMAGE_FORMATS[fmt], width=width, height=height,
                      sha256=hashlib.sha256(cleaned).hexdigest())


def clean_accent(value: Any) -> str:
    if not isinstance(value, str) or not ACCENT_RE.match(value.strip()):
        raise ValidationFailed(details={"accent_color": ["Give a colour as #RRGGBB, e.g. #1d4ed8."]})
    return value.strip().lower()


# --- CSS ----------------------------------------------------------------------------------------

@dataclass
class CleanCSS:
    css: str
    data_uris: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)


class _Sanitizer:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.data_uris: set[str] = set()

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # values -------------------------------------------------------------------------------
    def _url(self, url: str, where: str) -> str | None:
        """A data: image re-encoded by us, or None (the declaration is dropped)."""
        match = DATA_IMAGE_RE.match(url.strip())
        if match is None:
            scheme = url.split(":", 1)[0].lower() if ":" in url else "relative"
            self.problem(f"{where}: url({url[:60]}) is not allowed ({scheme} URL); only data:image/png or "
                         "data:image/jpeg base64 images may be embedded.")
            return None
        try:
            raw = base64.b64decode(re.sub(r"\s+", "", match.group(2)), validate=True)
            image = clean_image(raw, what="An image in the custom CSS", max_side=settings.REPORTS_LOGO_MAX_SIDE)
        except (binascii.Error, ValueError):
            self.problem(f"{where}: a data: image is not valid base64.")
            return None
        except (ValidationFailed, PayloadTooLarge, UnsupportedMediaType) as exc:
            self.problem(f"{where}: {exc.message}")
            return None
        uri = image.data_uri()
        self.data_uris.add(uri)
        return uri

    def _value(self, tokens: list[Any], where: str) -> list[Any] | None:
        """The tokens made safe, or None when the whole declaration must go."""
        out: list[Any] = []
        for token in tokens:
            kind = token.type
            if kind == "error":
                self.problem(f"{where}: CSS syntax error ({token.message}).")
                return None
            if kind == "url":
                uri = self._url(token.value, where)
                if uri is None:
                    return None
                out.append(tinycss2.ast.URLToken(token.source_line, token.source_column, uri, uri))
            elif kind == "function":
                name = token.lower_name
                if name not in ALLOWED_FUNCTIONS:
                    self.problem(f"{where}: the function {name}() is not allowed.")
                    return None
                if name == "url":
                    args = [a for a in token.arguments if a.type not in ("whitespace", "comment")]
                    if len(args) != 1 or args[0].type != "string":
                        self.problem(f"{where}: url() must hold one quoted data: image.")
                        return None
                    uri = self._url(args[0].value, where)
                    if uri is None:
                        return None
                    out.append(tinycss2.ast.URLToken(token.source_line, token.source_column, uri, uri))
                    continue
                inner = self._value(token.arguments, where)
                if inner is None:
                    return None
                out.append(tinycss2.ast.FunctionBlock(token.source_line, token.source_column, token.name, inner))
            elif kind in ("() block", "[] block", "{} block"):
                inner = self._value(token.content, where)
                if inner is None:
                    return None
                cls = {"() block": tinycss2.ast.ParenthesesBlock, "[] block": tinycss2.ast.SquareBracketsBlock,
                       "{} block": tinycss2.ast.CurlyBracketsBlock}[kind]
                out.append(cls(token.source_line, token.source_column, inner))
            elif kind == "at-keyword":
                self.problem(f"{where}: @{token.lower_value} is not allowed here.")
                return None
            else:
                out.append(token)
        return out

    def _prelude_ok(self, tokens: list[Any], where: str) -> bool:
        """Selectors and media queries: no URLs (pseudo-class functions such as :not() are fine)."""
        for token in tokens:
            if token.type == "error":
                self.problem(f"{where}: CSS syntax error ({token.message}).")
                return False
            if token.type == "url" or (token.type == "function" and token.lower_name == "url"):
                self.problem(f"{where}: URLs are not allowed in selectors or media queries.")
                return False
            if token.type == "at-keyword":
                self.problem(f"{where}: @{token.lower_value} is not allowed here.")
                return False
            content = getattr(token, "arguments", None) or getattr(token, "content", None)
            if isinstance(content, list) and not self._prelude_ok(content, where):
                return False
        return True

    # rules --------------------------------------------------------------------------------
    def declarations(self, content: list[Any], where: str, *, margin_boxes: bool = False) -> str:
        parts: list[str] = []
        for item in tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True):
            if item.type == "error":
                self.problem(f"{where}: CSS syntax error ({item.message}).")
            elif item.type == "declaration":
                name = item.lower_name
                if name in FORBIDDEN_PROPERTIES:
                    self.problem(f"{where}: the property '{name}' is not allowed.")
                    continue
                value = self._value(item.value, f"{where} {name}")
                if value is None:
                    continue
                text = tinycss2.serialize(value).strip()
                parts.append(f"{item.name}: {text}{' !important' if item.important else ''};")
            elif item.type == "at-rule" and margin_boxes and item.lower_at_keyword in PAGE_MARGIN_BOXES \
                    and item.content is not None:
                inner = self.declarations(item.content, f"{where} @{item.lower_at_keyword}")
                parts.append(f"@{item.lower_at_keyword} {{ {inner} }}")
            elif item.type == "at-rule":
                self.problem(f"{where}: @{item.lower_at_keyword} is not allowed here.")
            else:
                self.problem(f"{where}: nested rules are not supported.")
        return " ".join(parts)

    def rules(self, rules: list[Any], *, nested: bool = False) -> list[str]:
        out: list[str] = []
        for rule in rules:
            if rule.type == "error":
                self.problem(f"CSS syntax error at line {rule.source_line}: {rule.message}.")
                continue
            if rule.type == "qualified-rule":
                where = f"line {rule.source_line}"
                if not self._prelude_ok(rule.prelude, where) or rule.content is None:
                    continue
                selector = tinycss2.serialize(rule.prelude).strip()
                body = self.declarations(rule.content, where)
                out.append(f"{selector} {{ {body} }}")
                continue
            if rule.type != "at-rule":
                continue
            keyword = rule.lower_at_keyword
            where = f"@{keyword} at line {rule.source_line}"
            if keyword not in ALLOWED_AT_RULES or (nested and keyword == "page"):
                self.problem(f"{where} is not allowed: only @media and @page rules may be used"
                             + (" (@import and @font-face would load other resources)."
                                if keyword in ("import", "font-face") else "."))
                continue
            if rule.content is None or not self._prelude_ok(rule.prelude, where):
                continue
            prelude = tinycss2.serialize(rule.prelude).strip()
            if keyword == "media":
                inner = self.rules(tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True),
                                   nested=True)
                out.append(f"@media {prelude} {{ {' '.join(inner)} }}")
            else:
                body = self.declarations(rule.content, where, margin_boxes=True)
                out.append(f"@page {prelude} {{ {body} }}".replace("@page  {", "@page {"))
        return out


def sanitize_css(text: str) -> CleanCSS:
    """Rebuild `text` from what is allowed; see the module docstring."""
    if not text or not text.strip():
        return CleanCSS(css="")
    sanitizer = _Sanitizer()
    if "<" in text:
        sanitizer.problem("'<' may not appear in custom CSS.")
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    css = "\n".join(sanitizer.rules(rules))
    # Inside <style>: no way out of the element, whatever the tokens were.
    css = css.replace("<", "\\3c ")
    return CleanCSS(css=css, data_uris=frozenset(sanitizer.data_uris), problems=sanitizer.problems)


def validate_css(text: str) -> str:
    """The CSS as stored: refused (400, one entry per problem) unless it passes unchanged in meaning."""
    limit = settings.REPORTS_CUSTOM_CSS_MAX_KB * 1024
    if len(text.encode("utf-8")) > limit:
        raise ValidationFailed(details={"custom_css": [f"At most {settings.REPORTS_CUSTOM_CSS_MAX_KB} KB of CSS."]})
    result = sanitize_css(text)
    if result.problems:
        raise ValidationFailed("The custom CSS uses something reports may not load; see details.",
                               details={"custom_css": result.problems})
    return text
