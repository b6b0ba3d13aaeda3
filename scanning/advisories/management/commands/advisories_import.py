"""`manage.py advisories_import PATH [PATH ...]`: load OSV advisories into the shared database."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.context import Actor
from config.errors import ApplicationError
from scanning.advisories.services import advisories_import


class Command(BaseCommand):
    help = ("Import OSV advisories from JSON files, directories of them, or OSV ecosystem zip exports. "
            "Changed advisories (newer `modified`) are updated; malformed ones are reported and skipped.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="OSV JSON file, directory or zip archive")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--show-errors", type=int, default=20, help="how many skipped entries to list")

    def handle(self, *args: Any, **options: Any) -> None:
        connection.set_schema_to_public()
        started = time.perf_counter()
        try:
            report = advisories_import(paths=options["paths"], actor=Actor.system("advisories_import"),
                                       batch_size=options["batch_size"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.skipped} skipped in {elapsed:.1f}s"
        )
        for line in report.errors[: options["show_errors"]]:
            self.stderr.write(f"skipped {line}")
        if len(report.errors) > options["show_errors"]:
            self.stderr.write(f"... and {report.skipped - options['show_errors']} more skipped")
        if report.skipped and not report.loaded and not report.unchanged:
            raise CommandError("Nothing could be imported: every entry was malformed or unreadable.")
