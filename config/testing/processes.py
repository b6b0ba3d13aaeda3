"""Real Gatehouse processes (Celery worker, ASGI server) for tests that cross process lines.

They run against the session's test database, Redis database and private broker,
so what a test commits is what they see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from config.testing.lifetime import die_with_parent
from config.testing.mosquitto import free_port

ROOT = Path(__file__).resolve().parent.parent.parent



def process_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: same settings, test database, private broker and data root."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}",
        "TEST_REDIS_URL": settings.REDIS_URL,
        "TEST_CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "gh-test"),
        "MQTT_URL": settings.MQTT_URL,
        "MQTT_PASSWORD": settings.MQTT_PASSWORD,
        "GATEHOUSE_DATA_ROOT": str(settings.DATA_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    # The test settings pin MQTT_URL for in-process tests; children read it from here.
    env["GATEHOUSE_TEST_MQTT_URL"] = settings.MQTT_URL
    env.update(extra)
    return env


@dataclass
class ManagedProcess:
    args: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it for its whole life
        self.process = subprocess.Popen(list(self.args), cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=die_with_parent())
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a Celery worker has children)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_worker(log_dir: Path, *, queues: str = "default,scans,reports", concurrency: int = 1,
                 name: str = "test", **env: str) -> ManagedProcess:
    worker = ManagedProcess(
        args=[sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
              "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
              "--hostname", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip",
              "--without-mingle", "--without-heartbeat"],
        log_path=log_dir / f"worker-{name}.log",
        env=process_env(**env),
    ).start()
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"Celery worker exited at start:\n{worker.log()[-4000:]}")
        replies = app.control.ping(timeout=0.5) or []
        if any(name in next(iter(reply)) for reply in replies):
            return worker
    worker.stop()
    raise RuntimeError(f"Celery worker did not answer ping within 60 s:\n{worker.log()[-4000:]}")


def start_web(log_dir: Path, *, workers: int = 1, **env: str) -> tuple[ManagedProcess, int]:
    port = free_port()
    web = ManagedProcess(
        args=[sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
              "--port", str(port), "--no-access-log", *(["--workers", str(workers)] if workers > 1 else [])],
        log_path=log_dir / "web.log",
        env=process_env(**env),
    ).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not web.alive():
            raise RuntimeError(f"web server exited at start:\n{web.log()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):  # noqa: S310
                return web, port
        except OSError:
            time.sleep(0.1)
    web.stop()
    raise RuntimeError(f"web server did not answer within 30 s:\n{web.log()[-4000:]}")


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait_for_log(process: ManagedProcess, marker: str, what: str, *, offset: int = 0, seconds: float = 60.0) -> None:
    """Wait until `marker` appears in the process's log after `offset` (logs are appended across restarts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if marker in process.log()[offset:]:
            return
        if not process.alive():
            raise RuntimeError(f"{what} exited at start:\n{process.log()[-4000:]}")
        time.sleep(0.05)
    process.stop()
    raise RuntimeError(f"{what} did not report '{marker}' within {seconds:.0f} s:\n{process.log()[-4000:]}")


def start_relay(log_dir: Path, *, name: str = "relay", args: Sequence[str] = (), **env: str) -> ManagedProcess:
    """`manage.py mqtt_relay` on the session's database and broker; returns once it runs."""
    log_path = log_dir / f"{name}.log"
    offset = _log_size(log_path)
    relay = ManagedProcess(
        args=[sys.executable, "manage.py", "mqtt_relay", *args],
        log_path=log_path,
        env=process_env(**env),
    ).start()
    _wait_for_log(relay, "mqtt_relay: running", "the outbox relay", offset=offset)
    return relay


def start_bridge(log_dir: Path, *, name: str = "bridge", args: Sequence[str] = (), **env: str) -> ManagedProcess:
    """`manage.py mqtt_bridge`; returns once its subscription to org/+/# is confirmed."""
    log_path = log_dir / f"{name}.log"
    offset = _log_size(log_path)
    bridge = ManagedProcess(
        args=[sys.executable, "manage.py", "mqtt_bridge", *args],
        log_path=log_path,
        env=process_env(**env),
    ).start()
    _wait_for_log(bridge, "mqtt_bridge: subscribed", "the MQTT bridge", offset=offset)
    return bridge
