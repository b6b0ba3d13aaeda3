"""ASGI entry point: HTTP through Django, WebSockets through Channels, both per tenant host."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.runtime import freeze_startup_objects  # noqa: E402
from config.security import limit_request_body  # noqa: E402
from messaging.routing import websocket_urlpatterns  # noqa: E402
from tenants.asgi import TenantWebSocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies over the upload cap are refused before Django spools them to disk.
        "http": limit_request_body(django_asgi_app),
        "websocket": TenantWebSocketMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
freeze_startup_objects()
