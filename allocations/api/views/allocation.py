"""The specification's endpoints, per portfolio: ``/api/v1/portfolios/{slug}/allocation/...``."""

from __future__ import annotations

import hashlib

from django.utils import timezone
from django.utils.cache import get_conditional_response
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from allocations import engine
from allocations.api.enums import PLAN_STEP_STATUSES
from allocations.api.explanation import ExplanationField
from allocations.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from allocations.api.permissions import (
    MANAGE_POLICY,
    READ_AUTHENTICATION,
    REBALANCE,
    VIEW,
    actor_of,
    portfolio_for,
    portfolio_version_for,
)
from allocations.api.serializers import (
    FiniteFloatField,
    ListedChoiceField,
    MoneyField,
    StrictInputSerializer,
    WeightField,
    WeightMapField,
    finite_or_none,
    optional_reason,
)
from allocations.models import RunStatus
from allocations.selectors.audit import fund_changes_recent
from allocations.selectors.current import portfolio_cached
from allocations.selectors.funds import fund_list, fund_total_capital
from allocations.selectors.performance import portfolio_performance
from allocations.selectors.policies import policy_current
from allocations.services.policies import policy_set_method
from allocations.services.runs import RebalanceRequest, allocation_run_create

from .base import Api
from .policy import POLICY_CHANGE_RESPONSES, PolicyOutputSerializer, policy_change_response


class FundChangeSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField(source="created_at")
    strategy = serializers.CharField(source="strategy.code", allow_null=True)
    old_amount = MoneyField(allow_null=True)
    new_amount = MoneyField(allow_null=True)
    total_capital = MoneyField(allow_null=True)
    actor = serializers.CharField(source="actor_label")
    reason = serializers.CharField()
    allocation_id = serializers.UUIDField(source="run.public_id", allow_null=True, default=None)


class AllocationCurrentApi(Api):
    class OutputSerializer(serializers.Serializer):
        portfolio = serializers.SlugField()
        timestamp = serializers.DateTimeField()
        total_equity = MoneyField()
        total_capital = MoneyField(help_text="Sum of the strategies' funds.")
        cash = MoneyField(help_text="Equity not given to any strategy (may be negative if funds exceed it).")
        allocation = WeightMapField(help_text="strategy code -> share of the total capital.")
        equity_weights = WeightMapField(help_text="strategy code -> share of the total equity.")
        amounts = serializers.DictField(child=serializers.CharField(), help_text="strategy code -> amount.")
        recent_changes = FundChangeSerializer(many=True, help_text="The last 10 fund changes, newest first.")

    authentication_classes = READ_AUTHENTICATION

    # The answer but its timestamp is cached per portfolio version (selectors.current): a fund,
    # equity or strategy change moves the version in its own transaction, so the next read sees it.
    # The version is also the answer's (weak) ETag: If-None-Match with it gets 304.
    timestamp_field = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer, summary="The current allocation")
    def get(self, request, slug):
        version = portfolio_version_for(request, slug)
        tag = f"{version.portfolio_id}:{version.slug}:{version.version}"
        etag = f'W/"{hashlib.blake2b(tag.encode(), digest_size=12).hexdigest()}"'
        not_modified = get_conditional_response(request, etag=etag)
        if not_modified is not None:
            not_modified["ETag"] = etag
            return not_modified
        answer = portfolio_cached(version=version, name="allocation-current", build=self.answer)
        response = Response({**answer, "timestamp": self.timestamp_field.to_representation(timezone.now())})
        response["ETag"] = etag
        return response

    @classmethod
    def answer(cls, portfolio) -> dict:
        """The answer as plain data, its timestamp left out (None)."""
        funds = list(fund_list(portfolio=portfolio))
        capital = fund_total_capital(portfolio=portfolio)
        equity = portfolio.total_equity
        data = {
            "portfolio": portfolio.slug,
            "timestamp": None,
            "total_equity": equity,
            "total_capital": capital,
            "cash": equity - capital,
            "allocation": {f.strategy.code: float(f.amount / capital) if capital else 0.0 for f in funds},
            "equity_weights": {f.strategy.code: float(f.amount / equity) if equity else 0.0 for f in funds},
            "amounts": {f.strategy.code: str(f.amount) for f in funds},
            "recent_changes": fund_changes_recent(portfolio=portfolio, limit=10),
        }
        return dict(cls.OutputSerializer(data).data)


