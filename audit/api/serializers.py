from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id", "sequence", "occurred_at", "actor_type", "actor_id", "actor_email", "action",
            "resource_type", "resource_id", "changes", "outcome", "reason", "ip", "user_agent",
            "request_id", "metadata", "prev_hash", "hash",
        )
        read_only_fields = fields
