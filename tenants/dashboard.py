"""Panels on the organization's home page, contributed by each app.

A panel is a template fragment plus the context it needs; apps register a
function that returns it (or None when the user may not see it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

PanelFn = Callable[[HttpRequest], dict[str, Any] | None]
_panels: dict[str, tuple[int, PanelFn]] = {}


def register_home_panel(name: str, func: PanelFn, *, order: int = 100) -> None:
    _panels[name] = (order, func)


def home_panels(request: HttpRequest) -> list[dict[str, Any]]:
    panels = []
    for _, (_order, func) in sorted(_panels.items(), key=lambda kv: (kv[1][0], kv[0])):
        panel = func(request)
        if panel:
            panels.append(panel)
    return panels
