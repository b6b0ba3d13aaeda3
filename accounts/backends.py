"""Email + password authentication that refuses accounts locked out by django-axes.

Axes keeps its attempts in the current schema, so a lockout is per organization
(and, on the platform host, per staff account).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


class EmailBackend(AxesBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if username is None:
            username = kwargs.pop("email", None)
        if request is not None:
            # Raises AxesBackendPermissionDenied (Django then stops and refuses) when locked out.
            super().authenticate(request, username=username, password=password, **kwargs)
        # Without a request (Django's test client `login`, shell use) there is nothing to
        # lock out by; authenticate as Django's ModelBackend does.
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)
