"""Staff-only access to the tenant API on the platform host.

Authentication comes from the project's DRF settings (a staff session from the
admin, or a staff API key with the `platform:tenants` scope); this module only
decides who may use it, without importing the accounts app.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# The permission a staff API key's scopes must grant (see accounts.scopes).
MANAGE_TENANTS = "tenants.manage_tenants"


class IsPlatformStaff(BasePermission):
    message = "Only platform staff may manage organizations."

    def has_permission(self, request: Request, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        user = request.user
        if tenant is None or not tenant.is_public:
            return False
        if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
            return False
        allows = getattr(request.auth, "allows_permission", None)
        return allows(MANAGE_TENANTS) if callable(allows) else True
