"""The policy engine: validate a policy document, compile it once, evaluate scans in memory.

Pure: no models, no queries, no network. Callers build `ScanFacts` (the scan's
identity, score and license plus its failed/warning findings) and `WaiverFacts`,
then call `evaluate_all(policies, facts, waivers, now)` (every applicable policy and
the combined verdict) or `evaluate(policy, facts, waived=...)` (one policy).
Everything that can be decided once per policy (regexes, globs, license lists,
version ranges, value sets) is decided by `compile_policy`, and a scan's findings are
indexed on first use (category, severity, check id, vulnerability id, CVSS), so a
rule only visits the findings that can match it.

Document shape (what the API, the JSON editor and the revisions store)::

    {"name": "Default", "description": "", "enabled": true, "mode": "enforce", "priority": 100,
     "scope": {"ecosystems": ["pypi"], "packages": ["acme-*", "re:^internal-"]},
     "rules": [{"name": "Critical vulnerabilities", "action": "block", "match": "all", "enabled": true,
                "conditions": [{"subject": "category", "operator": "eq", "value": "vulnerability"},
                               {"subject": "severity", "operator": "gte", "value": "critical"}]}]}

Semantics (docs/policies.md has the long form):

- Only findings whose status is `failed` or `warning` take part; waived findings are
  set apart before the rules run and listed with the rules they would have matched.
- Finding subjects (severity, cvss, category, check_id, vulnerability, typosquat) are
  tested on each finding; with `match: all` one finding must satisfy all of them.
  Scan subjects (package, ecosystem, version, score, license) are tested on the scan.
  `finding_count` counts the findings that satisfy the rule's finding conditions (all
  remaining findings when it has none).
- Rules run in order. `block` and `warn` rules that match add a reason; an `allow`
  rule exempts the findings it matched from every later rule, and an `allow` rule
  that matched on scan subjects only exempts the whole scan from every later rule.
  The policy's verdict is the strictest action among the reasons (`pass` when none).
"""

from __future__ import annotations

import bisect
import difflib
import fnmatch
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from policies import licenses
from scanning.analyzers.base import SEVERITY_RANK, Category, Ecosystem, Severity
from scanning.analyzers.versions import VersionError, compare, is_valid, normalize_name

ACTIONS = ("block", "warn", "allow")
MATCHES = ("all", "any")
MODES = ("enforce", "monitor")
VERDICTS = ("pass", "warn", "block")
VERDICT_RANK = {"pass": 0, "warn": 1, "block": 2}
ACTIVE_STATUSES = ("failed", "warning")
SEVERITIES = [s.value for s in Severity]
CATEGORIES = [c.value for c in Category]
ECOSYSTEMS = [e.value for e in Ecosystem]
SEVERITY_RANKS = {str(k): v for k, v in SEVERITY_RANK.items()}
REGEX_PREFIX = "re:"

MAX_RULES = 200
MAX_CONDITIONS = 25
MAX_LIST_VALUES = 500
MAX_TEXT = 200
MAX_PATTERNS = 100


# --- Subjects ------------------------------------------------------------------------

@dataclass(frozen=True)
class Operator:
    name: str
    value: str  # kind of value, checked by _check_value()
    label: str


@dataclass(frozen=True)
class Subject:
    name: str
    level: str  # "finding", "scan" or "aggregate"
    label: str
    description: str
    operators: tuple[Operator, ...]

    def operator(self, name: str) -> Operator | None:
        return next((op for op in self.operators if op.name == name), None)


SUBJECTS: dict[str, Subject] = {s.name: s for s in (
    Subject("severity", "finding", "Severity", "The finding's severity (critical > high > medium > low > info).", (
        Operator("gte", "severity", "is at least"),
        Operator("eq", "severity", "is"),
        Operator("in", "severities", "is one of"))),
    Subject("cvss", "finding", "CVSS score", "The CVSS base score of a vulnerability finding (0-10); findings "
            "without one never match.", (
                Operator("gte", "cvss", "is at least"),
                Operator("lt", "cvss", "is below"))),
    Subject("category", "finding", "Category", "The finding's category.", (
        Operator("eq", "category", "is"),
        Operator("in", "categories", "is one of"),
        Operator("not_in", "categories", "is none of"))),
    Subject("check_id", "finding", "Check id", "The id of the check that produced the finding, e.g. PKG-HOOK-001.", (
        Operator("eq", "check", "is"),
        Operator("in", "checks", "is one of"),
        Operator("not_in", "checks", "is none of"),
        Operator("glob", "glob", "matches the pattern"))),
    Subject("vulnerability", "finding", "Vulnerability id", "An advisory id or one of its aliases (CVE, GHSA, "
            "PYSEC...), compared without regard to case.", (
                Operator("eq", "vuln", "is"),
                Operator("in", "vulns", "is one of"))),
    Subject("typosquat", "finding", "Typosquat", "A typosquatting finding: the name imitates a popular package.", (
        Operator("is", "true", "is detected"),)),
    Subject("license", "scan", "License", "The package's declared license and the expressions of its license "
            "findings, as SPDX expressions.", (
                Operator("not_allowed", "licenses", "is not satisfiable with only"),
                Operator("denied", "licenses", "requires one of"),
                Operator("unknown", "true", "is missing or not SPDX"))),
    Subject("package", "scan", "Package name", "The scanned package's name (PyPI names are compared normalised).", (
        Operator("eq", "name", "is"),
        Operator("in", "names", "is one of"),
        Operator("glob", "glob", "matches the glob"),
        Operator("not_glob", "glob", "does not match the glob"),
        Operator("regex", "regex", "matches the regular expression"),
        Operator("not_regex", "regex", "does not match the regular expression"))),
    Subject("ecosystem", "scan", "Ecosystem", "The scanned package's ecosystem.", (
        Operator("eq", "ecosystem", "is"),
        Operator("in", "ecosystems", "is one of"),
        Operator("not_in", "ecosystems", "is none of"))),
    Subject("version", "scan", "Version", "The scanned package's version, compared with its ecosystem's rules. "
            "Ranges: '>=1.0,<2.0 || ==2.5.1'.", (
                Operator("in_range", "range", "is in the range"),
                Operator("not_in_range", "range", "is outside the range"))),
    Subject("score", "scan", "Overall score", "The scan's overall score (0-100).", (
        Operator("lt", "score", "is below"),
        Operator("gte", "score", "is at least"))),
    Subject("finding_count", "aggregate", "Finding count", "How many findings satisfy the rule's finding "
            "conditions (all remaining findings when it has none).", (
                Operator("gte", "count", "is at least"),)),
)}

LIST_VALUES = frozenset({"severities", "categories", "checks", "vulns", "licenses", "names", "ecosystems"})
NUMBER_VALUES = frozenset({"cvss", "score", "count"})


