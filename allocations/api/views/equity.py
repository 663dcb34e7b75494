"""The portfolio's equity: its own audited decision of a risk officer, four eyes above the threshold."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from allocations.api.idempotency import IDEMPOTENCY_HEADER, idempotent
from allocations.api.permissions import APPROVE, MANAGE_POLICY, actor_of, portfolio_for
from allocations.api.serializers import MoneyField, StrictInputSerializer
from allocations.models import EquityChange
from allocations.selectors.core import equity_change_get, equity_change_list
from allocations.services.equity import equity_change_approve, equity_change_reject, equity_change_request

from .base import Api, PortfolioScopedListApi


class EquityChangeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EquityChange.Status.choices)
    old_equity = MoneyField()
    new_equity = MoneyField()
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    requested_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()


class EquityChangeListApi(PortfolioScopedListApi):
    """The portfolio's equity changes, newest first."""

    model = EquityChange
    serializer_class = EquityChangeOutputSerializer

    def select(self, portfolio):
        return equity_change_list(portfolio=portfolio)


class EquityChangeCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        total_equity = MoneyField(help_text="The new equity, > 0.")
        reason = serializers.CharField(max_length=2000)

        def validate_total_equity(self, value):
            if value <= 0:
                raise serializers.ValidationError("must be greater than 0")
            return value

    @extend_schema(
        request=InputSerializer,
        responses={201: EquityChangeOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Change the equity (applied within the approval threshold, else waits for a second risk officer)",
    )
    @idempotent
    def post(self, request, slug):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = equity_change_request(
            portfolio=portfolio,
            actor=actor_of(request),
            equity=serializer.validated_data["total_equity"],
            reason=serializer.validated_data["reason"],
        )
        return Response(EquityChangeOutputSerializer(change).data, status=status.HTTP_201_CREATED)


def _change_or_404(portfolio, change_id) -> EquityChange:
    change = equity_change_get(portfolio=portfolio, change_id=change_id)
    if change is None:
        raise Http404(f"no equity change {change_id} in this portfolio")
    return change


class EquityChangeApproveApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Approve a waiting equity change (four eyes: not its requester)",
    )
    @idempotent
    def post(self, request, slug, change_id):
        portfolio = portfolio_for(request, slug, APPROVE)
        change = _change_or_404(portfolio, change_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = equity_change_approve(change=change, actor=actor_of(request), **serializer.validated_data)
        return Response(EquityChangeOutputSerializer(change).data)


class EquityChangeRejectApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Reject a waiting equity change (the equity stays)",
    )
    @idempotent
    def post(self, request, slug, change_id):
        portfolio = portfolio_for(request, slug, APPROVE)
        change = _change_or_404(portfolio, change_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = equity_change_reject(change=change, actor=actor_of(request), **serializer.validated_data)
        return Response(EquityChangeOutputSerializer(change).data)


class EquityChangeCollectionApi(EquityChangeListApi, EquityChangeCreateApi):
    """GET lists the equity changes; POST asks for a new equity (risk officers)."""
