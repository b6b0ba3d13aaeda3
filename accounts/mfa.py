"""TOTP secrets, their QR code (inline SVG, made here, never by a third party) and recovery codes."""

from __future__ import annotations

import hashlib
import secrets
import time
from base64 import b32decode, b32encode

import qrcode
import qrcode.image.svg
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODE_COUNT = 10


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in by hand."""
    return b32encode(device.bin_key).decode().rstrip("=")


def otpauth_url(device: TOTPDevice, *, tenant_name: str) -> str:
    return device.config_url.replace("issuer=Gatehouse", f"issuer=Gatehouse%20{_quote(tenant_name)}")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value.replace(":", ""))


def qr_svg(data: str) -> str:
    """An SVG <svg> element for `data`, without an XML declaration, ready to inline in a page."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    if svg.startswith("<?xml"):
        svg = svg.split("?>", 1)[1]
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" class="qr" ', 1)


def current_code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The code an authenticator shows now (tests, browser tests)."""
    return code_for_key(device.key, offset_steps=offset_steps, step=device.step, digits=device.digits,
                        drift=device.drift)


def code_for_key(hex_key: str, *, offset_steps: int = 0, step: int = 30, digits: int = 6, drift: int = 0) -> str:
    """The TOTP code for a hex secret, `offset_steps` time steps from now."""
    totp = TOTP(bytes.fromhex(hex_key), step, 0, digits, drift)
    totp.time = time.time() + offset_steps * step
    return f"{totp.token():0{digits}d}"


def code_for_base32(secret: str, *, offset_steps: int = 0) -> str:
    padded = secret + "=" * (-len(secret) % 8)
    return code_for_key(b32decode(padded.upper()).hex(), offset_steps=offset_steps)


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def looks_like_totp(code: str) -> bool:
    code = (code or "").replace(" ", "")
    return code.isdigit() and len(code) in (6, 8)
