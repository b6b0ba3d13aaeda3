"""Known vulnerabilities: the scanned package and its pinned dependencies against the advisory database.

The pipeline's advisory enricher has already put the candidate advisories in
`ctx.advisories` (normalised name -> records); this analyzer decides, with the
ecosystem's own version rules and the OSV range semantics, which of them affect
the exact versions the artifact brings.
"""

from __future__ import annotations

from scanning.analyzers.base import (
    AdvisoryRecord,
    AnalysisContext,
    Category,
    Check,
    FindingDraft,
    Severity,
    register_analyzer,
)
from scanning.analyzers.dependencies import PinnedPackage, collect_packages
from scanning.analyzers.versions import best_fix, describe_ranges, normalize_name, osv_affected

VULN_PACKAGE = Check(
    id="VULN-PKG-001",
    title="Package version has a known vulnerability",
    category=Category.VULNERABILITY,
    severity=Severity.HIGH,
    weight=10,
    description=("The exact version of the scanned package is inside the affected range (or the explicit "
                 "version list) of a published advisory. The finding's severity is the advisory's: its CVSS "
                 "base score when it has a vector, else the rating of the database that published it."),
    fix="Upgrade to a fixed version named in the finding, or take another package if none exists.",
)
VULN_DEPENDENCY = Check(
    id="VULN-DEP-001",
    title="Pinned dependency has a known vulnerability",
    category=Category.VULNERABILITY,
    severity=Severity.HIGH,
    weight=6,
    description=("A dependency the package pins to one exact version (Requires-Dist ==, an exact package.json "
                 "version, a lockfile entry, a bundled node_modules package, Depends with =) is affected by a "
                 "published advisory, so installing this package installs a vulnerable version."),
    fix="Ask for (or build) a release of the package that pins a fixed version of the dependency.",
)

_SEVERITIES = {s.value: s for s in Severity}


class VulnerabilityAnalyzer:
    name = "vulnerabilities"
    checks = (VULN_PACKAGE, VULN_DEPENDENCY)

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        if not ctx.advisories:
            return []
        findings: list[FindingDraft] = []
        seen: set[tuple[str, str, str]] = set()
        for pkg in collect_packages(ctx):
            for advisory in ctx.advisories.get(normalize_name(ctx.ecosystem, pkg.name), ()):
                key = (advisory.id, normalize_name(ctx.ecosystem, pkg.name), pkg.version)
                if key in seen:
                    continue
                if osv_affected(ctx.ecosystem, pkg.version, advisory.ranges, advisory.versions):
                    seen.add(key)
                    findings.append(self._finding(ctx, pkg, advisory))
        return findings

    def _finding(self, ctx: AnalysisContext, pkg: PinnedPackage, advisory: AdvisoryRecord) -> FindingDraft:
        check = VULN_PACKAGE if pkg.is_self else VULN_DEPENDENCY
        fix_to = best_fix(ctx.ecosystem, pkg.version, advisory.fixed)
        affected = describe_ranges(advisory.ranges, advisory.versions)
        cves = [a for a in advisory.aliases if a.startswith("CVE-")]
        label = f"{advisory.id}" + (f" ({', '.join(cves[:3])})" if cves else "")
        where = "" if pkg.is_self else f" (dependency, from {pkg.source})"
        if fix_to:
            fix = f"Upgrade {pkg.name} to {fix_to} or later."
        elif advisory.fixed:
            fix = f"Upgrade {pkg.name} to a fixed version: {', '.join(advisory.fixed)}."
        else:
            fix = f"No fixed version of {pkg.name} is known; remove it or accept the risk with a waiver."
        detail = (f"{pkg.name} {pkg.version}{where} is affected by {label}: {advisory.summary or 'no summary'}. "
                  f"Affected: {affected}. {fix}")
        return FindingDraft(
            check_id=check.id,
            severity=_SEVERITIES.get(advisory.severity, Severity.MEDIUM),
            title=f"{pkg.name} {pkg.version}: {advisory.id}" + (f" {advisory.summary}"[:120] if advisory.summary else ""),
            detail=detail,
            file_path=pkg.file_path,
            key=f"{advisory.id}:{normalize_name(ctx.ecosystem, pkg.name)}:{pkg.version}",
            evidence={
                "advisory": advisory.id,
                "aliases": list(advisory.aliases),
                "package": pkg.name,
                "version": pkg.version,
                "source": pkg.source,
                "severity": advisory.severity,
                "cvss_vector": advisory.cvss_vector,
                "cvss_score": advisory.cvss_score,
                "affected": affected,
                "ranges": list(advisory.ranges),
                "fixed": list(advisory.fixed),
                "fix": fix,
                "upgrade_to": fix_to,
                "osv_ecosystem": advisory.ecosystem,
                "references": list(advisory.references[:5]),
            },
        )


register_analyzer(VulnerabilityAnalyzer())
