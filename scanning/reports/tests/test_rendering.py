"""Every format of a real scan's report: PDF (rendered to PNG by poppler), HTML, JSON, SARIF 2.1.0, CSV.

The scan has findings in every category, a policy verdict from the real policies app
and a waiver; its reports are generated once for the module by the real services
(conftest `world`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from html import unescape
from pathlib import Path

import jsonschema

from scanning.reports.tests.conftest import HEADINGS, PARTIAL_SECTIONS, World, pdf_pages, pdftotext

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text())


def test_the_pdf_renders_to_pages(world: World, poppler: None, tmp_path: Path):
    pages = pdf_pages(world.files["pdf"], tmp_path)
    assert world.files["pdf"].startswith(b"%PDF-")
    assert len(pages) >= 3
    for page in pages:
        assert page.read_bytes().startswith(b"\x89PNG") and page.stat().st_size > 1000


def test_the_pdf_text_names_the_organization_package_verdict_and_every_section(world: World, poppler: None,
                                                                               tmp_path: Path):
    text = pdftotext(world.files["pdf"], tmp_path)
    flat = " ".join(text.split())
    assert world.tenant_name in flat
    assert world.package in flat and world.version in flat
    assert world.extra["verdict"] == "block"
    assert "BLOCK" in flat
    for heading in HEADINGS.values():
        assert heading in flat, heading
    # Some of what the sections say: the advisory and its fix, the waived finding, the plan, the footer.
    assert "GHSA-7rjr-3q55-vv33" in flat and "CVE-2026-1111" in flat and "upgrade to 2.0.4" in flat
    assert "Default policy" in flat and "SEC-CLOUD-001" in flat
    assert "Upgrade acme-widgets from 2.0.1 to 2.0.4 or later." in flat
    assert "Prepared for the audit committee" in flat
    # Secrets are masked in the evidence, and printed masked.
    assert "AKIA… (20 characters)" in flat


def test_a_section_left_out_of_the_template_is_not_printed(world: World, poppler: None, tmp_path: Path):
    flat = " ".join(pdftotext(world.files["pdf-partial"], tmp_path).split())
    for key, heading in HEADINGS.items():
        if key in PARTIAL_SECTIONS:
            assert heading in flat, heading
        else:
            assert heading not in flat, heading
    assert "Secrets are never printed" not in flat, "the secrets section's own text is absent too"
    assert "Rotate the exposed AWS access key id" in flat, "the remediation plan still says what to do"


def test_the_executive_summary_says_what_was_scanned_the_verdict_risks_and_changes(world: World):
    document = json.loads(world.files["json"])
    summary = document["executive_summary"]
    text = " ".join(summary["paragraphs"])
    assert "acme-widgets 2.0.1" in text and world.tenant_name in text
    assert "The policy verdict is BLOCK" in text and "1 finding was waived" in text
    assert [r["check_id"] for r in summary["top_risks"]][:2] == ["MAL-EXEC-001", "MAL-EXFIL-001"]
    assert len(summary["changes"]) == 1
    change = summary["changes"][0]
    assert "version 1.9.0" in change and "score 61 → 28 (-33)" in change and "verdict warn → block" in change
    assert "1 problem resolved (SEC-URL-001)" in change


def test_the_document_is_deterministic(world: World):
    """The same data gives the same summary and plan, word for word (only the generation time differs)."""
    from scanning.analyzers import registry
    from scanning.reports import document as doc
    from scanning.reports.sample import sample_record

    kwargs = {"report": {"id": "r", "title": "T", "scope": "scan", "format": "json",
                         "generated_at": "2026-01-01T00:00:00+00:00", "template": "Default", "sections": None},
              "organization": {"name": "Acme Corp", "slug": "acme"}, "catalog": registry.checks(),
              "tool_version": "0"}
    first = doc.build([sample_record()], **kwargs)
    second = doc.build([sample_record()], **kwargs)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    stored = json.loads(world.files["json"])
    assert stored["executive_summary"]["paragraphs"][0].startswith("Gatehouse scanned acme-widgets 2.0.1 (pypi")


def test_counts_by_severity_and_category(world: World):
    overview = json.loads(world.files["json"])["overview"]
    assert overview["score"] == 28 and overview["grade"] == "F" and overview["verdict"] == "block"
    assert overview["problems"] == world.problem_count
    assert overview["severity_counts"] == {"critical": 4, "high": 5, "medium": 1, "low": 2, "info": 0}
    assert overview["category_totals"]["malicious_code"] == 2
    assert overview["category_counts"]["vulnerability"] == {"critical": 1, "high": 1, "medium": 0, "low": 0,
                                                            "info": 0}
    assert overview["status_counts"]["error"] == 1


def test_the_remediation_plan_is_prioritised(world: World):
    plan = json.loads(world.files["json"])["remediation"]
    actions = [a["action"] for a in plan]
    assert [a["priority"] for a in plan] == list(range(1, len(plan) + 1))
    assert actions[0].startswith("Do not install acme-widgets 2.0.1")
    assert any(a.startswith("Remove the install hooks of acme-widgets 2.0.1 (setup.py)") for a in actions)
    assert "Upgrade acme-widgets from 2.0.1 to 2.0.4 or later." in actions
    assert "Upgrade the dependency urllib4 from 1.26.4 to 1.26.5 or later (pinned by acme-widgets 2.0.1)." in actions
    rotations = [a for a in actions if a.startswith("Rotate the exposed")]
    assert len(rotations) == 2 and any("AWS access key id" in a for a in rotations)
    vuln = next(a for a in plan if a["action"].startswith("Upgrade acme-widgets"))
    assert "GHSA-7rjr-3q55-vv33 (CVE-2026-1111)" in vuln["why"]
    ranks = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
    assert [ranks[a["severity"]] for a in plan] == sorted((ranks[a["severity"]] for a in plan), reverse=True)
    assert actions[-1].startswith("Re-run the scan of acme-widgets 2.0.1"), "analyzer errors come last"


def test_sarif_validates_against_the_official_schema(world: World):
    sarif = json.loads(world.files["sarif"])
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(sarif), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "Gatehouse"
    assert len(run["results"]) == world.problem_count
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["MAL-EXEC-001"]["level"] == "error"
    assert by_rule["PKG-HOOK-001"]["level"] == "note"
    assert by_rule["MAL-EXEC-001"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 14
    assert by_rule["MAL-EXEC-001"]["baselineState"] == "new"
    assert by_rule["VULN-PKG-001"]["baselineState"] == "unchanged"
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notifications] == ["MAL-MINER-001"]
    assert run["artifacts"][0]["hashes"]["sha-256"]


def test_sarif_from_a_broken_document_fails_the_schema():
    """The validation is not vacuous: a result without a message is refused by the schema."""
    validator = jsonschema.Draft4Validator(SCHEMA)
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Gatehouse"}},
                                            "results": [{"ruleId": "X", "level": "severe"}]}]}
    assert list(validator.iter_errors(broken))


def test_csv_has_one_row_per_finding(world: World):
    rows = list(csv.DictReader(io.StringIO(world.files["csv"].decode("utf-8"))))
    assert len(rows) == world.finding_count
    assert {r["scan_id"] for r in rows} == {world.scan_id}
    assert {r["status"] for r in rows} == {"failed", "warning", "passed", "not_applicable", "error"}
    vuln = next(r for r in rows if r["check_id"] == "VULN-PKG-001")
    assert vuln["advisory"] == "GHSA-7rjr-3q55-vv33" and vuln["aliases"] == "CVE-2026-1111 PYSEC-2026-11"
    assert vuln["cvss_score"] == "9.8" and vuln["fixed_versions"] == "2.0.4" and vuln["upgrade_to"] == "2.0.4"
    # A title that a spreadsheet would run as a formula is written as text.
    meta = next(r for r in rows if r["check_id"] == "PKG-META-005")
    assert meta["title"].startswith("'=cmd")


def test_the_html_report_loads_nothing_and_carries_a_strict_policy(world: World):
    html = world.files["html"].decode("utf-8")
    policy = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in policy and "script-src 'none'" in policy and "'unsafe-inline'" not in policy
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(styles) == 2, "the base style and the template's (sanitised) custom CSS"
    for block in styles:
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy, "each style block is allowed by its hash, nothing else"
    assert "<script" not in html
    assert not re.search(r'(src|href)="(?!#|data:)', html), "no external or relative resource"
    assert world.package in html and "BLOCK" in html
