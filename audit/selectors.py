"""Reads of the audit trail: one filter set for the API list, the export and the dashboard page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import AuditEvent

ORDERING_FIELDS = ("occurred_at", "sequence", "action", "actor_email", "resource_type", "outcome")
DEFAULT_ORDERING = "-sequence"


class DateOrDateTimeField(forms.CharField):
    """A date (2026-01-31: the whole day, in UTC) or an ISO 8601 date-time; cleans to an aware datetime.

    With `end=True` a date means the end of that day, so `until=2026-01-31` includes the 31st.
    """

    def __init__(self, *args: Any, end: bool = False, **kwargs: Any) -> None:
        self.end = end
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> dt.datetime | None:  # type: ignore[override]
        text = super().to_python(value).strip()
        if not text:
            return None
        try:
            # A bare date is a day (parse_datetime would read it as midnight).
            day = parse_date(text) if len(text) == 10 else None
            moment = None if day else parse_datetime(text)
        except ValueError:
            moment = day = None
        if moment is None and day is None:
            raise forms.ValidationError(f"'{text}' is not a date (2026-01-31) or an ISO 8601 date-time.")
        if moment is None:
            assert day is not None
            moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            if self.end:
                moment += dt.timedelta(days=1)
        elif timezone.is_naive(moment):
            moment = moment.replace(tzinfo=dt.UTC)
        return moment


class DateBoundFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label="Actor (email or id)")
    actor_type = django_filters.ChoiceFilter(choices=AuditEvent.ActorType.choices)
    action = django_filters.CharFilter(method="filter_action", label="Action (exact, or a prefix ending in '.')")
    resource_type = django_filters.CharFilter()
    resource_id = django_filters.CharFilter()
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices)
    request_id = django_filters.CharFilter()
    since = DateBoundFilter(field_name="occurred_at", lookup_expr="gte", label="From (date or date-time)")
    until = DateBoundFilter(field_name="occurred_at", lookup_expr="lt", end=True,
                            label="Until (a date includes that day)")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_actor(self, qs: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        value = value.strip()
        return qs.filter(Q(actor_email__iexact=value) | Q(actor_id=value)) if value else qs

    def filter_action(self, qs: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(action__startswith=value) if value.endswith(".") else qs.filter(action=value)


def audit_event_list(*, filters: dict[str, Any] | Any | None = None,
                     ordering: str | None = None) -> tuple[QuerySet[AuditEvent], AuditEventFilter]:
    """The current organization's events, filtered; the filter set carries any input errors.

    The trail is one table per schema: the connection's schema scopes it to the
    organization (or, on the platform host, to staff actions).
    """
    filterset = AuditEventFilter(data=filters or {}, queryset=AuditEvent.objects.all())
    queryset = filterset.qs if filterset.is_valid() else AuditEvent.objects.none()
    order = ordering if ordering and ordering.lstrip("-") in ORDERING_FIELDS else DEFAULT_ORDERING
    if order.lstrip("-") != "sequence":
        # Ties (same action, same actor...) keep the chain's order, newest first.
        queryset = queryset.order_by(order, "-sequence")
    else:
        queryset = queryset.order_by(order)
    return queryset, filterset


def audit_event_get(*, event_id: Any) -> AuditEvent | None:
    import uuid

    try:
        pk = uuid.UUID(str(event_id))
    except ValueError:
        return None
    return AuditEvent.objects.filter(pk=pk).first()
