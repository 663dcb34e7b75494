"""Strategies of a portfolio: list, create, update, retire."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import MANAGE_POLICY, actor_of, portfolio_for
from allocations.api.serializers import FiniteFloatField, StrictInputSerializer, optional_reason
from allocations.models import Strategy
from allocations.selectors.strategies import strategy_get, strategy_list_with_funds
from allocations.services import strategies as strategy_services

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


class StrategyOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    sector = serializers.CharField(source="sector.code")
    asset_class = serializers.CharField()
    status = serializers.ChoiceField(choices=Strategy.Status.values)
    risk_budget = serializers.FloatField()
    amount = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_amount(self, strategy) -> str:
        fund = getattr(strategy, "fund", None)  # a strategy with no fund yet has no capital
        return str(fund.amount) if fund is not None else "0.00"


class StrategyFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Strategy.Status.choices)
    sector = django_filters.CharFilter(field_name="sector__code")

    class Meta:
        model = Strategy
        fields = ["status", "sector"]


def _strategy_or_404(portfolio, code) -> Strategy:
    return found_or_404(strategy_get(portfolio=portfolio, code=code), f"no strategy {code!r} in this portfolio")


class StrategyListApi(PortfolioScopedListApi):
    model = Strategy
    OutputSerializer = StrategyOutputSerializer
    serializer_class = StrategyOutputSerializer
    filterset_class = StrategyFilter
    selector = staticmethod(strategy_list_with_funds)


class StrategyCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        code = serializers.RegexField(r"^[-a-zA-Z0-9_]+$", max_length=64)
        name = serializers.CharField(max_length=200)
        sector = serializers.CharField(max_length=64, help_text="A sector code.")
        asset_class = serializers.CharField(max_length=64, default="equity")
        risk_budget = FiniteFloatField(default=1.0, help_text="> 0; relative.")
        reason = optional_reason()

    @idempotent_post(request=InputSerializer, responses={201: StrategyOutputSerializer}, summary="Add a strategy")
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        strategy = strategy_services.strategy_create(
            portfolio=portfolio, actor=actor_of(request), **self.validated(request)
        )
        return self.created(StrategyOutputSerializer(strategy).data)


class StrategyCollectionApi(StrategyListApi, StrategyCreateApi):
    """GET lists the strategies (filter by status, sector); POST adds one."""


class StrategyUpdateApi(Api):
    class InputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=200, required=False)
        sector = serializers.CharField(max_length=64, required=False)
        asset_class = serializers.CharField(max_length=64, required=False)
        risk_budget = FiniteFloatField(required=False)
        status = serializers.ChoiceField(choices=[Strategy.Status.ACTIVE, Strategy.Status.PAUSED], required=False)
        reason = optional_reason()

    @extend_schema(responses=StrategyOutputSerializer, summary="One strategy")
    def get(self, request, slug, code):
        portfolio = portfolio_for(request, slug)
        return Response(StrategyOutputSerializer(_strategy_or_404(portfolio, code)).data)

    @extend_schema(request=InputSerializer, responses=StrategyOutputSerializer, summary="Change a strategy")
    def patch(self, request, slug, code):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        strategy = _strategy_or_404(portfolio, code)
        changes = dict(self.validated(request))
        reason = changes.pop("reason", "")
        strategy = strategy_services.strategy_update(
            strategy=strategy, actor=actor_of(request), changes=changes, reason=reason
        )
        return Response(StrategyOutputSerializer(strategy_get(portfolio=portfolio, code=strategy.code)).data)


class StrategyRetireApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = optional_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=StrategyOutputSerializer,
        summary="Retire a strategy (its fund goes to 0)",
    )
    def post(self, request, slug, code, idempotency_key=None):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        strategy = _strategy_or_404(portfolio, code)
        strategy_services.strategy_retire(strategy=strategy, actor=actor_of(request), **self.validated(request))
        return Response(StrategyOutputSerializer(strategy_get(portfolio=portfolio, code=strategy.code)).data)
