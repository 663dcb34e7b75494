"""The portfolio's allocation policy: read the current version; a change makes a new one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import MANAGE_POLICY, VIEW, actor_of, portfolio_for
from allocations.api.serializers import FiniteFloatField, StrictInputSerializer, optional_reason
from allocations.models import CovarianceEstimator, Method
from allocations.policy_fields import POLICY_FIELDS, REBALANCE_FREQUENCIES, PolicyField
from allocations.selectors.core import policy_current
from allocations.services.policies import policy_create_version

from .base import Api, found_or_404


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
        return serializers.ChoiceField(choices=list(field.choices), required=False)
    if field.is_time:
        return serializers.RegexField(
            r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", required=False, help_text="HH:MM or HH:MM:SS"
        )
    bounds = field.bounds
    if bounds.kind is int:
        return serializers.IntegerField(required=False, min_value=bounds.low, max_value=bounds.high)
    validators = [_exclusive_minimum(bounds.low)] if bounds.low_open else []
    return FiniteFloatField(required=False, min_value=bounds.low, max_value=bounds.high, validators=validators)


def _policy_input_fields() -> dict:
    fields = {name: _policy_input_field(field) for name, field in POLICY_FIELDS.items()}
    fields["reason"] = optional_reason()
    return fields


class PolicyApi(Api):
    """GET reads the current version; PUT and PATCH both take the fields to change (the others are
    kept) and make a new version, audited. Nothing changed: the current version is answered."""

    InputSerializer = serializers.SerializerMetaclass(
        "InputSerializer",
        (StrictInputSerializer,),
        {
            **_policy_input_fields(),
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
        reason = changes.pop("reason", "") or "policy updated through the API"
        policy = policy_create_version(portfolio=portfolio, actor=actor_of(request), reason=reason, changes=changes)
        return Response(self.OutputSerializer(policy).data)

    @extend_schema(request=InputSerializer, responses=PolicyOutputSerializer, summary="Change the policy (new version)")
    def put(self, request, slug):
        return self._update(request, slug)

    @extend_schema(request=InputSerializer, responses=PolicyOutputSerializer, summary="Change the policy (new version)")
    def patch(self, request, slug):
        return self._update(request, slug)
