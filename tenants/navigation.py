"""Dashboard navigation, contributed by each app in its AppConfig.ready().

An entry names a URL and, optionally, the permission a user needs to see it, so
the menu never shows a page the user would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int = 100
    permission: str | None = None
    icon: str = ""


_items: dict[str, NavItem] = {}


def register_nav(label: str, url_name: str, *, order: int = 100, permission: str | None = None, icon: str = "") -> None:
    _items[url_name] = NavItem(label=label, url_name=url_name, order=order, permission=permission, icon=icon)


def nav_for(request: HttpRequest) -> list[dict[str, object]]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    entries = []
    for item in sorted(_items.values(), key=lambda i: (i.order, i.label)):
        if item.permission and not user.has_perm(item.permission):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        entries.append({"label": item.label, "url": url, "active": active, "icon": item.icon})
    return entries
