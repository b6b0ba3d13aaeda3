"""Vulnerability matching of the package and its pinned dependencies; lockfile parsing (pure, no database)."""

from __future__ import annotations

import json
from pathlib import Path

from scanning.analyzers.base import AdvisoryRecord, Dependency, PackageMetadata, Severity
from scanning.analyzers.dependencies import (
    collect_packages,
    parse_package_lock,
    parse_pnpm_lock,
    parse_yarn_lock,
    pinned_version,
)
from scanning.analyzers.vulnerabilities import VulnerabilityAnalyzer
from scanning.tests.analyzers.helpers import make_context

ANALYZER = VulnerabilityAnalyzer()


def advisory(id: str, package: str, events: list[dict], *, versions: tuple[str, ...] = (), severity: str = "high",
             ecosystem: str = "PyPI", range_type: str = "ECOSYSTEM") -> AdvisoryRecord:
    ranges = ({"type": range_type, "events": events},)
    fixed = tuple(e["fixed"] for e in events if "fixed" in e)
    return AdvisoryRecord(id=id, aliases=(f"CVE-2024-{abs(hash(id)) % 10000:04d}",), summary=f"{package} flaw",
                          ecosystem=ecosystem, package=package, severity=severity,
                          cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss_score=9.8, ranges=ranges,
                          versions=versions, fixed=fixed)


def test_pinned_version_per_ecosystem() -> None:
    assert pinned_version("pypi", "==2.31.0") == "2.31.0"
    assert pinned_version("pypi", "(==1.0) ; python_version < '3.8'") == "1.0"
    assert pinned_version("pypi", "==2.*") is None and pinned_version("pypi", ">=1,<2") is None
    assert pinned_version("npm", "4.17.20") == "4.17.20" and pinned_version("npm", "^4.17.20") is None
    assert pinned_version("debian", "(= 1.2-3)") == "1.2-3" and pinned_version("debian", ">= 1.2") is None
    assert pinned_version("rpm", "= 1:2.0-1.el9") == "1:2.0-1.el9"
    assert pinned_version("alpine", "=3.1.4-r5") == "3.1.4-r5"


def test_package_itself_is_matched(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"x/__init__.py": ""}, name="requests", version="2.30.0",
                       metadata=PackageMetadata(ecosystem="pypi", name="Requests", version="2.30.0"))
    ctx.advisories = {"requests": [advisory("GHSA-aaaa", "requests", [{"introduced": "0"}, {"fixed": "2.31.0"}]),
                                   advisory("GHSA-bbbb", "requests", [{"introduced": "2.31.0"}, {"fixed": "2.32.0"}])]}
    (finding,) = ANALYZER.analyze(ctx)
    assert finding.check_id == "VULN-PKG-001" and finding.severity == Severity.HIGH
    assert finding.evidence["advisory"] == "GHSA-aaaa" and finding.evidence["fixed"] == ["2.31.0"]
    assert finding.evidence["upgrade_to"] == "2.31.0" and "Upgrade Requests to 2.31.0" in finding.detail
    assert finding.evidence["aliases"][0].startswith("CVE-") and finding.evidence["cvss_score"] == 9.8
    assert finding.evidence["affected"] == "< 2.31.0"


def test_pinned_dependencies_and_last_affected(tmp_path: Path) -> None:
    metadata = PackageMetadata(ecosystem="pypi", name="app", version="1.0", source_file="app.dist-info/METADATA",
                               dependencies=[Dependency("urllib3", "==1.26.4", "1.26.4", "Requires-Dist"),
                                             Dependency("idna", ">=2.0", None, "Requires-Dist"),
                                             Dependency("jinja2", "(==2.10)", None, "Requires-Dist")])
    ctx = make_context(tmp_path, {"app/__init__.py": ""}, metadata=metadata)
    ctx.advisories = {
        "urllib3": [advisory("PYSEC-1", "urllib3", [{"introduced": "1.26.0"}, {"last_affected": "1.26.4"}])],
        "idna": [advisory("PYSEC-2", "idna", [{"introduced": "0"}, {"fixed": "3.7"}])],  # not pinned: no finding
        "jinja2": [advisory("PYSEC-3", "jinja2", [], versions=("2.10", "2.10.1"), severity="medium")],
    }
    findings = ANALYZER.analyze(ctx)
    assert {(f.check_id, f.evidence["package"], f.evidence["advisory"]) for f in findings} == {
        ("VULN-DEP-001", "urllib3", "PYSEC-1"), ("VULN-DEP-001", "jinja2", "PYSEC-3")}
    jinja = next(f for f in findings if f.evidence["package"] == "jinja2")
    assert jinja.severity == Severity.MEDIUM and "No fixed version" in jinja.evidence["fix"]


