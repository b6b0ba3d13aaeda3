#!/usr/bin/env python3
"""Make sure PostgreSQL, Redis and Mosquitto answer where `.env` says they are.

For each service, in this order:
  1. use one that already answers at the configured address;
  2. else start one from installed binaries, with its data under `.data/`;
  3. else, as root on Debian, install it with apt and start it;
  4. else say exactly what to run, and fail.

Mosquitto is Gatehouse's own broker (dynamic security, default deny), so it is
started from `docker/mosquitto/` on the configured port unless one already answers
there with the platform's credentials.

Standard library only; also installs the system packages the tests need
(`--system-packages chromium poppler-utils ...`).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HAS_APT = shutil.which("apt-get") is not None
_apt_updated = False


def say(message: str) -> None:
    print(f"[services] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[services] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def read_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in (".env.example", ".env"):
        path = ROOT / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    values.update({k: v for k, v in os.environ.items() if k.isupper()})
    return values


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port, 0.5):
            return True
        time.sleep(0.25)
    return False


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def apt_install(packages: list[str]) -> bool:
    global _apt_updated
    if not (IS_ROOT and HAS_APT):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        say("apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        _apt_updated = True
    say(f"apt-get install {' '.join(packages)}")
    result = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                            env=env, text=True)
    return result.returncode == 0


# --- PostgreSQL -----------------------------------------------------------------

def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def start_postgres(host: str, port: int) -> bool:
    # A Debian cluster that is installed but stopped.
    if shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster"):
        listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split("\n")
        for line in listing:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == str(port):
                say(f"starting PostgreSQL cluster {parts[0]}/{parts[1]}")
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", parts[0], parts[1], "start"],
                               check=False)
                return wait_port(host, port)
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        return False
    datadir = DATA / "postgres"
    logfile = DATA / "postgres.log"
    DATA.mkdir(exist_ok=True)
    as_user: list[str] = []
    if IS_ROOT:
        # PostgreSQL refuses to run as root: run it as the `postgres` system user.
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--home", str(datadir), "postgres"], check=False)
        as_user = ["runuser", "-u", "postgres", "--"]
    if not (datadir / "PG_VERSION").exists():
        datadir.mkdir(parents=True, exist_ok=True)
        if IS_ROOT:
            shutil.chown(datadir, "postgres")
        say(f"initialising PostgreSQL in {datadir}")
        run([*as_user, initdb, "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            stdout=subprocess.DEVNULL)
    if IS_ROOT:
        logfile.touch()
        shutil.chown(logfile, "postgres")
    say(f"starting PostgreSQL from {datadir} on port {port}")
    sockdir = "/tmp"  # noqa: S108 - the PostgreSQL socket directory clients look in
    run([*as_user, pg_ctl, "-D", str(datadir), "-l", str(logfile), "-w", "start",
         "-o", f"-p {port} -k {sockdir} -c listen_addresses={host}"])
    return wait_port(host, port)


def ensure_postgres(env: dict[str, str]) -> None:
    url = urlsplit(env.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse"))
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    if not port_open(host, port):
        started = start_postgres(host, port)
        if not started and apt_install(["postgresql", "postgresql-client"]):
            started = start_postgres(host, port)
        if not started:
            fail(f"PostgreSQL is not reachable at {host}:{port} and could not be started here.\n"
                 "  Start one with:  docker compose up -d db\n"
                 "  or install it:   sudo apt-get install postgresql && sudo pg_ctlcluster 15 main start")
    say(f"PostgreSQL answers at {host}:{port}")
    ensure_database(url.geturl())


def ensure_database(url: str) -> None:
    """Create the configured database (and the test database's owner role) when missing."""
    try:
        import psycopg
    except ImportError:
        return  # the virtualenv is not ready yet; Django will report a missing database clearly
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/")) or "gatehouse"
    conninfo = {
        "host": parts.hostname or "127.0.0.1", "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"), "dbname": "postgres",
    }
    if parts.password:
        conninfo["password"] = unquote(parts.password)
    with psycopg.connect(**conninfo, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            say(f"creating database {dbname}")
            conn.execute(f'CREATE DATABASE "{dbname}"')


# --- Redis ----------------------------------------------------------------------

def start_redis(host: str, port: int) -> bool:
    server = shutil.which("redis-server")
    if not server:
        return False
    datadir = DATA / "redis"
    datadir.mkdir(parents=True, exist_ok=True)
    say(f"starting Redis on {host}:{port} (data in {datadir})")
    run([server, "--daemonize", "yes", "--bind", host, "--port", str(port), "--dir", str(datadir),
         "--save", "", "--appendonly", "no", "--logfile", str(DATA / "redis.log")])
    return wait_port(host, port)


def ensure_redis(env: dict[str, str]) -> None:
    url = urlsplit(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if not port_open(host, port):
        started = start_redis(host, port)
        if not started and apt_install(["redis-server"]):
            started = port_open(host, port) or start_redis(host, port)
        if not started:
            fail(f"Redis is not reachable at {host}:{port} and could not be started here.\n"
                 "  Start one with:  docker compose up -d redis\n"
                 "  or install it:   sudo apt-get install redis-server")
    say(f"Redis answers at {host}:{port}")


# --- Mosquitto ------------------------------------------------------------------

def dynsec_plugin() -> str | None:
    for pattern in ("/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so",
                    "/usr/local/lib/mosquitto_dynamic_security.so"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(iter(glob.glob("/usr/sbin/mosquitto")), None)


def mqtt_connack(host: str, port: int, username: str, password: str) -> int | None:
    """CONNECT with the platform's credentials; the CONNACK return code, or None if no answer."""
    def field(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    flags = 0x02 | (0x80 if username else 0) | (0x40 if password else 0)
    payload = field(f"gatehouse-setup-{os.getpid()}") + (field(username) if username else b"") + (
        field(password) if password else b"")
    body = field("MQTT") + bytes([0x04, flags]) + (10).to_bytes(2, "big") + payload
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            sock.sendall(bytes([0x10, len(body)]) + body)
            reply = sock.recv(4)
            sock.sendall(b"\xe0\x00")
    except OSError:
        return None
    return reply[3] if len(reply) == 4 and reply[0] == 0x20 else None


def write_mosquitto_config(directory: Path, port: int, host: str, username: str, password: str) -> Path:
    """A broker like docker/mosquitto's: dynamic security, no anonymous access, data in `directory`."""
    plugin = dynsec_plugin()
    if not plugin:
        fail("Mosquitto's dynamic security plugin (mosquitto_dynamic_security.so) was not found; "
             "install Mosquitto 2.x: sudo apt-get install mosquitto mosquitto-clients")
    ctrl = shutil.which("mosquitto_ctrl")
    directory.mkdir(parents=True, exist_ok=True)
    dynsec = directory / "dynamic-security.json"
    if not dynsec.exists():
        if not ctrl:
            fail("mosquitto_ctrl was not found; install it: sudo apt-get install mosquitto-clients")
        run([ctrl, "dynsec", "init", str(dynsec), username, password], stdout=subprocess.DEVNULL)
    template = (ROOT / "docker" / "mosquitto" / "mosquitto.conf").read_text()
    conf = template.replace("listener 1883", f"listener {port} {host}")
    conf = conf.replace("/usr/lib/mosquitto_dynamic_security.so", plugin)
    conf = conf.replace("/mosquitto/data/", f"{directory}/")
    conf = conf.replace("log_dest stdout", f"log_dest file {directory}/mosquitto.log")
    user = "root" if IS_ROOT else os.environ.get("USER", "")
    if user:
        conf += f"\n# Run as the user that owns {directory}.\nuser {user}\n"
    path = directory / "mosquitto.conf"
    path.write_text(conf)
    return path


def start_mosquitto(host: str, port: int, username: str, password: str) -> bool:
    binary = mosquitto_binary()
    if not binary:
        return False
    directory = DATA / "mosquitto"
    conf = write_mosquitto_config(directory, port, host, username, password)
    say(f"starting Mosquitto (dynamic security) on {host}:{port}, data in {directory}")
    run([binary, "-d", "-c", str(conf)])
    return wait_port(host, port, 10)


def ensure_mosquitto(env: dict[str, str]) -> None:
    url = urlsplit(env.get("MQTT_URL", "mqtt://127.0.0.1:1884"))
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    username, password = env.get("MQTT_USERNAME", "gatehouse"), env.get("MQTT_PASSWORD", "")
    if not password:
        fail("MQTT_PASSWORD is empty; run `make .env` (or copy .env.example to .env and set it).")
    if not port_open(host, port):
        started = start_mosquitto(host, port, username, password)
        if not started and apt_install(["mosquitto", "mosquitto-clients"]):
            started = start_mosquitto(host, port, username, password)
        if not started:
            fail(f"Mosquitto is not reachable at {host}:{port} and could not be started here.\n"
                 "  Start one with:  docker compose up -d mqtt\n"
                 "  or install it:   sudo apt-get install mosquitto mosquitto-clients")
    code = mqtt_connack(host, port, username, password)
    if code is None:
        fail(f"Something listens at {host}:{port} but does not speak MQTT.")
    if code != 0:
        fail(f"The MQTT broker at {host}:{port} refuses Gatehouse's credentials (CONNACK {code}). "
             f"Point MQTT_URL at Gatehouse's own broker (docker/mosquitto) or fix MQTT_USERNAME/MQTT_PASSWORD.")
    say(f"Mosquitto answers at {host}:{port} and accepts the platform's credentials")


# --- System packages ------------------------------------------------------------

PACKAGE_PROBES = {
    "chromium": lambda: shutil.which("chromium") is not None,
    "poppler-utils": lambda: shutil.which("pdftoppm") is not None and shutil.which("pdftotext") is not None,
    "mosquitto": lambda: mosquitto_binary() is not None and dynsec_plugin() is not None,
    "mosquitto-clients": lambda: shutil.which("mosquitto_ctrl") is not None,
    "libpango-1.0-0": lambda: bool(glob.glob("/usr/lib/*/libpango-1.0.so.0")),
    "libpangoft2-1.0-0": lambda: bool(glob.glob("/usr/lib/*/libpangoft2-1.0.so.0")),
    "fonts-dejavu-core": lambda: bool(glob.glob("/usr/share/fonts/truetype/dejavu/*.ttf")),
}


def ensure_system_packages(packages: list[str]) -> None:
    missing = [p for p in packages if not PACKAGE_PROBES.get(p, lambda p=p: shutil.which(p) is not None)()]
    if not missing:
        return
    if not apt_install(missing):
        fail(f"Missing system packages: {' '.join(missing)}.\n  Install them with:  "
             f"sudo apt-get install {' '.join(missing)}")
    still = [p for p in missing if not PACKAGE_PROBES.get(p, lambda p=p: shutil.which(p) is not None)()]
    if still:
        fail(f"Installed but still not found: {' '.join(still)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system-packages", nargs="*", default=[])
    parser.add_argument("--skip", nargs="*", default=[], choices=["postgres", "redis", "mosquitto"])
    args = parser.parse_args()
    ensure_system_packages(args.system_packages)
    env = read_env()
    if "postgres" not in args.skip:
        ensure_postgres(env)
    if "redis" not in args.skip:
        ensure_redis(env)
    if "mosquitto" not in args.skip:
        ensure_mosquitto(env)


if __name__ == "__main__":
    main()
