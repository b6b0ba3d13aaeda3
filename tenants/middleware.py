"""Route each request to its organization's schema by host.

- a platform host (GATEHOUSE_PUBLIC_HOSTS) gets the public schema and the staff URLconf;
- `<slug>.<BASE_DOMAIN>` gets that organization's schema and the tenant URLconf;
- anything else is a 404 in the error envelope, never the public site;
- a suspended organization's host answers 403 `tenant_suspended` to everything.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from config.errors import error_response
from config.logging import tenant_var
from tenants.models import Domain, Tenant

logger = logging.getLogger(__name__)


def public_tenant() -> Tenant:
    return Tenant.objects.get(schema_name=settings.PUBLIC_SCHEMA_NAME)


def resolve_host(hostname: str) -> Tenant | None:
    """The tenant a host name routes to, or None. Shared by HTTP and WebSocket routing."""
    hostname = remove_www(hostname.split(":")[0].lower().rstrip("."))
    if hostname in settings.PUBLIC_HOSTS:
        return public_tenant()
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    if domain is None or domain.tenant.is_template or domain.tenant.is_public:
        return None
    return domain.tenant


class TenantMiddleware(TenantMainMiddleware):
    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        connection.set_schema_to_public()
        try:
            hostname = request.get_host()
        except DisallowedHost:
            logger.warning("request for a host not in ALLOWED_HOSTS",
                           extra={"host": request.META.get("HTTP_HOST", "")[:255]})
            return self._unknown_host(request)

        tenant = resolve_host(hostname)
        if tenant is None:
            return self._unknown_host(request)
        tenant.domain_url = hostname
        request.tenant = tenant
        tenant_var.set(tenant.schema_name)

        if not tenant.is_public:
            if not tenant.is_active:
                return error_response(
                    request, status=403, code="tenant_suspended",
                    message="This organization is suspended. Contact your Gatehouse administrator.",
                )
            if not tenant.is_ready:
                return error_response(
                    request, status=503, code="tenant_provisioning",
                    message="This organization is still being set up; retry in a moment.",
                    headers={"Retry-After": "5"},
                )

        connection.set_tenant(tenant)
        request.urlconf = settings.PUBLIC_SCHEMA_URLCONF if tenant.is_public else settings.ROOT_URLCONF
        set_urlconf(request.urlconf)
        return None

    @staticmethod
    def _unknown_host(request: HttpRequest) -> HttpResponse:
        return error_response(request, status=404, code="unknown_host",
                              message="No Gatehouse organization answers at this host.")
