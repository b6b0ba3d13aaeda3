"""A test URLconf: the real tenant routes plus probes that expose what a request sees."""

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls_common import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls_tenant import urlpatterns as tenant_patterns


@csrf_exempt
def write_row(request: HttpRequest) -> JsonResponse:
    user = get_user_model().objects.create_user(email=request.POST["email"])
    return JsonResponse({"id": str(user.pk)}, status=201)


def read_rows(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"emails": list(get_user_model().objects.values_list("email", flat=True))})


def search_path(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return JsonResponse({"search_path": cursor.fetchone()[0], "schema": connection.schema_name})


def explode(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("probe failure with password=hunter2")


urlpatterns = [
    path("probe/write", write_row),
    path("probe/read", read_rows),
    path("probe/search-path", search_path),
    path("probe/explode", explode),
    *tenant_patterns,
]