def catalog() -> list[dict[str, Any]]:
    """Subjects and their operators, for the API, the rule editor and the documentation."""
    return [{"subject": s.name, "label": s.label, "level": s.level, "description": s.description,
             "operators": [{"operator": o.name, "label": o.label, "value": o.value,
                            "list": o.value in LIST_VALUES} for o in s.operators]}
            for s in SUBJECTS.values()]


# --- Version ranges -------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*([A-Za-z0-9][A-Za-z0-9._+~:^*-]*)\s*$")


@dataclass(frozen=True)
class VersionRange:
    """Alternatives ('||') of conjunctions (',') of comparisons; '*' alone means any version."""

    text: str
    alternatives: tuple[tuple[tuple[str, str], ...], ...]

    def contains(self, ecosystem: str, version: str) -> bool | None:
        """True/False, or None when the version cannot be compared under the ecosystem's rules."""
        if not version:
            return None
        try:
            for alternative in self.alternatives:
                if all(op == "*" or _holds(compare(ecosystem, version, bound), op) for op, bound in alternative):
                    return True
        except VersionError:
            return None
        return False


def _holds(cmp: int, op: str) -> bool:
    if op == "*":
        return True
    return {">=": cmp >= 0, "<=": cmp <= 0, ">": cmp > 0, "<": cmp < 0, "==": cmp == 0, "!=": cmp != 0}[op]


def parse_range(text: str, *, ecosystem: str | None = None) -> tuple[VersionRange | None, str]:
    """(range, "") or (None, error message). With an ecosystem, versions and contradictions are checked."""
    if not isinstance(text, str) or not text.strip():
        return None, "Give a version range such as '>=1.0,<2.0'."
    if len(text) > MAX_TEXT * 2:
        return None, f"Use at most {MAX_TEXT * 2} characters."
    alternatives: list[tuple[tuple[str, str], ...]] = []
    for alt_text in text.split("||"):
        constraints: list[tuple[str, str]] = []
        for part in alt_text.split(","):
            if part.strip() == "*":
                constraints.append(("*", "*"))
                continue
            match = _CONSTRAINT.match(part)
            if not match:
                return None, (f"'{part.strip()}' is not a comparison; use >=, >, <=, <, == or != followed by "
                              "a version, separated by ',' (and) or '||' (or).")
            op = match.group(1) or "=="
            op = "==" if op == "=" else op
            version = match.group(2)
            if ecosystem and not is_valid(ecosystem, version):
                return None, f"'{version}' is not a valid {ecosystem} version."
            constraints.append((op, version))
        problem = _contradiction(constraints, ecosystem)
        if problem:
            return None, problem
        alternatives.append(tuple(constraints))
    return VersionRange(text=text.strip(), alternatives=tuple(alternatives)), ""


def _contradiction(constraints: list[tuple[str, str]], ecosystem: str | None) -> str:
    """A conjunction no version can satisfy, e.g. '>=2.0,<1.0' (checked only when comparable)."""
    if not ecosystem:
        return ""
    bounds = [(op, v) for op, v in constraints if op != "*"]
    try:
        for op_a, a in bounds:
            if op_a != "==":
                continue
            for op_b, b in bounds:
                if not _holds(compare(ecosystem, a, b), op_b):
                    return f"No version satisfies '{op_a}{a}' and '{op_b}{b}' together."
        lowers = [(op, v) for op, v in bounds if op in (">=", ">")]
        uppers = [(op, v) for op, v in bounds if op in ("<=", "<")]
        for op_l, low in lowers:
            for op_u, high in uppers:
                cmp = compare(ecosystem, low, high)
                if cmp > 0 or (cmp == 0 and (op_l == ">" or op_u == "<")):
                    return f"No version satisfies '{op_l}{low}' and '{op_u}{high}' together."
    except VersionError:
        return ""
    return ""


# --- Name patterns ----------------------------------------------------------------------

def _normal_name(ecosystem: str, name: str) -> str:
    return normalize_name(ecosystem, name) if name else ""


def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


@dataclass(frozen=True)
class NamePattern:
    """A glob (`acme-*`) or, with the `re:` prefix, a regular expression (searched)."""

    text: str
    regex: re.Pattern[str]
    is_regex: bool

    def matches(self, ecosystem: str, name: str) -> bool:
        if not name:
            return False
        normal = _normal_name(ecosystem, name)
        if self.is_regex:
            return bool(self.regex.search(name) or self.regex.search(normal))
        lowered = name.lower()
        return bool(self.regex.match(lowered) or self.regex.match(normal)
                    or self.regex.match(_normal_name(ecosystem, lowered)))


def compile_pattern(text: str) -> tuple[NamePattern | None, str]:
    if not isinstance(text, str) or not text.strip():
        return None, "Give a package name pattern."
    text = text.strip()
    if len(text) > MAX_TEXT:
        return None, f"Use at most {MAX_TEXT} characters."
    if text.startswith(REGEX_PREFIX):
        body = text[len(REGEX_PREFIX):]
        regex, problem = _compile_regex(body)
        if regex is None:
            return None, problem
        return NamePattern(text=text, regex=regex, is_regex=True), ""
    return NamePattern(text=text, regex=_glob_regex(text), is_regex=False), ""


def _compile_regex(body: str) -> tuple[re.Pattern[str] | None, str]:
    if not body:
        return None, "The regular expression is empty."
    try:
        return re.compile(body), ""
    except re.error as exc:
        return None, f"Invalid regular expression: {exc.msg} at position {exc.pos}."


# --- Facts: what the engine evaluates ------------------------------------------------------

@dataclass(slots=True)
class FindingFacts:
    id: str
    check_id: str
    category: str
    severity: str
    status: str = "failed"
    fingerprint: str = ""
    cvss: float | None = None
    # Upper-cased advisory id and aliases.
    vuln_ids: frozenset[str] = frozenset()
    # An SPDX expression the finding carries (license findings), else "".
    license: str = ""
    title: str = ""
    severity_rank: int = -1

    def __post_init__(self) -> None:
        self.severity_rank = SEVERITY_RANKS.get(self.severity, -1)


