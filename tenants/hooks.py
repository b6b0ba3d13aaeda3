"""Steps that other apps contribute to a tenant's life cycle.

`tenants` imports no other domain app: accounts registers the system roles and
the first owner, policies the default policy, messaging the MQTT role. They
register in their AppConfig.ready(); provisioning runs the steps in order.

Every step must be idempotent: provisioning resumes after a crash by running the
steps it has not recorded as done, and a repeated step must change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tenants.models import Tenant


@dataclass(frozen=True)
class ProvisioningOptions:
    owner_email: str | None = None
    owner_name: str | None = None
    owner_password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ProvisioningFn = Callable[["Tenant", ProvisioningOptions], None]
LifecycleEvent = Literal["suspended", "reactivated", "deleting"]
LifecycleFn = Callable[["Tenant"], None]


@dataclass(frozen=True)
class ProvisioningStep:
    name: str
    order: int
    func: ProvisioningFn
    # Steps that run inside the template schema too, so clones start with their data.
    in_template: bool = False


_steps: dict[str, ProvisioningStep] = {}
_lifecycle: dict[str, list[tuple[str, LifecycleFn]]] = {"suspended": [], "reactivated": [], "deleting": []}


def provisioning_step(name: str, *, order: int = 100, in_template: bool = False) -> Callable[[ProvisioningFn], ProvisioningFn]:
    """Register `func(tenant, options)` to run, inside the tenant's schema, when it is provisioned."""

    def decorator(func: ProvisioningFn) -> ProvisioningFn:
        _steps[name] = ProvisioningStep(name=name, order=order, func=func, in_template=in_template)
        return func

    return decorator


def lifecycle_hook(event: LifecycleEvent, name: str) -> Callable[[LifecycleFn], LifecycleFn]:
    """Register `func(tenant)` to run when a tenant is suspended, reactivated or about to be deleted."""

    def decorator(func: LifecycleFn) -> LifecycleFn:
        hooks = _lifecycle[event]
        hooks[:] = [(n, f) for n, f in hooks if n != name] + [(name, func)]
        return func

    return decorator


def provisioning_steps() -> list[ProvisioningStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


def lifecycle_hooks(event: LifecycleEvent) -> list[tuple[str, LifecycleFn]]:
    return list(_lifecycle[event])


# --- Demo data (`make demo`) -----------------------------------------------------

DemoFn = Callable[["Tenant", str], None]
_demo_steps: dict[str, tuple[int, DemoFn]] = {}


def demo_data_step(name: str, *, order: int = 100) -> Callable[[DemoFn], DemoFn]:
    """Register `func(tenant, password)` to add demo data inside a demo tenant's schema (idempotent)."""

    def decorator(func: DemoFn) -> DemoFn:
        _demo_steps[name] = (order, func)
        return func

    return decorator


def demo_data_steps() -> list[tuple[str, DemoFn]]:
    return [(name, func) for name, (_, func) in sorted(_demo_steps.items(), key=lambda kv: (kv[1][0], kv[0]))]
