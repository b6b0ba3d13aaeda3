"""The audit-coverage registry: every mutating API route must show it leaves the right audit event.

Each app lists, in `<app>/tests/audit_cases.py`, a `CASES` list of `AuditCase` (how to
call one mutating route with valid input, and the event it must leave) or
`NotAudited` (a mutating route that writes nothing, with the reason).
`config/tests/test_audit_coverage.py` enumerates every POST/PUT/PATCH/DELETE route of
the tenant and public URLconfs, fails for any route without an entry (and for any
entry whose route is gone), and runs every case. See docs/contributing.md.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
URLConf = Literal["tenant", "public"]
URLCONFS: dict[str, str] = {"tenant": "config.urls_tenant", "public": "config.urls_public"}


@dataclass(frozen=True)
class Route:
    urlconf: str
    name: str          # the URL name with its namespaces ("api-key-detail", "scanning-api:scan-list"), or the route
    route: str         # the full route as written in the URLconfs
    method: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.urlconf, self.name, self.method)

    def describe(self) -> str:
        return f"{self.method} {self.name} ({self.urlconf} URLconf: /{self.route})"


@dataclass
class CaseContext:
    """What a case gets: the organization, a member holding every permission, staff on the public host."""

    tenant: Any
    user: Any
    client: Any            # Django test client on the organization's host, signed in as `user`
    staff: Any
    staff_client: Any      # Django test client on the platform host, signed in as `staff`
    data: dict[str, Any] = field(default_factory=dict)  # cases may keep what they made here

    def json(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        """Call the organization's API with a JSON body (or none) as the member."""
        call = getattr(self.client, method.lower())
        if body is None:
            return call(path, **extra)
        return call(path, body, content_type="application/json", **extra)


@dataclass(frozen=True)
class Expected:
    """The event a call must leave.

    `actor`: "member" (the signed-in member, type user), "staff" (the platform staff
    member), or an (actor_type, actor_id) pair. `changes`: fields that must appear in
    the event's changes with these values (other fields may appear too); None skips
    the check. `schema`: where the event is recorded ("tenant" or "public").
    """

    action: str
    resource_type: str | None = None
    resource_id: str | None = None
    changes: dict[str, Any] | None = None
    actor: str | tuple[str, str] = "member"
    outcome: str = "success"
    schema: str = "tenant"


@dataclass(frozen=True)
class AuditCase:
    route: str                       # URL name, as Route.name
    method: str
    call: Callable[[CaseContext], Any]
    expect: Callable[[CaseContext, Any], Expected] | Expected
    urlconf: str = "tenant"
    setup: Callable[[CaseContext], None] | None = None
    id: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.urlconf, self.route, self.method.upper())

    def expected(self, ctx: CaseContext, response: Any) -> Expected:
        return self.expect(ctx, response) if callable(self.expect) else self.expect


@dataclass(frozen=True)
class NotAudited:
    """A mutating route that changes nothing (e.g. a token check sent as POST). The reason is required."""

    route: str
    method: str
    reason: str
    urlconf: str = "tenant"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.urlconf, self.route, self.method.upper())


def _methods(callback: Any) -> tuple[str, ...]:
    actions = getattr(callback, "actions", None)
    if isinstance(actions, dict):  # a DRF viewset bound to {method: action}
        return tuple(m.upper() for m in actions if m.upper() in MUTATING)
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view is not None:
        allowed = [m.lower() for m in getattr(view, "http_method_names", [m.lower() for m in MUTATING])]
        return tuple(m for m in MUTATING if m.lower() in allowed and callable(getattr(view, m.lower(), None)))
    # A plain function: its methods cannot be read, so every mutating method counts.
    return MUTATING


def _walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern),
                             f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = f"{namespace}{entry.name}" if entry.name else route
            yield route, name, entry.callback


def _is_api(route: str) -> bool:
    return route.replace("^", "").startswith("api/")


def mutating_routes(urlconfs: dict[str, str] | None = None) -> list[Route]:
    """Every POST/PUT/PATCH/DELETE API route of the tenant and public URLconfs."""
    found: dict[tuple[str, str, str], Route] = {}
    for conf, module in (urlconfs or URLCONFS).items():
        for route, name, callback in _walk(get_resolver(module).url_patterns, "", ""):
            if not _is_api(route):
                continue
            for method in _methods(callback):
                found.setdefault((conf, name, method), Route(conf, name, route, method))
    return sorted(found.values(), key=lambda r: r.key)


def _case_modules() -> list[str]:
    base = Path(settings.BASE_DIR).resolve()
    names = ["config.tests.audit_cases"]
    for config in apps.get_app_configs():
        if Path(config.path).resolve().is_relative_to(base):
            names.append(f"{config.name}.tests.audit_cases")
    return names


def registered_cases() -> list[AuditCase | NotAudited]:
    """Every entry of every `<app>/tests/audit_cases.py` (and config/tests/audit_cases.py)."""
    entries: list[AuditCase | NotAudited] = []
    for module in _case_modules():
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        entries.extend(importlib.import_module(module).CASES)
    return entries