@dataclass
class ScanFacts:
    id: str
    ecosystem: str
    name: str
    version: str
    score: int | None
    license: str = ""
    findings: list[FindingFacts] = field(default_factory=list)
    # Indexes of `findings`, built on first use (each in one pass) and shared by every rule.
    _indexes: dict[str, Any] = field(default_factory=dict, repr=False)

    def _grouped(self, name: str, key: Callable[[FindingFacts], Any]) -> dict[Any, list[int]]:
        index = self._indexes.get(name)
        if index is None:
            index = {}
            for i, f in enumerate(self.findings):
                k = key(f)
                bucket = index.get(k)
                if bucket is None:
                    index[k] = [i]
                else:
                    bucket.append(i)
            self._indexes[name] = index
        return index

    def by_category(self) -> dict[str, list[int]]:
        return self._grouped("category", lambda f: f.category)

    def by_check(self) -> dict[str, list[int]]:
        return self._grouped("check", lambda f: f.check_id.upper())

    def by_severity(self) -> dict[int, list[int]]:
        return self._grouped("severity", lambda f: f.severity_rank)

    def by_vuln(self) -> dict[str, list[int]]:
        index = self._indexes.get("vuln")
        if index is None:
            index = {}
            for i, f in enumerate(self.findings):
                for vid in f.vuln_ids:
                    index.setdefault(vid, []).append(i)
            self._indexes["vuln"] = index
        return index

    def by_cvss(self) -> tuple[list[float], list[int]]:
        """CVSS scores in ascending order and the finding index of each (findings with a score only)."""
        index = self._indexes.get("cvss")
        if index is None:
            pairs = sorted((f.cvss, i) for i, f in enumerate(self.findings) if f.cvss is not None)
            index = ([p[0] for p in pairs], [p[1] for p in pairs])
            self._indexes["cvss"] = index
        return index  # type: ignore[no-any-return]

    def checks_matching(self, regex: re.Pattern[str]) -> list[int]:
        """Findings whose check id matches a (lower-case) glob regex: tested once per distinct check id."""
        out: list[int] = []
        for check, indexes in self.by_check().items():
            if regex.match(check.lower()):
                out.extend(indexes)
        return out


def finding_facts(*, id: Any, check_id: str, category: str, severity: str, status: str = "failed",  # noqa: A002
                  fingerprint: str = "", evidence: dict[str, Any] | None = None, title: str = "") -> FindingFacts:
    """FindingFacts from a finding's columns and the evidence keys the analyzers write."""
    evidence = evidence or {}
    ids: set[str] = set()
    advisory = evidence.get("advisory")
    if isinstance(advisory, str) and advisory:
        ids.add(advisory.upper())
    aliases = evidence.get("aliases")
    if isinstance(aliases, list | tuple):
        ids.update(str(a).upper() for a in aliases if a)
    cvss = evidence.get("cvss_score")
    try:
        cvss_value = float(cvss) if cvss is not None and cvss != "" else None
    except (TypeError, ValueError):
        cvss_value = None
    if cvss_value is not None and not math.isfinite(cvss_value):
        cvss_value = None
    license_text = ""
    for key in ("spdx", "license_expression", "expression"):
        value = evidence.get(key)
        if isinstance(value, str) and value:
            license_text = value
            break
    if not license_text and category == "license" and isinstance(evidence.get("license"), str):
        license_text = evidence["license"]
    return FindingFacts(id=str(id), check_id=check_id, category=category, severity=severity, status=status,
                        fingerprint=fingerprint, cvss=cvss_value, vuln_ids=frozenset(ids), license=license_text,
                        title=title)


# --- Waivers ------------------------------------------------------------------------------

WAIVER_SCOPES = ("check", "vulnerability", "fingerprint")


@dataclass(frozen=True)
class WaiverFacts:
    id: str
    scope: str  # check | vulnerability | fingerprint
    value: str
    package: str
    ecosystem: str = ""  # "" = any ecosystem
    version_range: VersionRange | None = None
    expires_at: datetime | None = None

    def applies_to_scan(self, scan: ScanFacts, now: datetime) -> bool:
        if self.expires_at is not None and self.expires_at <= now:
            return False
        if self.ecosystem and self.ecosystem != scan.ecosystem:
            return False
        if _normal_name(scan.ecosystem, self.package) != _normal_name(scan.ecosystem, scan.name):
            return False
        if self.version_range is not None:
            return self.version_range.contains(scan.ecosystem, scan.version) is True
        return True

    def covers(self, finding: FindingFacts) -> bool:
        if self.scope == "check":
            return finding.check_id.upper() == self.value.upper()
        if self.scope == "vulnerability":
            return self.value.upper() in finding.vuln_ids
        return finding.fingerprint == self.value


def waived_findings(scan: ScanFacts, waivers: Sequence[WaiverFacts], now: datetime) -> dict[int, str]:
    """Index of each waived finding -> the id of the (first) approved, unexpired waiver covering it."""
    applicable = [w for w in waivers if w.applies_to_scan(scan, now)]
    if not applicable:
        return {}
    out: dict[int, str] = {}
    for i, finding in enumerate(scan.findings):
        for waiver in applicable:
            if waiver.covers(finding):
                out[i] = waiver.id
                break
    return out


# --- Validation ---------------------------------------------------------------------------

