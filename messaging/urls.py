from django.urls import path

from messaging import views

urlpatterns = [
    path("mqtt/credentials/", views.credentials_view, name="mqtt-credentials"),
    path("mqtt/credentials/<uuid:pk>/revoke", views.credential_revoke_view, name="mqtt-credential-revoke"),
]
