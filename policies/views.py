"""Dashboard pages of the policies app (server-rendered; behaviour in static/js/policies.js).

Also `scan_verdict_context(request, scan)`, the context of the verdict panel that the
scan page includes (`policies/scan_verdict_panel.html`), and the home-page panel.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.context import Actor
from config.errors import PermissionDenied, ValidationFailed, page_errors
from policies import engine, selectors, services
from policies.api import filters
from policies.forms import (
    PolicyEditor,
    PolicyJsonForm,
    ReevaluateForm,
    SimulationForm,
    WaiverDecisionForm,
    WaiverRequestForm,
    WaiverRevokeForm,
)
from policies.models import Policy, Waiver
from scanning import selectors as scan_selectors
from scanning.formats import ECOSYSTEMS

PAGE_SIZE = 25
FINDINGS_PER_REASON = 10


_page_errors = page_errors("policies:policy_list")


def _perm(request: HttpRequest, perm: str) -> bool:
    return bool(request.user.has_perm(perm))


def _require(request: HttpRequest, perm: str) -> None:
    if not _perm(request, perm):
        raise PermissionDenied("You do not have permission to open this page.")


def _catalog_json() -> str:
    return json.dumps(engine.catalog())


# --- Policies ---------------------------------------------------------------------------------------

@login_required
@_page_errors
def policy_list(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    params = request.GET.copy()
    show_deleted = params.get("deleted") == "1"
    qs = filters.apply(filters.PolicyFilter, params, selectors.policy_list(actor=actor,
                                                                         include_deleted=show_deleted), request)
    if show_deleted:
        qs = qs.filter(deleted_at__isnull=False)
    return render(request, "policies/policy_list.html", {
        "policies": list(qs), "filters": params, "show_deleted": show_deleted, "ecosystems": ECOSYSTEMS,
        "can_manage": _perm(request, "policies.manage_policies"),
        "reevaluate_form": ReevaluateForm(initial={"days": _default_days()}),
    })


def _default_days() -> int:
    from django.conf import settings

    return int(settings.POLICIES_REEVALUATE_DAYS) or 30


def _editor_page(request: HttpRequest, *, policy: Policy | None, editor: PolicyEditor,
                 simulation: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    return render(request, "policies/policy_edit.html", {
        "policy": policy, "editor": editor, "catalog_json": _catalog_json(), "simulation": simulation,
        "subjects": engine.catalog(),
    }, status=status)


def _handle_editor_post(request: HttpRequest, policy: Policy | None) -> HttpResponse:
    actor = Actor.from_request(request)
    op = request.POST.get("op", "save")
    if op == "add_rule" or op.startswith("add_condition:"):
        add = "rule" if op == "add_rule" else "condition:" + op.split(":", 1)[1]
        return _editor_page(request, policy=policy, editor=PolicyEditor.from_post(request.POST, add=add))
    editor = PolicyEditor.from_post(request.POST)
    document, mapping = editor.document()
    if op == "simulate":
        try:
            result = selectors.simulate(actor=actor, document=document, replaces=policy.pk if policy else None,
                                        limit=100)
        except ValidationFailed as exc:
            editor.place_errors(exc.details, mapping)
            return _editor_page(request, policy=policy, editor=editor, status=400)
        return _editor_page(request, policy=policy, editor=editor, simulation=result)
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        if policy is None:
            saved = services.policy_create(tenant=tenant, actor=actor, document=document, summary=editor.summary())
            messages.success(request, f"Policy '{saved.name}' created.")
        else:
            saved = services.policy_update(tenant=tenant, actor=actor, policy=policy, document=document,
                                           summary=editor.summary())
            messages.success(request, f"Policy '{saved.name}' saved as revision {saved.revision_number}.")
    except ValidationFailed as exc:
        editor.place_errors(exc.details if isinstance(exc.details, dict) else {"non_field_errors": [exc.message]},
                            mapping)
        return _editor_page(request, policy=policy, editor=editor, status=400)
    return redirect("policies:policy_detail", policy_id=saved.pk)


@login_required
@_page_errors
def policy_new(request: HttpRequest) -> HttpResponse:
    _require(request, "policies.manage_policies")
    if request.method == "POST":
        return _handle_editor_post(request, None)
    return _editor_page(request, policy=None, editor=PolicyEditor.from_document(None))


@login_required
@_page_errors
def policy_detail(request: HttpRequest, policy_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    policy = selectors.policy_get(actor=actor, policy_id=policy_id, include_deleted=True)
    rules = []
    for i, rule in enumerate(policy.rules or []):
        conditions = []
        for cond in rule.get("conditions", []):
            subject = engine.SUBJECTS.get(cond.get("subject"))
            op = subject.operator(cond.get("operator")) if subject else None
            value = cond.get("value")
            conditions.append({"subject": subject.label if subject else cond.get("subject"),
                               "operator": op.label if op else cond.get("operator"),
                               "value": ", ".join(map(str, value)) if isinstance(value, list) else value})
        rules.append({"index": i + 1, "name": rule.get("name") or f"Rule {i + 1}", "action": rule.get("action"),
                      "match": rule.get("match", "all"), "enabled": rule.get("enabled", True),
                      "conditions": conditions})
    return render(request, "policies/policy_detail.html", {
        "policy": policy, "rules": rules, "revisions": list(selectors.revision_list(policy=policy)[:10]),
        "can_manage": _perm(request, "policies.manage_policies") and not policy.is_deleted,
        "document_json": json.dumps(policy.document(), indent=2, ensure_ascii=False),
    })


@login_required
@_page_errors
def policy_edit(request: HttpRequest, policy_id: str) -> HttpResponse:
    _require(request, "policies.manage_policies")
    policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=policy_id)
    if request.method == "POST":
        return _handle_editor_post(request, policy)
    return _editor_page(request, policy=policy, editor=PolicyEditor.from_document(policy.document()))


@login_required
@_page_errors
def policy_json(request: HttpRequest, policy_id: str | None = None) -> HttpResponse:
    """The policy as JSON: read-only with `view policies`, an editor with `manage policies`."""
    actor = Actor.from_request(request)
    policy = selectors.policy_get(actor=actor, policy_id=policy_id, include_deleted=True) if policy_id else None
    can_manage = _perm(request, "policies.manage_policies") and (policy is None or not policy.is_deleted)
    if policy is None and not can_manage:
        raise PermissionDenied("You may not create policies.")
    document = policy.document() if policy else engine.default_policy_document() | {"name": ""}
    form = PolicyJsonForm(initial={"document": json.dumps(document, indent=2, ensure_ascii=False)})
    errors: list[tuple[str, str]] = []
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("You may not change policies.")
        form = PolicyJsonForm(request.POST)
        if form.is_valid():
            try:
                if policy is None:
                    saved = services.policy_create(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                                   document=form.cleaned_data["document"],
                                                   summary=form.cleaned_data["summary"])
                else:
                    saved = services.policy_update(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                                   policy=policy, document=form.cleaned_data["document"],
                                                   summary=form.cleaned_data["summary"])
                messages.success(request, f"Policy '{saved.name}' saved as revision {saved.revision_number}.")
                return redirect("policies:policy_detail", policy_id=saved.pk)
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                errors = [(path, msg) for path, msgs in details.items() for msg in msgs] or [("", exc.message)]
                form.add_error("document", "The policy is invalid; see the errors listed below.")
        status = 400
    return render(request, "policies/policy_json.html", {
        "policy": policy, "form": form, "errors": errors, "can_manage": can_manage,
    }, status=status)


@login_required
@require_POST
@_page_errors
def policy_delete(request: HttpRequest, policy_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    policy = selectors.policy_get(actor=actor, policy_id=policy_id)
    services.policy_delete(tenant=request.tenant, actor=actor, policy=policy)  # type: ignore[attr-defined]
    messages.success(request, f"Policy '{policy.name}' deleted; it no longer applies. Its history is kept.")
    return redirect("policies:policy_list")


@login_required
@_page_errors
def policy_revisions(request: HttpRequest, policy_id: str) -> HttpResponse:
    policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=policy_id, include_deleted=True)
    page = Paginator(selectors.revision_list(policy=policy), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "policies/policy_revisions.html", {"policy": policy, "page": page})


@login_required
@_page_errors
def policy_diff(request: HttpRequest, policy_id: str) -> HttpResponse:
    policy = selectors.policy_get(actor=Actor.from_request(request), policy_id=policy_id, include_deleted=True)
    current = policy.revision_number
    from_number = request.GET.get("from") or str(max(current - 1, 1))
    to_number = request.GET.get("to") or str(current)
    diff = selectors.revision_diff(policy=policy, from_number=from_number, to_number=to_number)
    lines = []
    for line in diff["rules_diff"]:
        kind = "meta" if line.startswith(("---", "+++", "@@")) else "add" if line.startswith("+") else \
            "del" if line.startswith("-") else "ctx"
        lines.append({"kind": kind, "text": line})
    return render(request, "policies/policy_diff.html", {
        "policy": policy, "diff": diff, "lines": lines,
        "numbers": list(selectors.revision_list(policy=policy).values_list("number", flat=True)),
    })


@login_required
@_page_errors
def policy_simulate(request: HttpRequest) -> HttpResponse:
    _require(request, "policies.manage_policies")
    actor = Actor.from_request(request)
    policies = list(selectors.policy_list(actor=actor))
    result = None
    status = 200
    if request.method == "POST":
        form = SimulationForm(request.POST, policies=policies)
        if form.is_valid():
            try:
                result = selectors.simulate(actor=actor, document=form.cleaned_data["document"],
                                            replaces=form.cleaned_data["replaces"] or None,
                                            limit=form.cleaned_data["scans"])
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                for path, msgs in details.items():
                    for msg in msgs:
                        form.add_error("scans" if path == "scans" else "document",
                                       msg if path == "scans" else f"{path}: {msg}")
                status = 400
        else:
            status = 400
    else:
        source = None
        if request.GET.get("policy"):
            source = selectors.policy_get(actor=actor, policy_id=request.GET["policy"])
        document = source.document() if source else engine.default_policy_document()
        form = SimulationForm(policies=policies, initial={
            "document": json.dumps(document, indent=2, ensure_ascii=False),
            "replaces": str(source.pk) if source else "", "scans": 100})
    return render(request, "policies/policy_simulate.html", {"form": form, "result": result}, status=status)


@login_required
@require_POST
@_page_errors
def policy_reevaluate(request: HttpRequest) -> HttpResponse:
    form = ReevaluateForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed("Give a number of days from 1 to 3650.")
    tenant = request.tenant  # type: ignore[attr-defined]
    services.reevaluation_request(tenant=tenant, actor=Actor.from_request(request), days=form.cleaned_data["days"])
    messages.success(request, f"The completed scans of the last {form.cleaned_data['days']} days are being "
                              "re-evaluated.")
    return redirect("policies:policy_list")


# --- The scan page's verdict panel ----------------------------------------------------------------------

def scan_verdict_context(request: HttpRequest, scan: Any) -> dict[str, Any]:
    """Context for `policies/scan_verdict_panel.html` on the scan page: `{"verdict_panel": ...}`.

    None when the user may not read verdicts. Two queries: the current evaluations,
    and the findings named in their reasons (at most FINDINGS_PER_REASON per reason).
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("policies.view_policies"):
        return {"verdict_panel": None}
    evaluations = selectors.evaluation_current(scan=scan)
    wanted: list[str] = []
    for evaluation in evaluations:
        for reason in evaluation.reasons:
            wanted.extend(reason.get("finding_ids", [])[:FINDINGS_PER_REASON])
        wanted.extend(w.get("finding_id") for w in evaluation.waived[:50])
    findings = selectors.findings_by_id(scan=scan, ids=wanted)
    can_request = user.has_perm("policies.request_waiver")
    policies = []
    for evaluation in evaluations:
        reasons = []
        for reason in evaluation.reasons:
            ids = reason.get("finding_ids", [])
            count = reason.get("count", len(ids))
            shown = [findings[i] for i in ids[:FINDINGS_PER_REASON] if i in findings]
            reasons.append({**reason, "count": count, "findings": shown, "more": max(count - len(shown), 0)})
        waived = [{**w, "finding": findings.get(w.get("finding_id"))} for w in evaluation.waived]
        policies.append({"evaluation": evaluation, "reasons": reasons, "waived": waived,
                         "revision": evaluation.revision.number if evaluation.revision_id and evaluation.revision
                         else None})
    evaluated_at = max((e.evaluated_at for e in evaluations), default=None)
    return {"verdict_panel": {
        "scan": scan, "verdict": scan.verdict, "evaluated_at": evaluated_at, "policies": policies,
        "trigger": evaluations[0].get_trigger_display() if evaluations else "",
        "can_evaluate": scan.status == "completed" and user.has_perm("policies.manage_policies"),
        "can_request_waiver": can_request,
        "evaluate_url": reverse("policies:scan_evaluate", kwargs={"scan_id": scan.pk}),
        "waiver_url": reverse("policies:waiver_new"),
    }}