class Errors:
    """Field-level errors keyed by path: `rules[2].conditions[0].value`."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.items.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.items)


class PolicyInvalid(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The policy is invalid.")
        self.errors = errors


DOCUMENT_KEYS = {"name", "description", "enabled", "mode", "priority", "scope", "rules"}
RULE_KEYS = {"name", "description", "action", "match", "enabled", "conditions"}
CONDITION_KEYS = {"subject", "operator", "value"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    return None


def _check_value(kind: str, value: Any, path: str, errors: Errors, ecosystem: str | None) -> Any:
    """The normalised value, or None after recording an error at `path`."""
    def one_of(choices: Sequence[str], label: str, item: Any, where: str) -> str | None:
        if isinstance(item, str) and item.strip().lower() in choices:
            return item.strip().lower()
        errors.add(where, f"'{item}' is not a {label}; choose from {', '.join(choices)}.")
        return None

    def many(choices: Sequence[str], label: str) -> list[str] | None:
        items = _as_list(value)
        if not items:
            errors.add(path, f"Give one or more {label}s.")
            return None
        if len(items) > MAX_LIST_VALUES:
            errors.add(path, f"Give at most {MAX_LIST_VALUES} values.")
            return None
        out = [one_of(choices, label, item, path) for item in items]
        return None if None in out else list(dict.fromkeys(out))  # type: ignore[arg-type]

    def texts(label: str, pattern: re.Pattern[str] | None = None, upper: bool = False) -> list[str] | None:
        items = _as_list(value)
        if not items:
            errors.add(path, f"Give one or more {label}s.")
            return None
        if len(items) > MAX_LIST_VALUES:
            errors.add(path, f"Give at most {MAX_LIST_VALUES} values.")
            return None
        out: list[str] = []
        for item in items:
            if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT:
                errors.add(path, f"Each {label} must be a non-empty text of at most {MAX_TEXT} characters.")
                return None
            text = item.strip().upper() if upper else item.strip()
            if pattern is not None and not pattern.match(text):
                errors.add(path, f"'{item}' is not a valid {label}.")
                return None
            out.append(text)
        return list(dict.fromkeys(out))

    if kind == "severity":
        return one_of(SEVERITIES, "severity", value, path)
    if kind == "severities":
        return many(SEVERITIES, "severity")
    if kind == "category":
        return one_of(CATEGORIES, "category", value, path)
    if kind == "categories":
        return many(CATEGORIES, "category")
    if kind == "ecosystem":
        return one_of(ECOSYSTEMS, "ecosystem", value, path)
    if kind == "ecosystems":
        return many(ECOSYSTEMS, "ecosystem")
    if kind in ("cvss", "score", "count"):
        low, high = {"cvss": (0, 10), "score": (0, 100), "count": (1, 1_000_000)}[kind]
        if not _is_number(value) or (kind != "cvss" and not float(value).is_integer()):
            errors.add(path, "Give a whole number." if kind != "cvss" else "Give a number from 0 to 10.")
            return None
        if not low <= value <= high:
            errors.add(path, f"Give a number from {low} to {high}.")
            return None
        return float(value) if kind == "cvss" else int(value)
    if kind == "true":
        if value is not True:
            errors.add(path, "This operator takes the value true.")
            return None
        return True
    if kind == "check":
        out = texts("check id", re.compile(r"^[A-Z0-9][A-Z0-9_.-]*$"), upper=True)
        if out is not None and len(out) != 1:
            errors.add(path, "Give one check id (use 'in' for several).")
            return None
        return out[0] if out else None
    if kind == "checks":
        return texts("check id", re.compile(r"^[A-Z0-9][A-Z0-9_.-]*$"), upper=True)
    if kind == "vuln":
        out = texts("vulnerability id", re.compile(r"^[A-Z0-9][A-Z0-9_.:-]*$"), upper=True)
        if out is not None and len(out) != 1:
            errors.add(path, "Give one vulnerability id (use 'in' for several).")
            return None
        return out[0] if out else None
    if kind == "vulns":
        return texts("vulnerability id", re.compile(r"^[A-Z0-9][A-Z0-9_.:-]*$"), upper=True)
    if kind == "name":
        out = texts("package name")
        if out is not None and len(out) != 1:
            errors.add(path, "Give one package name (use 'in' for several).")
            return None
        return out[0] if out else None
    if kind == "names":
        return texts("package name")
    if kind == "glob":
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            errors.add(path, f"Give a glob pattern such as 'acme-*' (at most {MAX_TEXT} characters).")
            return None
        return value.strip()
    if kind == "regex":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            errors.add(path, f"Give a regular expression of at most {MAX_TEXT} characters.")
            return None
        regex, problem = _compile_regex(value)
        if regex is None:
            errors.add(path, problem)
            return None
        return value
    if kind == "range":
        parsed, problem = parse_range(value, ecosystem=ecosystem)
        if parsed is None:
            errors.add(path, problem)
            return None
        return parsed.text
    if kind == "licenses":
        items = _as_list(value)
        if not items or not all(isinstance(i, str) and i.strip() for i in items):
            errors.add(path, "Give one or more SPDX license identifiers, e.g. MIT, Apache-2.0.")
            return None
        good, bad = licenses.canonical_list(i.strip() for i in items)
        if bad:
            errors.add(path, f"Not SPDX license identifiers: {', '.join(bad)}.")
            return None
        return good
    raise AssertionError(f"unknown value kind {kind}")


def _rule_ecosystem(conditions: list[dict[str, Any]], scope_ecosystems: list[str]) -> str | None:
    """The one ecosystem a rule can apply to, when it is known (for version checks)."""
    for cond in conditions:
        if cond.get("subject") == "ecosystem" and cond.get("operator") == "eq" and cond.get("value") in ECOSYSTEMS:
            return str(cond["value"])
    if len(scope_ecosystems) == 1:
        return scope_ecosystems[0]
    return None


def validate(document: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(normalised document, errors). Errors are keyed by path; an empty dict means valid."""
    errors = Errors()
    if not isinstance(document, dict):
        return {}, {"non_field_errors": ["A policy must be a JSON object."]}
    for key in sorted(set(document) - DOCUMENT_KEYS):
        errors.add(key, f"Unknown field; policies have {', '.join(sorted(DOCUMENT_KEYS))}.")
    out: dict[str, Any] = {}

    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "Give the policy a name.")
    elif len(name.strip()) > 100:
        errors.add("name", "Use at most 100 characters.")
    else:
        out["name"] = name.strip()
    description = document.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        errors.add("description", "Use a text of at most 2000 characters.")
    else:
        out["description"] = description.strip()
    enabled = document.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.add("enabled", "Use true or false.")
    out["enabled"] = bool(enabled) if isinstance(enabled, bool) else True
    mode = document.get("mode", "enforce")
    if mode not in MODES:
        errors.add("mode", f"'{mode}' is not a mode; choose enforce or monitor.")
    else:
        out["mode"] = mode
    priority = document.get("priority", 100)
    if not _is_number(priority) or not float(priority).is_integer() or not 0 <= priority <= 10_000:
        errors.add("priority", "Give a whole number from 0 to 10000 (lower runs first).")
    else:
        out["priority"] = int(priority)

    scope = document.get("scope", {}) or {}
    scope_out: dict[str, list[str]] = {"ecosystems": [], "packages": []}
    if not isinstance(scope, dict):
        errors.add("scope", "Give the scope as {\"ecosystems\": [...], \"packages\": [...]}.")
    else:
        for key in sorted(set(scope) - {"ecosystems", "packages"}):
            errors.add(f"scope.{key}", "Unknown field; the scope has ecosystems and packages.")
        ecosystems = scope.get("ecosystems", []) or []
        if not isinstance(ecosystems, list):
            errors.add("scope.ecosystems", "Give a list of ecosystems (empty: all).")
        else:
            for i, eco in enumerate(ecosystems):
                if eco not in ECOSYSTEMS:
                    errors.add(f"scope.ecosystems[{i}]", f"'{eco}' is not an ecosystem; choose from "
                                                         f"{', '.join(ECOSYSTEMS)}.")
                elif eco not in scope_out["ecosystems"]:
                    scope_out["ecosystems"].append(eco)
        packages = scope.get("packages", []) or []
        if not isinstance(packages, list) or len(packages) > MAX_PATTERNS:
            errors.add("scope.packages", f"Give a list of at most {MAX_PATTERNS} name patterns (empty: all).")
        else:
            for i, pattern in enumerate(packages):
                compiled, problem = compile_pattern(pattern)
                if compiled is None:
                    errors.add(f"scope.packages[{i}]", problem)
                elif compiled.text not in scope_out["packages"]:
                    scope_out["packages"].append(compiled.text)
    out["scope"] = scope_out

    rules = document.get("rules", [])
    if not isinstance(rules, list):
        errors.add("rules", "Give the rules as a list.")
        rules = []
    elif len(rules) > MAX_RULES:
        errors.add("rules", f"A policy holds at most {MAX_RULES} rules.")
        rules = []
    out["rules"] = [_validate_rule(rule, f"rules[{i}]", i, errors, scope_out["ecosystems"])
                    for i, rule in enumerate(rules)]
    return out, errors.items


