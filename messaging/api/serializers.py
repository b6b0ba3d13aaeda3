"""Input and output shapes of the messaging API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.models import MqttCredential
from messaging.mqtt import public_broker_url


class MqttCredentialCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What uses it, e.g. 'CI mirror' or 'SIEM'.")


class MqttCredentialSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = MqttCredential
        fields = ["id", "name", "username", "status", "created_at", "created_by_email", "revoked_at",
                  "revoked_by_email", "broker_synced"]
        read_only_fields = fields

    def get_status(self, obj: MqttCredential) -> str:
        return "active" if obj.revoked_at is None else "revoked"


class MqttCredentialCreatedSerializer(MqttCredentialSerializer):
    """The credential just created, with its password (shown this once) and where to connect."""

    password = serializers.SerializerMethodField()
    broker_url = serializers.SerializerMethodField()
    topics = serializers.SerializerMethodField()

    class Meta(MqttCredentialSerializer.Meta):
        fields = [*MqttCredentialSerializer.Meta.fields, "password", "broker_url", "topics"]
        read_only_fields = fields

    def get_password(self, obj: MqttCredential) -> str:
        return self.context["password"]

    def get_broker_url(self, obj: MqttCredential) -> str:
        return public_broker_url()

    def get_topics(self, obj: MqttCredential) -> dict[str, Any]:
        slug = self.context["tenant"].schema_name
        return {"subscribe": f"org/{slug}/#", "publish": f"org/{slug}/feeds/#"}


class EventListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    scan = serializers.CharField(max_length=64, required=False)
