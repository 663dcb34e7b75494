"""Fields and serializer bases shared by the API's views."""

from __future__ import annotations

import math
from decimal import Decimal

from rest_framework import serializers

from allocations.services.funds import MAX_AMOUNT

IGNORED_KEYS = {"csrfmiddlewaretoken"}  # sent by HTML forms of the browsable API


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not know, naming them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields) - IGNORED_KEYS)
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in map(str, unknown)})
        return super().to_internal_value(data)


class FiniteFloatField(serializers.FloatField):
    """A finite number: JSON numbers only (no booleans; numeric strings are fine)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or data is None or isinstance(data, list | dict):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class MoneyField(serializers.DecimalField):
    """An amount: finite, rounded to the cent on the way in, a string with two decimals out."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", None)
        kwargs.setdefault("decimal_places", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if abs(value) >= MAX_AMOUNT:
            raise serializers.ValidationError(f"must be less than {MAX_AMOUNT:,.0f}")
        return value.quantize(Decimal("0.01"))

    def to_representation(self, value):
        return str(Decimal(value).quantize(Decimal("0.01")))


class WeightMapField(serializers.DictField):
    """strategy code -> weight."""

    child = serializers.FloatField()


def finite_or_none(value):
    """JSON-safe: non-finite floats become null (NaN cannot be rendered as JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(item) for item in value]
    return value
