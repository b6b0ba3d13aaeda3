from django.urls import path
from rest_framework.routers import SimpleRouter

from messaging.api import views

router = SimpleRouter()
router.trailing_slash = "/?"  # both /mqtt/credentials and /mqtt/credentials/ (DRF's argument is a boolean)
router.register("mqtt/credentials", views.MqttCredentialViewSet, basename="mqtt-credential")

urlpatterns = [
    path("events", views.RecentEventsView.as_view(), name="events-recent"),
    *router.urls,
]