def _validate_rule(rule: Any, path: str, index: int, errors: Errors, scope_ecosystems: list[str]) -> dict[str, Any]:
    if not isinstance(rule, dict):
        errors.add(path, "A rule must be an object with action, match and conditions.")
        return {}
    for key in sorted(set(rule) - RULE_KEYS):
        errors.add(f"{path}.{key}", f"Unknown field; rules have {', '.join(sorted(RULE_KEYS))}.")
    out: dict[str, Any] = {}
    name = rule.get("name") or f"Rule {index + 1}"
    if not isinstance(name, str) or len(name) > 100:
        errors.add(f"{path}.name", "Use a text of at most 100 characters.")
        name = f"Rule {index + 1}"
    out["name"] = name.strip() or f"Rule {index + 1}"
    description = rule.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        errors.add(f"{path}.description", "Use a text of at most 500 characters.")
    elif description.strip():
        out["description"] = description.strip()
    action = rule.get("action")
    if action not in ACTIONS:
        errors.add(f"{path}.action", f"'{action}' is not an action; choose block, warn or allow.")
    out["action"] = action
    match = rule.get("match", "all")
    if match not in MATCHES:
        errors.add(f"{path}.match", f"'{match}' is not a combination; choose all or any.")
    out["match"] = match
    enabled = rule.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.add(f"{path}.enabled", "Use true or false.")
    out["enabled"] = enabled is not False
    conditions = rule.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        errors.add(f"{path}.conditions", "Give at least one condition.")
        out["conditions"] = []
        return out
    if len(conditions) > MAX_CONDITIONS:
        errors.add(f"{path}.conditions", f"A rule holds at most {MAX_CONDITIONS} conditions.")
        out["conditions"] = []
        return out
    ecosystem = _rule_ecosystem([c for c in conditions if isinstance(c, dict)], scope_ecosystems)
    checked: list[dict[str, Any] | None] = []
    for j, cond in enumerate(conditions):
        checked.append(_validate_condition(cond, f"{path}.conditions[{j}]", errors, ecosystem))
    out["conditions"] = [c for c in checked if c is not None]
    if match == "all" and None not in checked:
        _contradictions(out["conditions"], path, errors)
    return out


def _validate_condition(cond: Any, path: str, errors: Errors, ecosystem: str | None) -> dict[str, Any] | None:
    if not isinstance(cond, dict):
        errors.add(path, "A condition must be an object with subject, operator and value.")
        return None
    for key in sorted(set(cond) - CONDITION_KEYS):
        errors.add(f"{path}.{key}", "Unknown field; conditions have subject, operator and value.")
    subject_name = cond.get("subject")
    subject = SUBJECTS.get(subject_name) if isinstance(subject_name, str) else None
    if subject is None:
        errors.add(f"{path}.subject", f"'{subject_name}' is not a subject; choose from {', '.join(SUBJECTS)}.")
        return None
    op_name = cond.get("operator")
    operator = subject.operator(op_name) if isinstance(op_name, str) else None
    if operator is None:
        errors.add(f"{path}.operator", f"'{op_name}' is not an operator of {subject.name}; choose from "
                                       f"{', '.join(o.name for o in subject.operators)}.")
        return None
    if "value" not in cond:
        if operator.value == "true":
            value: Any = True
        else:
            errors.add(f"{path}.value", "Give a value.")
            return None
    else:
        value = _check_value(operator.value, cond["value"], f"{path}.value", errors, ecosystem)
        if value is None:
            return None
    return {"subject": subject.name, "operator": operator.name, "value": value}


def _contradictions(conditions: list[dict[str, Any]], path: str, errors: Errors) -> None:
    """Within an `all` rule: conditions no finding or scan can satisfy together."""
    def as_set(cond: dict[str, Any]) -> set[str]:
        value = cond["value"]
        return set(value) if isinstance(value, list) else {value}

    def add(j: int, message: str) -> None:
        errors.add(f"{path}.conditions[{j}].value", message)

    positive: dict[str, tuple[int, set[str]]] = {}
    negative: dict[str, tuple[int, set[str]]] = {}
    bounds: dict[str, dict[str, tuple[int, float]]] = {}
    licence_lists: dict[str, tuple[int, set[str]]] = {}
    for j, cond in enumerate(conditions):
        subject, op = cond["subject"], cond["operator"]
        if subject in ("category", "ecosystem", "check_id", "vulnerability", "package", "severity") and \
                op in ("eq", "in"):
            values = as_set(cond)
            if subject == "package":
                values = {v.lower() for v in values}
            if subject in positive:
                first, allowed = positive[subject]
                both = allowed & values
                if not both:
                    add(j, f"Contradicts conditions[{first}]: no {subject} can be both.")
                    continue
                positive[subject] = (first, both)
            else:
                positive[subject] = (j, values)
        if subject in ("category", "ecosystem", "check_id") and op == "not_in":
            first, previous = negative.get(subject, (j, set()))
            negative[subject] = (first, previous | as_set(cond))
        if subject == "typosquat":
            first, allowed = positive.get("category", (j, set(CATEGORIES)))
            if "typosquatting" not in allowed:
                add(j, f"Contradicts conditions[{first}]: typosquat findings have category typosquatting.")
            positive["category"] = (first, allowed & {"typosquatting"})
        if subject in ("cvss", "score", "severity") and op in ("gte", "lt"):
            value = float(SEVERITY_RANKS[cond["value"]]) if subject == "severity" else float(cond["value"])
            entry = bounds.setdefault(subject, {})
            if op == "gte":
                entry["low"] = (j, max(value, entry.get("low", (j, value))[1]))
            else:
                entry["high"] = (j, min(value, entry.get("high", (j, value))[1]))
            if "low" in entry and "high" in entry and entry["low"][1] >= entry["high"][1]:
                add(j, f"Contradicts another {subject} condition: nothing is at least {entry['low'][1]:g} and "
                       f"below {entry['high'][1]:g}.")
        if subject == "score" and op == "lt" and cond["value"] == 0:
            add(j, "No score is below 0.")
        if subject == "license" and op in ("not_allowed", "denied"):
            other = "denied" if op == "not_allowed" else "not_allowed"
            if other in licence_lists:
                first, listed = licence_lists[other]
                both = listed & set(cond["value"])
                if both:
                    add(j, f"Contradicts conditions[{first}]: {', '.join(sorted(both))} is both allowed and "
                           "denied.")
            licence_lists[op] = (j, set(cond["value"]))
    for subject, (j, excluded) in negative.items():
        if subject in positive:
            first, allowed = positive[subject]
            if allowed <= excluded:
                add(j, f"Contradicts conditions[{first}]: every {subject} it allows is excluded here.")
    if "severity" in positive and "low" in bounds.get("severity", {}):
        first, allowed = positive["severity"]
        j, low = bounds["severity"]["low"]
        if all(SEVERITY_RANKS[s] < low for s in allowed):
            add(j, f"Contradicts conditions[{first}]: none of those severities is that high.")


# --- Compilation ---------------------------------------------------------------------------

