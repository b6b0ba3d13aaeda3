"""Large artifacts are analysed in several processes, with the very findings of one process."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import pytest

from scanning.analyzers.malicious import MaliciousCodeAnalyzer
from scanning.analyzers.parallel import batches, map_in_processes
from scanning.tests.analyzers.helpers import make_context
from scanning.tests.analyzers.test_malicious import MALICIOUS


def _pid_of(batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # Slow in the caller, so that a child surely starts before the caller has done everything.
    time.sleep(0.5 if any(parent == os.getpid() for _item, parent in batch) else 0.01)
    return [(item, os.getpid()) for item, _parent in batch]


def _die_in_child(batch: list[tuple[int, int]]) -> list[int]:
    if any(parent != os.getpid() for _item, parent in batch):
        os._exit(3)  # an analysis process killed mid-batch (say, by the kernel's OOM killer)
    return [item * 2 for item, _parent in batch]


def test_batches_cover_every_item_once_and_balance_the_weight() -> None:
    weights = [5000, 10, 10, 10, 4000, 900, 1100, 3000, 20, 2000]
    groups = batches(weights, 3)
    assert sorted(i for group in groups for i in group) == list(range(len(weights)))
    loads = [sum(weights[i] + 1024 for i in group) for group in groups]
    assert max(loads) - min(loads) <= max(weights) + 1024


def test_work_is_shared_between_this_process_and_a_child_in_order() -> None:
    results = map_in_processes(_pid_of, [(i, os.getpid()) for i in range(40)], weights=[1] * 40, processes=2)
    assert [item for item, _pid in results] == list(range(40))
    pids = {pid for _item, pid in results}
    assert os.getpid() in pids and len(pids) == 2, pids


def test_a_lost_analysis_process_loses_no_file(caplog: pytest.LogCaptureFixture) -> None:
    items = [(i, os.getpid()) for i in range(30)]
    with caplog.at_level(logging.WARNING, logger="scanning.analyzers.parallel"):
        results = map_in_processes(_die_in_child, items, weights=[1] * 30, processes=2)
    assert results == [i * 2 for i in range(30)]
    assert any("analysis process lost" in record.getMessage() for record in caplog.records)


def test_parallel_analysis_finds_exactly_what_one_process_finds(tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for number, (_check, name, content, _preview) in enumerate(MALICIOUS):
        files[f"pkg/{number:02d}_{name}"] = content
    for number in range(30):  # readable code around them, so the batches mix both
        files[f"pkg/lib/plain{number}.js"] = f"const path = require('path');\nmodule.exports = (p) => path.join('{number}', p);\n"
        files[f"pkg/plain{number}.py"] = f"import os\n\n\ndef where():\n    return os.path.join('{number}', 'data')\n"
    serial_ctx = make_context(tmp_path / "serial", files, ecosystem="npm")
    parallel_ctx = dataclasses.replace(make_context(tmp_path / "parallel", files, ecosystem="npm"),
                                       analysis_processes=2, parallel_min_bytes=0)
    analyzer = MaliciousCodeAnalyzer()
    serial = analyzer.analyze(serial_ctx)
    parallel = analyzer.analyze(parallel_ctx)
    assert len(serial) >= len(MALICIOUS)
    assert [dataclasses.asdict(f) for f in parallel] == [dataclasses.asdict(f) for f in serial]
