"""Encryption at rest for the MQTT passwords the broker's accounts are rebuilt from.

Keys come from `FERNET_KEYS` (comma separated; the first encrypts, all decrypt): a new
key is rotated in by putting it first and running `manage.py mqtt_setup`, which
re-encrypts the stored passwords. The platform's setting, else the environment variable.
Without any key (a bare development checkout), a key is derived from SECRET_KEY so
nothing is ever stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionFailed(RuntimeError):
    """No configured key opens this value (a key was removed before re-encryption)."""


def _keys() -> list[bytes]:
    configured = getattr(settings, "FERNET_KEYS", None)
    if configured is None:
        configured = os.environ.get("FERNET_KEYS", "")
    if isinstance(configured, str):
        configured = [part for part in configured.split(",")]
    keys = [k.strip().encode() for k in configured if k and k.strip()]
    if not keys:
        digest = hashlib.sha256(b"gatehouse-messaging-fernet:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest)]
    return keys


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def is_current(token: str) -> bool:
    """Whether the first (current) key encrypted this value."""
    try:
        Fernet(_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """The same secret encrypted with the first key (after a new key was put first)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("No configured FERNET_KEYS key decrypts this stored MQTT password.") from exc


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("No configured FERNET_KEYS key decrypts this stored MQTT password.") from exc
