"""The portfolio's equity: its own audited decision of two risk officers (four eyes on every change)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import APPROVE, MANAGE_POLICY, actor_of, portfolio_for
from allocations.api.serializers import MoneyField, StrictInputSerializer, required_reason
from allocations.models import EquityChange
from allocations.selectors.funds import equity_change_get, equity_change_list
from allocations.services.equity import equity_change_approve, equity_change_reject, equity_change_request

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


class EquityChangeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EquityChange.Status.values)
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
    selector = staticmethod(equity_change_list)


class EquityChangeCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        total_equity = MoneyField(help_text="The new equity, > 0.")
        reason = required_reason()

        def validate_total_equity(self, value):
            if value <= 0:
                raise serializers.ValidationError("must be greater than 0")
            return value

    @idempotent_post(
        request=InputSerializer,
        responses={201: EquityChangeOutputSerializer},
        summary="Ask for a new equity (it waits for a second risk officer)",
    )
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        data = self.validated(request)
        change = equity_change_request(
            portfolio=portfolio, actor=actor_of(request), equity=data["total_equity"], reason=data["reason"]
        )
        return self.created(EquityChangeOutputSerializer(change).data)


def _equity_change_decided(view, request, slug, change_id, decide) -> Response:
    """A risk officer's decision (``decide(change=, actor=, reason=)``) on a waiting equity change."""
    portfolio = portfolio_for(request, slug, APPROVE)
    change = found_or_404(
        equity_change_get(portfolio=portfolio, change_id=change_id),
        f"no equity change {change_id} in this portfolio",
    )
    change = decide(change=change, actor=actor_of(request), **view.validated(request))
    return Response(EquityChangeOutputSerializer(change).data)


class EquityChangeApproveApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        summary="Approve a waiting equity change (four eyes: not its requester; a reason is required)",
    )
    def post(self, request, slug, change_id, idempotency_key=None):
        return _equity_change_decided(self, request, slug, change_id, equity_change_approve)


class EquityChangeRejectApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        summary="Reject a waiting equity change (the equity stays)",
    )
    def post(self, request, slug, change_id, idempotency_key=None):
        return _equity_change_decided(self, request, slug, change_id, equity_change_reject)


class EquityChangeCollectionApi(EquityChangeListApi, EquityChangeCreateApi):
    """GET lists the equity changes; POST asks for a new equity (risk officers)."""
