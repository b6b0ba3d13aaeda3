"""Every read of the scanning app, already scoped to what the actor may see."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from audit.context import Actor
from config.errors import NotFound
from scanning.analyzers import registry
from scanning.analyzers.base import SEVERITY_RANK, Check
from scanning.models import CategoryScore, Connection, Finding, Scan


def sees_all(actor: Actor) -> bool:
    if actor.type == "system":
        return True
    user = actor.signed_in_user
    return bool(user is not None and user.has_perm("scanning.view_all_scans"))


def scan_list(*, actor: Actor, filters: dict[str, Any] | None = None) -> QuerySet[Scan]:
    """Scans the actor may see: all of them with `view_all_scans`, else only their own."""
    qs = Scan.objects.select_related("submitted_by", "artifact", "connection")
    if not sees_all(actor):
        user = actor.signed_in_user
        qs = qs.filter(submitted_by=user) if user is not None else qs.none()
    return qs.filter(**(filters or {}))


def scan_get(*, actor: Actor, scan_id: Any, for_detail: bool = False) -> Scan:
    try:
        pk = uuid.UUID(str(scan_id))
    except ValueError as exc:
        raise NotFound("No such scan.") from exc
    qs = scan_list(actor=actor)
    if for_detail:
        qs = qs.prefetch_related("category_scores")
    scan = qs.filter(pk=pk).first()
    if scan is None:
        raise NotFound("No such scan.")
    return scan


def severity_rank() -> Case:
    return Case(*[When(severity=str(s), then=Value(r)) for s, r in SEVERITY_RANK.items()], default=Value(-1),
                output_field=IntegerField())


def status_rank() -> Case:
    order = {"failed": 0, "error": 1, "warning": 2, "passed": 3, "not_applicable": 4}
    return Case(*[When(status=s, then=Value(r)) for s, r in order.items()], default=Value(9),
                output_field=IntegerField())


def finding_list(*, scan: Scan) -> QuerySet[Finding]:
    """A scan's findings: problems first, most severe first."""
    return (Finding.objects.filter(scan=scan)
            .annotate(severity_rank=severity_rank(), status_rank=status_rank())
            .order_by("status_rank", "-severity_rank", "check_id", "file_path", "line"))


def category_scores(*, scan: Scan) -> list[CategoryScore]:
    return list(scan.category_scores.all())


def check_catalog(*, category: str | None = None, search: str | None = None) -> list[Check]:
    checks = registry.checks()
    if category:
        checks = [c for c in checks if str(c.category) == category]
    if search:
        needle = search.lower()
        checks = [c for c in checks if needle in c.id.lower() or needle in c.title.lower()
                  or needle in c.description.lower()]
    return checks


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.select_related("created_by").all()


def connection_get(*, connection_id: Any) -> Connection:
    try:
        pk = uuid.UUID(str(connection_id))
    except ValueError as exc:
        raise NotFound("No such connection.") from exc
    conn = Connection.objects.filter(pk=pk).first()
    if conn is None:
        raise NotFound("No such connection.")
    return conn


def scan_stats(*, actor: Actor) -> dict[str, Any]:
    from django.db.models import Count

    qs = scan_list(actor=actor)
    by_status = dict(qs.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {"by_status": by_status, "total": sum(by_status.values()),
            "recent": list(qs.order_by("-created_at")[:5])}
