"""Fields and serializer bases shared by the API's views."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from rest_framework import serializers

from allocations.choices import expected_one_of
from allocations.money import CENT, MAX_AMOUNT

IGNORED_KEYS = {"csrfmiddlewaretoken"}  # sent by HTML forms of the browsable API


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not know, naming them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields) - IGNORED_KEYS)
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in map(str, unknown)})
        return super().to_internal_value(data)


def optional_reason() -> serializers.CharField:
    """Why a change is made, for its audit entry: up to 2,000 characters, "" when left out."""
    return serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def required_reason() -> serializers.CharField:
    """Why, where the answer must say it (a rejection, a cancellation, a new equity): up to 2,000 characters."""
    return serializers.CharField(max_length=2000)


class ListedChoiceField(serializers.ChoiceField):
    """A choice whose refusal lists the valid ones: DRF's says only '"risk-parity" is not a valid choice.'."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, **kwargs)
        # str.format placeholders are DRF's ({input}); the choices are our own names, without braces
        self.error_messages["invalid_choice"] = (
            '"{input}" is not a valid choice; ' + expected_one_of(self.choice_strings_to_values) + "."
        )


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
        return value.quantize(CENT)

    def to_representation(self, value):
        return str(Decimal(value).quantize(CENT))


WEIGHT_DECIMALS = 12


def weight_shown(value: float | None) -> float | None:
    """A weight as answered: rounded to ``WEIGHT_DECIMALS`` decimals, never ``-0.0``; non-finite is None.

    The engine's float arithmetic leaves noise in the last places (``cash_weight`` 2.22e-16 for
    an exact zero, 0.30000000000000004); twelve decimals is a millionth of a cent on a million.
    """
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, WEIGHT_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


class WeightField(serializers.FloatField):
    """A weight (a fraction of equity or of capital) in an answer: see ``weight_shown``."""

    def to_representation(self, value):
        return weight_shown(value)


def _float_shown(value: float) -> float | None:
    """``weight_shown`` of a float: ``value - value`` is 0.0 for a finite float, NaN otherwise."""
    return round(value, WEIGHT_DECIMALS) + 0.0 if value - value == 0.0 else None


class WeightMapField(serializers.DictField):
    """strategy code -> weight.

    A rebalance answers tens of thousands of weights at 1,000 strategies: each is shown in one
    comprehension (``weight_shown``'s rule) rather than through a child field per value.
    """

    child = WeightField()

    def to_representation(self, value):
        return dict(zip(map(str, value), weights_shown(list(value.values())), strict=True))


TIE_WINDOW = 1e-3  # from a rounding tie at the 12th decimal: the product's own error is at most 1.2e-4


def weights_shown(values: list) -> list:
    """``[weight_shown(v) for v in values]``, value for value, in a few numpy passes.

    For ``|x| < 1``, ``fl(x * 1e12)`` is within 1.2e-4 of the exact product, so ``rint`` of it is
    the integer ``n`` that ``round(x, 12)`` rounds to unless the product lies within ``TIE_WINDOW``
    of a tie; and ``n / 1e12`` (both exact) is the double nearest ``n`` x 10^-12, which is what
    ``round`` returns. Ties, larger values and non-finite ones go through ``weight_shown`` itself.
    """
    try:
        array = np.array(values, dtype=float)  # None -> NaN, as weight_shown(None) is None
    except (TypeError, ValueError):
        return [weight_shown(value) for value in values]
    if array.ndim != 1:
        return [weight_shown(value) for value in values]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN, inf and huge values go to weight_shown below
        scaled = array * 1e12
        exact = (np.abs(array) < 1.0) & (np.abs(scaled - np.floor(scaled) - 0.5) > TIE_WINDOW)
        shown = (np.rint(scaled) / 1e12 + 0.0).tolist()
    for i in np.flatnonzero(~exact).tolist():
        shown[i] = weight_shown(values[i])
    return shown


def finite_or_none(value):
    """JSON-safe and free of float noise, for the answers' free-form dicts (an explanation, a whole body).

    Floats are shown as weights are (``weight_shown``: 12 decimals, non-finite becomes null);
    strings (amounts are exact decimal strings), integers and booleans are left as they are.
    """
    if type(value) is float:
        return _float_shown(value)
    if isinstance(value, dict):
        return {key: _float_shown(item) if type(item) is float else finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_float_shown(item) if type(item) is float else finite_or_none(item) for item in value]
    if isinstance(value, float):  # a float subclass (numpy's float64)
        return weight_shown(value)
    return value