FindingPredicate = Callable[[FindingFacts], bool]
ScanPredicate = Callable[[ScanFacts], bool]


@dataclass
class CompiledCondition:
    index: int
    subject: str
    operator: str
    value: Any
    level: str
    finding: FindingPredicate | None = None
    scan: ScanPredicate | None = None
    # For finding conditions: the findings that can possibly match, from the scan's indexes;
    # `exact` when they are precisely the findings that satisfy the condition.
    candidates: Callable[[ScanFacts], list[int]] | None = None
    exact: bool = False
    # License conditions: (matched?, indexes of the license findings that matched).
    license: Callable[[ScanFacts, bytearray], tuple[bool, list[int], str]] | None = None

    def describe(self) -> str:
        value = self.value
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        label = SUBJECTS[self.subject].operator(self.operator)
        return f"{SUBJECTS[self.subject].label.lower()} {label.label if label else self.operator} {value}"


@dataclass
class CompiledRule:
    index: int
    name: str
    action: str
    match: str
    enabled: bool
    conditions: list[CompiledCondition]
    finding_conditions: list[CompiledCondition]
    scan_conditions: list[CompiledCondition]
    license_conditions: list[CompiledCondition]
    count_min: int | None

    @property
    def has_finding_conditions(self) -> bool:
        return bool(self.finding_conditions)


@dataclass
class CompiledPolicy:
    name: str
    mode: str
    enabled: bool
    priority: int
    ecosystems: frozenset[str]
    packages: list[NamePattern]
    rules: list[CompiledRule]
    policy_id: str | None = None
    revision_id: str | None = None
    revision_number: int | None = None

    def applies_to(self, scan: ScanFacts) -> bool:
        if self.ecosystems and scan.ecosystem not in self.ecosystems:
            return False
        if self.packages and not any(p.matches(scan.ecosystem, scan.name) for p in self.packages):
            return False
        return True


def _concat(lists: Iterable[list[int] | None]) -> list[int]:
    """Indexes from disjoint index lists (a finding has one category, one severity, one check id)."""
    present = [items for items in lists if items]
    if len(present) == 1:
        return present[0]
    out: list[int] = []
    for items in present:
        out.extend(items)
    return out


def _union(lists: Iterable[list[int] | None]) -> list[int]:
    """Indexes from lists that may overlap (a finding has several vulnerability ids)."""
    present = [items for items in lists if items]
    if len(present) == 1:
        return present[0]
    seen: set[int] = set()
    for items in present:
        seen.update(items)
    return sorted(seen)


def _compile_condition(index: int, cond: dict[str, Any]) -> CompiledCondition:
    subject, op, value = cond["subject"], cond["operator"], cond["value"]
    level = SUBJECTS[subject].level
    c = CompiledCondition(index=index, subject=subject, operator=op, value=value, level=level)
    if subject == "severity":
        if op == "gte":
            rank = SEVERITY_RANKS[value]
            c.finding = lambda f: f.severity_rank >= rank
            c.candidates = lambda s: _concat(s.by_severity().get(r) for r in range(rank, 5))
        else:
            wanted = frozenset(value if isinstance(value, list) else [value])
            c.finding = lambda f: f.severity in wanted
            c.candidates = lambda s: _concat(s.by_severity().get(SEVERITY_RANKS[w]) for w in wanted)
    elif subject == "cvss":
        threshold = float(value)
        if op == "gte":
            c.finding = lambda f: f.cvss is not None and f.cvss >= threshold
            c.candidates = lambda s: s.by_cvss()[1][bisect.bisect_left(s.by_cvss()[0], threshold):]
        else:
            c.finding = lambda f: f.cvss is not None and f.cvss < threshold
            c.candidates = lambda s: s.by_cvss()[1][:bisect.bisect_left(s.by_cvss()[0], threshold)]
    elif subject == "category":
        cats = frozenset(value if isinstance(value, list) else [value])
        if op == "not_in":
            c.finding = lambda f: f.category not in cats
            c.candidates = lambda s: _concat(v for k, v in s.by_category().items() if k not in cats)
        else:
            c.finding = lambda f: f.category in cats
            c.candidates = lambda s: _concat(s.by_category().get(cat) for cat in cats)
    elif subject == "check_id":
        if op == "glob":
            regex = _glob_regex(value)
            c.finding = lambda f: bool(regex.match(f.check_id.lower()))
            c.candidates = lambda s: s.checks_matching(regex)
        else:
            ids = frozenset(v.upper() for v in (value if isinstance(value, list) else [value]))
            if op == "not_in":
                c.finding = lambda f: f.check_id.upper() not in ids
                c.candidates = lambda s: _concat(v for k, v in s.by_check().items() if k not in ids)
            else:
                c.finding = lambda f: f.check_id.upper() in ids
                c.candidates = lambda s: _concat(s.by_check().get(i) for i in ids)
    elif subject == "vulnerability":
        vids = frozenset(v.upper() for v in (value if isinstance(value, list) else [value]))
        c.finding = lambda f: not vids.isdisjoint(f.vuln_ids)
        c.candidates = lambda s: _union(s.by_vuln().get(v) for v in vids)
    elif subject == "typosquat":
        c.finding = lambda f: f.category == "typosquatting"
        c.candidates = lambda s: s.by_category().get("typosquatting") or []
    elif subject == "package":
        c.scan = _package_predicate(op, value)
    elif subject == "ecosystem":
        ecos = frozenset(value if isinstance(value, list) else [value])
        if op == "not_in":
            c.scan = lambda s: s.ecosystem not in ecos
        else:
            c.scan = lambda s: s.ecosystem in ecos
    elif subject == "version":
        parsed, problem = parse_range(value)
        if parsed is None:
            raise PolicyInvalid({"version": [problem]})
        if op == "in_range":
            c.scan = lambda s: parsed.contains(s.ecosystem, s.version) is True
        else:
            c.scan = lambda s: parsed.contains(s.ecosystem, s.version) is False
    elif subject == "score":
        limit = int(value)
        if op == "lt":
            c.scan = lambda s: s.score is not None and s.score < limit
        else:
            c.scan = lambda s: s.score is not None and s.score >= limit
    elif subject == "license":
        c.license = _license_predicate(op, value)
    elif subject == "finding_count":
        pass  # handled by the rule (count_min)
    else:  # pragma: no cover - validation refuses unknown subjects
        raise AssertionError(subject)
    # Every finding condition's candidates are exactly the findings that satisfy it.
    c.exact = c.candidates is not None
    return c


