"""Audit coverage of the scanning API (see docs/contributing.md, "Audit coverage of mutating routes")."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.testing import AuditCase, CaseContext, Expected

CONNECTION = {"name": "Internal PyPI", "kind": "pypi", "base_url": "http://127.0.0.1:9/pypi"}


def _upload(ctx: CaseContext) -> Any:
    from scanning import samples

    filename, data = samples.BUILDERS["npm"](malicious=False)
    return ctx.client.post("/api/v1/scans", {"file": SimpleUploadedFile(filename, data)})


def _queued_scan(ctx: CaseContext) -> None:
    # The task is enqueued on commit, which never comes in a test: the scan stays queued.
    response = _upload(ctx)
    assert response.status_code == 202, response.content
    ctx.data["scan"] = response.json()["id"]


def _finished_scan(ctx: CaseContext) -> None:
    _queued_scan(ctx)
    assert ctx.client.post(f"/api/v1/scans/{ctx.data['scan']}/cancel").status_code == 200


def _connection(ctx: CaseContext) -> None:
    response = ctx.json("post", "/api/v1/connections", CONNECTION)
    assert response.status_code == 201, response.content
    ctx.data["connection"] = response.json()["id"]


def _id(response: Any) -> str:
    return str(response.json()["id"])


CASES = [
    AuditCase(
        route="scanning-api:scan-list", method="POST", call=_upload,
        expect=lambda ctx, response: Expected(action="scan.create", resource_type="scan",
                                              resource_id=_id(response),
                                              changes={"ecosystem": {"after": "npm"}, "source": {"after": "upload"}}),
    ),
    AuditCase(
        route="scanning-api:scan-cancel", method="POST", setup=_queued_scan,
        call=lambda ctx: ctx.client.post(f"/api/v1/scans/{ctx.data['scan']}/cancel"),
        expect=lambda ctx, response: Expected(action="scan.cancel", resource_type="scan",
                                              resource_id=ctx.data["scan"],
                                              changes={"status": {"before": "queued", "after": "cancelled"}}),
    ),
    AuditCase(
        route="scanning-api:scan-rescan", method="POST", setup=_finished_scan,
        call=lambda ctx: ctx.client.post(f"/api/v1/scans/{ctx.data['scan']}/rescan"),
        expect=lambda ctx, response: Expected(action="scan.create", resource_type="scan",
                                              resource_id=_id(response), changes={"source": {"after": "upload"}}),
    ),
    AuditCase(
        route="scanning-api:scan-detail", method="DELETE", setup=_finished_scan,
        call=lambda ctx: ctx.client.delete(f"/api/v1/scans/{ctx.data['scan']}"),
        expect=lambda ctx, response: Expected(action="scan.delete", resource_type="scan",
                                              resource_id=ctx.data["scan"],
                                              changes={"status": {"before": "cancelled", "after": None}}),
    ),
    AuditCase(
        route="scanning-api:connection-list", method="POST",
        call=lambda ctx: ctx.json("post", "/api/v1/connections", CONNECTION),
        expect=lambda ctx, response: Expected(action="connection.create", resource_type="connection",
                                              resource_id=_id(response),
                                              changes={"name": {"after": "Internal PyPI"}}),
    ),
    AuditCase(
        route="scanning-api:connection-detail", method="PATCH", setup=_connection,
        call=lambda ctx: ctx.json("patch", f"/api/v1/connections/{ctx.data['connection']}", {"timeout_seconds": 12}),
        expect=lambda ctx, response: Expected(action="connection.update", resource_type="connection",
                                              resource_id=ctx.data["connection"],
                                              changes={"timeout_seconds": {"before": 30, "after": 12}}),
    ),
    AuditCase(
        route="scanning-api:connection-detail", method="PUT", setup=_connection,
        call=lambda ctx: ctx.json("put", f"/api/v1/connections/{ctx.data['connection']}",
                                  {**CONNECTION, "name": "Renamed PyPI"}),
        expect=lambda ctx, response: Expected(action="connection.update", resource_type="connection",
                                              resource_id=ctx.data["connection"],
                                              changes={"name": {"before": "Internal PyPI", "after": "Renamed PyPI"}}),
    ),
    AuditCase(
        route="scanning-api:connection-detail", method="DELETE", setup=_connection,
        call=lambda ctx: ctx.client.delete(f"/api/v1/connections/{ctx.data['connection']}"),
        expect=lambda ctx, response: Expected(action="connection.delete", resource_type="connection",
                                              resource_id=ctx.data["connection"],
                                              changes={"name": {"before": "Internal PyPI"}}),
    ),
    AuditCase(
        # Loopback is refused by the fetcher's address guard: the test is recorded as a failure.
        route="scanning-api:connection-test", method="POST", setup=_connection,
        call=lambda ctx: ctx.client.post(f"/api/v1/connections/{ctx.data['connection']}/test"),
        expect=lambda ctx, response: Expected(action="connection.test", resource_type="connection",
                                              resource_id=ctx.data["connection"], outcome="failure"),
    ),
]
