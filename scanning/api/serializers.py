"""API input and output shapes of the scanning app. No queries here: selectors prefetch."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from scanning.formats import ECOSYSTEMS
from scanning.models import CategoryScore, Connection, Finding, Scan


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class ScanSubmitSerializer(serializers.Serializer):
    """Multipart: `file` plus optional `ecosystem`, `name`, `version`. JSON: a registry reference."""

    file = serializers.FileField(required=False, help_text="The artifact (multipart upload).")
    ecosystem = serializers.ChoiceField(choices=ECOSYSTEMS, required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=214)
    version = serializers.CharField(required=False, allow_blank=True, max_length=128)
    connection = serializers.UUIDField(required=False, allow_null=True,
                                       help_text="Registry connection for a reference (default: the ecosystem's).")
    filename = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                     help_text="Which file of a PyPI release to scan (default: chosen for you).")


def _error(scan: Scan) -> dict[str, str] | None:
    if not scan.error_code and not scan.error_message:
        return None
    return {"code": scan.error_code, "message": scan.error_message}


class ScanSerializer(serializers.ModelSerializer):
    submitted_by = serializers.SerializerMethodField()
    artifact = serializers.SerializerMethodField()
    connection = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    previous_scan = serializers.UUIDField(source="previous_scan_id", read_only=True, allow_null=True)
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Scan
        fields = ["id", "status", "stage", "progress", "source", "target", "ecosystem", "name", "version",
                  "filename", "sha256", "size", "artifact", "previous_scan", "connection", "submitted_by",
                  "created_at", "queued_at", "started_at", "finished_at", "attempts", "score", "grade", "verdict",
                  "finding_counts", "error", "urls"]
        read_only_fields = fields

    def get_submitted_by(self, scan: Scan) -> dict[str, str] | None:
        user = scan.submitted_by
        return {"id": str(user.pk), "email": user.email} if user is not None else None

    def get_artifact(self, scan: Scan) -> dict[str, Any] | None:
        artifact = scan.artifact
        if artifact is None:
            return None
        return {"id": str(artifact.id), "sha256": artifact.sha256, "size": artifact.size,
                "filename": artifact.filename, "first_seen_at": artifact.created_at}

    def get_connection(self, scan: Scan) -> dict[str, str] | None:
        conn = scan.connection
        return {"id": str(conn.id), "name": conn.name, "kind": conn.kind} if conn is not None else None

    def get_error(self, scan: Scan) -> dict[str, str] | None:
        return _error(scan)

    def get_urls(self, scan: Scan) -> dict[str, str]:
        base = reverse("scanning-api:scan-detail", kwargs={"pk": scan.pk})
        return {"self": base, "findings": reverse("scanning-api:scan-findings", kwargs={"pk": scan.pk}),
                "artifact": reverse("scanning-api:scan-artifact", kwargs={"pk": scan.pk}),
                "dashboard": reverse("scanning:scan_detail", kwargs={"scan_id": scan.pk})}


class CategoryScoreSerializer(serializers.ModelSerializer):
    max = serializers.IntegerField(source="max_score")

    class Meta:
        model = CategoryScore
        fields = ["category", "score", "max", "weight", "counts"]


class ScanDetailSerializer(ScanSerializer):
    category_scores = CategoryScoreSerializer(many=True, read_only=True)

    class Meta(ScanSerializer.Meta):
        fields = [*ScanSerializer.Meta.fields, "category_scores", "package_metadata", "timings",
                  "submitted_name", "submitted_version"]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = ["id", "check_id", "title", "category", "severity", "status", "detail", "evidence", "file_path",
                  "line", "weight", "score", "fingerprint", "created_at"]
        read_only_fields = fields


class CheckSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.CharField()
    weight = serializers.IntegerField()
    description = serializers.CharField()
    fix = serializers.CharField()
    ecosystems = serializers.SerializerMethodField()

    def get_ecosystems(self, check: Any) -> list[str]:
        return sorted(str(e) for e in check.ecosystems) or list(ECOSYSTEMS)


class ConnectionSerializer(serializers.ModelSerializer):
    has_secret = serializers.BooleanField(read_only=True)
    ecosystem = serializers.CharField(read_only=True)

    class Meta:
        model = Connection
        fields = ["id", "name", "kind", "ecosystem", "base_url", "auth_type", "username", "has_secret", "options",
                  "is_default", "timeout_seconds", "created_at", "updated_at", "last_tested_at", "last_test_ok",
                  "last_test_message"]
        read_only_fields = fields


class ConnectionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Connection.Kind.choices)
    base_url = serializers.URLField(max_length=500)
    auth_type = serializers.ChoiceField(choices=Connection.AuthType.choices, default="none")
    username = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    secret = serializers.CharField(max_length=4000, required=False, allow_blank=True, write_only=True,
                                   trim_whitespace=False, help_text="Password or token; stored encrypted, never shown.")
    options = serializers.DictField(child=serializers.CharField(max_length=64), required=False, default=dict)
    is_default = serializers.BooleanField(required=False, default=False)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=300, required=False, default=30)


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    tested_at = serializers.DateTimeField()
