"""The benign corpus: every analyzer over popular, honest packages (fetched by `make corpus`).

Malicious-code checks must report nothing high or critical on it. The count of all
findings per check is printed in the terminal summary. A missing corpus fails this
test: it never skips.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from scanning.tests.analyzers.corpus import MIN_NPM, MIN_PYPI, REPORT, analyze_entry, corpus_entries, setup_django


def test_benign_corpus_has_no_high_or_critical_malicious_code_findings() -> None:
    entries = corpus_entries()  # raises CorpusMissing (a failure) when `make corpus` has not run
    by_ecosystem = Counter(e.ecosystem for e in entries)
    assert by_ecosystem["pypi"] >= MIN_PYPI and by_ecosystem["npm"] >= MIN_NPM
    started = time.perf_counter()
    # Spawned, not forked: forking the multi-threaded test process can copy a held lock into the child.
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"),
                             initializer=setup_django) as pool:
        results = list(pool.map(analyze_entry, entries))
    counts: Counter[tuple[str, str, str]] = Counter()
    high_malicious = []
    critical = []
    for entry, rows in zip(entries, results, strict=True):
        for check_id, category, severity, status, file_path, line, detail in rows:
            counts[(check_id, severity, status)] += 1
            if category == "malicious_code" and severity in ("high", "critical"):
                high_malicious.append(f"{entry.ecosystem}:{entry.name} {check_id} {file_path}:{line} {detail}")
            if severity == "critical" and status == "failed":
                critical.append(f"{entry.ecosystem}:{entry.name} {check_id} {file_path}:{line} {detail}")
    REPORT.update(counts=dict(counts), packages=len(entries), by_ecosystem=dict(by_ecosystem),
                  seconds=time.perf_counter() - started, high_malicious=high_malicious)
    assert not high_malicious, "\n".join(high_malicious)
    # Nothing popular and honest should be blocked outright by any check either.
    assert not critical, "\n".join(critical)
