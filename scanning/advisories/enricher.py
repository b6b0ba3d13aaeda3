"""Context enricher: prefetch the candidate advisories for a scan before the analyzers run."""

from __future__ import annotations

from scanning.advisories.selectors import advisory_candidates
from scanning.analyzers.base import AnalysisContext
from scanning.analyzers.dependencies import collect_packages


def enrich_with_advisories(ctx: AnalysisContext) -> None:
    """Fill `ctx.advisories` for the scanned package and every pinned dependency (one query)."""
    names = {pkg.name for pkg in collect_packages(ctx)}
    for name, records in advisory_candidates(ecosystem=ctx.ecosystem, names=names).items():
        ctx.advisories.setdefault(name, []).extend(records)
