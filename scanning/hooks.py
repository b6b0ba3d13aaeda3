"""Extension points of the scan pipeline, filled by other apps in their AppConfig.ready().

- `register_context_enricher(fn)`: `fn(ctx: AnalysisContext) -> None` runs before the
  analyzers and may add to the context (the advisories app fills `ctx.advisories`
  from the shared advisory database). An enricher that raises fails the scan with
  `enrichment_failed`: a vulnerability check must never report "passed" because
  its data was missing.
- `register_verdict_hook(fn)`: `fn(scan) -> None` runs after scoring, inside the
  transaction that completes the scan, and may set `scan.verdict` (the policies app
  evaluates the tenant's policy here). Scanning never imports policies. A hook that
  raises is rolled back to its savepoint and logged; the scan completes with no
  verdict and a note in `error_message`, so CI sees "unknown" rather than "pass".

- `register_verdict_waiter(fn)`: `fn(*, scan_id, timeout_seconds) -> Scan | None` blocks
  until the scan is terminal or the time is up; `POST /api/v1/scans?wait=N` uses it
  (the policies app provides one that wakes on the verdict's commit).
- `register_scan_panel(name, template, context_fn)`: a section of the scan page that
  another app renders; `context_fn(request, scan) -> dict` is merged into the page's
  context and `template` is included.
- `register_report_section(name, fn)`: `fn(scan) -> dict | None` contributes a section of
  data to the scan's reports (the policies app gives the verdict, its reasons and the
  waived findings); None when it has nothing to say. A provider that raises is logged
  and its section left out.

Registration is idempotent per name (re-registering replaces), and hooks run in
registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scanning.analyzers.base import AnalysisContext

ContextEnricher = Callable[["AnalysisContext"], None]
VerdictHook = Callable[[Any], None]

_enrichers: dict[str, ContextEnricher] = {}
_verdict_hooks: dict[str, VerdictHook] = {}
_verdict_waiter: list[Callable[..., Any]] = []
_scan_panels: dict[str, tuple[str, Callable[[Any, Any], dict[str, Any]], tuple[str, ...]]] = {}
_report_sections: dict[str, Callable[[Any], dict[str, Any] | None]] = {}


def _key(fn: Callable[..., Any], name: str | None) -> str:
    return name or f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def register_context_enricher(fn: ContextEnricher, *, name: str | None = None) -> ContextEnricher:
    _enrichers[_key(fn, name)] = fn
    return fn


def register_verdict_hook(fn: VerdictHook, *, name: str | None = None) -> VerdictHook:
    _verdict_hooks[_key(fn, name)] = fn
    return fn


def register_verdict_waiter(fn: Callable[..., Any]) -> Callable[..., Any]:
    _verdict_waiter[:] = [fn]
    return fn


def verdict_waiter() -> Callable[..., Any] | None:
    return _verdict_waiter[0] if _verdict_waiter else None


def register_scan_panel(name: str, template: str, context_fn: Callable[[Any, Any], dict[str, Any]], *,
                        stylesheets: tuple[str, ...] = ()) -> None:
    _scan_panels[name] = (template, context_fn, stylesheets)


def scan_panels(request: Any, scan: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """The merged context of every registered panel, their templates and their stylesheets."""
    context: dict[str, Any] = {}
    templates: list[str] = []
    stylesheets: list[str] = []
    for template, context_fn, sheets in _scan_panels.values():
        context.update(context_fn(request, scan))
        templates.append(template)
        stylesheets.extend(sheets)
    return context, templates, stylesheets


def register_report_section(name: str, fn: Callable[[Any], dict[str, Any] | None]
                            ) -> Callable[[Any], dict[str, Any] | None]:
    _report_sections[name] = fn
    return fn


def report_sections() -> list[tuple[str, Callable[[Any], dict[str, Any] | None]]]:
    return list(_report_sections.items())


def unregister(name: str) -> None:
    _enrichers.pop(name, None)
    _verdict_hooks.pop(name, None)
    _scan_panels.pop(name, None)
    _report_sections.pop(name, None)


def context_enrichers() -> list[tuple[str, ContextEnricher]]:
    return list(_enrichers.items())


def verdict_hooks() -> list[tuple[str, VerdictHook]]:
    return list(_verdict_hooks.items())
