"""Subscription tiers and the limits each one grants."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Plan:
    tier: str
    label: str
    scans_per_day: int
    members: int
    api_keys: int
    mqtt_credentials: int
    max_upload_mb: int
    report_schedules: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


PLANS: dict[str, Plan] = {
    "free": Plan("free", "Free", scans_per_day=50, members=5, api_keys=2, mqtt_credentials=2,
                 max_upload_mb=50, report_schedules=1),
    "basic": Plan("basic", "Basic", scans_per_day=500, members=25, api_keys=10, mqtt_credentials=10,
                  max_upload_mb=200, report_schedules=5),
    "premium": Plan("premium", "Premium", scans_per_day=10_000, members=500, api_keys=100,
                    mqtt_credentials=100, max_upload_mb=1024, report_schedules=50),
}


def plan_for(tier: str) -> Plan:
    return PLANS.get(tier, PLANS["free"])