class RebalanceOutputSerializer(serializers.Serializer):
    class StepSerializer(serializers.Serializer):
        step = serializers.IntegerField()
        due_date = serializers.DateField()
        status = serializers.ChoiceField(choices=PLAN_STEP_STATUSES, help_text="planned: not stored yet.")
        weights = WeightMapField(help_text="strategy code -> weight of equity after this step.")

    allocation_id = serializers.UUIDField(
        allow_null=True, help_text="The stored run's id; null for a dry run, which stores nothing."
    )
    dry_run = serializers.BooleanField(help_text="True when nothing was stored (computed only).")
    status = serializers.ChoiceField(choices=RunStatus.values)
    current_allocation = WeightMapField(help_text="strategy code -> weight of equity before the run.")
    target_allocation = WeightMapField(help_text="strategy code -> target weight of equity.")
    transition_schedule = StepSerializer(many=True)
    explanation = ExplanationField(
        help_text="Run-level facts (`strategies_explained`: how many strategies the run explains). With "
        "`?explain=full`, also every stage per strategy under `strategies`; otherwise those are at "
        "`GET .../runs/{allocation_id}/explanation` (paginated, filterable by strategy and sector)."
    )


EXPLAIN_PARAMETER = OpenApiParameter(
    "explain",
    str,
    enum=["summary", "full"],
    required=False,
    description="`summary` (default): run-level facts; `full`: also every stage per strategy, inline.",
)


def explain_full(request) -> bool:
    """``?explain=full`` asks for the per-strategy explanation inline; anything but summary/full is a 400."""
    value = request.query_params.get("explain", "summary")
    if value not in ("summary", "full"):
        raise serializers.ValidationError({"explain": [f"must be 'summary' or 'full', got {value[:40]!r}"]})
    return value == "full"


class AllocationRebalanceApi(Api):
    class InputSerializer(StrictInputSerializer):
        class SignalSerializer(StrictInputSerializer):
            sector = serializers.CharField(max_length=64)
            action = ListedChoiceField(choices=engine.ACTIONS)
            confidence = FiniteFloatField(min_value=0.0, max_value=1.0, default=1.0)

        class PerformanceSerializer(StrictInputSerializer):
            sharpe = FiniteFloatField(required=False)
            volatility = FiniteFloatField(required=False, help_text="Annualised, > 0.")

            def validate_volatility(self, value):
                if value <= 0:
                    raise serializers.ValidationError("must be greater than 0")
                return value

        total_equity = MoneyField(required=False, allow_null=True, help_text="> 0; default the portfolio's.")
        sector_signals = SignalSerializer(many=True, required=False, allow_null=True)
        strategy_performance = serializers.DictField(
            child=PerformanceSerializer(),
            required=False,
            allow_null=True,
            help_text="strategy code -> {sharpe, volatility}: overrides the stored history for this run.",
        )
        force_rebalance = serializers.BooleanField(default=False)
        allocation_method = ListedChoiceField(choices=engine.METHODS, required=False, allow_null=True)
        dry_run = serializers.BooleanField(default=False, help_text="Compute and answer; write nothing.")

        def validate_total_equity(self, value):
            if value is not None and value <= 0:
                raise serializers.ValidationError("must be greater than 0")
            return value

    OutputSerializer = RebalanceOutputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 201: OutputSerializer},
        parameters=[IDEMPOTENCY_HEADER, EXPLAIN_PARAMETER],
        summary="Rebalance: 201 with a stored run, 200 for a dry run (a replay answers the first status)",
        examples=[
            OpenApiExample("dry run", value={"total_equity": "1000000.00", "dry_run": True}, request_only=True),
            OpenApiExample(
                "with a sector signal",
                value={"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": 0.8}]},
                request_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request, slug, idempotency_key=None):

        portfolio = portfolio_for(request, slug, REBALANCE)
        full = explain_full(request)
        data = self.validated(request)
        outcome = allocation_run_create(
            portfolio=portfolio,
            actor=actor_of(request),
            request=RebalanceRequest(
                total_equity=data.get("total_equity"),
                sector_signals=[dict(s) for s in data.get("sector_signals") or []] or None,
                strategy_performance={k: dict(v) for k, v in (data.get("strategy_performance") or {}).items()} or None,
                force_rebalance=data["force_rebalance"],
                allocation_method=data.get("allocation_method"),
                dry_run=data["dry_run"],
                idempotency_key=idempotency_key,
            ),
        )
        created = outcome.run is not None and not outcome.replayed
        answer = outcome.to_response(full_explanation=full)
        body = AllocationRebalanceApi.OutputSerializer(answer).data  # floats shown by their fields
        response = Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class MetricsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    total_return = serializers.FloatField(allow_null=True)
    annualised_volatility = serializers.FloatField(allow_null=True)
    max_drawdown = serializers.FloatField(allow_null=True)
    sharpe = serializers.FloatField(allow_null=True)


