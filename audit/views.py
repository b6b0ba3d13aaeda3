"""The audit trail page of the dashboard: the API's filters, a paginated table, export buttons."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from audit.selectors import ORDERING_FIELDS, AuditEventFilter, audit_event_get, audit_event_list

PAGE_SIZE = 50
PERMISSION = "audit.view_audit"


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    _require_permission(request)
    ordering = request.GET.get("ordering") or "-sequence"
    events, filterset = audit_event_list(filters=request.GET, ordering=ordering)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = {k: v for k, v in request.GET.items() if k in AuditEventFilter.base_filters and v}
    export_query = urlencode(filters)
    export_base = reverse("audit-event-export", kwargs={"file_format": "csv"})
    return render(request, "audit/event_list.html", {
        "page": page,
        "form": filterset.form,
        "filters": filters,
        "ordering": ordering,
        "orderings": [(f, f.replace("_", " ")) for f in ORDERING_FIELDS],
        "page_query": urlencode({**filters, "ordering": ordering}),
        "export_csv": f"{export_base}?{export_query}" if export_query else export_base,
        "export_jsonl": (reverse("audit-event-export", kwargs={"file_format": "jsonl"})
                         + (f"?{export_query}" if export_query else "")),
    })


@login_required
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    _require_permission(request)
    event = audit_event_get(event_id=event_id)
    if event is None:
        raise Http404("No audit event with this id in this organization.")
    return render(request, "audit/event_detail.html", {"event": event})
