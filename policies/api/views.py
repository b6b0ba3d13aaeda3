"""The policies API: policies and revisions, simulation, verdicts and re-evaluation, waivers, the gate.

Views are thin: parse with a serializer, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import Actor
from config.api.permissions import ActionPermissions, HasPerm
from config.errors import PermissionDenied, ValidationFailed
from policies import engine, selectors, services
from policies.api import filters
from policies.api.serializers import (
    GateQuerySerializer,
    PolicyDocumentSerializer,
    PolicySerializer,
    ReevaluateInputSerializer,
    RevisionDiffSerializer,
    RevisionSerializer,
    SimulationInputSerializer,
    WaiverDecisionSerializer,
    WaiverRequestSerializer,
    WaiverRevokeSerializer,
    WaiverSerializer,
)
from scanning import selectors as scan_selectors

ERRORS = {
    400: OpenApiResponse(description="validation_error: see details, keyed by field path "
                                     "(e.g. rules[2].conditions[0].value)"),
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied (self_approval for your own waiver)"),
    404: OpenApiResponse(description="not_found (also another organization's object, or a scan you cannot see)"),
}
CONFLICT = {409: OpenApiResponse(description="conflict: scan_not_completed, waiver_not_pending, waiver_expired, "
                                              "waiver_not_active")}

DOCUMENT_EXAMPLE = OpenApiExample("Block critical vulnerabilities in PyPI", request_only=True, value={
    "name": "PyPI gate", "mode": "enforce", "priority": 50,
    "scope": {"ecosystems": ["pypi"], "packages": []},
    "rules": [
        {"name": "Internal packages", "action": "allow", "match": "all",
         "conditions": [{"subject": "package", "operator": "glob", "value": "acme-*"}]},
        {"name": "Critical vulnerabilities", "action": "block", "match": "all",
         "conditions": [{"subject": "category", "operator": "eq", "value": "vulnerability"},
                        {"subject": "cvss", "operator": "gte", "value": 9.0}]},
    ],
})


def _document_input(data: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(data, dict):
        raise ValidationFailed("Send the policy as a JSON object.", details={"non_field_errors": [
            "Send the policy as a JSON object."]})
    document = dict(data)
    summary = document.pop("summary", "") or ""
    if not isinstance(summary, str):
        raise ValidationFailed(details={"summary": ["Give a text."]})
    return document, summary


class PolicyViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {
        "list": ["policies.view_policies"], "retrieve": ["policies.view_policies"],
        "revisions": ["policies.view_policies"], "revision": ["policies.view_policies"],
        "diff": ["policies.view_policies"], "subjects": ["policies.view_policies"],
        "create": ["policies.manage_policies"], "update": ["policies.manage_policies"],
        "partial_update": ["policies.manage_policies"], "destroy": ["policies.manage_policies"],
        "simulate": ["policies.manage_policies"], "reevaluate": ["policies.manage_policies"],
    }
    serializer_class = PolicySerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["priority", "name", "updated_at", "created_at"]
    ordering = ["priority", "name"]
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        return selectors.policy_list(actor=Actor.from_request(self.request))

    @extend_schema(summary="List policies", parameters=[
        OpenApiParameter("enabled", bool), OpenApiParameter("mode", str, description="enforce, monitor"),
        OpenApiParameter("ecosystem", str, description="policies whose scope covers it"),
        OpenApiParameter("q", str, description="name contains"),
        OpenApiParameter("ordering", str, description="priority, name, updated_at, created_at")],
        responses={200: PolicySerializer(many=True), **ERRORS})
    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(filters.apply(filters.PolicyFilter, request.query_params, self.get_queryset(),
                                                request))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PolicySerializer(page, many=True).data)

    @extend_schema(summary="Create a policy", request=PolicyDocumentSerializer, examples=[DOCUMENT_EXAMPLE],
                   description="Rules are validated on save: unknown subjects, bad operators, invalid regular "
                               "expressions and contradictory values answer 400 with errors keyed by path. "
                               "Completed scans of the last POLICIES_REEVALUATE_DAYS days are re-evaluated.",
                   responses={201: PolicySerializer, **ERRORS})
    def create(self, request: Request) -> Response:
        document, summary = _document_input(request.data)
        policy = services.policy_create(tenant=request.tenant, actor=Actor.from_request(request), document=document,
                                        summary=summary)
        policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=policy.pk)
        body = PolicySerializer(policy).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Location"] = body["urls"]["self"]
        return response

    @extend_schema(summary="A policy", responses={200: PolicySerializer, **ERRORS})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(PolicySerializer(selectors.policy_get(actor=Actor.from_request(request), policy_id=pk)).data)

    @extend_schema(summary="Replace a policy (records a revision)", request=PolicyDocumentSerializer,
                   examples=[DOCUMENT_EXAMPLE], responses={200: PolicySerializer, **ERRORS})
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, partial=False)

    @extend_schema(summary="Change some fields of a policy (records a revision)", request=PolicyDocumentSerializer,
                   responses={200: PolicySerializer, **ERRORS})
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, partial=True)

    def _update(self, request: Request, pk: str, *, partial: bool) -> Response:
        actor = Actor.from_request(request)
        policy = selectors.policy_get(actor=actor, policy_id=pk)
        document, summary = _document_input(request.data)
        if partial:
            document = {**policy.document(), **document}
        services.policy_update(tenant=request.tenant, actor=actor, policy=policy, document=document, summary=summary)
        return Response(PolicySerializer(selectors.policy_get(actor=actor, policy_id=pk)).data)

    @extend_schema(summary="Delete a policy", description="The policy stops applying at once; its revisions and "
                   "the evaluations that used it are kept.", responses={204: None, **ERRORS})
    def destroy(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        services.policy_delete(tenant=request.tenant, actor=actor, policy=selectors.policy_get(actor=actor,
                                                                                              policy_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="A policy's revisions, newest first", responses={200: RevisionSerializer(many=True),
                                                                            **ERRORS})
    @action(detail=True, methods=["get"])
    def revisions(self, request: Request, pk: str) -> Response:
        policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=pk, include_deleted=True)
        page = self.paginate_queryset(selectors.revision_list(policy=policy))
        return self.get_paginated_response(RevisionSerializer(page, many=True).data)

    @extend_schema(summary="One revision of a policy", responses={200: RevisionSerializer, **ERRORS})
    @action(detail=True, methods=["get"], url_path=r"revisions/(?P<number>\d+)")
    def revision(self, request: Request, pk: str, number: str) -> Response:
        policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=pk, include_deleted=True)
        return Response(RevisionSerializer(selectors.revision_get(policy=policy, number=number)).data)

    @extend_schema(summary="Differences between two revisions", parameters=[
        OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True)],
        responses={200: RevisionDiffSerializer, **ERRORS})
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, pk: str) -> Response:
        policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=pk, include_deleted=True)
        params = request.query_params
        missing = {k: ["Give a revision number."] for k in ("from", "to") if not str(params.get(k, "")).isdigit()}
        if missing:
            raise ValidationFailed(details=missing)
        return Response(selectors.revision_diff(policy=policy, from_number=params["from"], to_number=params["to"]))

    @extend_schema(summary="Condition subjects and their operators", responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def subjects(self, request: Request) -> Response:
        return Response({"subjects": engine.catalog(), "actions": list(engine.ACTIONS),
                         "matches": list(engine.MATCHES), "modes": list(engine.MODES)})

    @extend_schema(summary="Simulate a draft policy against recent scans",
                   description="Evaluates the draft (never saved) against your latest completed scans, in place of "
                               "`replaces` or in addition to the live policies, and answers how many verdicts would "
                               "change and which.",
                   request=SimulationInputSerializer, responses={200: OpenApiTypes.OBJECT, **ERRORS})
    @action(detail=False, methods=["post"])
    def simulate(self, request: Request) -> Response:
        serializer = SimulationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        document = values["policy"]
        if isinstance(document, dict):
            document = {k: v for k, v in document.items() if k != "summary"}
        return Response(selectors.simulate(actor=Actor.from_request(request), document=document,
                                           replaces=values.get("replaces"), limit=values["scans"]))

    @extend_schema(summary="Re-evaluate the completed scans of the last N days",
                   request=ReevaluateInputSerializer, responses={202: OpenApiTypes.OBJECT, **ERRORS})
    @action(detail=False, methods=["post"])
    def reevaluate(self, request: Request) -> Response:
        serializer = ReevaluateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        days = serializer.validated_data.get("days") or int(settings.POLICIES_REEVALUATE_DAYS) or 30
        body = services.reevaluation_request(tenant=request.tenant, actor=Actor.from_request(request), days=days)
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _scan_for(request: Request, scan_id: str, perm: str) -> Any:
    """The scan as the actor may see it (404 otherwise), then the permission (403)."""
    actor = Actor.from_request(request)
    scan = scan_selectors.scan_get(actor=actor, scan_id=scan_id)
    if not HasPerm(perm)().has_permission(request, None):
        raise PermissionDenied("You do not have permission to perform this action.")
    return actor, scan


class ScanEvaluateView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Re-evaluate a scan's verdict now", request=None,
                   description="Evaluates the organization's current policies and waivers against the completed "
                               "scan and records the result. A scan you cannot see answers 404.",
                   responses={200: OpenApiTypes.OBJECT, **CONFLICT, **ERRORS})
    def post(self, request: Request, scan_id: str) -> Response:
        actor, scan = _scan_for(request, scan_id, "policies.manage_policies")
        services.scan_evaluate(tenant=request.tenant, actor=actor, scan=scan)
        scan.refresh_from_db(fields=["verdict"])
        return Response({"scan_id": str(scan.pk), **selectors.verdict_summary(scan=scan)})


class ScanVerdictView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="A scan's verdict with its reasons and waived findings",
                   responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request: Request, scan_id: str) -> Response:
        _actor, scan = _scan_for(request, scan_id, "policies.view_policies")
        return Response({"scan_id": str(scan.pk), **selectors.verdict_summary(scan=scan)})


class GateView(APIView):
    permission_classes = [HasPerm("policies.view_policies")]

    @extend_schema(
        summary="The gate: may this artifact be used?",
        description="Answers the current verdict (pass, warn, block) of the latest completed scan of the artifact, "
                    "with the reasons and a link to the scan, or `unknown` when it was never scanned to completion. "
                    "Always 200 when the query is valid: CI fails on `block` (see docs/gate.md).",
        parameters=[OpenApiParameter("ecosystem", str, required=True, description="pypi, npm, debian, rpm, alpine"),
                    OpenApiParameter("name", str), OpenApiParameter("version", str),
                    OpenApiParameter("sha256", str, description="Instead of name and version.")],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        serializer = GateQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        return Response(selectors.gate_verdict(actor=Actor.from_request(request), ecosystem=values["ecosystem"],
                                               name=values.get("name", ""), version=values.get("version", ""),
                                               sha256=values.get("sha256", "")))


class WaiverViewSet(viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    required_permissions = {
        "list": [], "retrieve": [],  # selectors scope: all with view_policies, else your own
        "create": ["policies.request_waiver"],
        "approve": ["policies.approve_waivers"], "reject": ["policies.approve_waivers"],
        "revoke": [],  # approvers, or the requester (checked by the service)
    }
    serializer_class = WaiverSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["requested_at", "expires_at", "state", "package_name"]
    ordering = ["-requested_at"]
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        return selectors.waiver_list(actor=Actor.from_request(self.request))

    @extend_schema(summary="List waivers", parameters=[
        OpenApiParameter(n, str, description=d) for n, d in (
            ("state", "pending, approved, rejected, revoked, expired (comma separated)"),
            ("scope", "check, vulnerability, fingerprint"), ("ecosystem", "comma separated"),
            ("package", "package name contains"), ("value", "check/vulnerability id contains"),
            ("requested_by", "user id or 'me'"), ("expires_before", "ISO date/time"),
            ("expires_after", "ISO date/time"), ("ordering", "requested_at, expires_at, state, package_name"))],
        responses={200: WaiverSerializer(many=True), **ERRORS})
    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(filters.apply(filters.WaiverFilter, request.query_params, self.get_queryset(),
                                                request))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(WaiverSerializer(page, many=True).data)

    @extend_schema(summary="Request a waiver", request=WaiverRequestSerializer,
                   description="Pending until someone else with `approve waivers` approves it. The expiry is "
                               "required and at most the organization's waiver_max_days (default 90) away.",
                   examples=[OpenApiExample("From a finding", request_only=True, value={
                       "finding": "3f9c...", "reason": "Not reachable: we never call the affected function.",
                       "expires_in_days": 30})],
                   responses={201: WaiverSerializer, **ERRORS})
    def create(self, request: Request) -> Response:
        serializer = WaiverRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        waiver = services.waiver_request(
            tenant=request.tenant, actor=Actor.from_request(request), finding_id=v.get("finding"),
            scope=v.get("scope", ""), value=v.get("value", ""), ecosystem=v.get("ecosystem", ""),
            package_name=v.get("package_name", ""), version_range=v.get("version_range", ""), reason=v["reason"],
            expires_at=v["expires_at"])
        body = WaiverSerializer(waiver).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Location"] = body["urls"]["self"]
        return response

    @extend_schema(summary="A waiver", responses={200: WaiverSerializer, **ERRORS})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(WaiverSerializer(selectors.waiver_get(actor=Actor.from_request(request), waiver_id=pk)).data)

    @extend_schema(summary="Approve a waiver (not your own)", request=WaiverDecisionSerializer,
                   responses={200: WaiverSerializer, **CONFLICT, **ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, services.waiver_approve)

    @extend_schema(summary="Reject a waiver (not your own)", request=WaiverDecisionSerializer,
                   responses={200: WaiverSerializer, **CONFLICT, **ERRORS})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, services.waiver_reject)

    def _decide(self, request: Request, pk: str, service: Any) -> Response:
        actor = Actor.from_request(request)
        waiver = selectors.waiver_get(actor=actor, waiver_id=pk)
        serializer = WaiverDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        waiver = service(tenant=request.tenant, actor=actor, waiver=waiver,
                         note=serializer.validated_data.get("note", ""))
        return Response(WaiverSerializer(selectors.waiver_get(actor=actor, waiver_id=waiver.pk)).data)

    @extend_schema(summary="Revoke a waiver", description="Approvers may revoke any pending or approved waiver; the "
                   "requester may withdraw their own. Scans of the package are re-evaluated.",
                   request=WaiverRevokeSerializer, responses={200: WaiverSerializer, **CONFLICT, **ERRORS})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        actor = Actor.from_request(request)
        waiver = selectors.waiver_get(actor=actor, waiver_id=pk)
        serializer = WaiverRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        waiver = services.waiver_revoke(tenant=request.tenant, actor=actor, waiver=waiver,
                                        reason=serializer.validated_data.get("reason", ""))
        return Response(WaiverSerializer(selectors.waiver_get(actor=actor, waiver_id=waiver.pk)).data)
