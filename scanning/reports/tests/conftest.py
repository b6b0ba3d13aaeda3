"""Fixtures of the reports tests.

`world` builds, once per test module, a scan of acme with findings in every category,
its policy evaluation (the real policies app, with a waiver), and generates its reports
in every format through the real services — then rolls all of it back, keeping the
files' bytes. Tests that need rows of their own build them inside their own transaction
(`scan_with_findings`), as usual.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.context import Actor
from scanning.reports.models import SECTION_ORDER
from scanning.reports.tests.factories import ReportTemplateFactory, scan_with_findings

# Sections left out of the "partial" template, and the heading each prints.
HEADINGS = {
    "executive_summary": "Executive summary", "scores": "Scores by category", "policy": "Policy verdict and waivers",
    "vulnerabilities": "Known vulnerabilities", "malicious": "Malicious code and install hooks",
    "secrets": "Exposed secrets", "licenses": "Licenses", "other": "Typosquatting, metadata and integrity",
    "remediation": "Remediation plan", "appendix": "Appendix: checks",
}
PARTIAL_SECTIONS = ["executive_summary", "scores", "policy", "vulnerabilities", "malicious", "remediation"]


@dataclass
class World:
    tenant_name: str
    scan_id: str
    package: str
    version: str
    finding_count: int
    problem_count: int
    files: dict[str, bytes] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate_with_waiver(tenant: Any, scan: Any, approver: Any) -> None:
    """The real policies app: a waiver on the cloud credential, then the default policy evaluated."""
    from policies import services as policy_services

    finding = scan.findings.get(check_id="SEC-CLOUD-001")
    waiver = policy_services.waiver_request(tenant=tenant, actor=Actor.system("tests"), finding_id=finding.pk,
                                            reason="A test credential, revoked already.",
                                            expires_at=timezone.now() + timedelta(days=30))
    policy_services.waiver_approve(tenant=tenant, actor=Actor.for_user(approver), waiver=waiver)
    policy_services.scans_reevaluate(tenant=tenant, actor=Actor.system("tests"), scan_ids=[scan.pk],
                                     trigger="manual")
    scan.refresh_from_db()


def generate(tenant: Any, actor: Actor, *, fmt: str, template: Any = None, **request: Any) -> tuple[Any, bytes]:
    """Request a report and generate it in-process (what the Celery task does); returns the report and its bytes."""
    from scanning.reports import services
    from scanning.reports.models import Report

    report = services.report_request(tenant=tenant, actor=actor, fmt=fmt,
                                     template_id=template.pk if template is not None else None,
                                     enqueue_task=False, **{"scope": Report.Scope.SCAN, **request})
    status = services.report_generate(report_id=str(report.pk))
    report.refresh_from_db()
    assert status == "completed", (report.error_code, report.error_message)
    return report, services.report_file(report).read_bytes()


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    from accounts.tests.factories import make_member
    from scanning.models import Finding
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(schema_name="acme")
        try:
            with schema_context(tenant.schema_name), transaction.atomic():
                owner = make_member(tenant, "owner")
                engineer = make_member(tenant, "security_engineer")
                scan = scan_with_findings(submitted_by=owner)
                evaluate_with_waiver(tenant, scan, engineer)
                actor = Actor.for_user(owner)
                full = ReportTemplateFactory(name="Everything", sections=list(SECTION_ORDER),
                                             footer_text="Prepared for the audit committee",
                                             custom_css="h2 { letter-spacing: .02em; }\n"
                                                        "@page { @top-right { content: 'Internal use'; } }")
                partial = ReportTemplateFactory(name="Short", sections=PARTIAL_SECTIONS)
                rows = Finding.objects.filter(scan=scan)
                result = World(tenant_name=tenant.name, scan_id=str(scan.pk), package=scan.name,
                               version=scan.version, finding_count=rows.count(),
                               problem_count=rows.filter(status__in=["failed", "warning"]).count(),
                               extra={"verdict": scan.verdict})
                for fmt in ("pdf", "html", "json", "sarif", "csv"):
                    _, data = generate(tenant, actor, fmt=fmt, template=full, scan_id=scan.pk)
                    result.files[fmt] = data
                _, result.files["pdf-partial"] = generate(tenant, actor, fmt="pdf", template=partial,
                                                          scan_id=scan.pk)
                transaction.set_rollback(True)
        finally:
            connection.set_schema_to_public()
    yield result


def pdftotext(data: bytes, directory: Path) -> str:
    path = directory / "report.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          timeout=60).stdout.decode("utf-8")


def pdf_pages(data: bytes, directory: Path) -> list[Path]:
    """The PDF rendered to PNG pages by poppler's pdftoppm."""
    path = directory / "report.pdf"
    path.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(directory / "page")], check=True,
                   capture_output=True, timeout=120)
    return sorted(directory.glob("page-*.png"))


@pytest.fixture(scope="session")
def poppler() -> None:
    missing = [tool for tool in ("pdftoppm", "pdftotext") if shutil.which(tool) is None]
    assert not missing, f"poppler-utils is needed ({', '.join(missing)} missing): scripts/bootstrap.sh installs it"


@pytest.fixture
def client_for(tenant_a: Any) -> Callable[..., Any]:
    """`client_for(role, tenant=tenant_a)` -> (user, a dashboard session client on that tenant's host)."""
    from accounts.tests.factories import make_member, session_client

    def build(role: str, *, tenant: Any = None) -> tuple[Any, Any]:
        tenant = tenant or tenant_a
        user = make_member(tenant, role)
        return user, session_client(tenant, user, mfa_ok=True)

    return build
