"""Advisory tasks (run in the public schema: beat sends them without an organization)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from audit.context import Actor
from scanning.advisories.services import advisories_sync


@shared_task(name="advisories.sync")
def sync_advisories() -> dict[str, Any]:
    """Import every source in ADVISORY_SOURCES; new and changed advisories only."""
    return advisories_sync(actor=Actor.system("advisories.sync")).as_dict()
