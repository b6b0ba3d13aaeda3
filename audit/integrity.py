"""Tamper evidence for the audit trail: a hash chain per schema.

Every event carries `sequence` (1, 2, 3... per schema), `prev_hash` (the hash of the
event before it, "" for the first) and `hash`, the SHA-256 of the event's canonical
content including `prev_hash`. Changing, removing or reordering any event breaks the
chain from that event on; `manage.py audit_verify` walks it and names the first event
that does not match.

The canonical content is the JSON of the event's fields as PostgreSQL returns them
(JSON documents go through `jsonb` before they are hashed, see `audit.services`),
with sorted keys and no whitespace, so the hash computed when the event is written
is the one recomputed from the stored row.

A retention purge deletes the oldest events through the one audited path
(`audit.services.audit_purge`); it records an `audit.purge` event naming the last
deleted event's sequence and hash, which anchors the first remaining event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

HASH_VERSION = 1
PURGE_ACTION = "audit.purge"

# Fields covered by the hash, in the order they are described to people.
HASHED_FIELDS = (
    "id", "sequence", "occurred_at", "actor_type", "actor_id", "actor_email", "action",
    "resource_type", "resource_id", "changes", "ip", "user_agent", "request_id",
    "outcome", "reason", "metadata", "prev_hash",
)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(values: dict[str, Any]) -> str:
    """The text that is hashed: `values` holds each of HASHED_FIELDS as read from the row."""
    doc: dict[str, Any] = {"v": HASH_VERSION}
    for name in HASHED_FIELDS:
        value = values[name]
        if name == "occurred_at":
            value = _timestamp(value)
        elif name in ("id", "ip") and value is not None:
            value = str(value)
        doc[name] = value
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_content(values).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event of a schema's chain that does not match, and why."""

    event_id: str
    sequence: int
    occurred_at: datetime
    action: str
    problem: str

    def describe(self) -> str:
        return (f"event {self.event_id} (#{self.sequence}, {_timestamp(self.occurred_at)}, {self.action}): "
                f"{self.problem}")


@dataclass(frozen=True)
class ChainReport:
    schema: str
    checked: int
    first_sequence: int | None
    last_sequence: int | None
    head_hash: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _rows(queryset: QuerySet[Any], chunk: int) -> Iterator[dict[str, Any]]:
    """Every event in sequence order, a chunk at a time (keyset: flat memory, no long transaction)."""
    last = 0
    while True:
        batch = list(queryset.filter(sequence__gt=last).order_by("sequence").values(*HASHED_FIELDS, "hash")[:chunk])
        if not batch:
            return
        yield from batch
        last = batch[-1]["sequence"]


def _purge_anchor(queryset: QuerySet[Any], first: dict[str, Any]) -> bool:
    """Whether a recorded purge removed exactly the events before `first`."""
    return queryset.filter(
        action=PURGE_ACTION,
        sequence__gt=first["sequence"],
        metadata__through_sequence=first["sequence"] - 1,
        metadata__through_hash=first["prev_hash"],
    ).exists()


def verify_chain(queryset: QuerySet[Any], *, schema: str, chunk: int = 2000) -> ChainReport:
    """Walk the chain of the current schema's events; stop at the first event that does not match."""
    checked = 0
    previous: dict[str, Any] | None = None
    first_sequence: int | None = None

    def broken(row: dict[str, Any], problem: str) -> ChainReport:
        return ChainReport(schema, checked, first_sequence, row["sequence"], previous["hash"] if previous else "",
                           ChainBreak(str(row["id"]), row["sequence"], row["occurred_at"], row["action"], problem))

    for row in _rows(queryset, chunk):
        if previous is None:
            first_sequence = row["sequence"]
            if row["sequence"] == 1:
                if row["prev_hash"] != "":
                    return broken(row, "it is the first event but names a predecessor; events were reordered")
            elif not _purge_anchor(queryset, row):
                return broken(row, f"the {row['sequence'] - 1} event(s) before it were deleted outside a "
                                   "recorded retention purge")
        else:
            if row["sequence"] != previous["sequence"] + 1:
                return broken(row, f"event(s) #{previous['sequence'] + 1} to #{row['sequence'] - 1} before it "
                                   "are missing")
            if row["prev_hash"] != previous["hash"]:
                return broken(row, f"it does not follow event #{previous['sequence']}: its prev_hash differs from "
                                   "that event's hash (an event was replaced or reordered)")
        if event_hash(row) != row["hash"]:
            return broken(row, "its content does not match its hash: the row was modified after it was written")
        checked += 1
        previous = row
    return ChainReport(schema, checked, first_sequence, previous["sequence"] if previous else None,
                       previous["hash"] if previous else "", None)
