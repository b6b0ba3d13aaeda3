"""Reads of the advisory database."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from scanning.advisories.models import Advisory, AffectedPackage
from scanning.analyzers.base import AdvisoryRecord
from scanning.analyzers.versions import normalize_name


def to_record(affected: AffectedPackage) -> AdvisoryRecord:
    advisory = affected.advisory
    return AdvisoryRecord(
        id=advisory.osv_id,
        aliases=tuple(advisory.aliases),
        summary=advisory.summary,
        ecosystem=affected.osv_ecosystem,
        package=affected.name,
        severity=advisory.severity,
        cvss_vector=advisory.cvss_vector,
        cvss_score=float(advisory.cvss_score) if advisory.cvss_score is not None else None,
        ranges=tuple(affected.ranges),
        versions=tuple(affected.versions),
        fixed=tuple(affected.fixed),
        references=tuple(advisory.references[:10]),
    )


def advisory_candidates(*, ecosystem: str, names: Iterable[str]) -> dict[str, list[AdvisoryRecord]]:
    """Every advisory affecting one of `names` in `ecosystem`, keyed by normalised name: one query.

    Withdrawn advisories are left out. Advisories live in the public schema, which is
    on every organization's search path, so this works from inside a scan.
    """
    wanted = sorted({normalize_name(ecosystem, name) for name in names if name})
    if not wanted:
        return {}
    rows = (
        AffectedPackage.objects.filter(ecosystem=ecosystem, normalized_name__in=wanted, advisory__withdrawn__isnull=True)
        .select_related("advisory")
        .only("osv_ecosystem", "name", "normalized_name", "ranges", "versions", "fixed",
              "advisory__osv_id", "advisory__aliases", "advisory__summary", "advisory__severity",
              "advisory__cvss_vector", "advisory__cvss_score", "advisory__references")
        .order_by("normalized_name", "advisory__osv_id", "pk")
    )
    result: dict[str, list[AdvisoryRecord]] = {}
    for row in rows:
        result.setdefault(row.normalized_name, []).append(to_record(row))
    return result


def advisory_search(*, query: str = "", ecosystem: str = "", package: str = "") -> QuerySet[Advisory]:
    """Advisories by id or alias (exact), words of the summary, ecosystem and package name."""
    qs = Advisory.objects.all()
    text = query.strip()
    if text:
        qs = qs.filter(Q(osv_id__iexact=text) | Q(aliases__contains=[text.upper()]) | Q(aliases__contains=[text])
                       | Q(summary__icontains=text))
    if ecosystem:
        qs = qs.filter(affected__ecosystem=ecosystem)
    if package:
        qs = qs.filter(affected__normalized_name=normalize_name(ecosystem or "", package))
    return qs.distinct()
