"""What every API view shares: the schema generator, pagination and filtering of lists."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import generics
from rest_framework.views import APIView

from allocations.api.pagination import ApiPagination
from allocations.api.parsers import refuse_unread_body
from allocations.api.permissions import VIEW, portfolio_for
from capital_allocation.api_schema import ApiAutoSchema


class ReadsOnlyItsMediaTypes:
    """A body this view cannot parse is refused (415) before anything reads it (see the parsers)."""

    def initial(self, request, *args, **kwargs):
        refuse_unread_body(request)
        super().initial(request, *args, **kwargs)


class Api(ReadsOnlyItsMediaTypes, APIView):
    schema = ApiAutoSchema()


class PortfolioScopedListApi(ReadsOnlyItsMediaTypes, generics.ListAPIView):
    """A paginated, filterable list of rows of one portfolio the user may view.

    Subclasses set ``model`` (for schema generation), ``filterset_class``, ``serializer_class``
    and ``select(portfolio)``, which calls the selector.
    """

    schema = ApiAutoSchema()
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]
    model = None

    def portfolio(self):
        return portfolio_for(self.request, self.kwargs["slug"], VIEW)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return self.model.objects.none()
        return self.select(self.portfolio())

    def select(self, portfolio):  # pragma: no cover - each list names its selector
        raise NotImplementedError
