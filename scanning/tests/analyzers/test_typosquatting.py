"""Typosquatting: imitations of popular names are flagged; the popular names and real extensions are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.analyzers.base import Dependency, PackageMetadata
from scanning.analyzers.typosquatting import TyposquattingAnalyzer, edit_distance, find_imitation, popular, skeleton
from scanning.tests.analyzers.helpers import make_context

ANALYZER = TyposquattingAnalyzer()


@pytest.mark.parametrize(("ecosystem", "name", "check_id", "target"), [
    ("pypi", "reqeusts", "TYPO-NAME-001", "requests"),
    ("pypi", "requets", "TYPO-NAME-001", "requests"),
    ("pypi", "djnago", "TYPO-NAME-001", "django"),
    ("npm", "lodahs", "TYPO-NAME-001", "lodash"),
    ("npm", "expresss", "TYPO-NAME-001", "express"),
    ("pypi", "pythondateutil", "TYPO-NAME-002", "python-dateutil"),
    ("pypi", "reque5ts", "TYPO-NAME-002", "requests"),
    ("pypi", "rnatplotlib", "TYPO-NAME-002", "matplotlib"),
    ("pypi", "fl\u0430sk", "TYPO-NAME-002", "flask"),
    ("npm", "crossenv", "TYPO-NAME-002", "cross-env"),
    ("pypi", "requests-python", "TYPO-NAME-003", "requests"),
    ("pypi", "python-requests", "TYPO-NAME-003", "requests"),
    ("npm", "lodash-official", "TYPO-NAME-003", "lodash"),
    ("pypi", "colorama2", "TYPO-NAME-003", "colorama"),
    ("debian", "openss1", "TYPO-NAME-002", "openssl"),
])
def test_imitations_are_flagged(ecosystem: str, name: str, check_id: str, target: str) -> None:
    assert find_imitation(ecosystem, name)[:2] == (check_id, target)


@pytest.mark.parametrize(("ecosystem", "name"), [
    ("pypi", "requests"), ("pypi", "Requests"), ("pypi", "python_dateutil"), ("pypi", "requests-toolbelt"),
    ("pypi", "django-filter"), ("pypi", "boto"), ("pypi", "flask-cors"), ("pypi", "gatehouse-internal-tools"),
    ("npm", "lodash"), ("npm", "node-fetch"), ("npm", "@babel/core"), ("npm", "my-company-widgets"),
    ("rpm", "NetworkManager"), ("alpine", "busybox"),
])
def test_popular_and_distinct_names_are_not_flagged(ecosystem: str, name: str) -> None:
    assert find_imitation(ecosystem, name) is None


def test_lists_are_shipped_and_bounded() -> None:
    for ecosystem in ("pypi", "npm", "debian", "rpm", "alpine"):
        names = popular(ecosystem)
        assert 50 <= len(names) <= 5000, ecosystem
    assert "requests" in popular("pypi") and "lodash" in popular("npm")


def test_edit_distance_and_skeleton() -> None:
    assert edit_distance("reqeusts", "requests") == 1  # a swap of neighbours is one edit
    assert edit_distance("abc", "abcdef", limit=2) == 3
    assert skeleton("Py_Yaml") == skeleton("pyyaml")
    assert skeleton("rn") == "m"


def test_analyzer_flags_the_package_and_its_dependencies(tmp_path: Path) -> None:
    metadata = PackageMetadata(ecosystem="pypi", name="reqeusts", version="1.0", source_file="x/METADATA",
                               dependencies=[Dependency("urlib3", ">=1.0", None, "Requires-Dist"),
                                             Dependency("certifi", ">=2020", None, "Requires-Dist")])
    findings = ANALYZER.analyze(make_context(tmp_path, {"x/__init__.py": ""}, metadata=metadata))
    assert {(f.check_id, f.evidence.get("imitates")) for f in findings} == {
        ("TYPO-NAME-001", "requests"), ("TYPO-DEP-001", "urllib3")}


def test_analyzer_is_quiet_for_the_real_package(tmp_path: Path) -> None:
    metadata = PackageMetadata(ecosystem="pypi", name="requests", version="2.32.0",
                               dependencies=[Dependency("urllib3", ">=1.21.1", None, "Requires-Dist")])
    assert ANALYZER.analyze(make_context(tmp_path, {"requests/__init__.py": ""}, metadata=metadata)) == []
