"""Resolve the organization of a WebSocket connection from its Host header.

The tenant is looked up once, in the public schema, and put in the scope;
consumers do every database call inside that tenant's schema. Unknown hosts,
the platform host and suspended organizations are refused before any consumer runs.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.db import connection

from tenants.middleware import resolve_host
from tenants.models import Tenant

# Close codes in the private range (4000-4999) so clients can tell them apart.
CLOSE_UNKNOWN_HOST = 4404
CLOSE_TENANT_SUSPENDED = 4403


@database_sync_to_async
def _tenant_for(host: str) -> Tenant | None:
    connection.set_schema_to_public()
    return resolve_host(host)


class TenantWebSocketMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        tenant = await _tenant_for(host) if host else None
        if tenant is None or tenant.is_public:
            return await _refuse(receive, send, CLOSE_UNKNOWN_HOST)
        if not tenant.is_active or not tenant.is_ready:
            return await _refuse(receive, send, CLOSE_TENANT_SUSPENDED)
        return await self.inner({**scope, "tenant": tenant}, receive, send)


async def _refuse(receive: Any, send: Any, code: int) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        # Accept-then-close so the client sees our close code (a rejected handshake shows only 403).
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": code})
