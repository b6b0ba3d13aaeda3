"""What policies contributes to an organization's life: the default policy, and demo data.

Registered in PoliciesConfig.ready().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenants.hooks import ProvisioningOptions, demo_data_step, provisioning_step

if TYPE_CHECKING:
    from tenants.models import Tenant


@provisioning_step("default_policy", order=20, in_template=True)
def default_policy(tenant: Tenant, options: ProvisioningOptions) -> None:
    """Seed the default policy (idempotent; the template has it, so clones start with it)."""
    from policies.services import default_policy_seed

    default_policy_seed()


DEMO_POLICY = {
    "name": "Licenses (monitor)",
    "description": "Records which packages would be blocked by a permissive-license allow list, without "
                   "enforcing it yet.",
    "enabled": True,
    "mode": "monitor",
    "priority": 200,
    "scope": {"ecosystems": [], "packages": []},
    "rules": [
        {"name": "Internal packages", "action": "allow", "match": "all",
         "conditions": [{"subject": "package", "operator": "glob", "value": "acme-*"}]},
        {"name": "Copyleft or unlisted licenses", "action": "block", "match": "all",
         "conditions": [{"subject": "license", "operator": "not_allowed",
                         "value": ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "PSF-2.0"]}]},
    ],
}


@demo_data_step("policies.demo", order=60)
def demo_policies(tenant: Tenant, password: str) -> None:
    """A monitor-mode license policy, then the demo scans re-evaluated so they show both policies."""
    from audit.context import Actor
    from policies.models import Policy
    from policies.services import policy_create, scans_reevaluate
    from scanning.models import Scan

    actor = Actor.system("demo")
    if not Policy.objects.filter(name__iexact=DEMO_POLICY["name"]).exists():
        policy_create(tenant=tenant, actor=actor, document=DEMO_POLICY, summary="Demo policy")
    ids = list(Scan.objects.filter(status=Scan.StatusChoices.COMPLETED).values_list("pk", flat=True))
    scans_reevaluate(tenant=tenant, actor=actor, scan_ids=ids, trigger="bulk")