def _package_predicate(op: str, value: Any) -> ScanPredicate:
    if op in ("eq", "in"):
        names = [v for v in (value if isinstance(value, list) else [value])]
        cache: dict[str, frozenset[str]] = {}

        def in_names(s: ScanFacts) -> bool:
            wanted = cache.get(s.ecosystem)
            if wanted is None:
                wanted = cache[s.ecosystem] = frozenset(_normal_name(s.ecosystem, n) for n in names)
            return _normal_name(s.ecosystem, s.name) in wanted
        return in_names
    if op in ("glob", "not_glob"):
        pattern = NamePattern(text=value, regex=_glob_regex(value), is_regex=False)
    else:
        pattern = NamePattern(text=value, regex=re.compile(value), is_regex=True)
    if op.startswith("not_"):
        return lambda s: bool(s.name) and not pattern.matches(s.ecosystem, s.name)
    return lambda s: pattern.matches(s.ecosystem, s.name)


def _license_predicate(op: str, value: Any) -> Callable[[ScanFacts, bytearray], tuple[bool, list[int], str]]:
    names = frozenset(value) if isinstance(value, list) else frozenset()

    def test(info: licenses.LicenseInfo) -> bool:
        if op == "unknown":
            return not info.known
        if op == "not_allowed":
            return licenses.violates_allow_list(info, names)
        return licenses.hits_deny_list(info, names)

    def evaluate(scan: ScanFacts, alive: bytearray) -> tuple[bool, list[int], str]:
        matched: list[int] = []
        details: list[str] = []
        info = licenses.analyse(scan.license)
        # With license findings, the package's own declaration is one expression among them;
        # "unknown" on the package alone still counts when the analyzers reported nothing.
        if test(info):
            details.append(f"package license '{scan.license or 'none'}'"
                           + (f" ({info.problem})" if info.problem else ""))
        verdicts: dict[str, bool] = {}  # license findings repeat a few expressions
        for i in scan.by_category().get("license", ()):
            expression = scan.findings[i].license
            if not alive[i] or not expression:
                continue
            hit = verdicts.get(expression)
            if hit is None:
                hit = verdicts[expression] = test(licenses.analyse(expression))
            if hit:
                matched.append(i)
        return bool(details or matched), matched, "; ".join(details)
    return evaluate


def compile_policy(document: dict[str, Any], *, policy_id: str | None = None, revision_id: str | None = None,
                   revision_number: int | None = None, validated: bool = False) -> CompiledPolicy:
    """Compile a policy document (validated first unless the caller already did). Raises PolicyInvalid."""
    if not validated:
        document, errors = validate(document)
        if errors:
            raise PolicyInvalid(errors)
    scope = document.get("scope") or {}
    packages = []
    for text in scope.get("packages", []):
        pattern, problem = compile_pattern(text)
        if pattern is None:
            raise PolicyInvalid({"scope.packages": [problem]})
        packages.append(pattern)
    rules = []
    for i, rule in enumerate(document.get("rules", [])):
        conditions = [_compile_condition(j, c) for j, c in enumerate(rule.get("conditions", []))]
        counts = [int(c.value) for c in conditions if c.subject == "finding_count"]
        rules.append(CompiledRule(
            index=i, name=rule.get("name") or f"Rule {i + 1}", action=rule["action"], match=rule.get("match", "all"),
            enabled=rule.get("enabled", True) is not False, conditions=conditions,
            finding_conditions=[c for c in conditions if c.finding is not None],
            scan_conditions=[c for c in conditions if c.scan is not None],
            license_conditions=[c for c in conditions if c.license is not None],
            count_min=max(counts) if counts else None,
        ))
    return CompiledPolicy(
        name=document.get("name", ""), mode=document.get("mode", "enforce"), enabled=document.get("enabled", True),
        priority=int(document.get("priority", 100)), ecosystems=frozenset(scope.get("ecosystems", [])),
        packages=packages, rules=rules, policy_id=policy_id, revision_id=revision_id,
        revision_number=revision_number,
    )


# --- Evaluation ------------------------------------------------------------------------------

@dataclass
class Reason:
    rule: int
    name: str
    action: str
    finding_ids: list[str]
    detail: str = ""
    # An allow rule that exempted the whole scan from the rules after it.
    exempts_scan: bool = False

    def as_dict(self, max_ids: int | None = None) -> dict[str, Any]:
        """`finding_ids` may be cut to `max_ids`; `count` always says how many findings matched."""
        ids = self.finding_ids if max_ids is None else self.finding_ids[:max_ids]
        out: dict[str, Any] = {"rule": self.rule, "name": self.name, "action": self.action,
                               "count": len(self.finding_ids), "finding_ids": ids, "detail": self.detail}
        if self.exempts_scan:
            out["exempts_scan"] = True
        return out


@dataclass
class Waived:
    finding_id: str
    waiver_id: str
    check_id: str
    rules: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"finding_id": self.finding_id, "waiver_id": self.waiver_id, "check_id": self.check_id,
                "rules": self.rules}


@dataclass
class Result:
    verdict: str
    mode: str
    reasons: list[Reason]
    waived: list[Waived]
    policy_id: str | None = None
    revision_id: str | None = None
    revision_number: int | None = None
    policy_name: str = ""

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"


def _finding_match(rule: CompiledRule, finding: FindingFacts) -> bool:
    if rule.match == "all":
        return all(c.finding(finding) for c in rule.finding_conditions)  # type: ignore[misc]
    return any(c.finding(finding) for c in rule.finding_conditions)  # type: ignore[misc]


def _candidates(condition: CompiledCondition, scan: ScanFacts, n: int) -> Iterable[int]:
    if condition.candidates is not None:
        return condition.candidates(scan)
    return range(n)


