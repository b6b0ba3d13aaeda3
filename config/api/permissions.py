"""DRF permission classes: each API action maps to one platform permission.

    class ScanViewSet(viewsets.ModelViewSet):
        permission_classes = [ActionPermissions]
        required_permissions = {
            "list": [], "retrieve": [],                      # any member; selectors scope the rows
            "create": ["scanning.submit_scan"],
            "destroy": ["scanning.manage_scans"],
        }

or, for a single APIView, `permission_classes = [HasPerm("audit.view_audit")]`.

An API key request must satisfy both the creating user's permissions and the
key's scopes (`request.auth.allows_permission(perm)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def _grants(request: Request, perms: Iterable[str]) -> bool:
    user = request.user
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    perms = list(perms)
    if not all(user.has_perm(p) for p in perms):
        return False
    key = request.auth
    allows = getattr(key, "allows_permission", None)
    if callable(allows):
        # Read-only actions with no named permission still need a key that can read.
        return all(allows(p) for p in perms) if perms else bool(getattr(key, "allows_read", lambda: True)())
    return True


def HasPerm(*perms: str) -> type[BasePermission]:  # noqa: N802 - reads like a class in permission_classes
    class _HasPerm(BasePermission):
        message = "You do not have permission to perform this action."
        required = perms

        def has_permission(self, request: Request, view: Any) -> bool:
            return _grants(request, perms)

    _HasPerm.__name__ = f"HasPerm({', '.join(perms)})"
    return _HasPerm


class ActionPermissions(BasePermission):
    """Looks up `view.required_permissions[view.action]`; unknown actions are refused."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        mapping: dict[str, Iterable[str]] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None) or request.method.lower()
        if action not in mapping:
            return False
        return _grants(request, mapping[action])
