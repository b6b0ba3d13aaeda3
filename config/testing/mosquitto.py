"""A private Mosquitto with dynamic security for one test session.

Tests must neither depend on nor disturb a developer's broker, and they need
their own ACLs: this starts the installed `mosquitto` on a free port with the
repository's broker configuration (docker/mosquitto) and a fresh dynamic-security
file whose administrator is the platform account.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from config.testing.lifetime import die_with_parent
from scripts.ensure_services import mosquitto_binary, mqtt_connack, write_mosquitto_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateBroker:
    host: str
    port: int
    username: str
    password: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> PrivateBroker:
        binary = mosquitto_binary()
        if not binary:
            raise RuntimeError("mosquitto is not installed; run `make test` (it installs it) or "
                               "`sudo apt-get install mosquitto mosquitto-clients`")
        conf = write_mosquitto_config(self.directory, self.port, self.host, self.username, self.password)
        # Foreground, so the test session owns the process and can stop or kill it.
        text = conf.read_text().replace(f"log_dest file {self.directory}/mosquitto.log", "log_dest stderr")
        conf.write_text(text)
        log = open(self.directory / "broker.log", "wb")  # noqa: SIM115 - kept open for the broker's life
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if mqtt_connack(self.host, self.port, self.username, self.password) == 0:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"private Mosquitto did not start; see {self.directory / 'broker.log'}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def restart(self) -> None:
        """Stop and start on the same port and data (persisted sessions and dynsec survive).

        Call it from the main thread: the broker is tied to the life of the thread that
        starts it (PR_SET_PDEATHSIG), and a worker thread's exit would take it down.
        """
        self.stop()
        self.start()


def start_private_broker(directory: Path, *, username: str = "gatehouse") -> PrivateBroker:
    directory.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(host="127.0.0.1", port=free_port(), username=username,
                           password=secrets.token_urlsafe(16), directory=directory)
    return broker.start()
