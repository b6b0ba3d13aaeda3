"""WebSocket routes, served on organization hosts only (see tenants.asgi)."""

from django.urls import path

from messaging.consumers import EventsConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
]
