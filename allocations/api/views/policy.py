"""The portfolio's allocation policy: read the current version; a change that only tightens makes
a new one at once, any other is a proposal that a second risk officer approves or rejects."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from allocations.api.permissions import APPROVE, MANAGE_POLICY, VIEW, actor_of, portfolio_for
from allocations.api.serializers import (
    FiniteFloatField,
    ListedChoiceField,
    StrictInputSerializer,
    optional_reason,
    required_reason,
)
from allocations.models import CovarianceEstimator, Method, PolicyProposal
from allocations.policy_fields import POLICY_FIELDS, REBALANCE_FREQUENCIES, PolicyField
from allocations.selectors.policies import policy_current, policy_proposal_get, policy_proposal_list
from allocations.services.policies import (
    PolicyChange,
    policy_change_request,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
)

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


class PolicyOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    method = serializers.ChoiceField(choices=Method.values)
    hybrid_blend = serializers.FloatField()
    rebalance_frequency = serializers.ChoiceField(choices=REBALANCE_FREQUENCIES)
    rebalance_time = serializers.CharField(help_text="HH:MM:SS in the portfolio's time zone.")
    force_rebalance_threshold = serializers.FloatField()
    approval_threshold = serializers.FloatField()
    lookback_period = serializers.IntegerField()
    covariance_lookback = serializers.IntegerField()
    covariance_estimator = serializers.ChoiceField(choices=CovarianceEstimator.values)
    momentum_factor = serializers.FloatField()
    signal_decay_factor = serializers.FloatField()
    signal_window_days = serializers.IntegerField()
    stale_after_days = serializers.IntegerField()
    buy_multiplier = serializers.FloatField()
    sell_multiplier = serializers.FloatField()
    max_single_strategy_exposure = serializers.FloatField()
    max_sector_exposure = serializers.FloatField()
    max_total_risk = serializers.FloatField()
    transition_period_days = serializers.IntegerField()
    max_daily_change = serializers.FloatField()
    min_change_threshold = serializers.FloatField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    reason = serializers.CharField()


def _exclusive_minimum(low: float):
    def check(value):
        if value <= low:
            raise serializers.ValidationError(f"must be greater than {low:g}")

    return check


def _policy_input_field(field: PolicyField) -> serializers.Field:
    """A serializer field from the one declaration of the policy's fields (``POLICY_FIELDS``)."""
    if field.choices is not None:
        return ListedChoiceField(choices=list(field.choices), required=False)
    if field.is_time:
        return serializers.RegexField(
            r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", required=False, help_text="HH:MM or HH:MM:SS"
        )
    bounds = field.bounds
    if bounds.kind is int:
        return serializers.IntegerField(required=False, min_value=bounds.low, max_value=bounds.high)
    validators = [_exclusive_minimum(bounds.low)] if bounds.low_open else []
    return FiniteFloatField(required=False, min_value=bounds.low, max_value=bounds.high, validators=validators)


def _policy_input_fields(reason: serializers.Field) -> dict:
    fields = {name: _policy_input_field(field) for name, field in POLICY_FIELDS.items()}
    fields["reason"] = reason
    return fields


class PolicyProposalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=PolicyProposal.Status.values)
    base_version = serializers.IntegerField(
        source="base_policy.version", allow_null=True, default=None, help_text="The version it changes."
    )
    changes = serializers.DictField(help_text="Field -> proposed value (times as HH:MM:SS).")
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    requested_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    applied_version = serializers.IntegerField(
        source="applied_policy.version", allow_null=True, default=None, help_text="The version its approval made."
    )


def policy_change_response(change: PolicyChange) -> Response:
    """200 with the policy in force when the change applied at once (it only tightened, or changed
    nothing); 202 with the proposal when it waits for a second risk officer."""
    if change.proposal is not None:
        return Response(PolicyProposalOutputSerializer(change.proposal).data, status=status.HTTP_202_ACCEPTED)
    return Response(PolicyOutputSerializer(change.policy).data)


POLICY_CHANGE_RESPONSES = {200: PolicyOutputSerializer, 202: PolicyProposalOutputSerializer}


