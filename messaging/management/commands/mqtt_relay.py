"""Run the outbox relay until stopped (SIGTERM / SIGINT)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from config.runtime import freeze_startup_objects
from messaging.relay import OutboxRelay


class Command(BaseCommand):
    help = ("Publish committed outbox events to MQTT at QoS 1 in per-organization order, marking them sent on "
            "PUBACK; wakes on each commit (LISTEN/NOTIFY) and sweeps every OUTBOX_RELAY_POLL_SECONDS.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="rows per batch (OUTBOX_RELAY_BATCH_SIZE)")
        parser.add_argument("--poll-seconds", type=float, default=None,
                            help="sweep every organization this often (OUTBOX_RELAY_POLL_SECONDS)")
        parser.add_argument("--heartbeat-file", type=Path, default=None,
                            help="touched every cycle, for container health checks")

    def handle(self, *args: object, **options: Any) -> None:
        freeze_startup_objects()
        def ready() -> None:
            self.stdout.write("mqtt_relay: running")
            self.stdout.flush()

        relay = OutboxRelay(batch_size=options["batch_size"], poll_seconds=options["poll_seconds"],
                            heartbeat=options["heartbeat_file"], on_ready=ready)

        def stop(signum: int, frame: object) -> None:
            relay.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("mqtt_relay: starting")
        self.stdout.flush()
        relay.run()
        self.stdout.write("mqtt_relay: stopped")
