"""System roles and the permissions each one holds (published in docs/roles.md).

Roles are Django auth Groups seeded in every organization's schema at provisioning.
Permissions are "app_label.codename" strings; each app declares its codenames in
its models' Meta.permissions. Owners and admins may add custom roles.
"""

from __future__ import annotations

OWNER = "owner"
ADMIN = "admin"
SECURITY_ENGINEER = "security_engineer"
DEVELOPER = "developer"
VIEWER = "viewer"
SYSTEM_ROLES = (OWNER, ADMIN, SECURITY_ENGINEER, DEVELOPER, VIEWER)

# Every custom permission of the platform, with what it allows.
PERMISSIONS: dict[str, str] = {
    # accounts
    "accounts.view_members": "See the organization's members and roles",
    "accounts.manage_members": "Invite members, change their role, deactivate and reactivate them",
    "accounts.manage_roles": "Create, change and delete custom roles",
    "accounts.manage_api_keys": "Create, list and revoke API keys",
    "accounts.manage_tenant_settings": "Change the organization's name and settings",
    # audit
    "audit.view_audit": "Read and export the audit trail",
    # scanning
    "scanning.submit_scan": "Submit, cancel and re-run their own scans",
    "scanning.view_all_scans": "See every scan of the organization, not only their own",
    "scanning.manage_scans": "Cancel, re-run and delete any scan",
    "scanning.download_artifact": "Download the artifacts of scans they can see",
    "scanning.manage_connections": "Configure registry connections and their credentials",
    "scanning.generate_reports": "Generate and download reports for scans they can see",
    "scanning.manage_report_templates": "Create and change report templates and schedules",
    # policies
    "policies.view_policies": "Read policies, revisions and verdicts",
    "policies.manage_policies": "Create, change, simulate and delete policies; re-evaluate scans",
    "policies.request_waiver": "Request a waiver for a finding",
    "policies.approve_waivers": "Approve, reject and revoke waivers requested by others",
    # messaging
    "messaging.manage_mqtt_credentials": "Create, list and revoke integrator MQTT credentials",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    OWNER: frozenset(PERMISSIONS),
    ADMIN: frozenset(PERMISSIONS),
    SECURITY_ENGINEER: frozenset({
        "accounts.view_members", "audit.view_audit",
        "scanning.submit_scan", "scanning.view_all_scans", "scanning.manage_scans", "scanning.download_artifact",
        "scanning.generate_reports", "scanning.manage_report_templates",
        "policies.view_policies", "policies.manage_policies", "policies.request_waiver", "policies.approve_waivers",
    }),
    DEVELOPER: frozenset({
        "accounts.view_members", "scanning.submit_scan", "scanning.download_artifact", "scanning.generate_reports",
        "policies.view_policies", "policies.request_waiver",
    }),
    VIEWER: frozenset({
        "accounts.view_members", "scanning.view_all_scans", "policies.view_policies",
    }),
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    OWNER: "Everything, including granting the owner role. Every organization keeps at least one owner.",
    ADMIN: "Everything except granting or removing the owner role.",
    SECURITY_ENGINEER: "Sees every scan, runs the policies and waivers, reads the audit trail.",
    DEVELOPER: "Submits scans and sees their own; requests waivers.",
    VIEWER: "Read-only: scans, policies and members.",
}

# Custom role names: lowercase, like the system roles, and never one of them.
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_]{2,39}$"


def permission_label(perm: str) -> str:
    return PERMISSIONS.get(perm, perm)