def _evaluate_rule(rule: CompiledRule, scan: ScanFacts, alive: bytearray,
                   alive_count: int) -> tuple[bool, list[int], str, bool]:
    """(matched, finding indexes, detail, matched on scan subjects alone)."""
    findings = scan.findings
    n = len(findings)
    everyone = alive_count == n
    details: list[str] = []
    if rule.match == "all":
        for c in rule.scan_conditions:
            if not c.scan(scan):  # type: ignore[misc]
                return False, [], "", False
            details.append(c.describe())
        license_hits: list[int] = []
        for c in rule.license_conditions:
            ok, hits, detail = c.license(scan, alive)  # type: ignore[misc]
            if not ok:
                return False, [], "", False
            license_hits.extend(hits)
            details.append(detail or c.describe())
        matched: list[int] = []
        if rule.finding_conditions:
            # Start from the narrowest index; its own condition then needs no re-testing.
            best: Iterable[int] | None = None
            best_condition: CompiledCondition | None = None
            for c in rule.finding_conditions:
                found = _candidates(c, scan, n)
                if c.exact and not found:
                    return False, [], "", False
                if best is None or len(found) < len(best):  # type: ignore[arg-type]
                    best, best_condition = found, c
            preds = [c.finding for c in rule.finding_conditions if not (c is best_condition and c.exact)]
            pool = best if best is not None else range(n)
            if not preds:
                matched = list(pool) if everyone else [i for i in pool if alive[i]]
            elif len(preds) == 1:
                p0 = preds[0]
                matched = [i for i in pool if alive[i] and p0(findings[i])]  # type: ignore[misc]
            else:
                matched = [i for i in pool if alive[i] and all(p(findings[i]) for p in preds)]  # type: ignore[misc]
            if not matched:
                return False, [], "", False
        if rule.count_min is not None:
            counted = len(matched) if rule.finding_conditions else alive_count
            if counted < rule.count_min:
                return False, [], "", False
            details.append(f"{counted} findings (at least {rule.count_min})")
            if not rule.finding_conditions:
                matched = list(range(n)) if everyone else [i for i in range(n) if alive[i]]
        scan_only = not rule.finding_conditions
        if license_hits:
            return True, sorted(set(matched) | set(license_hits)), "; ".join(details), scan_only
        matched.sort()
        return True, matched, "; ".join(details), scan_only
    # match == "any"
    hit_scan = False
    matched_set: set[int] = set()
    for c in rule.scan_conditions:
        if c.scan(scan):  # type: ignore[misc]
            hit_scan = True
            details.append(c.describe())
    for c in rule.license_conditions:
        ok, hits, detail = c.license(scan, alive)  # type: ignore[misc]
        if ok:
            if detail:
                hit_scan = True
            details.append(detail or c.describe())
            matched_set.update(hits)
    for c in rule.finding_conditions:
        if c.exact:
            found = [i for i in _candidates(c, scan, n) if alive[i]]
        else:
            pred = c.finding
            found = [i for i in _candidates(c, scan, n) if alive[i] and pred(findings[i])]  # type: ignore[misc]
        if found:
            matched_set.update(found)
    if rule.count_min is not None and alive_count >= rule.count_min:
        hit_scan = True
        details.append(f"{alive_count} findings (at least {rule.count_min})")
    if not hit_scan and not matched_set:
        return False, [], "", False
    return True, sorted(matched_set), "; ".join(details), hit_scan


def evaluate(policy: CompiledPolicy, scan: ScanFacts, *, waived: dict[int, str] | None = None) -> Result:
    """Run the policy's rules over one scan. `waived` comes from `waived_findings()` (once per scan)."""
    waived = waived or {}
    findings = scan.findings
    alive = bytearray(b"\x01") * len(findings)
    for i in waived:
        alive[i] = 0
    alive_count = len(findings) - len(waived)
    reasons: list[Reason] = []
    verdict = "pass"
    for rule in policy.rules:
        if not rule.enabled:
            continue
        ok, indexes, detail, scan_level = _evaluate_rule(rule, scan, alive, alive_count)
        if not ok:
            continue
        ids = [findings[i].id for i in indexes]
        if rule.action == "allow":
            exempts_scan = scan_level
            reasons.append(Reason(rule.index, rule.name, "allow", ids, detail, exempts_scan=exempts_scan))
            if exempts_scan:
                break
            for i in indexes:
                if alive[i]:
                    alive[i] = 0
                    alive_count -= 1
            continue
        reasons.append(Reason(rule.index, rule.name, rule.action, ids, detail))
        if VERDICT_RANK[rule.action] > VERDICT_RANK[verdict]:
            verdict = rule.action
    waived_out: list[Waived] = []
    if waived:
        finding_rules = [r for r in policy.rules if r.enabled and r.finding_conditions and r.action != "allow"]
        for i, waiver_id in sorted(waived.items()):
            finding = findings[i]
            would = [r.index for r in finding_rules if _finding_match(r, finding)]
            waived_out.append(Waived(finding.id, waiver_id, finding.check_id, would))
    return Result(verdict=verdict, mode=policy.mode, reasons=reasons, waived=waived_out, policy_id=policy.policy_id,
                  revision_id=policy.revision_id, revision_number=policy.revision_number, policy_name=policy.name)


def combine(results: Iterable[Result]) -> str:
    """The scan's verdict: the strictest verdict of the enforce-mode results (`pass` when none)."""
    verdict = "pass"
    for result in results:
        if result.enforced and VERDICT_RANK[result.verdict] > VERDICT_RANK[verdict]:
            verdict = result.verdict
    return verdict


def evaluate_all(policies: Sequence[CompiledPolicy], scan: ScanFacts, waivers: Sequence[WaiverFacts],
                 now: datetime) -> tuple[str, list[Result]]:
    """Every enabled policy whose scope covers the scan, in priority order; (combined verdict, results)."""
    waived = waived_findings(scan, waivers, now)
    results = [evaluate(p, scan, waived=waived) for p in policies if p.enabled and p.applies_to(scan)]
    return combine(results), results


# --- Documents: defaults and diffs -----------------------------------------------------------

def default_policy_document() -> dict[str, Any]:
    """The policy every organization starts with (seeded at provisioning)."""
    return {
        "name": "Default policy",
        "description": "Blocks critical vulnerabilities, malicious code, dangerous install hooks and typosquats; "
                       "warns on high vulnerabilities, secrets and unknown licenses.",
        "enabled": True,
        "mode": "enforce",
        "priority": 100,
        "scope": {"ecosystems": [], "packages": []},
        "rules": [
            {"name": "Critical vulnerabilities", "action": "block", "match": "all", "conditions": [
                {"subject": "category", "operator": "eq", "value": "vulnerability"},
                {"subject": "severity", "operator": "gte", "value": "critical"}]},
            {"name": "Malicious code", "action": "block", "match": "all", "conditions": [
                {"subject": "category", "operator": "eq", "value": "malicious_code"},
                {"subject": "severity", "operator": "gte", "value": "high"}]},
            {"name": "Dangerous install hooks", "action": "block", "match": "all", "conditions": [
                {"subject": "category", "operator": "eq", "value": "install_hooks"},
                {"subject": "severity", "operator": "gte", "value": "high"}]},
            {"name": "Typosquats", "action": "block", "match": "all", "conditions": [
                {"subject": "typosquat", "operator": "is", "value": True}]},
            {"name": "High vulnerabilities", "action": "warn", "match": "all", "conditions": [
                {"subject": "category", "operator": "eq", "value": "vulnerability"},
                {"subject": "severity", "operator": "gte", "value": "high"}]},
            {"name": "Secrets", "action": "warn", "match": "all", "conditions": [
                {"subject": "category", "operator": "eq", "value": "secrets"}]},
            {"name": "Unknown licenses", "action": "warn", "match": "all", "conditions": [
                {"subject": "license", "operator": "unknown", "value": True}]},
        ],
    }


def diff_documents(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Changed top-level fields, and a unified diff of the rules as indented JSON."""
    fields: dict[str, dict[str, Any]] = {}
    for key in ("name", "description", "enabled", "mode", "priority", "scope", "deleted"):
        if before.get(key) != after.get(key):
            fields[key] = {"before": before.get(key), "after": after.get(key)}
    a = json.dumps(before.get("rules", []), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(after.get("rules", []), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    lines = list(difflib.unified_diff(a, b, fromfile="before", tofile="after", lineterm="", n=3))
    return {"fields": fields, "rules_changed": a != b, "rules_diff": lines}
