"""Dashboard pages: integrator MQTT credentials, and the live event stream panel of the home page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from audit.context import Actor
from config.errors import ApplicationError
from messaging import selectors, services
from messaging.mqtt import public_broker_url

MANAGE = "messaging.manage_mqtt_credentials"


class CredentialForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name",
                           help_text="What will use it, e.g. “CI mirror” or “SIEM”.")


@login_required
@permission_required(MANAGE, raise_exception=True)
@csrf_protect
@never_cache
def credentials_view(request: HttpRequest) -> HttpResponse:
    form = CredentialForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                credential, password = services.mqtt_credential_create(
                    tenant=request.tenant, actor=Actor.from_request(request), name=form.cleaned_data["name"])
            except ApplicationError as exc:
                for field, errors in (exc.details or {}).items():
                    for error in errors if isinstance(errors, list) else [errors]:
                        form.add_error(field if field in form.fields else None, error)
                status = exc.status_code
            else:
                # Rendered in this response only: never stored, never redirected with.
                created = {"credential": credential, "password": password}
                form = CredentialForm()
        else:
            status = 400
    slug = request.tenant.schema_name
    return render(request, "messaging/credentials.html", {
        "credentials": selectors.mqtt_credential_list(), "form": form, "created": created,
        "broker_url": public_broker_url(), "subscribe_topic": f"org/{slug}/#",
        "publish_topic": f"org/{slug}/feeds/#",
    }, status=status)


@login_required
@permission_required(MANAGE, raise_exception=True)
@require_POST
def credential_revoke_view(request: HttpRequest, pk: str) -> HttpResponse:
    credential = selectors.mqtt_credential_get(credential_id=pk)  # the URL only admits UUIDs
    if credential is None:
        raise Http404("No such credential.")
    services.mqtt_credential_revoke(tenant=request.tenant, actor=Actor.from_request(request),
                                    credential_id=credential.pk)
    messages.success(request, f"Credential “{credential.name}” revoked; its connection was closed.")
    return redirect("mqtt-credentials")


def live_events_panel(request: HttpRequest) -> dict[str, Any] | None:
    """Home page panel: the latest events this member may see, kept live by static/js/live.js."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    events = selectors.events_recent(permissions=selectors.user_permissions(user), user_id=str(user.pk), limit=10)
    return {"template": "messaging/panel_live.html", "events": events}
