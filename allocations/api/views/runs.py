"""Allocation runs: list, detail with lines, approve, reject (four eyes is the service's)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.explanation import ExplanationField, StrategyStagesSerializer
from allocations.api.filters import UtcDateTimeFilter
from allocations.api.pagination import ApiPagination
from allocations.api.permissions import APPROVE, VIEW, actor_of, portfolio_for
from allocations.api.serializers import (
    MoneyField,
    StrictInputSerializer,
    WeightField,
    WeightMapField,
    finite_or_none,
    required_reason,
)
from allocations.models import AllocationRun, Method, RunStatus
from allocations.selectors.portfolios import portfolio_today
from allocations.selectors.runs import run_explanation_rows, run_get, run_lines, run_list, run_outcome
from allocations.services.approvals import allocation_run_approve, allocation_run_reject

from .allocation import RebalanceOutputSerializer
from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


class RunFilter(django_filters.FilterSet):
    trigger = django_filters.ChoiceFilter(choices=AllocationRun.Trigger.choices)
    status = django_filters.ChoiceFilter(choices=AllocationRun.Status.choices)
    method = django_filters.CharFilter()

    class Meta:
        model = AllocationRun
        fields = ["trigger", "status", "method"]


RunFilter.base_filters["from"] = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
RunFilter.base_filters["to"] = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte")


class RunOutputSerializer(serializers.Serializer):
    allocation_id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=RunStatus.values)
    method = serializers.ChoiceField(choices=Method.values)
    trigger = serializers.ChoiceField(choices=AllocationRun.Trigger.values)
    policy_version = serializers.IntegerField(source="policy.version")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    requested_via = serializers.CharField()
    total_equity = MoneyField()
    force_rebalance = serializers.BooleanField()
    turnover = WeightField()
    cash_weight = WeightField()
    ex_ante_volatility = serializers.FloatField()
    effective_strategies = serializers.FloatField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class RunLineSerializer(serializers.Serializer):
    strategy = serializers.CharField(source="strategy.code")
    current_weight = WeightField()
    base_weight = WeightField()
    signal_weight = WeightField()
    smoothed_weight = WeightField()
    target_weight = WeightField()
    target_amount = MoneyField()
    momentum_weight = WeightField(allow_null=True)
    risk_contribution = WeightField()
    binding_limit = serializers.CharField()
    limit_excess = WeightField()
    flags = serializers.ListField(child=serializers.CharField())


class RunListApi(PortfolioScopedListApi):
    """The portfolio's runs, newest first (filter by trigger, status, method, from, to)."""

    model = AllocationRun
    serializer_class = RunOutputSerializer
    filterset_class = RunFilter
    selector = staticmethod(run_list)


def _run_or_404(portfolio, allocation_id) -> AllocationRun:
    return found_or_404(
        run_get(portfolio=portfolio, public_id=allocation_id), f"no run {allocation_id!r} in this portfolio"
    )


class RunDetailApi(Api):
    class OutputSerializer(RunOutputSerializer):
        lines = RunLineSerializer(many=True)
        current_allocation = WeightMapField()
        target_allocation = WeightMapField()
        transition_schedule = RebalanceOutputSerializer.StepSerializer(many=True)
        explanation = ExplanationField()

    @extend_schema(responses=OutputSerializer, summary="One run with its lines and schedule")
    def get(self, request, slug, allocation_id):

        portfolio = portfolio_for(request, slug, VIEW)
        run = _run_or_404(portfolio, allocation_id)
        outcome = run_outcome(run=run, today=portfolio_today(portfolio)).to_response()
        data = {
            **RunOutputSerializer(run).data,
            "lines": RunLineSerializer(run_lines(run=run), many=True).data,
            **{
                key: outcome[key]
                for key in ("current_allocation", "target_allocation", "transition_schedule", "explanation")
            },
        }
        return Response(finite_or_none(data))


def _codes(request, name: str) -> list[str] | None:
    """``?name=a,b&name=c`` -> ["a", "b", "c"]; None when not given."""
    values = [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
    return values or None


class RunExplanationApi(Api):
    """Every stage of the run's decision per strategy, a page at a time (the rebalance answers a summary)."""

    class OutputSerializer(StrategyStagesSerializer):
        strategy = serializers.CharField()

    @extend_schema(
        responses=OutputSerializer(many=True),
        parameters=[
            OpenApiParameter("strategy", str, description="strategy codes (comma-separated or repeated)"),
            OpenApiParameter("sector", str, description="sector codes (comma-separated or repeated)"),
            OpenApiParameter("limit", int, description="rows per page (default 50, at most 1000)"),
            OpenApiParameter("offset", int, description="rows to skip"),
        ],
        summary="A run's explanation per strategy (paginated, by strategy code)",
    )
    def get(self, request, slug, allocation_id):

        portfolio = portfolio_for(request, slug, VIEW)
        run = _run_or_404(portfolio, allocation_id)
        rows = run_explanation_rows(run=run, strategies=_codes(request, "strategy"), sectors=_codes(request, "sector"))
        paginator = ApiPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(finite_or_none(self.OutputSerializer(page, many=True).data))


def _run_decided(view, request, slug, allocation_id, decide) -> Response:
    """A risk officer's decision (``decide(run=, actor=, reason=)``) on a pending run."""
    portfolio = portfolio_for(request, slug, APPROVE)
    run = _run_or_404(portfolio, allocation_id)
    run = decide(run=run, actor=actor_of(request), **view.validated(request))
    return Response(RunOutputSerializer(run_get(portfolio=portfolio, public_id=run.public_id)).data)


class RunApproveApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=RunOutputSerializer,
        summary="Approve a pending run (four eyes: not its requester; a reason is required)",
    )
    def post(self, request, slug, allocation_id, idempotency_key=None):
        return _run_decided(self, request, slug, allocation_id, allocation_run_approve)


class RunRejectApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer, responses=RunOutputSerializer, summary="Reject a pending run (funds are untouched)"
    )
    def post(self, request, slug, allocation_id, idempotency_key=None):
        return _run_decided(self, request, slug, allocation_id, allocation_run_reject)
