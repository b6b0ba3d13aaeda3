"""The engine, table-driven: every subject and operator, all/any, rule order, allow, monitor, waivers.

Pure: no database. Each table row is (condition or rules, scan, expected outcome).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from policies import engine

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def f(fid: str, category: str = "vulnerability", severity: str = "high", check_id: str = "VULN-PKG-001",
      status: str = "failed", fingerprint: str = "", **evidence: Any) -> engine.FindingFacts:
    return engine.finding_facts(id=fid, check_id=check_id, category=category, severity=severity, status=status,
                                fingerprint=fingerprint or f"fp-{fid}", evidence=evidence)


def scan(*findings: engine.FindingFacts, ecosystem: str = "pypi", name: str = "requests", version: str = "2.31.0",
         score: int | None = 80, license: str = "MIT") -> engine.ScanFacts:  # noqa: A002
    return engine.ScanFacts(id="scan", ecosystem=ecosystem, name=name, version=version, score=score, license=license,
                            findings=list(findings))


def cond(subject: str, operator: str, value: Any = True) -> dict[str, Any]:
    return {"subject": subject, "operator": operator, "value": value}


def rule(action: str, *conditions: dict[str, Any], match: str = "all", name: str = "", enabled: bool = True
         ) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, "match": match, "conditions": list(conditions), "enabled": enabled}
    if name:
        out["name"] = name
    return out


def compile_rules(*rules: dict[str, Any], mode: str = "enforce", ecosystems: list[str] | None = None,
                  packages: list[str] | None = None, name: str = "P", priority: int = 100
                  ) -> engine.CompiledPolicy:
    return engine.compile_policy({"name": name, "mode": mode, "priority": priority, "rules": list(rules),
                                  "scope": {"ecosystems": ecosystems or [], "packages": packages or []}},
                                 policy_id=name, revision_id=f"{name}-r1", revision_number=1)


def matched(result: engine.Result) -> list[str]:
    return sorted(i for r in result.reasons if r.action != "allow" for i in r.finding_ids)


# Findings reused by the table.
CRIT = f("crit", severity="critical", advisory="GHSA-crit-0001", aliases=["CVE-2024-1111", "PYSEC-2024-1"],
         cvss_score=9.8)
HIGH = f("high", severity="high", advisory="GHSA-high-0002", aliases=["CVE-2024-2222"], cvss_score=7.5)
MED = f("med", severity="medium", advisory="GHSA-med-0003", cvss_score=5.0)
NOCVSS = f("nocvss", severity="high", advisory="OSV-2024-9")
SECRET = f("secret", category="secrets", severity="high", check_id="SECRET-AWS-001")
HOOK = f("hook", category="install_hooks", severity="critical", check_id="PKG-HOOK-001")
MALWARE = f("mal", category="malicious_code", severity="medium", check_id="MAL-EXEC-002")
TYPO = f("typo", category="typosquatting", severity="high", check_id="META-TYPO-001")
LOW = f("low", category="metadata", severity="low", check_id="META-DESC-001")
INFO = f("info", category="metadata", severity="info", check_id="META-URL-001", status="warning")
GPL_FINDING = f("gplf", category="license", severity="medium", check_id="LIC-DEP-001", spdx="AGPL-3.0-only")
ALL = (CRIT, HIGH, MED, NOCVSS, SECRET, HOOK, MALWARE, TYPO, LOW, INFO)

# (id, condition, scan, finding ids expected to match; True/False for scan-level subjects)
CONDITION_TABLE: list[tuple[str, dict[str, Any], engine.ScanFacts, Any]] = [
    ("severity gte high", cond("severity", "gte", "high"), scan(*ALL),
     ["crit", "high", "hook", "nocvss", "secret", "typo"]),
    ("severity gte critical", cond("severity", "gte", "critical"), scan(*ALL), ["crit", "hook"]),
    ("severity eq medium", cond("severity", "eq", "medium"), scan(*ALL), ["mal", "med"]),
    ("severity in low/info", cond("severity", "in", ["low", "info"]), scan(*ALL), ["info", "low"]),
    ("cvss gte 9", cond("cvss", "gte", 9), scan(*ALL), ["crit"]),
    ("cvss gte 7.5 boundary", cond("cvss", "gte", 7.5), scan(*ALL), ["crit", "high"]),
    ("cvss lt 7 (no score never matches)", cond("cvss", "lt", 7), scan(*ALL), ["med"]),
    ("category eq secrets", cond("category", "eq", "secrets"), scan(*ALL), ["secret"]),
    ("category in", cond("category", "in", ["install_hooks", "malicious_code"]), scan(*ALL), ["hook", "mal"]),
    ("category not_in", cond("category", "not_in", ["vulnerability", "metadata"]), scan(*ALL),
     ["hook", "mal", "secret", "typo"]),
    ("check_id eq (any case)", cond("check_id", "eq", "pkg-hook-001"), scan(*ALL), ["hook"]),
    ("check_id in", cond("check_id", "in", ["SECRET-AWS-001", "MAL-EXEC-002"]), scan(*ALL), ["mal", "secret"]),
    ("check_id not_in", cond("check_id", "not_in", ["VULN-PKG-001", "META-DESC-001", "META-URL-001"]), scan(*ALL),
     ["hook", "mal", "secret", "typo"]),
    ("check_id glob", cond("check_id", "glob", "META-*"), scan(*ALL), ["info", "low", "typo"]),
    ("vulnerability eq advisory id", cond("vulnerability", "eq", "GHSA-high-0002"), scan(*ALL), ["high"]),
    ("vulnerability eq alias, any case", cond("vulnerability", "eq", "cve-2024-1111"), scan(*ALL), ["crit"]),
    ("vulnerability in", cond("vulnerability", "in", ["PYSEC-2024-1", "OSV-2024-9", "CVE-0000-0000"]), scan(*ALL),
     ["crit", "nocvss"]),
    ("typosquat", cond("typosquat", "is", True), scan(*ALL), ["typo"]),
    ("typosquat absent", cond("typosquat", "is", True), scan(CRIT, HIGH), None),
    # Scan subjects: True / False.
    ("license not_allowed: outside the list", cond("license", "not_allowed", ["MIT", "Apache-2.0"]),
     scan(license="GPL-3.0-only"), True),
    ("license not_allowed: an allowed choice exists", cond("license", "not_allowed", ["MIT"]),
     scan(license="MIT OR GPL-3.0-only"), False),
    ("license not_allowed: AND needs both", cond("license", "not_allowed", ["MIT"]),
     scan(license="MIT AND GPL-3.0-only"), True),
    ("license not_allowed: common spelling", cond("license", "not_allowed", ["MIT"]), scan(license="MIT License"),
     False),
    ("license not_allowed: unknown is not judged", cond("license", "not_allowed", ["MIT"]), scan(license=""),
     False),
    ("license not_allowed: WITH exception allowed by its base", cond("license", "not_allowed", ["GPL-2.0-only"]),
     scan(license="GPL-2.0-only WITH Classpath-exception-2.0"), False),
    ("license denied", cond("license", "denied", ["GPL-3.0-only"]), scan(license="GPL-3.0-only"), True),
    ("license denied: alias spelling", cond("license", "denied", ["GPL-3.0-only"]), scan(license="GPL-3.0"), True),
    ("license denied: avoidable by choice", cond("license", "denied", ["GPL-3.0-only"]),
     scan(license="MIT OR GPL-3.0-only"), False),
    ("license denied: other license", cond("license", "denied", ["GPL-3.0-only"]), scan(license="Apache-2.0"),
     False),
    ("license unknown: none declared", cond("license", "unknown"), scan(license=""), True),
    ("license unknown: not SPDX", cond("license", "unknown"), scan(license="Proprietary Foo"), True),
    ("license unknown: SPDX", cond("license", "unknown"), scan(license="BSD-3-Clause"), False),
    ("license denied: from a license finding", cond("license", "denied", ["AGPL-3.0-only"]),
     scan(GPL_FINDING, license="MIT"), ["gplf"]),
    ("package eq, PEP 503 normalised", cond("package", "eq", "Flask_Cors"), scan(name="flask-cors"), True),
    ("package eq, other package", cond("package", "eq", "flask"), scan(name="flask-cors"), False),
    ("package in", cond("package", "in", ["urllib3", "requests"]), scan(name="Requests"), True),
    ("package glob", cond("package", "glob", "acme-*"), scan(name="ACME-utils"), True),
    ("package glob pypi separators", cond("package", "glob", "acme-*"), scan(name="acme_utils"), True),
    ("package glob no match", cond("package", "glob", "acme-*"), scan(name="requests"), False),
    ("package not_glob", cond("package", "not_glob", "acme-*"), scan(name="requests"), True),
    ("package not_glob on a match", cond("package", "not_glob", "acme-*"), scan(name="acme-x"), False),
    ("package regex", cond("package", "regex", "^internal-"), scan(name="internal-lib", ecosystem="npm"), True),
    ("package regex scoped npm", cond("package", "regex", r"^@acme/"), scan(name="@acme/ui", ecosystem="npm"), True),
    ("package not_regex", cond("package", "not_regex", "^internal-"), scan(name="lodash", ecosystem="npm"), True),
    ("ecosystem eq", cond("ecosystem", "eq", "npm"), scan(ecosystem="npm", name="x", version="1.0.0"), True),
    ("ecosystem eq other", cond("ecosystem", "eq", "npm"), scan(), False),
    ("ecosystem in", cond("ecosystem", "in", ["debian", "pypi"]), scan(), True),
    ("ecosystem not_in", cond("ecosystem", "not_in", ["debian", "rpm"]), scan(), True),
    ("version in_range pep440", cond("version", "in_range", ">=2.0,<3.0"), scan(version="2.31.0"), True),
    ("version in_range pep440 pre-release", cond("version", "in_range", "<2.0"), scan(version="2.0rc1"), True),
    ("version in_range alternatives", cond("version", "in_range", "<1.0 || ==2.31"), scan(version="2.31.0"), True),
    ("version in_range outside", cond("version", "in_range", "<2.0"), scan(version="2.31.0"), False),
    ("version in_range semver", cond("version", "in_range", ">=1.2.0,<1.3.0"),
     scan(ecosystem="npm", name="x", version="1.2.10"), True),
    ("version in_range semver pre-release", cond("version", "in_range", ">=1.2.0"),
     scan(ecosystem="npm", name="x", version="1.2.0-beta.1"), False),
    ("version in_range debian epoch", cond("version", "in_range", ">=5.0"),
     scan(ecosystem="debian", name="x", version="1:2.0-1"), True),
    ("version in_range rpm", cond("version", "in_range", "<1.10"), scan(ecosystem="rpm", name="x", version="1.9-2"),
     True),
    ("version in_range alpine", cond("version", "in_range", ">=1.2.3-r1"),
     scan(ecosystem="alpine", name="x", version="1.2.3-r2"), True),
    ("version not_in_range", cond("version", "not_in_range", ">=3"), scan(version="2.31.0"), True),
    ("version unparseable: in_range", cond("version", "in_range", ">=1"), scan(version="not a version"), False),
    ("version unparseable: not_in_range", cond("version", "not_in_range", ">=1"), scan(version="not a version"),
     False),
    ("score lt", cond("score", "lt", 50), scan(score=49), True),
    ("score lt boundary", cond("score", "lt", 50), scan(score=50), False),
    ("score lt without a score", cond("score", "lt", 50), scan(score=None), False),
    ("score gte", cond("score", "gte", 90), scan(score=95), True),
    ("finding_count gte: enough", cond("finding_count", "gte", 3), scan(CRIT, HIGH, MED), True),
    ("finding_count gte: too few", cond("finding_count", "gte", 3), scan(CRIT, HIGH), False),
]


@pytest.mark.parametrize(("condition", "facts", "expected"), [row[1:] for row in CONDITION_TABLE],
                         ids=[row[0] for row in CONDITION_TABLE])
def test_every_subject_and_operator(condition: dict[str, Any], facts: engine.ScanFacts, expected: Any) -> None:
    _normalised, errors = engine.validate({"name": "t", "rules": [rule("block", condition)]})
    assert errors == {}
    result = engine.evaluate(compile_rules(rule("block", condition, name="R")), facts)
    if isinstance(expected, bool):
        assert result.verdict == ("block" if expected else "pass")
        if expected:
            assert result.reasons[0].name == "R"
    elif expected is None:
        assert result.verdict == "pass" and result.reasons == []
    else:
        assert result.verdict == "block"
        assert matched(result) == sorted(expected)


def test_every_subject_and_operator_is_in_the_table() -> None:
    covered = {(row[1]["subject"], row[1]["operator"]) for row in CONDITION_TABLE}
    declared = {(s.name, o.name) for s in engine.SUBJECTS.values() for o in s.operators}
    assert declared - covered == set()


COMBINATION_TABLE: list[tuple[str, list[dict[str, Any]], engine.ScanFacts, str, list[str]]] = [
    ("all: one finding must satisfy every finding condition",
     [rule("block", cond("category", "eq", "vulnerability"), cond("severity", "gte", "critical"))],
     scan(*ALL), "block", ["crit"]),
    ("all: no single finding satisfies both",
     [rule("block", cond("category", "eq", "secrets"), cond("severity", "eq", "critical"))],
     scan(*ALL), "pass", []),
    ("all: a scan condition gates the finding conditions",
     [rule("block", cond("ecosystem", "eq", "npm"), cond("category", "eq", "secrets"))],
     scan(*ALL), "pass", []),
    ("all: scan and finding conditions both hold",
     [rule("block", cond("ecosystem", "eq", "pypi"), cond("category", "eq", "secrets"))],
     scan(*ALL), "block", ["secret"]),
    ("any: union of the findings each condition matches",
     [rule("warn", cond("category", "eq", "secrets"), cond("check_id", "eq", "PKG-HOOK-001"), match="any")],
     scan(*ALL), "warn", ["hook", "secret"]),
    ("any: a scan condition alone is enough",
     [rule("block", cond("score", "lt", 90), cond("category", "eq", "secrets"), match="any")],
     scan(CRIT, score=50), "block", []),
    ("any: nothing holds",
     [rule("block", cond("score", "lt", 10), cond("category", "eq", "secrets"), match="any")],
     scan(CRIT, score=50), "pass", []),
    ("all: finding_count counts the findings that satisfy the rule",
     [rule("warn", cond("severity", "gte", "medium"), cond("category", "eq", "vulnerability"),
           cond("finding_count", "gte", 4))],
     scan(*ALL), "warn", ["crit", "high", "med", "nocvss"]),
    ("all: finding_count not reached",
     [rule("warn", cond("severity", "gte", "critical"), cond("finding_count", "gte", 3))],
     scan(*ALL), "pass", []),
    ("strictest action wins: warn then block",
     [rule("warn", cond("category", "eq", "secrets")), rule("block", cond("typosquat", "is"))],
     scan(*ALL), "block", ["secret", "typo"]),
    ("warn alone",
     [rule("warn", cond("category", "eq", "secrets")), rule("block", cond("typosquat", "is"))],
     scan(SECRET, LOW), "warn", ["secret"]),
    ("nothing matches: pass",
     [rule("block", cond("severity", "gte", "critical"))], scan(LOW, INFO), "pass", []),
    ("a disabled rule is skipped",
     [rule("block", cond("severity", "gte", "critical"), enabled=False)], scan(CRIT), "pass", []),
    ("order: an allow rule first exempts its findings from later rules",
     [rule("allow", cond("vulnerability", "eq", "CVE-2024-1111")), rule("block", cond("severity", "gte", "critical"))],
     scan(CRIT, HOOK), "block", ["hook"]),
    ("order: the exempted finding was the only one",
     [rule("allow", cond("vulnerability", "eq", "CVE-2024-1111")), rule("block", cond("severity", "gte", "critical"))],
     scan(CRIT), "pass", []),
    ("order: an allow rule after a block rule comes too late",
     [rule("block", cond("severity", "gte", "critical")), rule("allow", cond("vulnerability", "eq", "CVE-2024-1111"))],
     scan(CRIT), "block", ["crit"]),
    ("allow on scan subjects exempts the whole scan (internal package)",
     [rule("allow", cond("package", "glob", "acme-*")), rule("block", cond("severity", "gte", "critical")),
      rule("block", cond("typosquat", "is"))],
     scan(CRIT, TYPO, name="acme-utils"), "pass", []),
    ("allow on scan subjects does not undo the rules before it",
     [rule("block", cond("category", "eq", "malicious_code")), rule("allow", cond("package", "glob", "acme-*")),
      rule("block", cond("severity", "gte", "critical"))],
     scan(CRIT, MALWARE, name="acme-utils"), "block", ["mal"]),
    ("allow on scan subjects for another package",
     [rule("allow", cond("package", "glob", "acme-*")), rule("block", cond("severity", "gte", "critical"))],
     scan(CRIT, name="requests"), "block", ["crit"]),
    ("exempted findings no longer count",
     [rule("allow", cond("category", "eq", "metadata")), rule("warn", cond("finding_count", "gte", 3))],
     scan(LOW, INFO, SECRET), "pass", []),
]


@pytest.mark.parametrize(("rules", "facts", "verdict", "finding_ids"), [row[1:] for row in COMBINATION_TABLE],
                         ids=[row[0] for row in COMBINATION_TABLE])
def test_all_any_order_and_allow(rules: list[dict[str, Any]], facts: engine.ScanFacts, verdict: str,
                                 finding_ids: list[str]) -> None:
    result = engine.evaluate(compile_rules(*rules), facts)
    assert result.verdict == verdict
    assert matched(result) == sorted(finding_ids)


def test_allow_reasons_say_what_they_exempted() -> None:
    policy = compile_rules(rule("allow", cond("package", "glob", "acme-*"), name="Internal"),
                           rule("block", cond("severity", "gte", "high"), name="High"))
    result = engine.evaluate(policy, scan(CRIT, name="acme-utils"))
    assert [r.as_dict() for r in result.reasons] == [
        {"rule": 0, "name": "Internal", "action": "allow", "count": 0, "finding_ids": [],
         "detail": "package name matches the glob acme-*", "exempts_scan": True}]
    per_finding = engine.evaluate(compile_rules(rule("allow", cond("check_id", "eq", "VULN-PKG-001"), name="A"),
                                                rule("block", cond("severity", "gte", "high"))), scan(CRIT, HOOK))
    assert per_finding.reasons[0].finding_ids == ["crit"] and not per_finding.reasons[0].exempts_scan


def test_monitor_mode_is_recorded_but_not_enforced() -> None:
    enforce = compile_rules(rule("warn", cond("category", "eq", "secrets")), name="E", priority=10)
    monitor = compile_rules(rule("block", cond("severity", "gte", "high")), mode="monitor", name="M", priority=20)
    verdict, results = engine.evaluate_all([enforce, monitor], scan(SECRET, CRIT), [], NOW)
    assert verdict == "warn"
    assert [(r.policy_name, r.mode, r.verdict) for r in results] == [("E", "enforce", "warn"),
                                                                      ("M", "monitor", "block")]
    alone, results = engine.evaluate_all([monitor], scan(CRIT), [], NOW)
    assert alone == "pass" and results[0].verdict == "block"


def test_several_enforce_policies_strictest_wins_and_scope_selects() -> None:
    warn_all = compile_rules(rule("warn", cond("severity", "gte", "high")), name="W")
    block_npm = compile_rules(rule("block", cond("severity", "gte", "high")), name="B", ecosystems=["npm"])
    block_acme = compile_rules(rule("block", cond("severity", "gte", "high")), name="A", packages=["re:^acme-"])
    policies = [warn_all, block_npm, block_acme]
    assert engine.evaluate_all(policies, scan(HIGH), [], NOW)[0] == "warn"
    verdict, results = engine.evaluate_all(policies, scan(HIGH, ecosystem="npm", name="x", version="1.0.0"), [], NOW)
    assert verdict == "block" and [r.policy_name for r in results] == ["W", "B"]
    assert engine.evaluate_all(policies, scan(HIGH, name="acme-core"), [], NOW)[0] == "block"
    assert engine.evaluate_all([], scan(HIGH), [], NOW) == ("pass", [])
    disabled = engine.compile_policy({"name": "D", "enabled": False, "rules": [rule("block", cond("severity", "gte",
                                                                                                  "info"))]})
    assert engine.evaluate_all([disabled], scan(HIGH), [], NOW) == ("pass", [])


WAIVER_TABLE: list[tuple[str, engine.WaiverFacts, bool]] = [
    ("check id", engine.WaiverFacts("w", "check", "vuln-pkg-001", "requests", "pypi"), True),
    ("advisory id", engine.WaiverFacts("w", "vulnerability", "GHSA-crit-0001", "requests", "pypi"), True),
    ("alias", engine.WaiverFacts("w", "vulnerability", "cve-2024-1111", "requests", "pypi"), True),
    ("fingerprint", engine.WaiverFacts("w", "fingerprint", "fp-crit", "requests", "pypi"), True),
    ("normalised package name", engine.WaiverFacts("w", "check", "VULN-PKG-001", "Requests", "pypi"), True),
    ("other package", engine.WaiverFacts("w", "check", "VULN-PKG-001", "urllib3", "pypi"), False),
    ("other ecosystem", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "npm"), False),
    ("version in range", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "pypi",
                                            engine.parse_range(">=2.0,<3")[0]), True),
    ("version outside range", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "pypi",
                                                 engine.parse_range("<2.0")[0]), False),
    ("expired", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "pypi",
                                   expires_at=NOW - timedelta(seconds=1)), False),
    ("expires exactly now", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "pypi", expires_at=NOW),
     False),
    ("not yet expired", engine.WaiverFacts("w", "check", "VULN-PKG-001", "requests", "pypi",
                                           expires_at=NOW + timedelta(days=1)), True),
]


@pytest.mark.parametrize(("waiver", "applies"), [row[1:] for row in WAIVER_TABLE], ids=[r[0] for r in WAIVER_TABLE])
def test_waivers_set_findings_apart(waiver: engine.WaiverFacts, applies: bool) -> None:
    policy = compile_rules(rule("block", cond("severity", "gte", "critical"), name="Critical"))
    verdict, [result] = engine.evaluate_all([policy], scan(CRIT), [waiver], NOW)
    if applies:
        assert verdict == "pass" and result.reasons == []
        assert [w.as_dict() for w in result.waived] == [{"finding_id": "crit", "waiver_id": "w",
                                                         "check_id": "VULN-PKG-001", "rules": [0]}]
    else:
        assert verdict == "block" and result.waived == []


def test_waived_findings_do_not_count() -> None:
    policy = compile_rules(rule("warn", cond("finding_count", "gte", 2)))
    waiver = engine.WaiverFacts("w", "check", "META-DESC-001", "requests", "pypi")
    assert engine.evaluate_all([policy], scan(LOW, INFO), [], NOW)[0] == "warn"
    assert engine.evaluate_all([policy], scan(LOW, INFO), [waiver], NOW)[0] == "pass"


DEFAULT_POLICY_TABLE: list[tuple[str, engine.ScanFacts, str, list[str]]] = [
    ("critical vulnerability blocks", scan(CRIT), "block", ["Critical vulnerabilities", "High vulnerabilities"]),
    ("high vulnerability warns", scan(HIGH), "warn", ["High vulnerabilities"]),
    ("medium vulnerability passes", scan(MED), "pass", []),
    ("malicious code of high severity blocks",
     scan(f("m", category="malicious_code", severity="high")), "block", ["Malicious code"]),
    ("malicious code of medium severity passes", scan(MALWARE), "pass", []),
    ("critical install hook blocks", scan(HOOK), "block", ["Dangerous install hooks"]),
    ("typosquat blocks", scan(TYPO), "block", ["Typosquats"]),
    ("secret warns", scan(SECRET), "warn", ["Secrets"]),
    ("unknown license warns", scan(license=""), "warn", ["Unknown licenses"]),
    ("clean package passes", scan(LOW, INFO, license="Apache-2.0"), "pass", []),
]


@pytest.mark.parametrize(("facts", "verdict", "rules"), [r[1:] for r in DEFAULT_POLICY_TABLE],
                         ids=[r[0] for r in DEFAULT_POLICY_TABLE])
def test_default_policy(facts: engine.ScanFacts, verdict: str, rules: list[str]) -> None:
    result = engine.evaluate(engine.compile_policy(engine.default_policy_document()), facts)
    assert result.verdict == verdict
    assert [r.name for r in result.reasons] == rules


def test_finding_facts_read_the_analyzers_evidence() -> None:
    facts = engine.finding_facts(id="x", check_id="VULN-DEP-001", category="vulnerability", severity="high",
                                 evidence={"advisory": "GHSA-1", "aliases": ["CVE-1", None], "cvss_score": "8.1"})
    assert facts.vuln_ids == frozenset({"GHSA-1", "CVE-1"}) and facts.cvss == 8.1
    odd = engine.finding_facts(id="y", check_id="X", category="license", severity="low",
                               evidence={"cvss_score": "n/a", "license": "GPL-3.0-only"})
    assert odd.cvss is None and odd.license == "GPL-3.0-only"


def test_version_ranges_per_ecosystem() -> None:
    parsed, problem = engine.parse_range(">=1.0,<2.0 || ==2.5.1", ecosystem="pypi")
    assert problem == "" and parsed is not None
    assert [parsed.contains("pypi", v) for v in ("0.9", "1.0", "1.9.9", "2.0", "2.5.1", "2.5.1.post1")] == \
        [False, True, True, False, True, False]
    assert parsed.contains("pypi", "") is None
    star, _ = engine.parse_range("*")
    assert star is not None and star.contains("npm", "0.0.1") is True


def test_diff_documents() -> None:
    before = engine.default_policy_document()
    after = {**before, "mode": "monitor", "rules": before["rules"][:1]}
    diff = engine.diff_documents(before, after)
    assert diff["fields"] == {"mode": {"before": "enforce", "after": "monitor"}}
    assert diff["rules_changed"] is True
    assert any(line.startswith("-") and "Malicious code" in line for line in diff["rules_diff"])
    assert engine.diff_documents(before, before) == {"fields": {}, "rules_changed": False, "rules_diff": []}
