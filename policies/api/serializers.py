"""API input and output shapes of the policies app. No queries here: selectors prefetch.

Policy documents are validated by `policies.engine.validate` (field-level errors keyed
by path, e.g. `rules[2].conditions[0].value`), not by these serializers: the document
serializer below only describes the shape for the OpenAPI schema.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from policies import engine
from policies.models import Policy, PolicyRevision, Waiver
from scanning.formats import ECOSYSTEMS


class ConditionSerializer(serializers.Serializer):
    subject = serializers.ChoiceField(choices=list(engine.SUBJECTS))
    operator = serializers.CharField(help_text="Depends on the subject: GET /api/v1/policies/subjects lists them.")
    value = serializers.JSONField(help_text="A string, number, true, or a list, depending on the operator.")


class RuleSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=100)
    description = serializers.CharField(required=False, max_length=500)
    action = serializers.ChoiceField(choices=engine.ACTIONS)
    match = serializers.ChoiceField(choices=engine.MATCHES, default="all")
    enabled = serializers.BooleanField(default=True)
    conditions = ConditionSerializer(many=True)


class ScopeSerializer(serializers.Serializer):
    ecosystems = serializers.ListField(child=serializers.ChoiceField(choices=ECOSYSTEMS), required=False,
                                       help_text="Empty: every ecosystem.")
    packages = serializers.ListField(child=serializers.CharField(), required=False,
                                     help_text="Globs such as 'acme-*', or regular expressions prefixed 're:'. "
                                               "Empty: every package.")


class PolicyDocumentSerializer(serializers.Serializer):
    """The policy document (for the schema; validation is the engine's)."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    enabled = serializers.BooleanField(default=True)
    mode = serializers.ChoiceField(choices=engine.MODES, default="enforce")
    priority = serializers.IntegerField(min_value=0, max_value=10_000, default=100,
                                        help_text="Lower runs first.")
    scope = ScopeSerializer(required=False)
    rules = RuleSerializer(many=True)
    summary = serializers.CharField(required=False, max_length=300, help_text="A note kept with the revision.")


class UserRef(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


def _user(user: Any) -> dict[str, str] | None:
    return {"id": str(user.pk), "email": user.email} if user is not None else None


class PolicySerializer(serializers.ModelSerializer):
    scope = serializers.SerializerMethodField()
    revision = serializers.IntegerField(source="revision_number", read_only=True)
    created_by = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = ["id", "name", "description", "enabled", "mode", "priority", "scope", "rules", "is_default",
                  "revision", "created_at", "updated_at", "created_by", "updated_by", "urls"]
        read_only_fields = fields

    def get_scope(self, policy: Policy) -> dict[str, list[str]]:
        return {"ecosystems": list(policy.ecosystems or []), "packages": list(policy.package_patterns or [])}

    def get_created_by(self, policy: Policy) -> dict[str, str] | None:
        return _user(policy.created_by)

    def get_updated_by(self, policy: Policy) -> dict[str, str] | None:
        return _user(policy.updated_by)

    def get_urls(self, policy: Policy) -> dict[str, str]:
        return {"self": reverse("policies-api:policy-detail", kwargs={"pk": policy.pk}),
                "revisions": reverse("policies-api:policy-revisions", kwargs={"pk": policy.pk}),
                "dashboard": reverse("policies:policy_detail", kwargs={"policy_id": policy.pk})}


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = PolicyRevision
        fields = ["number", "change", "summary", "author", "created_at", "document"]
        read_only_fields = fields

    def get_author(self, revision: PolicyRevision) -> dict[str, str]:
        return {"type": revision.author_type, "id": revision.author_id, "email": revision.author_email}


class RevisionDiffSerializer(serializers.Serializer):
    policy = serializers.UUIDField()
    to = serializers.IntegerField()
    fields = serializers.DictField(help_text="Changed top-level fields: {field: {before, after}}.")
    rules_changed = serializers.BooleanField()
    rules_diff = serializers.ListField(child=serializers.CharField(), help_text="Unified diff of the rules as JSON.")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField()
        return fields


class SimulationInputSerializer(serializers.Serializer):
    policy = serializers.JSONField(help_text="The draft policy document (never saved).")
    replaces = serializers.UUIDField(required=False, allow_null=True,
                                     help_text="A live policy the draft stands in for (default: the draft is added).")
    scans = serializers.IntegerField(required=False, default=100, min_value=1,
                                     help_text="How many of your latest completed scans to evaluate.")


class ReevaluateInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=3650, required=False,
                                    help_text="Completed scans of the last N days (default POLICIES_REEVALUATE_DAYS).")


class GateQuerySerializer(serializers.Serializer):
    ecosystem = serializers.ChoiceField(choices=ECOSYSTEMS)
    name = serializers.CharField(required=False, max_length=214, allow_blank=True)
    version = serializers.CharField(required=False, max_length=128, allow_blank=True)
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("sha256") and not (attrs.get("name") and attrs.get("version")):
            raise serializers.ValidationError({"name": ["Give name and version (or sha256) of the artifact."]})
        return attrs


class WaiverSerializer(serializers.ModelSerializer):
    requested_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    revoked_by = serializers.SerializerMethodField()
    effective = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Waiver
        fields = ["id", "state", "effective", "scope", "value", "ecosystem", "package_name", "version_range",
                  "reason", "requested_by", "requested_at", "expires_at", "decided_by", "decided_at",
                  "decision_note", "revoked_by", "revoked_at", "revoke_reason", "expired_at", "source_scan_id",
                  "source_finding_id", "updated_at", "urls"]
        read_only_fields = fields

    def get_requested_by(self, waiver: Waiver) -> dict[str, str] | None:
        if waiver.requested_by is not None:
            return _user(waiver.requested_by)
        return {"id": None, "email": waiver.requested_by_email} if waiver.requested_by_email else None  # type: ignore

    def get_decided_by(self, waiver: Waiver) -> dict[str, str] | None:
        return _user(waiver.decided_by)

    def get_revoked_by(self, waiver: Waiver) -> dict[str, str] | None:
        return _user(waiver.revoked_by)

    def get_effective(self, waiver: Waiver) -> bool:
        return waiver.is_effective()

    def get_urls(self, waiver: Waiver) -> dict[str, str]:
        return {"self": reverse("policies-api:waiver-detail", kwargs={"pk": waiver.pk}),
                "dashboard": reverse("policies:waiver_detail", kwargs={"waiver_id": waiver.pk})}


class WaiverRequestSerializer(serializers.Serializer):
    finding = serializers.UUIDField(required=False, allow_null=True,
                                    help_text="Request it from a finding: scope, value and package default to its.")
    scope = serializers.ChoiceField(choices=Waiver.Scope.values, required=False, allow_blank=True)
    value = serializers.CharField(required=False, allow_blank=True, max_length=128,
                                  help_text="The check id, vulnerability id or alias, or finding fingerprint.")
    ecosystem = serializers.ChoiceField(choices=ECOSYSTEMS, required=False, allow_blank=True)
    package_name = serializers.CharField(required=False, allow_blank=True, max_length=214)
    version_range = serializers.CharField(required=False, allow_blank=True, max_length=400,
                                          help_text="Optional, e.g. '>=1.0,<1.4'.")
    reason = serializers.CharField(max_length=4000)
    expires_at = serializers.DateTimeField(required=False)
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=3650,
                                               help_text="Instead of expires_at: this many days from now.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("expires_at") is None and attrs.get("expires_in_days") is None:
            raise serializers.ValidationError({"expires_at": ["Give expires_at or expires_in_days."]})
        if attrs.get("expires_at") is None:
            attrs["expires_at"] = timezone.now() + timedelta(days=attrs["expires_in_days"])
        if not attrs.get("finding"):
            missing = {k: ["This field is required unless you give a finding."]
                       for k in ("scope", "value", "ecosystem", "package_name") if not attrs.get(k)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class WaiverDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class WaiverRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=4000)
