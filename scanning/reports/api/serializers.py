"""API input and output shapes of the reports app. No queries here: selectors select_related."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from scanning.formats import ECOSYSTEMS
from scanning.reports.models import SECTION_ORDER, Format, Report, ReportSchedule, ReportTemplate


class ReportTemplateSerializer(serializers.ModelSerializer):
    logo = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = ReportTemplate
        fields = ["id", "name", "is_default", "title", "footer_text", "accent_color", "sections", "custom_css",
                  "logo", "created_at", "updated_at", "urls"]
        read_only_fields = fields

    def get_logo(self, template: ReportTemplate) -> dict[str, Any] | None:
        if not template.logo_path:
            return None
        return {"content_type": template.logo_content_type, "width": template.logo_width,
                "height": template.logo_height, "sha256": template.logo_sha256,
                "url": reverse("reports-api:report-template-logo", kwargs={"pk": template.pk})}

    def get_urls(self, template: ReportTemplate) -> dict[str, str]:
        return {"self": reverse("reports-api:report-template-detail", kwargs={"pk": template.pk}),
                "preview": reverse("reports-api:report-template-preview", kwargs={"pk": template.pk}),
                "dashboard": reverse("reports:template_edit", kwargs={"template_id": template.pk})}


class ReportTemplateInputSerializer(serializers.Serializer):
    """JSON or multipart (to send `logo`). Sections: any of the report's parts, printed in their fixed order."""

    name = serializers.CharField(max_length=100, required=False)
    is_default = serializers.BooleanField(required=False)
    title = serializers.CharField(max_length=120, required=False)
    footer_text = serializers.CharField(max_length=200, required=False, allow_blank=True)
    accent_color = serializers.CharField(max_length=7, required=False, help_text="#RRGGBB")
    sections = serializers.ListField(child=serializers.CharField(max_length=32), required=False,
                                     help_text=f"Any of: {', '.join(SECTION_ORDER)} (printed in this order).")
    custom_css = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                       help_text="Sanitised: @media and @page rules, no @import, no URLs except "
                                                 "data:image/png or data:image/jpeg.")
    logo = serializers.FileField(required=False, help_text="PNG or JPEG (SVG is refused), multipart only.")
    remove_logo = serializers.BooleanField(required=False, default=False)


class ReportRequestSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=Report.Scope.values, required=False,
                                    help_text="scan (default when `scan` is given), period or package.")
    format = serializers.ChoiceField(choices=Format.choices, required=False, default=Format.PDF)
    template = serializers.UUIDField(required=False, allow_null=True, help_text="Default: the default template.")
    scan = serializers.UUIDField(required=False, allow_null=True)
    to = serializers.CharField(required=False, allow_blank=True, help_text="YYYY-MM-DD (inclusive) or ISO 8601")
    ecosystem = serializers.ChoiceField(choices=ECOSYSTEMS, required=False, allow_blank=True)
    package = serializers.CharField(required=False, allow_blank=True, max_length=214)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # `from` is a Python keyword, so it cannot be declared as an attribute.
        fields["from"] = serializers.CharField(required=False, allow_blank=True,
                                               help_text="YYYY-MM-DD or ISO 8601 (period and package reports)")
        return fields


class ReportSerializer(serializers.ModelSerializer):
    scan = serializers.SerializerMethodField()
    template = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    package = serializers.CharField(source="package_name", read_only=True)
    schedule = serializers.UUIDField(source="schedule_id", read_only=True, allow_null=True)
    content_type = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "title", "scope", "format", "status", "stage", "progress", "error", "scan", "ecosystem",
                  "package", "period_start", "period_end", "template", "requested_by", "schedule", "file_size",
                  "sha256", "content_type", "summary", "created_at", "started_at", "finished_at", "delivered_at",
                  "urls"]
        read_only_fields = fields

    def get_scan(self, report: Report) -> dict[str, Any] | None:
        scan = report.scan
        if scan is None:
            return None
        return {"id": str(scan.pk), "name": scan.name or scan.submitted_name, "version": scan.version,
                "ecosystem": scan.ecosystem}

    def get_template(self, report: Report) -> dict[str, str] | None:
        template = report.template
        return {"id": str(template.pk), "name": template.name} if template is not None else None

    def get_requested_by(self, report: Report) -> dict[str, str] | None:
        user = report.requested_by
        return {"id": str(user.pk), "email": user.email} if user is not None else None

    def get_error(self, report: Report) -> dict[str, str] | None:
        if not report.error_code:
            return None
        return {"code": report.error_code, "message": report.error_message}

    def get_content_type(self, report: Report) -> str:
        from scanning.reports.rendering import CONTENT_TYPES

        return CONTENT_TYPES[report.format]

    def get_urls(self, report: Report) -> dict[str, str]:
        return {"self": reverse("reports-api:report-detail", kwargs={"pk": report.pk}),
                "download": reverse("reports-api:report-download", kwargs={"pk": report.pk}),
                "dashboard": reverse("reports:report_detail", kwargs={"report_id": report.pk})}


class ReportScheduleSerializer(serializers.ModelSerializer):
    template = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = ReportSchedule
        fields = ["id", "name", "frequency", "weekday", "day_of_month", "hour", "format", "template", "recipients",
                  "enabled", "next_run_at", "last_run_at", "created_at", "updated_at", "urls"]
        read_only_fields = fields

    def get_template(self, schedule: ReportSchedule) -> dict[str, str] | None:
        template = schedule.template
        return {"id": str(template.pk), "name": template.name} if template is not None else None

    def get_urls(self, schedule: ReportSchedule) -> dict[str, str]:
        return {"self": reverse("reports-api:report-schedule-detail", kwargs={"pk": schedule.pk}),
                "run": reverse("reports-api:report-schedule-run", kwargs={"pk": schedule.pk})}


class ReportScheduleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    frequency = serializers.ChoiceField(choices=ReportSchedule.Frequency.values, required=False)
    weekday = serializers.IntegerField(min_value=0, max_value=6, required=False, help_text="0 = Monday (weekly)")
    day_of_month = serializers.IntegerField(min_value=1, max_value=28, required=False, help_text="1-28 (monthly)")
    hour = serializers.IntegerField(min_value=0, max_value=23, required=False, help_text="UTC")
    format = serializers.ChoiceField(choices=Format.choices, required=False)
    template = serializers.UUIDField(required=False, allow_null=True)
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), required=False,
                                       allow_empty=False)
    enabled = serializers.BooleanField(required=False)
