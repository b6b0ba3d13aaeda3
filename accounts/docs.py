"""The role/permission matrix as Markdown, generated from accounts.roles (docs/roles.md embeds it;
a test keeps the two equal)."""

from __future__ import annotations

from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, SYSTEM_ROLES


def role_matrix_markdown() -> str:
    header = "| permission | what it allows | " + " | ".join(SYSTEM_ROLES) + " |"
    rule = "|---|---|" + "---|" * len(SYSTEM_ROLES)
    rows = [
        f"| `{perm}` | {label} | " + " | ".join("✓" if perm in ROLE_PERMISSIONS[r] else "" for r in SYSTEM_ROLES) + " |"
        for perm, label in PERMISSIONS.items()
    ]
    return "\n".join([header, rule, *rows])
