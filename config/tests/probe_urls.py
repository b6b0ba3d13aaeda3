"""A test URLconf: the real tenant routes plus probes for body limits (a JSON route, an upload route)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.security import accepts_uploads
from config.urls_common import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls_tenant import urlpatterns as tenant_patterns


class JsonProbe(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        return Response({"keys": sorted(request.data)})


class UploadProbe(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        upload = request.data["file"]
        return Response({"size": upload.size})


@csrf_exempt
@accepts_uploads
def raw_upload(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"size": len(request.body)})


urlpatterns = [
    path("probe/json", JsonProbe.as_view()),
    path("probe/upload", UploadProbe.as_view()),
    path("probe/raw-upload", raw_upload),
    *tenant_patterns,
]
