"""Periodic tasks, declared in code by each app and installed by `manage.py install_schedules`.

Declaring schedules in code means a fresh database gets them, and a schedule
removed from the code is removed from the database too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PREFIX = "gatehouse: "


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict[str, str] | None = None
    queue: str = "default"
    kwargs: dict[str, Any] = field(default_factory=dict)


_schedules: dict[str, Schedule] = {}


def periodic(name: str, task: str, *, every_seconds: int | None = None, crontab: dict[str, str] | None = None,
             queue: str = "default", kwargs: dict[str, Any] | None = None) -> None:
    if (every_seconds is None) == (crontab is None):
        raise ValueError("give exactly one of every_seconds or crontab")
    _schedules[name] = Schedule(name, task, every_seconds, crontab, queue, kwargs or {})


def declared() -> list[Schedule]:
    return sorted(_schedules.values(), key=lambda s: s.name)


def install() -> dict[str, list[str]]:
    """Create or update the beat rows for every declared schedule; delete the ones no longer declared."""
    import json

    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    result: dict[str, list[str]] = {"created": [], "updated": [], "removed": []}
    wanted = set()
    for schedule in declared():
        full_name = PREFIX + schedule.name
        wanted.add(full_name)
        defaults: dict[str, Any] = {
            "task": schedule.task, "queue": schedule.queue, "kwargs": json.dumps(schedule.kwargs),
            "enabled": True, "interval": None, "crontab": None,
        }
        if schedule.every_seconds is not None:
            interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every_seconds,
                                                                 period=IntervalSchedule.SECONDS)
            defaults["interval"] = interval
        else:
            cron = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
                    **(schedule.crontab or {})}
            crontab, _ = CrontabSchedule.objects.get_or_create(**cron, timezone="UTC")
            defaults["crontab"] = crontab
        _, created = PeriodicTask.objects.update_or_create(name=full_name, defaults=defaults)
        result["created" if created else "updated"].append(schedule.name)
    stale = PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(name__in=wanted)
    result["removed"] = [name.removeprefix(PREFIX) for name in stale.values_list("name", flat=True)]
    stale.delete()
    return result
