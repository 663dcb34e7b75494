"""The portfolio's equity: its own audited decision of a risk officer, four eyes above the threshold."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import APPROVE, MANAGE_POLICY, actor_of, portfolio_for
from allocations.api.serializers import MoneyField, StrictInputSerializer
from allocations.models import EquityChange
from allocations.selectors.core import equity_change_get, equity_change_list
from allocations.services.equity import equity_change_approve, equity_change_reject, equity_change_request

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


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
    selector = staticmethod(equity_change_list)


class EquityChangeCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        total_equity = MoneyField(help_text="The new equity, > 0.")
        reason = serializers.CharField(max_length=2000)

        def validate_total_equity(self, value):
            if value <= 0:
                raise serializers.ValidationError("must be greater than 0")
            return value

    @idempotent_post(
        request=InputSerializer,
        responses={201: EquityChangeOutputSerializer},
        summary="Change the equity (applied within the approval threshold, else waits for a second risk officer)",
    )
    def post(self, request, slug):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        data = self.validated(request)
        change = equity_change_request(
            portfolio=portfolio, actor=actor_of(request), equity=data["total_equity"], reason=data["reason"]
        )
        return self.created(EquityChangeOutputSerializer(change).data)


class EquityChangeDecisionApi(Api):
    # A risk officer's decision on a waiting change; ``decide(change=, actor=, reason=)`` is the service.
    # (A comment, not a docstring: the schema would take it as the approve and reject views' description.)

    decide = None

    def post(self, request, slug, change_id):
        portfolio = portfolio_for(request, slug, APPROVE)
        change = found_or_404(
            equity_change_get(portfolio=portfolio, change_id=change_id),
            f"no equity change {change_id} in this portfolio",
        )
        change = self.decide(change=change, actor=actor_of(request), **self.validated(request))
        return Response(EquityChangeOutputSerializer(change).data)


class EquityChangeApproveApi(EquityChangeDecisionApi):
    decide = staticmethod(equity_change_approve)

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @idempotent_post(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        summary="Approve a waiting equity change (four eyes: not its requester)",
    )
    def post(self, request, slug, change_id):
        return super().post(request, slug, change_id)


class EquityChangeRejectApi(EquityChangeDecisionApi):
    decide = staticmethod(equity_change_reject)

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=2000)

    @idempotent_post(
        request=InputSerializer,
        responses=EquityChangeOutputSerializer,
        summary="Reject a waiting equity change (the equity stays)",
    )
    def post(self, request, slug, change_id):
        return super().post(request, slug, change_id)


class EquityChangeCollectionApi(EquityChangeListApi, EquityChangeCreateApi):
    """GET lists the equity changes; POST asks for a new equity (risk officers)."""