class AllocationPerformanceApi(Api):
    class OutputSerializer(serializers.Serializer):
        class RiskSerializer(serializers.Serializer):
            ex_ante_volatility = serializers.FloatField(allow_null=True)
            effective_number_of_strategies = serializers.FloatField(allow_null=True)
            largest_weight = WeightField()
            largest_weight_strategy = serializers.CharField(allow_null=True)
            cash = WeightField()
            invested = WeightField()
            covariance_estimator = serializers.CharField()
            covariance_window = serializers.IntegerField()
            strategies_without_history = serializers.ListField(child=serializers.CharField())

        portfolio = serializers.SlugField()
        timestamp = serializers.DateTimeField()
        total_equity = MoneyField()
        history = MetricsSerializer(help_text="The allocated portfolio's realised path, from the fund history.")
        current_allocation_backtest = MetricsSerializer(help_text="Today's weights over the last 252 days.")
        risk = RiskSerializer()
        sector_exposures = serializers.DictField(
            child=WeightField(), help_text="sector code -> funds of its strategies / total equity."
        )

    @extend_schema(responses=OutputSerializer, summary="Performance, risk and sector exposures")
    def get(self, request, slug):
        portfolio = portfolio_for(request, slug, VIEW)
        data = portfolio_performance(portfolio=portfolio)
        return Response(finite_or_none(self.OutputSerializer(data).data))


class AllocationMethodListApi(Api):
    class OutputSerializer(serializers.Serializer):
        methods = serializers.ListField(child=serializers.CharField())
        current_method = serializers.CharField(allow_null=True)

    @extend_schema(responses=OutputSerializer, summary="Allocation methods")
    def get(self, request, slug):
        portfolio = portfolio_for(request, slug, VIEW)
        policy = policy_current(portfolio=portfolio)
        data = {"methods": list(engine.METHODS), "current_method": policy.method if policy else None}
        return Response(self.OutputSerializer(data).data)


class AllocationMethodSetApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = optional_reason()

    OutputSerializer = PolicyOutputSerializer

    @extend_schema(
        request=InputSerializer,
        responses=POLICY_CHANGE_RESPONSES,
        summary="Propose the method (202: a policy proposal for a second risk officer; 200: already the method)",
    )
    def put(self, request, slug, method):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        change = policy_set_method(
            portfolio=portfolio,
            method=method,
            actor=actor_of(request),
            reason=self.validated(request)["reason"] or f"method set to {method}",
        )
        return policy_change_response(change)


__all__ = [
    "AllocationCurrentApi",
    "AllocationRebalanceApi",
    "AllocationPerformanceApi",
    "AllocationMethodListApi",
    "AllocationMethodSetApi",
]
