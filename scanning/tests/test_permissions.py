"""Scan.Meta declares every scanning permission of accounts/roles.py."""

from accounts.roles import PERMISSIONS
from scanning.models import Scan


def test_every_scanning_codename_is_declared():
    declared = {f"scanning.{codename}" for codename, _ in Scan._meta.permissions}
    assert declared == {p for p in PERMISSIONS if p.startswith("scanning.")}
