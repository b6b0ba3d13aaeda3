"""Structured logging: one JSON object per line, carrying the request context.

The request id, tenant and user live in context variables set by the request
middleware, the Celery task signals and the WebSocket consumer, so every log line
written while serving them carries them without being passed around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)
user_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)
# The request being served (set by RequestContextMiddleware): lets log lines name the
# user once authentication has run, and lets the audit trail describe where an action
# came from (client address, user agent) when the code recording it has no request.
current_request_var: contextvars.ContextVar[Any] = contextvars.ContextVar("current_request", default=None)

# Keys whose values are secrets wherever they appear (headers, payloads, log extras).
SECRET_KEY_PATTERN = re.compile(
    r"(pass(word|wd)?|secret|token|api[-_]?key|authorization|cookie|session|credential|private[-_]?key|otp|totp|code_?verifier)",
    re.IGNORECASE,
)
# Secrets that may sit inside free text: bearer/api-key headers, JWTs, URLs with passwords.
SECRET_TEXT_PATTERNS = [
    (re.compile(r"(?i)\b(Bearer|Api-Key|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)\b(gh_[a-z0-9]{6,}_)[A-Za-z0-9]{8,}"), r"\1[redacted]"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)((?:password|passwd|secret|token|api_key|apikey)\s*[=:]\s*)[^\s&,;\"']+"), r"\1[redacted]"),
]
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    for pattern, replacement in SECRET_TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, *, _depth: int = 0) -> Any:
    """Return a copy of `value` with every secret-looking entry replaced."""
    if _depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and SECRET_KEY_PATTERN.search(k) else redact(v, _depth=_depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, _depth=_depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


@contextmanager
def log_context(*, request_id: str | None = None, tenant: str | None = None, user: str | None = None) -> Iterator[None]:
    """Bind request id / tenant / user for the duration of a block (tasks, commands, consumers)."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if tenant is not None:
        tokens.append((tenant_var, tenant_var.set(tenant)))
    if user is not None:
        tokens.append((user_var, user_var.set(user)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


_base_record_factory = logging.getLogRecordFactory()


def route_of(request: Any) -> str:
    """The URL pattern that matched (low cardinality, no ids or tokens), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        # Regex routes (DRF routers) read like path routes: ^scans/(?P<pk>[^/.]+)/?$ -> scans/<pk>
        route = _NAMED_GROUP.sub(r"<\1>", match.route)
        return "/" + route.replace("^", "").replace("$", "").replace("/?", "")
    return "unmatched"


_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()\\]|\\.)*\)")


def authenticated_user_id(request: Any) -> str | None:
    """The id of the request's user if authentication has already run; never triggers it.

    Django's AuthenticationMiddleware sets a lazy `request.user` (evaluated when first
    used); DRF replaces it with the real user once its authenticators ran.
    """
    if request is None:
        return None
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is None or wrapped.__class__.__name__ == "object":  # a SimpleLazyObject not evaluated yet
        return None
    if not getattr(wrapped, "is_authenticated", False):
        return None
    return str(wrapped.pk)


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Capture the context when the line is logged, whichever handler formats it later."""
    record = _base_record_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    record.tenant = tenant_var.get()
    record.user = user_var.get() or authenticated_user_id(current_request_var.get())
    return record


def install_record_factory() -> None:
    if logging.getLogRecordFactory() is not _record_with_context:
        logging.setLogRecordFactory(_record_with_context)


install_record_factory()


class ContextFilter(logging.Filter):
    """Fills the context on records made before the factory was installed."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("tenant", tenant_var), ("user", user_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "request_id", "tenant", "user", "color_message",
}


def _message_and_extras(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """The line's message and extra fields, with secrets redacted.

    Django's own request loggers (django.request, django.security.*) put the request
    object in `extra` and its raw path in the message. A path can carry a secret
    (an invitation or password-reset token), so both are replaced by the URL pattern.
    """
    message = record.getMessage()
    extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
    request = extras.pop("request", None)
    if request is not None and hasattr(request, "path"):
        route = route_of(request)
        if request.path:
            message = message.replace(request.path, route)
        extras.setdefault("route", route)
        extras.setdefault("method", getattr(request, "method", None))
    elif request is not None:
        extras["request"] = str(type(request).__name__)
    # Objects become text before redaction, so a secret in their str() is caught too.
    extras = {k: v if isinstance(v, _PLAIN) else str(v) for k, v in extras.items()}
    return redact_text(message), redact(extras)


_PLAIN = (str, int, float, bool, type(None), dict, list, tuple)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message, extras = _message_and_extras(record)
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "request_id": getattr(record, "request_id", None),
            "tenant": getattr(record, "tenant", None),
            "user": getattr(record, "user", None),
        }
        if extras:
            payload.update(extras)
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a developer's terminal, with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{key}={value}"
            for key in ("request_id", "tenant", "user")
            if (value := getattr(record, key, None))
        )
        message, extras = _message_and_extras(record)
        line = f"{record.levelname:<7} {record.name}: {message}"
        if extras:
            line += " " + json.dumps(extras, default=str)
        if context:
            line += f" [{context}]"
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line
