"""What every API view shares: the schema generator, pagination and filtering of lists."""

from __future__ import annotations

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from allocations.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from allocations.api.pagination import ApiPagination
from allocations.api.permissions import VIEW, portfolio_for
from capital_allocation.api_schema import ApiAutoSchema
from capital_allocation.request_bodies import ReadsOnlyItsMediaTypes


class TakesInput:
    # No docstring: the schema describes a view without its own by the first docstring of its classes.
    # The request body validated by the view's nested ``InputSerializer``; a 201 answer for what it made.

    def validated(self, request) -> dict:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @staticmethod
    def created(data) -> Response:
        return Response(data, status=status.HTTP_201_CREATED)


def idempotent_post(*, replayable=None, **schema):
    """An idempotent POST (a retry with the same Idempotency-Key gets the first answer), documented
    with that header and ``schema`` (``extend_schema``'s request, responses, summary). The view's
    ``post`` gets the key as its ``idempotency_key`` argument; ``replayable(body)``, if given, is what
    a replay may show."""

    parameters = [IDEMPOTENCY_HEADER, *schema.pop("parameters", [])]
    kept = {"replayable": replayable} if replayable is not None else {}

    def decorate(view_method):
        return extend_schema(parameters=parameters, **schema)(idempotent(view_method, **kept))

    return decorate


def found_or_404(found, message: str):
    """What a selector found, or a 404 saying ``message`` when it found nothing (``None``)."""
    if found is None:
        raise Http404(message)
    return found


class Api(ReadsOnlyItsMediaTypes, TakesInput, APIView):
    schema = ApiAutoSchema()


class PortfolioScopedListApi(ReadsOnlyItsMediaTypes, TakesInput, generics.ListAPIView):
    """A paginated, filterable list of rows of one portfolio the user may view.

    Subclasses set ``model`` (for schema generation), ``filterset_class``, ``serializer_class``
    and ``selector``, called as ``selector(portfolio=...)`` (or override ``select(portfolio)``).
    """

    schema = ApiAutoSchema()
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]
    model = None
    selector = None

    def portfolio(self):
        return portfolio_for(self.request, self.kwargs["slug"], VIEW)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return self.model.objects.none()
        return self.select(self.portfolio())

    def select(self, portfolio):
        return self.selector(portfolio=portfolio)
