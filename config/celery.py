"""The Celery application: tasks run in the schema of the tenant that sent them.

tenant-schemas-celery puts the sender's schema in each message's headers and
switches the worker's connection to it before the task runs. The request id and
tenant travel too, so a task's log lines join the request that caused them.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from kombu import Queue
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = CeleryApp("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "scans", "reports")]
app.conf.task_default_queue = "default"
app.autodiscover_tasks()

_context_tokens: dict[str, list[Any]] = {}


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from config.logging import request_id_var

    if headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id_var.get()


@task_prerun.connect
def _bind_log_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    from config.logging import request_id_var, tenant_var

    request = task.request if task is not None else None
    headers = (getattr(request, "headers", None) or {}) if request is not None else {}
    request_id = headers.get("request_id") or getattr(request, "request_id", None) or task_id
    schema = headers.get("_schema_name") or getattr(request, "_schema_name", None)
    if task_id:
        _context_tokens[task_id] = [(request_id_var, request_id_var.set(request_id)),
                                    (tenant_var, tenant_var.set(schema))]


@task_postrun.connect
def _unbind_log_context(task_id: str | None = None, **_: Any) -> None:
    for var, token in reversed(_context_tokens.pop(task_id or "", [])):
        try:
            var.reset(token)
        except ValueError:
            var.set(None)