def test_npm_lockfiles_and_prereleases(tmp_path: Path) -> None:
    lock_v3 = {"name": "app", "lockfileVersion": 3, "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/lodash": {"version": "4.17.20"},
        "node_modules/@scope/util": {"version": "2.0.0-beta.3"},
        "node_modules/linked": {"link": True, "resolved": "../linked"}}}
    yarn = ('# yarn lockfile v1\n\n"minimist@^1.2.0", minimist@^1.2.5:\n  version "1.2.5"\n  resolved "x"\n\n'
            'ansi-regex@^5.0.0:\n  version "5.0.0"\n')
    ctx = make_context(tmp_path, {"package/package.json": "{}", "package/package-lock.json": json.dumps(lock_v3),
                                  "package/yarn.lock": yarn}, ecosystem="npm", name="app", version="1.0.0")
    ctx.advisories = {
        "lodash": [advisory("GHSA-lodash", "lodash", [{"introduced": "0"}, {"fixed": "4.17.21"}],
                            ecosystem="npm", range_type="SEMVER")],
        "@scope/util": [advisory("GHSA-scope", "@scope/util", [{"introduced": "0"}, {"fixed": "2.0.0"}],
                                 ecosystem="npm", range_type="SEMVER")],
        "minimist": [advisory("GHSA-mini", "minimist", [{"introduced": "0"}, {"fixed": "1.2.6"}], ecosystem="npm")],
        "ansi-regex": [advisory("GHSA-ansi", "ansi-regex", [{"introduced": "6.0.0"}, {"fixed": "6.0.1"}],
                                ecosystem="npm")],
    }
    findings = ANALYZER.analyze(ctx)
    assert {f.evidence["advisory"]: f.evidence["source"] for f in findings} == {
        "GHSA-lodash": "package-lock.json", "GHSA-scope": "package-lock.json", "GHSA-mini": "yarn.lock"}
    assert all(f.check_id == "VULN-DEP-001" for f in findings)


def test_lockfile_parsers() -> None:
    v1 = {"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}},
                                                  "c": {"version": "git+https://x/c.git"}}}
    assert sorted(parse_package_lock(json.dumps(v1))) == [("a", "1.0.0"), ("b", "2.0.0")]
    berry = '__metadata:\n  version: 6\n\n"lodash@npm:^4.17.0":\n  version: 4.17.21\n  resolution: "lodash@npm:4.17.21"\n'
    assert list(parse_yarn_lock(berry)) == [("lodash", "4.17.21")]
    pnpm6 = "lockfileVersion: '6.0'\npackages:\n  /lodash@4.17.21:\n    resolution: {integrity: x}\n" \
            "  /@babel/core@7.22.0(supports-color@5.5.0):\n    dev: true\n"
    assert sorted(parse_pnpm_lock(pnpm6)) == [("@babel/core", "7.22.0"), ("lodash", "4.17.21")]
    pnpm5 = "lockfileVersion: 5.4\npackages:\n  /ms/2.1.2:\n    dev: false\n  /@types/node/18.0.0_abc:\n    dev: true\n"
    assert sorted(parse_pnpm_lock(pnpm5)) == [("@types/node", "18.0.0"), ("ms", "2.1.2")]
    assert list(parse_package_lock("{not json")) == [] and list(parse_pnpm_lock(": : :")) == []


def test_bundled_node_modules_and_debian_depends(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"package/node_modules/ms/package.json": '{"name": "ms", "version": "2.0.0"}'},
                       ecosystem="npm", name="app", version="1.0.0")
    assert ("ms", "2.0.0", "bundled") in {(p.name, p.version, p.source) for p in collect_packages(ctx)}
    deb = PackageMetadata(ecosystem="debian", name="app", version="1.0-1",
                          dependencies=[Dependency("libssl3", "(= 3.0.11-1~deb12u1)", None, "Depends")])
    ctx = make_context(tmp_path / "deb", {"usr/bin/app": ""}, ecosystem="debian", metadata=deb)
    ctx.advisories = {"libssl3": [advisory("DSA-1", "libssl3", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
                                           ecosystem="Debian:12")]}
    (finding,) = ANALYZER.analyze(ctx)
    assert finding.evidence["version"] == "3.0.11-1~deb12u1" and finding.evidence["upgrade_to"] == "3.0.11-1~deb12u2"


def test_no_advisories_no_findings(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"x/__init__.py": ""}, name="requests", version="2.0.0")
    assert ANALYZER.analyze(ctx) == []