class PolicyApi(Api):
    """GET reads the current version; PUT and PATCH both take the fields to change (the others are
    kept). A change that only tightens (lower caps, approval threshold, daily change or force
    threshold) makes a new version at once, audited (200); any other waits as a proposal for a
    second risk officer (202, a reason required). Nothing changed: the current version is answered."""

    InputSerializer = serializers.SerializerMetaclass(
        "InputSerializer",
        (StrictInputSerializer,),
        {
            **_policy_input_fields(optional_reason()),
            "__qualname__": "PolicyUpdateApi.InputSerializer",
            "__module__": __name__,
        },
    )
    OutputSerializer = PolicyOutputSerializer

    @extend_schema(responses=PolicyOutputSerializer, summary="The current policy")
    def get(self, request, slug):
        portfolio = portfolio_for(request, slug, VIEW)
        policy = found_or_404(policy_current(portfolio=portfolio), "this portfolio has no policy yet")
        return Response(self.OutputSerializer(policy).data)

    def _update(self, request, slug):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        changes = dict(self.validated(request))
        reason = changes.pop("reason", "")
        change = policy_change_request(portfolio=portfolio, actor=actor_of(request), reason=reason, changes=changes)
        return policy_change_response(change)

    @extend_schema(
        request=InputSerializer,
        responses=POLICY_CHANGE_RESPONSES,
        summary="Change the policy (tightening: a new version; else a proposal)",
    )
    def put(self, request, slug):
        return self._update(request, slug)

    @extend_schema(
        request=InputSerializer,
        responses=POLICY_CHANGE_RESPONSES,
        summary="Change the policy (tightening: a new version; else a proposal)",
    )
    def patch(self, request, slug):
        return self._update(request, slug)


class PolicyProposalListApi(PortfolioScopedListApi):
    """The portfolio's policy proposals, newest first."""

    model = PolicyProposal
    serializer_class = PolicyProposalOutputSerializer
    selector = staticmethod(policy_proposal_list)


class PolicyProposalCreateApi(Api):
    InputSerializer = serializers.SerializerMetaclass(
        "InputSerializer",
        (StrictInputSerializer,),
        {
            **_policy_input_fields(required_reason()),
            "__qualname__": "PolicyProposalCreateApi.InputSerializer",
            "__module__": __name__,
        },
    )

    @idempotent_post(
        request=InputSerializer,
        responses={201: PolicyProposalOutputSerializer},
        summary="Propose a policy change (it waits for a second risk officer, even one that only tightens)",
    )
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        changes = dict(self.validated(request))
        reason = changes.pop("reason")
        proposal = policy_proposal_create(portfolio=portfolio, actor=actor_of(request), changes=changes, reason=reason)
        return self.created(PolicyProposalOutputSerializer(proposal).data)


def _proposal_decided(view, request, slug, proposal_id, decide) -> Response:
    """A risk officer's decision (``decide(proposal=, actor=, reason=)``) on a waiting policy proposal."""
    portfolio = portfolio_for(request, slug, APPROVE)
    proposal = found_or_404(
        policy_proposal_get(portfolio=portfolio, proposal_id=proposal_id),
        f"no policy proposal {proposal_id} in this portfolio",
    )
    proposal = decide(proposal=proposal, actor=actor_of(request), **view.validated(request))
    return Response(
        PolicyProposalOutputSerializer(policy_proposal_get(portfolio=portfolio, proposal_id=proposal.pk)).data
    )


class PolicyProposalApproveApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=PolicyProposalOutputSerializer,
        summary="Approve a waiting policy proposal (four eyes: not its proposer; a reason is required)",
    )
    def post(self, request, slug, proposal_id, idempotency_key=None):
        return _proposal_decided(self, request, slug, proposal_id, policy_proposal_approve)


class PolicyProposalRejectApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=PolicyProposalOutputSerializer,
        summary="Reject a waiting policy proposal (the policy in force stays)",
    )
    def post(self, request, slug, proposal_id, idempotency_key=None):
        return _proposal_decided(self, request, slug, proposal_id, policy_proposal_reject)


class PolicyProposalCollectionApi(PolicyProposalListApi, PolicyProposalCreateApi):
    """GET lists the policy proposals; POST proposes a change (risk officers)."""
