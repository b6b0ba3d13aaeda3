"""Run the MQTT -> WebSocket bridge until stopped (SIGTERM / SIGINT)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from config.runtime import freeze_startup_objects
from messaging.bridge import Bridge


class Command(BaseCommand):
    help = ("Subscribe to org/+/# with a persistent session and forward every message to its organization's "
            "WebSocket group (run one bridge: its client id is fixed).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--heartbeat-file", type=Path, default=None,
                            help="touched every few seconds, for container health checks")

    def handle(self, *args: object, **options: Any) -> None:
        freeze_startup_objects()
        def ready() -> None:
            self.stdout.write("mqtt_bridge: subscribed to org/+/#")
            self.stdout.flush()

        bridge = Bridge(heartbeat=options["heartbeat_file"], on_ready=ready)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, bridge.stop)
            await bridge.run()

        self.stdout.write("mqtt_bridge: starting")
        self.stdout.flush()
        asyncio.run(main())
        self.stdout.write("mqtt_bridge: stopped")
