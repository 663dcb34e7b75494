"""Sector signals: list and push."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from allocations.api.filters import UtcDateTimeFilter
from allocations.api.permissions import INGEST, actor_of, portfolio_for
from allocations.api.serializers import FiniteFloatField, ListedChoiceField, StrictInputSerializer
from allocations.models import SectorSignal
from allocations.selectors.strategies import signal_list
from allocations.services.signals import signal_create

from .base import Api, PortfolioScopedListApi, idempotent_post


class SignalFilter(django_filters.FilterSet):
    sector = django_filters.CharFilter(field_name="sector__code")
    action = django_filters.ChoiceFilter(choices=SectorSignal.Action.choices)

    class Meta:
        model = SectorSignal
        fields = ["sector", "action"]


SignalFilter.base_filters["from"] = UtcDateTimeFilter(field_name="as_of", lookup_expr="gte")
SignalFilter.base_filters["to"] = UtcDateTimeFilter(field_name="as_of", lookup_expr="lte")


class SignalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sector = serializers.CharField(source="sector.code")
    action = serializers.ChoiceField(choices=SectorSignal.Action.values)
    confidence = serializers.FloatField()
    as_of = serializers.DateTimeField()
    source = serializers.CharField()
    created_at = serializers.DateTimeField()


class SignalListApi(PortfolioScopedListApi):
    model = SectorSignal
    serializer_class = SignalOutputSerializer
    filterset_class = SignalFilter
    selector = staticmethod(signal_list)


class SignalCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        sector = serializers.CharField(max_length=64, help_text="A sector code.")
        action = ListedChoiceField(choices=SectorSignal.Action.values)
        confidence = FiniteFloatField(min_value=0.0, max_value=1.0, default=1.0)
        as_of = serializers.DateTimeField(required=False, help_text="Default: now.")
        source = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    @idempotent_post(request=InputSerializer, responses={201: SignalOutputSerializer}, summary="Push a sector signal")
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, INGEST)
        signal = signal_create(portfolio=portfolio, actor=actor_of(request), **self.validated(request))
        return self.created(SignalOutputSerializer(signal).data)


class SignalCollectionApi(SignalListApi, SignalCreateApi):
    """GET lists signals (filter by sector, action, from, to); POST pushes one."""
