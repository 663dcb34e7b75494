"""The explanation of a run as the schema names it: the run-level facts and every stage per strategy.

The answers build the explanation as a dict (``adapters.run_explanation``, ``selectors.runs``); these
serializers describe it for the schema (``ExplanationField``), so generated clients get named
types. Every key is optional: a dry run, a stored run and a run before a key existed carry
different sets, and clients keep what they do not know.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from allocations.api.serializers import WeightField, WeightMapField, finite_or_none


def _optional(field_class, **kwargs):
    return field_class(required=False, **kwargs)


class StrategyStagesSerializer(serializers.Serializer):
    sector = serializers.CharField()
    base = WeightField(allow_null=True, help_text="Weight after the method (stage 1).")
    after_signals = WeightField(allow_null=True)
    after_smoothing = WeightField(allow_null=True)
    after_caps = WeightField(allow_null=True)
    final = WeightField(allow_null=True, help_text="The target weight.")
    risk_contribution = WeightField(allow_null=True)
    binding_limit = serializers.CharField(help_text='The limit that cut it ("strategy", "sector", "total_risk") or "".')
    binding_amount = WeightField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())


class ReturnsWindowSerializer(serializers.Serializer):
    first = serializers.DateField(allow_null=True)
    last = serializers.DateField(allow_null=True)
    days = serializers.IntegerField()


class CovarianceFactsSerializer(serializers.Serializer):
    estimator = serializers.CharField()
    window = serializers.IntegerField()
    shrinkage = serializers.FloatField()


class LimitFactsSerializer(serializers.Serializer):
    rounds = serializers.IntegerField()
    risk_scale = serializers.FloatField()
    removed = WeightMapField(help_text="limit -> weight it removed.")


class RiskUnknownSerializer(serializers.Serializer):
    strategies = serializers.IntegerField()
    weight = WeightField()


class ExplanationSignalSerializer(serializers.Serializer):
    sector = serializers.CharField()
    action = serializers.CharField()
    confidence = serializers.FloatField()
    as_of = _optional(serializers.DateTimeField)
    source = _optional(serializers.CharField)


class ExplanationSerializer(serializers.Serializer):
    method = _optional(serializers.CharField)
    policy_version = _optional(serializers.IntegerField)
    policy = _optional(serializers.DictField, help_text="The policy parameters the engine ran with.")
    equity = _optional(serializers.CharField, help_text="The total equity, a decimal string.")
    weight_basis = _optional(serializers.FloatField)
    ex_ante_volatility = _optional(serializers.FloatField)
    ex_ante_volatility_before_limits = _optional(serializers.FloatField)
    effective_number_of_strategies = _optional(serializers.FloatField)
    cash = _optional(WeightField)
    invested = _optional(WeightField)
    turnover = _optional(WeightField)
    held_weight = _optional(WeightField)
    steps = _optional(serializers.IntegerField)
    force_rebalance = _optional(serializers.BooleanField)
    dry_run = _optional(serializers.BooleanField)
    would_need_approval = _optional(serializers.BooleanField)
    approval_threshold = _optional(serializers.FloatField)
    inputs_digest = _optional(serializers.CharField)
    estimated = _optional(serializers.IntegerField)
    insufficient_history = _optional(serializers.IntegerField)
    zero_variance = _optional(serializers.IntegerField)
    stale = _optional(serializers.IntegerField)
    zero_variance_floor = _optional(serializers.FloatField)
    fallbacks = _optional(serializers.ListField, child=serializers.CharField())
    notes = _optional(serializers.ListField, child=serializers.CharField())
    signals = _optional(ExplanationSignalSerializer, many=True)
    signals_applied = _optional(
        serializers.DictField, child=serializers.FloatField(), help_text="sector -> multiplier."
    )
    ignored_signals = _optional(serializers.ListField, child=serializers.CharField())
    returns_window = _optional(ReturnsWindowSerializer)
    covariance = _optional(CovarianceFactsSerializer)
    risk_parity = _optional(serializers.DictField, help_text="The risk-parity solver's facts, when it ran.")
    limits = _optional(LimitFactsSerializer)
    risk_unknown = _optional(RiskUnknownSerializer)
    timings_ms = _optional(serializers.DictField, child=serializers.FloatField(), help_text="engine stage -> ms.")
    phase_timings_ms = _optional(serializers.DictField, child=serializers.FloatField(), help_text="phase -> ms.")
    strategies_explained = _optional(
        serializers.IntegerField, help_text="How many strategies the run explains (the summary answer)."
    )
    strategies = _optional(
        serializers.DictField,
        child=StrategyStagesSerializer(),
        help_text="strategy code -> every stage (with `?explain=full`, and in a run's detail).",
    )


@extend_schema_field(ExplanationSerializer)
class ExplanationField(serializers.DictField):
    """The explanation dict, answered as built with its floats shown as weights are (``finite_or_none``);
    documented as ``Explanation``."""

    def to_representation(self, value):
        return finite_or_none(value)
