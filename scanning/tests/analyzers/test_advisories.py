"""The shared advisory database: OSV import (file, directory, zip, URL), re-import, lookup, enricher, admin."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.test import RequestFactory
from django_tenants.utils import schema_context

from audit.context import Actor
from config.errors import ValidationFailed
from config.schedules import declared
from scanning.advisories.enricher import enrich_with_advisories
from scanning.advisories.models import Advisory, AffectedPackage
from scanning.advisories.selectors import advisory_candidates
from scanning.advisories.services import advisories_import, advisories_sync
from scanning.analyzers.base import PackageMetadata
from scanning.analyzers.vulnerabilities import VulnerabilityAnalyzer
from scanning.hooks import context_enrichers
from scanning.tests.analyzers.helpers import make_context

ACTOR = Actor.system("tests")


def osv(id: str, package: str = "requests", ecosystem: str = "PyPI", *, modified: str = "2024-01-01T00:00:00Z",
        fixed: str = "2.31.0", **extra: Any) -> dict[str, Any]:
    doc = {
        "schema_version": "1.6.0", "id": id, "modified": modified, "published": "2023-05-22T20:30:00Z",
        "aliases": [f"CVE-2023-{sum(map(ord, id)) % 100000:05d}"], "summary": f"{package} leaks headers",
        "details": "Long description.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
        "affected": [{"package": {"ecosystem": ecosystem, "name": package, "purl": f"pkg:pypi/{package}"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                      "versions": ["2.30.0"]}],
        "references": [{"type": "ADVISORY", "url": f"https://example.test/{id}"}],
    }
    doc.update(extra)
    return doc


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def public(db: None) -> Iterator[None]:
    with schema_context("public"):
        yield


def test_import_single_file_computes_cvss(public: None, tmp_path: Path) -> None:
    report = advisories_import(paths=[write(tmp_path / "GHSA-j8r2.json", osv("GHSA-j8r2"))], actor=ACTOR)
    assert (report.created, report.skipped) == (1, 0)
    advisory = Advisory.objects.get(osv_id="GHSA-j8r2")
    assert float(advisory.cvss_score) == 5.3 and advisory.severity == "medium"
    assert advisory.severity_source == "cvss_v3" and advisory.aliases[0].startswith("CVE-2023-")
    (affected,) = advisory.affected.all()
    assert (affected.ecosystem, affected.normalized_name, affected.fixed) == ("pypi", "requests", ["2.31.0"])
    assert affected.versions == ["2.30.0"] and advisory.references == ["https://example.test/GHSA-j8r2"]


def test_directory_zip_lists_and_malformed_entries(public: None, tmp_path: Path) -> None:
    folder = tmp_path / "osv"
    write(folder / "a" / "PYSEC-1.json", osv("PYSEC-1", "Django", fixed="4.2.1"))
    write(folder / "b" / "many.json", [osv("GHSA-list1", "lodash", "npm", fixed="4.17.21"),
                                       {"id": "BROKEN-1", "affected": []}])  # no `modified`
    (folder / "bad.json").write_text("{ not json")
    archive = folder / "Debian.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("DSA-5001-1.json", json.dumps(osv("DSA-5001-1", "openssl", "Debian:12", fixed="3.0.11-1~deb12u2",
                                                      severity=[], database_specific={"severity": "HIGH"})))
        zf.writestr("broken.json", json.dumps(osv("DSA-bad", affected=[{"package": {"ecosystem": "Debian"}}])))
        zf.writestr("README.txt", "ignored")
    report = advisories_import(paths=[folder], actor=ACTOR)
    assert report.created == 3 and report.skipped == 3
    assert any("BROKEN-1" in e and "modified" in e for e in report.errors)
    assert any(e.startswith("bad.json") and "JSON" in e for e in report.errors)
    assert any("DSA-bad" in e and "name is missing" in e for e in report.errors)
    dsa = Advisory.objects.get(osv_id="DSA-5001-1")
    assert (dsa.severity, dsa.severity_source, dsa.cvss_score) == ("high", "database", None)
    assert dsa.affected.get().ecosystem == "debian"
    assert AffectedPackage.objects.get(advisory__osv_id="PYSEC-1").normalized_name == "django"


def test_reimport_updates_only_newer_modified(public: None, tmp_path: Path) -> None:
    path = write(tmp_path / "x.json", osv("GHSA-re", fixed="2.31.0"))
    advisories_import(paths=[path], actor=ACTOR)
    again = advisories_import(paths=[path], actor=ACTOR)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    write(path, osv("GHSA-re", fixed="2.32.0", modified="2024-06-01T00:00:00.123456789Z", summary="updated"))
    newer = advisories_import(paths=[path], actor=ACTOR)
    assert (newer.created, newer.updated) == (0, 1)
    advisory = Advisory.objects.get(osv_id="GHSA-re")
    assert advisory.summary == "updated" and list(advisory.affected.values_list("fixed", flat=True)) == [["2.32.0"]]
    write(path, osv("GHSA-re", fixed="9.9.9", modified="2023-01-01T00:00:00Z"))
    older = advisories_import(paths=[path], actor=ACTOR)
    assert (older.updated, older.unchanged) == (0, 1)
    assert AffectedPackage.objects.filter(advisory=advisory).count() == 1


def test_management_command_reports(public: None, tmp_path: Path) -> None:
    write(tmp_path / "ok.json", osv("GHSA-cmd"))
    write(tmp_path / "bad.json", {"id": "X"})
    out, err = StringIO(), StringIO()
    call_command("advisories_import", str(tmp_path), stdout=out, stderr=err)
    assert "1 created, 0 updated, 0 unchanged, 1 skipped" in out.getvalue()
    assert "skipped bad.json" in err.getvalue() and "missing modified" in err.getvalue()


def test_import_refused_inside_an_organization(tenant_a: Any, tmp_path: Path) -> None:
    with schema_context(tenant_a.schema_name), pytest.raises(ValidationFailed):
        advisories_import(paths=[write(tmp_path / "a.json", osv("GHSA-t"))], actor=ACTOR)


def test_candidates_in_one_query_and_enricher_feeds_the_analyzer(public: None, tmp_path: Path,
                                                                 django_assert_num_queries: Any) -> None:
    advisories_import(paths=[write(tmp_path / "a.json", [
        osv("GHSA-self", "requests", fixed="2.31.0"), osv("GHSA-dep", "urllib3", fixed="1.26.5"),
        osv("GHSA-other", "flask"), osv("GHSA-npm", "requests", "npm"),
        osv("GHSA-gone", "requests", withdrawn="2024-02-01T00:00:00Z")])], actor=ACTOR)
    with django_assert_num_queries(1):
        found = advisory_candidates(ecosystem="pypi", names=["Requests", "urllib3", "idna"])
    assert {k: [r.id for r in v] for k, v in found.items()} == {"requests": ["GHSA-self"], "urllib3": ["GHSA-dep"]}
    metadata = PackageMetadata(ecosystem="pypi", name="requests", version="2.30.0",
                               dependencies=[__import__("scanning.analyzers.base", fromlist=["Dependency"]).Dependency(
                                   "urllib3", "==1.26.4", "1.26.4", "Requires-Dist")])
    ctx = make_context(tmp_path / "pkg", {"requests/__init__.py": ""}, metadata=metadata)
    with django_assert_num_queries(1):
        enrich_with_advisories(ctx)
    findings = VulnerabilityAnalyzer().analyze(ctx)
    assert {(f.check_id, f.evidence["advisory"]) for f in findings} == {("VULN-PKG-001", "GHSA-self"),
                                                                        ("VULN-DEP-001", "GHSA-dep")}
    assert "advisories" in dict(context_enrichers())


def test_enricher_works_from_inside_an_organization(tenant_a: Any, tmp_path: Path) -> None:
    with schema_context("public"):
        advisories_import(paths=[write(tmp_path / "a.json", osv("GHSA-tenant"))], actor=ACTOR)
    ctx = make_context(tmp_path / "pkg", {"requests/__init__.py": ""}, name="requests", version="2.0.0")
    with schema_context(tenant_a.schema_name):
        enrich_with_advisories(ctx)
    assert [r.id for r in ctx.advisories["requests"]] == ["GHSA-tenant"]


@pytest.fixture
def osv_server(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    with zipfile.ZipFile(folder / "all.zip", "w") as zf:
        zf.writestr("GHSA-url.json", json.dumps(osv("GHSA-url", "flask", fixed="2.3.2")))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sync_imports_paths_and_urls_and_reports_failures(public: None, tmp_path: Path, osv_server: str) -> None:
    local = write(tmp_path / "local.json", osv("GHSA-local"))
    report = advisories_sync(sources=[str(local), f"{osv_server}/all.zip", f"{osv_server}/missing.zip"], actor=ACTOR)
    assert report.created == 2 and report.skipped == 1
    assert set(Advisory.objects.values_list("osv_id", flat=True)) == {"GHSA-local", "GHSA-url"}
    assert "missing.zip: could not be fetched" in report.errors[0]


def test_beat_schedule_is_declared() -> None:
    (schedule,) = [s for s in declared() if s.task == "advisories.sync"]
    assert schedule.every_seconds and schedule.every_seconds > 0


def test_admin_search_by_alias_package_and_text(public: None, tmp_path: Path) -> None:
    advisories_import(paths=[write(tmp_path / "a.json", [osv("GHSA-admin1", "urllib3"), osv("GHSA-admin2", "flask")])],
                      actor=ACTOR)
    model_admin = site._registry[Advisory]
    request = RequestFactory().get("/admin/advisories/advisory/")
    alias = Advisory.objects.get(osv_id="GHSA-admin1").aliases[0]
    for term, expected in ((alias, {"GHSA-admin1"}), ("flask", {"GHSA-admin2"}), ("leaks headers", {"GHSA-admin1",
                                                                                                   "GHSA-admin2"})):
        qs, _ = model_admin.get_search_results(request, Advisory.objects.all(), term)
        assert set(qs.values_list("osv_id", flat=True)) == expected
    assert not model_admin.has_add_permission(request) and not model_admin.has_delete_permission(request)
