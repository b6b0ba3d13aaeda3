"""List filters of the policies API (django-filter); the dashboard uses the same ones."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from policies import engine
from policies.models import Policy, Waiver
from scanning.formats import ECOSYSTEMS


def _split(value: str, allowed: list[str], field: str) -> list[str]:
    values = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationError({field: [f"Unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed)}."]})
    return values


class PolicyFilter(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter(field_name="enabled")
    mode = django_filters.CharFilter(method="filter_mode", help_text="enforce or monitor.")
    ecosystem = django_filters.CharFilter(method="filter_ecosystem",
                                          help_text="Policies whose scope covers this ecosystem.")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Policy
        fields: list[str] = []

    def filter_mode(self, qs: QuerySet[Policy], name: str, value: str) -> QuerySet[Policy]:
        return qs.filter(mode__in=_split(value, list(engine.MODES), "mode"))

    def filter_ecosystem(self, qs: QuerySet[Policy], name: str, value: str) -> QuerySet[Policy]:
        query = Q(ecosystems=[])
        for eco in _split(value, ECOSYSTEMS, "ecosystem"):
            query |= Q(ecosystems__contains=[eco])
        return qs.filter(query)


class WaiverFilter(django_filters.FilterSet):
    state = django_filters.CharFilter(method="filter_state", help_text="pending, approved, rejected, revoked, "
                                                                       "expired (comma separated).")
    scope = django_filters.CharFilter(method="filter_scope", help_text="check, vulnerability or fingerprint.")
    ecosystem = django_filters.CharFilter(method="filter_ecosystem")
    package = django_filters.CharFilter(field_name="package_name", lookup_expr="icontains")
    value = django_filters.CharFilter(field_name="value", lookup_expr="icontains")
    requested_by = django_filters.CharFilter(method="filter_requested_by", help_text="A user id, or 'me'.")
    expires_before = django_filters.IsoDateTimeFilter(field_name="expires_at", lookup_expr="lte")
    expires_after = django_filters.IsoDateTimeFilter(field_name="expires_at", lookup_expr="gte")

    class Meta:
        model = Waiver
        fields: list[str] = []

    def filter_state(self, qs: QuerySet[Waiver], name: str, value: str) -> QuerySet[Waiver]:
        return qs.filter(state__in=_split(value, list(Waiver.State.values), "state"))

    def filter_scope(self, qs: QuerySet[Waiver], name: str, value: str) -> QuerySet[Waiver]:
        return qs.filter(scope__in=_split(value, list(Waiver.Scope.values), "scope"))

    def filter_ecosystem(self, qs: QuerySet[Waiver], name: str, value: str) -> QuerySet[Waiver]:
        return qs.filter(ecosystem__in=_split(value, ECOSYSTEMS, "ecosystem"))

    def filter_requested_by(self, qs: QuerySet[Waiver], name: str, value: str) -> QuerySet[Waiver]:
        if value == "me":
            user = getattr(self.request, "user", None)
            return qs.filter(requested_by=user) if user is not None and user.is_authenticated else qs.none()
        try:
            return qs.filter(requested_by_id=uuid.UUID(value))
        except ValueError as exc:
            raise ValidationError({"requested_by": ["Give a user id or 'me'."]}) from exc


def apply(filterset: type[django_filters.FilterSet], params: Any, qs: QuerySet[Any], request: Any) -> QuerySet[Any]:
    fs = filterset(params, queryset=qs, request=request)
    if not fs.is_valid():
        raise ValidationError(fs.errors)
    return fs.qs
