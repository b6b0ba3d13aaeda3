"""A URLconf with one of each kind of view, for the route enumeration test (never served)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView


class GadgetViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                    viewsets.GenericViewSet):
    @action(detail=True, methods=["post"])
    def polish(self, request, pk=None):  # noqa: ANN001, ANN201
        return Response()


class ReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    pass


class KnobView(APIView):
    def get(self, request):  # noqa: ANN001, ANN201
        return Response()

    def post(self, request):  # noqa: ANN001, ANN201
        return Response()

    def patch(self, request):  # noqa: ANN001, ANN201
        return Response()


class PlainView(View):
    def delete(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse()


def legacy(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def dashboard_form(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


router = SimpleRouter()
router.register("gadgets", GadgetViewSet, basename="gadget")
router.register("readonly", ReadOnlyViewSet, basename="readonly")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("api/v1/knobs", KnobView.as_view()),
    path("api/v1/plain", PlainView.as_view(), name="django-view"),
    path("api/v1/legacy", legacy),
    path("settings/", dashboard_form, name="not-api"),
]
