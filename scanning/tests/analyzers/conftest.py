"""Prints the benign-corpus figures (findings per check) at the end of the run, with or without -s."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from scanning.tests.analyzers.corpus import REPORT

    counts = REPORT.get("counts")
    if not isinstance(counts, dict):
        return
    terminalreporter.section("benign corpus: findings per check")
    terminalreporter.write_line(f"{REPORT.get('packages')} packages ({REPORT.get('by_ecosystem')}), "
                                f"{sum(counts.values())} findings, {REPORT.get('seconds', 0):.0f}s")
    for (check_id, severity, status), count in sorted(counts.items()):
        terminalreporter.write_line(f"  {check_id:<18} {severity:<9} {status:<8} {count:>5}")
    for line in REPORT.get("high_malicious", []):
        terminalreporter.write_line(f"  HIGH/CRITICAL MALICIOUS-CODE: {line}")