@login_required
@require_POST
@_page_errors
def scan_evaluate(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    scan = scan_selectors.scan_get(actor=actor, scan_id=scan_id)
    outcome = services.scan_evaluate(tenant=request.tenant, actor=actor, scan=scan)  # type: ignore[attr-defined]
    messages.success(request, f"Re-evaluated: {outcome.verdict}"
                              + (f" (was {outcome.previous})." if outcome.previous != outcome.verdict else "."))
    return redirect("scanning:scan_detail", scan_id=scan.pk)


@login_required
@_page_errors
def scan_verdict(request: HttpRequest, scan_id: str) -> HttpResponse:
    """The verdict panel on a page of its own (linked from the gate's answers and the waiver pages)."""
    actor = Actor.from_request(request)
    scan = scan_selectors.scan_get(actor=actor, scan_id=scan_id)
    _require(request, "policies.view_policies")
    return render(request, "policies/scan_verdict.html", {
        "scan": scan, **scan_verdict_context(request, scan),
        "history": selectors.evaluation_history(scan=scan)})


# --- Waivers ------------------------------------------------------------------------------------------------

@login_required
@_page_errors
def waiver_list(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    params = request.GET.copy()
    qs = filters.apply(filters.WaiverFilter, params, selectors.waiver_list(actor=actor), request)
    ordering = params.get("ordering", "-requested_at")
    if ordering.lstrip("-") not in ("requested_at", "expires_at", "state", "package_name"):
        ordering = "-requested_at"
    page = Paginator(qs.order_by(ordering, "id"), PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    return render(request, "policies/waiver_list.html", {
        "page": page, "filters": params, "query": query.urlencode(), "states": Waiver.State.values,
        "scopes": Waiver.Scope.choices, "ecosystems": ECOSYSTEMS,
        "can_request": _perm(request, "policies.request_waiver"),
        "sees_all": _perm(request, "policies.view_policies"),
    })


@login_required
@_page_errors
def waiver_new(request: HttpRequest) -> HttpResponse:
    _require(request, "policies.request_waiver")
    actor = Actor.from_request(request)
    tenant = request.tenant  # type: ignore[attr-defined]
    max_days = int(tenant.setting("waiver_max_days") or 90)
    status = 200
    if request.method == "POST":
        form = WaiverRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                waiver = services.waiver_request(
                    tenant=tenant, actor=actor, scope=data["scope"], value=data["value"],
                    ecosystem=data["ecosystem"], package_name=data["package_name"],
                    version_range=data["version_range"], reason=data["reason"], expires_at=data["expires_at"],
                    finding_id=data.get("finding"))
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                for field, msgs in details.items():
                    for msg in msgs:
                        form.add_error(field if field in form.fields else None, msg)
                if not details:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, "Waiver requested; someone else with 'approve waivers' must approve it.")
                return redirect("policies:waiver_detail", waiver_id=waiver.pk)
        status = 400
    else:
        initial: dict[str, Any] = {"expires_at": (timezone.now() + timedelta(days=min(30, max_days)))
                                   .replace(second=0, microsecond=0), "scope": "check"}
        finding_id = request.GET.get("finding")
        if finding_id:
            finding = selectors.finding_for_waiver(actor=actor, finding_id=finding_id)
            scan = finding.scan
            advisory = finding.evidence.get("advisory") if isinstance(finding.evidence, dict) else None
            initial.update({"finding": finding.pk, "ecosystem": scan.ecosystem,
                            "package_name": scan.name or scan.submitted_name,
                            "scope": "vulnerability" if advisory else "check",
                            "value": advisory or finding.check_id})
        form = WaiverRequestForm(initial=initial)
    return render(request, "policies/waiver_new.html", {"form": form, "max_days": max_days}, status=status)


@login_required
@_page_errors
def waiver_detail(request: HttpRequest, waiver_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    waiver = selectors.waiver_get(actor=actor, waiver_id=waiver_id)
    user = request.user
    mine = waiver.requested_by_id == user.pk
    active = waiver.display_state in (Waiver.State.PENDING, Waiver.State.APPROVED)
    return render(request, "policies/waiver_detail.html", {
        "waiver": waiver, "mine": mine,
        "can_decide": waiver.display_state == Waiver.State.PENDING and not mine
        and _perm(request, "policies.approve_waivers"),
        "can_revoke": active and (_perm(request, "policies.approve_waivers")
                                  or (mine and _perm(request, "policies.request_waiver"))),
        "approve_form": WaiverDecisionForm(prefix="approve"), "reject_form": WaiverDecisionForm(prefix="reject"),
        "revoke_form": WaiverRevokeForm(prefix="revoke"),
    })


def _waiver_action(request: HttpRequest, waiver_id: str, verb: str) -> HttpResponse:
    actor = Actor.from_request(request)
    waiver = selectors.waiver_get(actor=actor, waiver_id=waiver_id)
    tenant = request.tenant  # type: ignore[attr-defined]
    if verb == "revoke":
        form = WaiverRevokeForm(request.POST, prefix="revoke")
        form.is_valid()
        services.waiver_revoke(tenant=tenant, actor=actor, waiver=waiver, reason=form.cleaned_data.get("reason", ""))
        messages.success(request, "Waiver revoked.")
    else:
        form = WaiverDecisionForm(request.POST, prefix=verb)
        form.is_valid()
        service = services.waiver_approve if verb == "approve" else services.waiver_reject
        service(tenant=tenant, actor=actor, waiver=waiver, note=form.cleaned_data.get("note", ""))
        messages.success(request, f"Waiver {'approved' if verb == 'approve' else 'rejected'}.")
    return redirect("policies:waiver_detail", waiver_id=waiver.pk)


@login_required
@require_POST
@_page_errors
def waiver_approve(request: HttpRequest, waiver_id: str) -> HttpResponse:
    return _waiver_action(request, waiver_id, "approve")


@login_required
@require_POST
@_page_errors
def waiver_reject(request: HttpRequest, waiver_id: str) -> HttpResponse:
    return _waiver_action(request, waiver_id, "reject")


@login_required
@require_POST
@_page_errors
def waiver_revoke(request: HttpRequest, waiver_id: str) -> HttpResponse:
    return _waiver_action(request, waiver_id, "revoke")


# --- Home panel --------------------------------------------------------------------------------------------------

def home_panel(request: HttpRequest) -> dict[str, Any] | None:
    """Waivers awaiting the user's decision (approvers), and the user's own pending requests."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("policies.view_policies"):
        return None
    now = timezone.now()
    pending = Waiver.objects.filter(state=Waiver.State.PENDING, expires_at__gt=now)
    to_decide = pending.exclude(requested_by=user).count() if user.has_perm("policies.approve_waivers") else None
    mine = pending.filter(requested_by=user).count() if user.has_perm("policies.request_waiver") else None
    expiring = (Waiver.objects.filter(state=Waiver.State.APPROVED, expires_at__gt=now,
                                      expires_at__lte=now + timedelta(days=7)).count())
    if not to_decide and not mine and not expiring:
        return None
    return {"template": "policies/home_panel.html", "to_decide": to_decide, "mine": mine, "expiring": expiring}
