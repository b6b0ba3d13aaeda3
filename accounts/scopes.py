"""API key scopes: named bundles of permissions an integrator's key may use.

A key never does more than the user who created it: a request must pass both the
creator's permissions and the key's scopes, and a scope the creator holds none of the
permissions of cannot be granted. No scope lets a key manage API keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

READ = "read"
PLATFORM_TENANTS = "platform:tenants"
# The permission the staff tenant API checks on an API key (public host only).
PLATFORM_TENANTS_PERMISSION = "tenants.manage_tenants"

SCOPES: dict[str, tuple[str, frozenset[str]]] = {
    READ: ("Read scans, findings, policies and members", frozenset({
        "accounts.view_members", "scanning.view_all_scans", "scanning.download_artifact", "policies.view_policies",
    })),
    "scans:write": ("Submit, cancel and re-run scans", frozenset({"scanning.submit_scan", "scanning.manage_scans"})),
    "reports": ("Generate reports and manage report templates", frozenset({
        "scanning.generate_reports", "scanning.manage_report_templates",
    })),
    "policies:write": ("Change policies; request and approve waivers", frozenset({
        "policies.manage_policies", "policies.request_waiver", "policies.approve_waivers",
    })),
    "audit:read": ("Read and export the audit trail", frozenset({"audit.view_audit"})),
    "members:write": ("Invite and manage members and roles", frozenset({
        "accounts.manage_members", "accounts.manage_roles",
    })),
    "settings:write": ("Change the organization's settings", frozenset({"accounts.manage_tenant_settings"})),
    "integrations:write": ("Manage registry connections and MQTT credentials", frozenset({
        "scanning.manage_connections", "messaging.manage_mqtt_credentials",
    })),
}
# Only for staff keys on the platform host.
PLATFORM_SCOPES: dict[str, tuple[str, frozenset[str]]] = {
    PLATFORM_TENANTS: ("Create, change and suspend organizations (staff only)",
                       frozenset({PLATFORM_TENANTS_PERMISSION})),
}
ALL_SCOPES = {**SCOPES, **PLATFORM_SCOPES}


@lru_cache(maxsize=256)
def _permissions(scopes: tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        granted |= ALL_SCOPES.get(scope, ("", frozenset()))[1]
    return frozenset(granted)


def permissions_for_scopes(scopes: Iterable[str] | None) -> frozenset[str]:
    return _permissions(tuple(sorted(set(scopes or []))))


def scope_choices(*, platform: bool = False) -> list[tuple[str, str]]:
    source = PLATFORM_SCOPES if platform else SCOPES
    return [(name, label) for name, (label, _perms) in source.items()]
