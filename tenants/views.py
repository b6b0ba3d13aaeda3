"""The organization's landing page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.dashboard import home_panels


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/home.html", {"panels": home_panels(request)})
