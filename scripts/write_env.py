#!/usr/bin/env python3
"""Create `.env` from `.env.example`, generating every secret left empty.

An existing `.env` is kept; only secrets that are still empty in it are filled,
so re-running never changes a password a running stack already uses. The JWT
signing key pair is written to `keys/` (never committed) when missing.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from bootstrap.sh

from scripts.ensure_services import port_open  # noqa: E402

KEYS = ROOT / "keys"


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


GENERATED = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "MQTT_PASSWORD": lambda: secrets.token_urlsafe(24),
    "GATEHOUSE_DEMO_PASSWORD": lambda: "Demo-" + secrets.token_urlsafe(12),
    "FERNET_KEYS": fernet_key,
    "JWT_KEY_ID": lambda: "gh-" + secrets.token_hex(4),
}


def own_broker_url(url: str) -> str:
    """The MQTT URL for a new checkout: the default port unless another broker already holds it.

    Each checkout runs its own broker with its own generated password, so a second checkout on
    one machine (a clean clone next to a working tree) takes the next free port instead of
    failing on the first one's credentials.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    if host not in ("127.0.0.1", "localhost") or not port_open(host, port, timeout=0.5):
        return url
    for candidate in range(port + 1, port + 50):
        if not port_open(host, candidate, timeout=0.5):
            print(f"[env] port {port} is taken by another broker: this checkout's Mosquitto uses {candidate}")
            return f"{parts.scheme}://{host}:{candidate}"
    return url


def ensure_jwt_keys() -> None:
    """An RS256 key pair for development (production passes its own through the environment)."""
    private, public = KEYS / "jwt-private.pem", KEYS / "jwt-public.pem"
    if private.exists() and public.exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    KEYS.mkdir(mode=0o700, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    print(f"[env] generated a JWT signing key pair in {KEYS.name}/")


def main() -> None:
    target = ROOT / ".env"
    source = target if target.exists() else ROOT / ".env.example"
    lines = source.read_text().splitlines()
    present = set()
    out = []
    for line in lines:
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and not key.startswith("#"):
            present.add(key)
            if key in GENERATED and not value.strip():
                line = f"{key}={GENERATED[key]()}"
            elif key == "MQTT_URL" and source != target:
                line = f"{key}={own_broker_url(value.strip())}"
        out.append(line)
    for key, make in GENERATED.items():
        if key not in present:
            out.append(f"{key}={make()}")
    target.write_text("\n".join(out) + "\n")
    target.chmod(0o600)
    print(f"[env] {'updated' if source == target else 'created'} {target.name}")
    ensure_jwt_keys()


if __name__ == "__main__":
    main()
