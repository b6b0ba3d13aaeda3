"""Turn service errors into clear command-line errors (exit status 1, no traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from rest_framework.exceptions import ValidationError as DRFValidationError

from config.errors import ApplicationError


def _flatten(details: object) -> str:
    if isinstance(details, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in details.items())
    if isinstance(details, list):
        return " ".join(_flatten(v) for v in details)
    return str(details)


@contextmanager
def service_errors() -> Iterator[None]:
    try:
        yield
    except ApplicationError as exc:
        detail = f" ({_flatten(exc.details)})" if exc.details else ""
        raise CommandError(f"{exc.message}{detail}") from exc
    except DRFValidationError as exc:
        raise CommandError(f"Invalid value: {_flatten(exc.detail)}") from exc


