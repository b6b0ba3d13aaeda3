"""List filters of the scanning API (django-filter)."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from scanning.analyzers.base import Category, Severity, Status
from scanning.formats import ECOSYSTEMS
from scanning.models import Finding, Scan


def _split(value: str, allowed: list[str], field: str) -> list[str]:
    values = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationError({field: [f"Unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed)}."]})
    return values


class ScanFilter(django_filters.FilterSet):
    status = django_filters.CharFilter(method="filter_status", help_text="One or more statuses, comma separated.")
    ecosystem = django_filters.CharFilter(method="filter_ecosystem", help_text="One or more, comma separated.")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    verdict = django_filters.CharFilter(method="filter_verdict", help_text="pass, warn, block or none.")
    submitted_by = django_filters.CharFilter(method="filter_submitted_by", help_text="A user id, or 'me'.")
    created_after = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="lte")
    sha256 = django_filters.CharFilter(field_name="sha256", lookup_expr="iexact")
    source = django_filters.ChoiceFilter(choices=Scan.Source.choices)

    class Meta:
        model = Scan
        fields: list[str] = []

    def filter_status(self, qs: QuerySet[Scan], name: str, value: str) -> QuerySet[Scan]:
        return qs.filter(status__in=_split(value, list(Scan.StatusChoices.values), "status"))

    def filter_ecosystem(self, qs: QuerySet[Scan], name: str, value: str) -> QuerySet[Scan]:
        return qs.filter(ecosystem__in=_split(value, ECOSYSTEMS, "ecosystem"))

    def filter_verdict(self, qs: QuerySet[Scan], name: str, value: str) -> QuerySet[Scan]:
        values = _split(value, [*Scan.Verdict.values, "none"], "verdict")
        from django.db.models import Q

        query = Q(verdict__in=[v for v in values if v != "none"])
        if "none" in values:
            query |= Q(verdict__isnull=True)
        return qs.filter(query)

    def filter_submitted_by(self, qs: QuerySet[Scan], name: str, value: str) -> QuerySet[Scan]:
        if value == "me":
            user = getattr(self.request, "user", None)
            return qs.filter(submitted_by=user) if user is not None and user.is_authenticated else qs.none()
        try:
            return qs.filter(submitted_by_id=uuid.UUID(value))
        except ValueError as exc:
            raise ValidationError({"submitted_by": ["Give a user id or 'me'."]}) from exc


class FindingFilter(django_filters.FilterSet):
    severity = django_filters.CharFilter(method="filter_severity", help_text="One or more, comma separated.")
    category = django_filters.CharFilter(method="filter_category", help_text="One or more, comma separated.")
    status = django_filters.CharFilter(method="filter_status", help_text="One or more, comma separated.")
    check = django_filters.CharFilter(method="filter_check", help_text="Check ids, comma separated.")
    file_path = django_filters.CharFilter(field_name="file_path", lookup_expr="icontains")

    class Meta:
        model = Finding
        fields: list[str] = []

    def filter_severity(self, qs: QuerySet[Finding], name: str, value: str) -> QuerySet[Finding]:
        return qs.filter(severity__in=_split(value, [s.value for s in Severity], "severity"))

    def filter_category(self, qs: QuerySet[Finding], name: str, value: str) -> QuerySet[Finding]:
        return qs.filter(category__in=_split(value, [c.value for c in Category], "category"))

    def filter_status(self, qs: QuerySet[Finding], name: str, value: str) -> QuerySet[Finding]:
        return qs.filter(status__in=_split(value, [s.value for s in Status], "status"))

    def filter_check(self, qs: QuerySet[Finding], name: str, value: str) -> QuerySet[Finding]:
        return qs.filter(check_id__in=[v.strip().upper() for v in value.split(",") if v.strip()])


def apply(filterset_class: Any, params: Any, queryset: QuerySet[Any], request: Any) -> QuerySet[Any]:
    filterset = filterset_class(params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs
