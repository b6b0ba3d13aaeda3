"""What messaging contributes to an organization's life cycle (registered in MessagingConfig.ready).

- provisioning step `mqtt_role`: the organization's broker role (and removal of
  accounts a deleted organization of the same slug left behind). A broker that
  cannot be reached does not fail provisioning: it is recorded and reconciled.
- suspended: every live WebSocket closes with 4403 and every MQTT account of the
  organization is disabled, which disconnects it at once.
- reactivated: the accounts are enabled again.
- deleting: WebSockets closed, accounts and role deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from messaging import services
from tenants.hooks import ProvisioningOptions, lifecycle_hook, provisioning_step

if TYPE_CHECKING:
    from tenants.models import Tenant


@provisioning_step("mqtt_role", order=300)
def mqtt_role(tenant: Tenant, options: ProvisioningOptions) -> None:
    services.mqtt_tenant_sync_or_record(tenant=tenant, purge_unknown=True)


@lifecycle_hook("suspended", "mqtt_clients")
def mqtt_suspended(tenant: Tenant) -> None:
    services.on_tenant_suspended(tenant)


@lifecycle_hook("reactivated", "mqtt_clients")
def mqtt_reactivated(tenant: Tenant) -> None:
    services.on_tenant_reactivated(tenant)


@lifecycle_hook("deleting", "mqtt_clients")
def mqtt_deleting(tenant: Tenant) -> None:
    services.on_tenant_deleting(tenant)
