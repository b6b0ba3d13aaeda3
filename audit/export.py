"""Streamed export of the audit trail as CSV or JSON Lines, in flat memory.

Rows are read in keyset chunks (`sequence > last ORDER BY sequence LIMIT n`): each
chunk is one short query, so neither this process nor PostgreSQL holds more than a
chunk, and no transaction stays open while a slow client downloads. (A server-side
cursor would need a transaction for the whole download; outside one, psycopg's
WITH HOLD cursor makes PostgreSQL materialize the entire result first.) The range is
fixed when the export starts: events recorded meanwhile are not included.

Under ASGI (uvicorn) the body is an async iterator whose chunks are fetched with
`sync_to_async` in the request's own thread (same connection, same schema); under
WSGI and the test client, a plain iterator.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, QuerySet

from audit.models import AuditEvent

EXPORT_FIELDS = (
    "id", "sequence", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "resource_type",
    "resource_id", "outcome", "reason", "changes", "metadata", "ip", "user_agent", "request_id", "prev_hash", "hash",
)
CHUNK_ROWS = 2000
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
    elif value is None:
        return ""
    elif not isinstance(value, str):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _encode_csv(rows: list[tuple[Any, ...]], *, header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(EXPORT_FIELDS)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _encode_jsonl(rows: list[tuple[Any, ...]], *, header: bool) -> bytes:
    return "".join(
        json.dumps(dict(zip(EXPORT_FIELDS, row, strict=True)), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"
        for row in rows
    ).encode("utf-8")


ENCODERS: dict[str, Callable[..., bytes]] = {"csv": _encode_csv, "jsonl": _encode_jsonl}


class ExportPlan:
    """A filtered range of events, read chunk by chunk in sequence order (ascending or descending)."""

    def __init__(self, queryset: QuerySet[AuditEvent], *, file_format: str, descending: bool = False,
                 chunk_rows: int | None = None) -> None:
        if file_format not in ENCODERS:
            raise ValueError(f"unknown export format {file_format!r}")
        self.queryset = queryset.order_by()
        self.file_format = file_format
        self.descending = descending
        self.chunk_rows = chunk_rows or getattr(settings, "AUDIT_EXPORT_CHUNK_ROWS", None) or CHUNK_ROWS
        self.head: int | None = None
        self.cursor: int | None = None
        self.emitted = False
        self.done = False

    def start(self) -> None:
        """Fix the range: the newest event now is the last one exported (called on first use if not before)."""
        if self.head is None:
            self.head = AuditEvent.objects.aggregate(head=Max("sequence"))["head"] or 0
            self.cursor = self.head + 1 if self.descending else 0

    def next_chunk(self) -> bytes | None:
        """The next encoded chunk (the first carries the CSV header), or None at the end."""
        if self.done:
            return None
        self.start()
        first = not self.emitted
        self.emitted = True
        assert self.cursor is not None and self.head is not None
        if self.descending:
            page = self.queryset.filter(sequence__lt=self.cursor).order_by("-sequence")
        else:
            page = self.queryset.filter(sequence__gt=self.cursor, sequence__lte=self.head).order_by("sequence")
        rows = list(page.values_list(*EXPORT_FIELDS)[: self.chunk_rows])
        if len(rows) < self.chunk_rows:
            self.done = True
        if rows:
            self.cursor = rows[-1][1]
        if not rows and not first:
            return None
        return ENCODERS[self.file_format](rows, header=first)

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        fetch = sync_to_async(self.next_chunk, thread_sensitive=True)
        while (chunk := await fetch()) is not None:
            yield chunk
