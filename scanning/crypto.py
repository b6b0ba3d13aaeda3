"""Encryption at rest for registry credentials: MultiFernet over settings.FERNET_KEYS.

The first key encrypts; every key decrypts, so a key is rotated in by putting it
first in FERNET_KEYS and running `manage.py rotate_connection_keys`, which
re-encrypts every stored secret with it; the old key can then be removed.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in (settings.FERNET_KEYS or []) if k and k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "FERNET_KEYS is empty: set it to one or more Fernet keys (make demo generates one into .env; "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`).")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FERNET_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes).") \
            from exc


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The stored credential cannot be decrypted with the configured FERNET_KEYS.") from exc


def rotate(token: str) -> str:
    """Re-encrypt `token` with the first key (no-op for empty values)."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The stored credential cannot be decrypted with the configured FERNET_KEYS.") from exc
