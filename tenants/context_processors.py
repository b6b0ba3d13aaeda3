from django.http import HttpRequest

from tenants.navigation import nav_for


def tenant(request: HttpRequest) -> dict[str, object]:
    current = getattr(request, "tenant", None)
    on_tenant_host = current is not None and not current.is_public
    return {
        "tenant": current,
        "is_tenant_host": on_tenant_host,
        "nav_items": nav_for(request) if on_tenant_host else [],
    }
