"""Dashboard pages of the scanning app (server-rendered; behaviour in static/js/scanning.js)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from audit.context import Actor
from config.errors import ApplicationError, error_response, page_errors
from scanning import hooks, selectors, services
from scanning.analyzers.base import Category, Severity, Status
from scanning.api import filters
from scanning.formats import ECOSYSTEMS, supported_types
from scanning.models import Connection, Scan
from scanning.pipeline import max_artifact_bytes, tenant_root
from scanning.scoring import CAPS, GRADES, SEVERITY_FACTOR, STATUS_FACTOR
from scanning.uploads import install_handler

PAGE_SIZE = 25
STAGES = [s for s, _ in Scan.Stage.choices]


_page_errors = page_errors("scanning:scan_list", page_for=(404,))


def _perm(request: HttpRequest, perm: str) -> bool:
    return bool(request.user.has_perm(perm))


# --- Scans ---------------------------------------------------------------------------------------

@login_required
@_page_errors
def scan_list(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    params = request.GET.copy()
    qs = filters.apply(filters.ScanFilter, params, selectors.scan_list(actor=actor), request)
    ordering = params.get("ordering", "-created_at")
    if ordering.lstrip("-") not in ("created_at", "finished_at", "score", "name", "status"):
        ordering = "-created_at"
    page = Paginator(qs.order_by(ordering, "-id"), PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    return render(request, "scanning/scan_list.html", {
        "page": page, "filters": params, "query": query.urlencode(), "statuses": Scan.StatusChoices.values,
        "ecosystems": ECOSYSTEMS, "verdicts": [*Scan.Verdict.values, "none"],
        "can_submit": _perm(request, "scanning.submit_scan"), "sees_all": selectors.sees_all(actor),
    })


class UploadForm(forms.Form):
    file = forms.FileField(help_text="A wheel, sdist, npm tarball, .deb, .rpm or .apk.")
    ecosystem = forms.ChoiceField(choices=[("", "Detect from the file name"), *[(e, e) for e in ECOSYSTEMS]],
                                  required=False)
    name = forms.CharField(max_length=214, required=False, help_text="Optional: checked against the metadata.")
    version = forms.CharField(max_length=128, required=False)


class ReferenceForm(forms.Form):
    ecosystem = forms.ChoiceField(choices=[(e, e) for e in ECOSYSTEMS])
    name = forms.CharField(max_length=214)
    version = forms.CharField(max_length=128)
    connection = forms.ChoiceField(required=False)
    filename = forms.CharField(max_length=255, required=False,
                               help_text="PyPI only: which file of the release (default: chosen for you).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].choices = [("", "The ecosystem's default connection")] + [
            (str(c.id), f"{c.name} ({c.get_kind_display()})") for c in selectors.connection_list()]


def _apply_errors(form: forms.Form, exc: ApplicationError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for field, errors in details.items():
        if field in form.fields and isinstance(errors, list):
            for error in errors:
                form.add_error(field, str(error))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@csrf_exempt
@login_required
def scan_new(request: HttpRequest) -> HttpResponse:
    """Upload handlers must be set before the CSRF check reads the body, so it runs inside."""
    if request.method == "POST" and request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
        tenant = request.tenant  # type: ignore[attr-defined]
        limit = max_artifact_bytes(tenant)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            return error_response(request, status=413, code="artifact_too_large",
                                  message=f"The artifact is larger than this organization's upload limit of "
                                          f"{limit // (1024 * 1024)} MB.")
        request._artifact_upload = install_handler(request, max_bytes=limit,  # type: ignore[attr-defined]
                                                   directory=tenant_root(tenant.schema_name) / "uploads")
    return _scan_new(request)


@csrf_protect
@_page_errors
def _scan_new(request: HttpRequest) -> HttpResponse:
    if not _perm(request, "scanning.submit_scan"):
        return error_response(request, status=403, code="permission_denied",
                              message="Submitting scans needs the 'submit scans' permission.")
    upload_form = UploadForm()
    reference_form = ReferenceForm()
    if request.method == "POST":
        actor = Actor.from_request(request)
        mode = request.POST.get("mode", "upload")
        handler = getattr(request, "_artifact_upload", None)
        if mode == "upload":
            upload_form = UploadForm(request.POST, request.FILES)
            if handler is not None and handler.too_large:
                upload_form.add_error("file", f"The file is larger than the upload limit of "
                                              f"{handler.max_bytes // (1024 * 1024)} MB.")
            elif upload_form.is_valid():
                upload = upload_form.cleaned_data["file"]
                try:
                    result = services.scan_submit(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                                  ecosystem=upload_form.cleaned_data["ecosystem"],
                                                  name=upload_form.cleaned_data["name"],
                                                  version=upload_form.cleaned_data["version"], upload=upload)
                    messages.success(request, f"Scan of {result.scan.target} queued.")
                    return redirect("scanning:scan_detail", scan_id=result.scan.pk)
                except ApplicationError as exc:
                    _apply_errors(upload_form, exc)
                finally:
                    upload.close()
        else:
            reference_form = ReferenceForm(request.POST)
            if reference_form.is_valid():
                data = reference_form.cleaned_data
                try:
                    result = services.scan_submit(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                                  ecosystem=data["ecosystem"], name=data["name"],
                                                  version=data["version"], connection_id=data["connection"] or None,
                                                  filename=data["filename"])
                    messages.success(request, f"Scan of {result.scan.target} queued.")
                    return redirect("scanning:scan_detail", scan_id=result.scan.pk)
                except ApplicationError as exc:
                    _apply_errors(reference_form, exc)
    return render(request, "scanning/scan_new.html", {
        "upload_form": upload_form, "reference_form": reference_form, "supported": supported_types(),
        "limit_mb": max_artifact_bytes(request.tenant) // (1024 * 1024),  # type: ignore[attr-defined]
    })


def score_chart(scores: list[Any]) -> dict[str, Any]:
    """Geometry of the category-score bar chart, drawn as SVG on the server."""
    bar_height, gap, label_width, track = 22, 10, 150, 300
    bars = []
    for i, cs in enumerate(scores):
        y = i * (bar_height + gap)
        colour = "#15803d" if cs.score >= 90 else "#65a30d" if cs.score >= 80 else "#b45309" if cs.score >= 60 \
            else "#b91c1c"
        bars.append({"label": cs.get_category_display().replace("_", " "), "score": cs.score, "y": y,
                     "text_y": y + bar_height - 6, "width": round(track * cs.score / 100, 1), "colour": colour,
                     "weight": cs.weight, "counts": cs.counts})
    return {"bars": bars, "height": max(len(scores) * (bar_height + gap), bar_height), "label_width": label_width,
            "track": track, "bar_height": bar_height, "value_x": label_width + track + 8,
            "width": label_width + track + 60}


@login_required
@_page_errors
def scan_detail(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    scan = selectors.scan_get(actor=actor, scan_id=scan_id, for_detail=True)
    params = request.GET.copy()
    if not any(k in params for k in ("status", "severity", "category", "check")):
        params["status"] = "failed,warning,error"
    findings = filters.apply(filters.FindingFilter, params, selectors.finding_list(scan=scan), request)
    page = Paginator(findings, 100).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    scores = selectors.category_scores(scan=scan)
    user = request.user
    mine = scan.submitted_by_id == user.pk
    panel_context, panel_templates, panel_stylesheets = hooks.scan_panels(request, scan)
    return render(request, "scanning/scan_detail.html", {
        **panel_context, "panel_templates": panel_templates, "panel_stylesheets": panel_stylesheets,
        "scan": scan, "page": page, "filters": params, "query": query.urlencode(), "chart": score_chart(scores),
        "severities": [s.value for s in Severity], "categories": [c.value for c in Category],
        "finding_statuses": [s.value for s in Status], "meta": scan.package_metadata or {},
        "can_cancel": not scan.is_terminal and (_perm(request, "scanning.manage_scans")
                                                 or (mine and _perm(request, "scanning.submit_scan"))),
        "can_rescan": scan.is_terminal and _perm(request, "scanning.submit_scan") and (
            mine or _perm(request, "scanning.manage_scans")),
        "can_delete": _perm(request, "scanning.manage_scans"),
        "can_download": scan.artifact_id is not None and _perm(request, "scanning.download_artifact"),
        "api_url": reverse("scanning-api:scan-detail", kwargs={"pk": scan.pk}),
        "stages": STAGES,
    })


@login_required
@require_POST
@_page_errors
def scan_cancel(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    scan = services.scan_cancel(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                                scan=selectors.scan_get(actor=actor, scan_id=scan_id))
    messages.success(request, "Scan cancelled." if scan.status == "cancelled" else "Cancellation requested.")
    return redirect("scanning:scan_detail", scan_id=scan.pk)


@login_required
@require_POST
@_page_errors
def scan_rescan(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    new = services.scan_rescan(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                               scan=selectors.scan_get(actor=actor, scan_id=scan_id))
    messages.success(request, "A new scan of the same artifact was queued.")
    return redirect("scanning:scan_detail", scan_id=new.pk)


@login_required
@require_POST
@_page_errors
def scan_delete(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    services.scan_delete(tenant=request.tenant, actor=actor,  # type: ignore[attr-defined]
                         scan=selectors.scan_get(actor=actor, scan_id=scan_id))
    messages.success(request, "Scan deleted.")
    return redirect("scanning:scan_list")


@login_required
@_page_errors
def scan_artifact(request: HttpRequest, scan_id: str) -> HttpResponse:
    actor = Actor.from_request(request)
    path, artifact = services.artifact_download(actor=actor, scan=selectors.scan_get(actor=actor, scan_id=scan_id))
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=artifact.filename,  # noqa: SIM115
                            content_type="application/octet-stream")
    response["X-Content-SHA256"] = artifact.sha256
    return response


# --- Checks --------------------------------------------------------------------------------------

@login_required
def check_list(request: HttpRequest) -> HttpResponse:
    category = request.GET.get("category") or None
    search = request.GET.get("q") or None
    checks = selectors.check_catalog(category=category, search=search)
    return render(request, "scanning/check_list.html", {
        "checks": checks, "categories": [c.value for c in Category], "category": category or "", "q": search or "",
        "severity_factor": SEVERITY_FACTOR, "status_factor": STATUS_FACTOR, "caps": CAPS, "grades": GRADES,
    })


# --- Connections ---------------------------------------------------------------------------------

class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Connection.Kind.choices)
    base_url = forms.URLField(max_length=500, assume_scheme="https", help_text="e.g. https://pypi.org, https://registry.npmjs.org, "
                                                        "https://deb.debian.org/debian")
    auth_type = forms.ChoiceField(choices=Connection.AuthType.choices, initial="none")
    username = forms.CharField(max_length=200, required=False)
    secret = forms.CharField(max_length=4000, required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Password or token. Stored encrypted; leave empty to keep the current one.")
    clear_secret = forms.BooleanField(required=False, label="Remove the stored password/token")
    suite = forms.CharField(max_length=64, required=False, help_text="Debian: suite (default stable).")
    component = forms.CharField(max_length=64, required=False, help_text="Debian: component (default main).")
    arch = forms.CharField(max_length=64, required=False,
                           help_text="Debian/RPM/Alpine: architecture (amd64 / x86_64...).")
    is_default = forms.BooleanField(required=False, label="Default connection for this kind")
    timeout_seconds = forms.IntegerField(min_value=1, max_value=300, initial=30)

    def service_data(self) -> tuple[dict[str, Any], str | None]:
        data = self.cleaned_data
        kind = data["kind"]
        option_keys = {"debian": ("suite", "component", "arch"), "rpm": ("arch",), "alpine": ("arch",)}.get(kind, ())
        options = {k: data[k] for k in option_keys if data.get(k)}
        values = {k: data[k] for k in ("name", "kind", "base_url", "auth_type", "username", "is_default",
                                       "timeout_seconds")}
        values["options"] = options
        secret = "" if data.get("clear_secret") else (data.get("secret") or None)
        return values, secret


def _require_manage_connections(request: HttpRequest) -> HttpResponse | None:
    if not _perm(request, "scanning.manage_connections"):
        return error_response(request, status=403, code="permission_denied",
                              message="Managing connections needs the 'manage connections' permission.")
    return None


@login_required
@_page_errors
def connection_list(request: HttpRequest) -> HttpResponse:
    if denied := _require_manage_connections(request):
        return denied
    form = ConnectionForm()
    if request.method == "POST":
        form = ConnectionForm(request.POST)
        if form.is_valid():
            values, secret = form.service_data()
            try:
                conn = services.connection_create(actor=Actor.from_request(request), data=values, secret=secret or "")
                messages.success(request, f"Connection '{conn.name}' added.")
                return redirect("scanning:connection_list")
            except ApplicationError as exc:
                _apply_errors(form, exc)
    return render(request, "scanning/connection_list.html", {"connections": selectors.connection_list(),
                                                             "form": form})


@login_required
@_page_errors
def connection_edit(request: HttpRequest, connection_id: str) -> HttpResponse:
    if denied := _require_manage_connections(request):
        return denied
    conn = selectors.connection_get(connection_id=connection_id)
    initial = {"name": conn.name, "kind": conn.kind, "base_url": conn.base_url, "auth_type": conn.auth_type,
               "username": conn.username, "is_default": conn.is_default, "timeout_seconds": conn.timeout_seconds,
               **(conn.options or {})}
    form = ConnectionForm(initial=initial)
    if request.method == "POST":
        form = ConnectionForm(request.POST)
        if form.is_valid():
            values, secret = form.service_data()
            try:
                services.connection_update(actor=Actor.from_request(request), conn=conn, data=values, secret=secret)
                messages.success(request, f"Connection '{conn.name}' saved.")
                return redirect("scanning:connection_list")
            except ApplicationError as exc:
                _apply_errors(form, exc)
    return render(request, "scanning/connection_edit.html", {"connection": conn, "form": form})


@login_required
@require_POST
@_page_errors
def connection_test(request: HttpRequest, connection_id: str) -> HttpResponse:
    if denied := _require_manage_connections(request):
        return denied
    conn = selectors.connection_get(connection_id=connection_id)
    ok, message = services.connection_test(actor=Actor.from_request(request), conn=conn)
    (messages.success if ok else messages.error)(request, f"{conn.name}: {message}")
    return redirect("scanning:connection_list")


@login_required
@require_POST
@_page_errors
def connection_delete(request: HttpRequest, connection_id: str) -> HttpResponse:
    if denied := _require_manage_connections(request):
        return denied
    conn = selectors.connection_get(connection_id=connection_id)
    services.connection_delete(actor=Actor.from_request(request), conn=conn)
    messages.success(request, f"Connection '{conn.name}' removed.")
    return redirect("scanning:connection_list")


# --- Home panel ----------------------------------------------------------------------------------

def home_panel(request: HttpRequest) -> dict[str, Any] | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    actor = Actor.from_request(request)
    if not (selectors.sees_all(actor) or user.has_perm("scanning.submit_scan")):
        return None
    stats = selectors.scan_stats(actor=actor)
    return {"template": "scanning/home_panel.html", "stats": stats, "can_submit": user.has_perm(
        "scanning.submit_scan")}
