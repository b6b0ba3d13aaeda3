"""Periodic messaging tasks (declared in messaging.apps, installed by `manage.py install_schedules`)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from messaging import services


@shared_task(name="messaging.outbox_sweep")
def outbox_sweep() -> dict[str, Any]:
    """Delete old sent outbox rows; export the unsent backlog as metrics."""
    return services.outbox_sweep()


@shared_task(name="messaging.mqtt_reconcile")
def mqtt_reconcile() -> dict[str, Any]:
    """Bring the broker in line with organizations whose last broker update failed."""
    return services.mqtt_reconcile(full=False)
