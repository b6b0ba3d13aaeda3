#!/usr/bin/env python
"""Run the benchmarks (all, or those named on the command line) and print their figures."""

from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import common  # noqa: E402


def main(names: list[str]) -> None:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(available)}")
    import os

    print(f"Gatehouse benchmarks on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    common.setup_django()
    try:
        for name in chosen:
            module = importlib.import_module(f"bench.bench_{name}")
            module.run()
    finally:
        common.teardown()


if __name__ == "__main__":
    main(sys.argv[1:])
