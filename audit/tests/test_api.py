"""GET /api/v1/audit-events (filters, ordering, pagination), detail, streamed export; permission audit.view_audit."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from audit import export
from audit.context import Actor
from audit.models import AuditEvent
from audit.services import audit_record
from audit.tests.helpers import make_member, member_client, sign_in

pytestmark = pytest.mark.django_db

LIST = "/api/v1/audit-events"


@pytest.fixture
def auditor(tenant_a):
    return member_client(tenant_a, "audit.view_audit")


@pytest.fixture
def events(tenant_a):
    """A small trail in acme: two people, several actions, one failure."""
    ada = Actor(type="user", id="ada-id", email="ada@acme.test", ip="10.0.0.1", request_id="req-ada-0001")
    bob = Actor(type="api_key", id="key-7", email="bob@acme.test", ip="10.0.0.2")
    with schema_context(tenant_a.schema_name):
        made = [
            audit_record(actor=ada, action="scan.create", resource_type="scan", resource_id="s-1",
                         changes={"status": {"after": "queued"}}),
            audit_record(actor=bob, action="scan.create", resource_type="scan", resource_id="s-2"),
            audit_record(actor=ada, action="auth.login", resource_type="user", resource_id="ada-id"),
            audit_record(actor=bob, action="auth.login_failed", resource_type="user", outcome="failure",
                         reason="wrong password"),
            audit_record(actor=ada, action="policy.update", resource_type="policy", resource_id="p-1",
                         changes={"mode": {"before": "warn", "after": "block"}}),
        ]
    return made


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def test_list_needs_a_signed_in_member_with_view_audit(tenant_a, client_a):
    assert client_a.get(LIST).status_code in (401, 403)
    assert client_a.get(LIST).json()["error"]["code"] in ("not_authenticated", "authentication_failed")
    developer, _ = member_client(tenant_a, "scanning.submit_scan")
    refused = developer.get(LIST)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"


def test_list_is_paginated_newest_first_without_n_plus_one(auditor, events, tenant_a, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, _ = auditor
    client.get(LIST)  # warm up: session, permissions cache
    with CaptureQueriesContext(connection) as small:
        client.get(LIST, {"page_size": 2})
    with schema_context(tenant_a.schema_name):
        for i in range(40):
            audit_record(actor=Actor.system("bulk"), action="scan.update", resource_type="scan", resource_id=str(i))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(client.get(LIST, {"page_size": 45}).json()["results"]) == 45
    response = client.get(LIST, {"page_size": 2, "actor": "ada@acme.test"})
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    assert client.get(body["next"]).json()["results"][0]["id"] == str(events[0].pk)
    assert body["results"][0]["id"] == str(events[-1].pk)
    first = body["results"][0]
    assert first["action"] == "policy.update" and first["changes"] == {"mode": {"before": "warn", "after": "block"}}
    assert first["hash"] and first["prev_hash"] == events[-2].hash and first["sequence"] == events[-1].sequence


@pytest.mark.parametrize("params,expected", [
    ({"actor": "ada@acme.test"}, [4, 2, 0]),
    ({"actor": "key-7"}, [3, 1]),
    ({"actor_type": "api_key"}, [3, 1]),
    ({"action": "scan.create"}, [1, 0]),
    ({"action": "auth."}, [3, 2]),
    ({"resource_type": "scan", "resource_id": "s-2"}, [1]),
    ({"outcome": "failure"}, [3]),
    ({"request_id": "req-ada-0001"}, [4, 2, 0]),
    ({"actor": "ada@acme.test", "ordering": "sequence"}, [0, 2, 4]),
    ({"actor": "ada@acme.test", "ordering": "action"}, [2, 4, 0]),
])
def test_list_filters_and_ordering(auditor, events, params, expected):
    client, _ = auditor
    response = client.get(LIST, params)
    assert response.status_code == 200, response.content
    assert ids(response) == [str(events[i].pk) for i in expected]


def test_date_range_filters(auditor, events):
    client, _ = auditor
    moment = events[2].occurred_at
    since = client.get(LIST, {"since": moment.isoformat(), "actor": "ada@acme.test"})
    assert ids(since) == [str(events[4].pk), str(events[2].pk)]
    until = client.get(LIST, {"until": moment.isoformat(), "actor": "ada@acme.test"})
    assert ids(until) == [str(events[0].pk)]
    today = moment.date().isoformat()
    whole_day = client.get(LIST, {"since": today, "until": today, "actor": "ada@acme.test"})
    assert len(ids(whole_day)) == 3
    assert client.get(LIST, {"until": "1999-12-31", "actor": "ada@acme.test"}).json()["count"] == 0


def test_bad_filters_are_a_400_in_the_envelope(auditor):
    client, _ = auditor
    response = client.get(LIST, {"since": "last tuesday", "outcome": "maybe"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and {"since", "outcome"} <= set(error["details"])
    assert error["request_id"] == response["X-Request-ID"]


def test_detail_and_404s(auditor, events, tenant_b):
    client, _ = auditor
    response = client.get(f"{LIST}/{events[0].pk}")
    assert response.status_code == 200 and response.json()["action"] == "scan.create"
    for missing in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        answer = client.get(f"{LIST}/{missing}")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    # Another organization's auditor, on its own host, cannot see acme's event.
    other, _ = member_client(tenant_b, "audit.view_audit")
    assert other.get(f"{LIST}/{events[0].pk}").status_code == 404
    # ...nor with acme's session on acme's host while signed in to globex.
    stranger = make_member(tenant_b, "audit.view_audit")
    cross = sign_in(Client(HTTP_HOST=tenant_b.primary_host), tenant_b, stranger)
    cross.defaults["HTTP_HOST"] = "acme.localhost"
    assert cross.get(f"{LIST}/{events[0].pk}").status_code in (401, 403)


def _body(response) -> bytes:
    assert response.streaming, "the export must be streamed"
    return b"".join(response.streaming_content)


def test_export_csv_streams_the_filtered_range_in_chunks(auditor, events, settings):
    client, _ = auditor
    settings.AUDIT_EXPORT_CHUNK_ROWS = 2
    response = client.get(f"{LIST}/export.csv", {"actor": "ada@acme.test"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    chunks = list(response.streaming_content)
    assert len(chunks) >= 2
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [r["id"] for r in rows] == [str(events[i].pk) for i in (0, 2, 4)]
    assert rows[0]["changes"] == '{"status": {"after": "queued"}}' and rows[0]["hash"] == events[0].hash
    assert list(rows[0]) == list(export.EXPORT_FIELDS)


def test_export_jsonl_newest_first_and_the_export_is_recorded(auditor, events, tenant_a):
    client, user = auditor
    response = client.get(f"{LIST}/export.jsonl", {"action": "scan.create", "ordering": "-sequence"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in _body(response).decode().splitlines()]
    assert [line["id"] for line in lines] == [str(events[1].pk), str(events[0].pk)]
    assert lines[0]["actor_type"] == "api_key" and lines[0]["sequence"] == events[1].sequence
    with schema_context(tenant_a.schema_name):
        recorded = AuditEvent.objects.get(action="audit.export")
    assert recorded.actor_type == "user" and recorded.actor_id == str(user.pk)
    assert recorded.metadata == {"format": "jsonl", "filters": {"action": "scan.create"}, "ordering": "-sequence"}


def test_export_escapes_spreadsheet_formulas(auditor, tenant_a):
    client, _ = auditor
    with schema_context(tenant_a.schema_name):
        audit_record(actor=Actor(type="anonymous", user_agent="=HYPERLINK(\"http://evil\")"),
                     action="auth.login_failed", resource_type="user", reason="+1 attempt", outcome="failure")
    rows = list(csv.DictReader(io.StringIO(_body(client.get(f"{LIST}/export.csv", {"outcome": "failure"})).decode())))
    assert rows[-1]["user_agent"] == "'=HYPERLINK(\"http://evil\")" and rows[-1]["reason"] == "'+1 attempt"


def test_export_refuses_unknown_formats_and_orderings_and_needs_the_permission(auditor, tenant_a):
    client, _ = auditor
    assert client.get(f"{LIST}/export.xlsx").status_code == 404
    assert client.get(f"{LIST}/export.csv", {"ordering": "action"}).status_code == 400
    developer, _ = member_client(tenant_a, "scanning.submit_scan")
    assert developer.get(f"{LIST}/export.csv").status_code == 403
