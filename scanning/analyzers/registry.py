"""Loading analyzers: every module in `scanning/analyzers/` is imported once.

A module registers its analyzer(s) with `base.register_analyzer` when imported, so
adding `scanning/analyzers/<name>.py` is all it takes to add checks. Modules and
packages whose name starts with `_` (helpers), `base`, `registry` and `tests` are
not imported by discovery (helpers are imported by the analyzers that use them).
An analyzer module that fails to import stops discovery loudly: a scan that
silently skipped an analyzer would report checks as passed that never ran.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

import scanning.analyzers as package
from scanning.analyzers.base import Analyzer, Check, all_analyzers, all_checks

_SKIP = {"base", "registry", "tests", "conftest"}
_lock = threading.Lock()
_loaded: list[str] = []


def discover() -> list[str]:
    """Import every analyzer module (once); returns their module names."""
    with _lock:
        if _loaded:
            return list(_loaded)
        import scanning.integrity  # noqa: F401 - registers the integrity checks

        names = []
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_") or info.name in _SKIP:
                continue
            importlib.import_module(f"{package.__name__}.{info.name}")
            names.append(info.name)
        _loaded.extend(names)
        return names


def analyzers() -> list[Analyzer]:
    discover()
    return all_analyzers()


def checks() -> list[Check]:
    discover()
    return all_checks()
