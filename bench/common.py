"""Shared set-up for benchmarks: a fresh database, Django configured, helpers to report."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE_NAME", "gatehouse_bench")
_broker = None


def _read_dotenv() -> dict[str, str]:
    values = {}
    path = ROOT / ".env"
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.strip().startswith("#"):
                values[key.strip()] = value.strip().strip('"')
    return values


def setup_django(*, fresh: bool = True) -> None:
    """Point Django at the bench database (recreated when `fresh`) and migrate it."""
    global _broker
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    dotenv = _read_dotenv()
    base_url = os.environ.get("DATABASE_URL") or dotenv.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/gatehouse"
    parts = urlsplit(base_url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")
    os.environ.setdefault("LOG_LEVEL", "ERROR")

    import psycopg

    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
        if not exists or fresh:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')

    from config.testing.mosquitto import start_private_broker

    _broker = start_private_broker(Path(tempfile.mkdtemp(prefix="gatehouse-bench-mqtt-")))
    os.environ["GATEHOUSE_TEST_MQTT_URL"] = _broker.url
    os.environ["MQTT_PASSWORD"] = _broker.password
    os.environ.setdefault("GATEHOUSE_DATA_ROOT", tempfile.mkdtemp(prefix="gatehouse-bench-data-"))

    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    report("migrate (public + template) on an empty database", [time.perf_counter() - started], unit="s")


def teardown() -> None:
    if _broker is not None:
        _broker.stop()


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def report(title: str, samples: Sequence[float], *, unit: str = "ms", target: str = "") -> None:
    scale = 1000 if unit == "ms" else 1
    vals = [s * scale for s in samples]
    line = (f"  {title:<58} n={len(vals):<5} p50={percentile(vals, 50):9.2f}{unit} "
            f"p95={percentile(vals, 95):9.2f}{unit} max={max(vals):9.2f}{unit}")
    if len(vals) > 1:
        line += f" mean={statistics.mean(vals):9.2f}{unit}"
    if target:
        line += f"   [target {target}]"
    print(line, flush=True)


def figure(title: str, value: float, unit: str, *, target: str = "") -> None:
    line = f"  {title:<58} {value:12.2f} {unit}"
    if target:
        line += f"   [target {target}]"
    print(line, flush=True)


@contextmanager
def section(name: str) -> Iterator[None]:
    print(f"\n== {name} ==", flush=True)
    started = time.perf_counter()
    yield
    print(f"  ({time.perf_counter() - started:.1f}s)", flush=True)


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started
