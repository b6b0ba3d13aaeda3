"""`manage.py scan --tenant acme PATH | ecosystem:name==version [--wait]`: submit a scan as an operator."""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django_tenants.utils import schema_context

from audit.context import Actor
from config.errors import ApplicationError

REFERENCE = re.compile(r"^(?P<ecosystem>pypi|npm|debian|rpm|alpine):(?P<name>[^=\s]+)==(?P<version>\S+)$")
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


class Command(BaseCommand):
    help = ("Scan a package file (PATH) or a registry reference (ecosystem:name==version) for an organization; "
            "with --wait, print the verdict and findings. Exit status: 0 done (not blocked), 1 failed or "
            "cancelled, 2 blocked by policy, 3 still running at --timeout.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="a package file, or ecosystem:name==version (e.g. pypi:requests==2.31.0)")
        parser.add_argument("--tenant", required=True, help="the organization's slug")
        parser.add_argument("--ecosystem", default="", help="for a file whose type is ambiguous (.tar.gz)")
        parser.add_argument("--name", default="", help="expected package name (checked against the metadata)")
        parser.add_argument("--pkg-version", dest="pkg_version", default="", help="expected package version")
        parser.add_argument("--connection", default="", help="registry connection name (default: the ecosystem's)")
        parser.add_argument("--wait", action="store_true", help="wait for the result and print it")
        parser.add_argument("--inline", action="store_true",
                            help="run the pipeline in this process instead of a worker (implies --wait)")
        parser.add_argument("--timeout", type=int, default=600, help="seconds --wait waits (default 600)")
        parser.add_argument("--all", action="store_true", help="also print passed and not-applicable checks")

    def handle(self, *args: Any, **opts: Any) -> None:
        from tenants.models import Tenant

        connection.set_schema_to_public()
        tenant = Tenant.objects.organizations().filter(schema_name=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No organization with slug '{opts['tenant']}'.")
        if not tenant.is_active:
            raise CommandError(f"The organization '{tenant.schema_name}' is suspended.")
        with schema_context(tenant.schema_name):
            scan = self._submit(tenant, opts)
            self.stdout.write(f"Scan {scan.id} queued: {scan.target}")
            if opts["inline"]:
                from scanning.pipeline import scan_run

                scan_run(scan_id=str(scan.id))
            elif not opts["wait"]:
                return
            code = self._wait_and_print(scan.id, opts)
        connection.set_schema_to_public()
        if code:
            raise SystemExit(code)

    def _submit(self, tenant: Any, opts: dict[str, Any]) -> Any:
        from scanning.models import Connection
        from scanning.services import scan_submit
        from scanning.uploads import StoredUpload

        actor = Actor.system("cli")
        target = opts["target"]
        enqueue = not opts["inline"]
        match = REFERENCE.match(target)
        try:
            if match:
                conn_id = None
                if opts["connection"]:
                    conn = Connection.objects.filter(name=opts["connection"]).first()
                    if conn is None:
                        raise CommandError(f"No connection named '{opts['connection']}'.")
                    conn_id = conn.id
                return scan_submit(tenant=tenant, actor=actor, ecosystem=match["ecosystem"], name=match["name"],
                                   version=match["version"], connection_id=conn_id, enqueue_task=enqueue).scan
            path = Path(target)
            if not path.is_file():
                raise CommandError(f"'{target}' is neither a file nor a reference like pypi:requests==2.31.0.")
            from scanning.pipeline import tenant_root

            uploads = tenant_root(tenant.schema_name) / "uploads"
            uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(dir=uploads, delete=False)  # noqa: SIM115 - closed below
            digest = hashlib.sha256()
            with open(path, "rb") as source:
                while chunk := source.read(1024 * 1024):
                    digest.update(chunk)
                    handle.write(chunk)
            handle.flush()
            upload = StoredUpload(handle, path.name, "application/octet-stream", path.stat().st_size,
                                  digest.hexdigest(), handle.name)
            try:
                return scan_submit(tenant=tenant, actor=actor, ecosystem=opts["ecosystem"], name=opts["name"],
                                   version=opts["pkg_version"], upload=upload, enqueue_task=enqueue).scan
            finally:
                upload.close()
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.details or ''}".strip()) from exc

    def _wait_and_print(self, scan_id: Any, opts: dict[str, Any]) -> int:
        from scanning.models import Scan
        from scanning.selectors import finding_list

        deadline = time.monotonic() + opts["timeout"]
        last = None
        while True:
            scan = Scan.objects.get(pk=scan_id)
            if (scan.stage, scan.progress) != last:
                last = (scan.stage, scan.progress)
                self.stdout.write(f"  {scan.status:<10} {scan.stage:<9} {scan.progress:>3}%")
            if scan.is_terminal:
                break
            if time.monotonic() > deadline:
                self.stderr.write(f"Still {scan.status} after {opts['timeout']} s (is a worker running the "
                                  f"'scans' queue?). Follow it with: manage.py scan ... or the dashboard.")
                return 3
            time.sleep(0.5)
        width = shutil.get_terminal_size((100, 20)).columns
        self.stdout.write("")
        self.stdout.write(f"{scan.display_name} ({scan.ecosystem}) — {scan.status}")
        if scan.sha256:
            self.stdout.write(f"sha256 {scan.sha256}  size {scan.size}")
        if scan.status == Scan.StatusChoices.COMPLETED:
            verdict = scan.verdict or "none (no policy evaluated)"
            self.stdout.write(f"Score {scan.score}/100, grade {scan.grade}. Verdict: {verdict}")
        if scan.error_message:
            self.stdout.write(self.style.ERROR(f"{scan.error_code}: {scan.error_message}"))
        findings = finding_list(scan=scan)
        if not opts["all"]:
            findings = findings.filter(status__in=["failed", "warning", "error"])
        rows = list(findings)
        self.stdout.write(f"\nFindings ({len(rows)}):" if rows else "\nNo findings.")
        for f in rows:
            where = f" [{f.file_path}{':' + str(f.line) if f.line else ''}]" if f.file_path else ""
            line = f"  {f.severity.upper():<8} {f.status:<14} {f.check_id:<14} {f.title}{where}"
            self.stdout.write(line[:width] if len(line) > width else line)
            if f.detail and f.status not in ("passed", "not_applicable"):
                self.stdout.write(f"      {f.detail[: max(width - 6, 40)]}")
        if scan.status != Scan.StatusChoices.COMPLETED:
            return 1
        return 2 if scan.verdict == Scan.Verdict.BLOCK else 0
