"""Cents: how amounts are stored, validated, and turned into weights of the equity and back.

Amounts are decimals to the cent (``CENT``) in columns of ``MONEY``'s size; weights are floats.
``amounts_for_weights`` rounds down so the amounts never add up to more than the equity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np

from allocations.errors import DomainError

CENT = Decimal("0.01")
#: Every amount column's size (``models.DecimalField(**MONEY)``).
MONEY = {"max_digits": 20, "decimal_places": 2}
MAX_AMOUNT = Decimal("1e17")  # what a DecimalField(20, 2) holds


def to_money(value, *, field: str = "amount") -> Decimal:
    """A finite, non-negative amount rounded to the cent, or ``DomainError`` naming ``field``."""
    if isinstance(value, bool):
        raise DomainError(f"{field} must be a number, not a boolean", field=field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DomainError(f"{field} must be a finite number, got {value}", field=field)
        value = repr(value)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise DomainError(f"{field} must be a number, got {value!r}", field=field) from None
    if not amount.is_finite():
        raise DomainError(f"{field} must be a finite number, got {value}", field=field)
    if amount < 0:
        raise DomainError(f"{field} must not be negative, got {value}", field=field)
    if amount >= MAX_AMOUNT:
        raise DomainError(f"{field} is too large: {value}", field=field)
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def amounts_for_weights(weights: Iterable[float], equity: Decimal) -> list[Decimal]:
    """amount_i = w_i x equity, rounded down to the cent so the amounts never exceed the equity.

    ``w_i`` is the weight's shortest decimal (``repr``) and the product is exact. In floats,
    ``w x (100 x equity)`` is within ``4e-16`` of it relatively (the equity's cents are an exact
    integer below 2^53; the product and the weight's own decimal each cost half an ulp), so its
    floor is the exact floor wherever it lies farther than that from a whole cent; the others
    (near a whole cent, huge, negative or not finite) are computed in decimals as one would by hand.
    """
    values = weights if isinstance(weights, np.ndarray) else list(weights)
    array = np.asarray(values, dtype=float)
    equity_cents = float(equity * 100)
    if array.ndim != 1 or not equity_cents < 2.0**53:
        return [_amount_by_hand(w, equity) for w in values]
    with np.errstate(invalid="ignore", over="ignore"):
        cents = array * equity_cents
        floor = np.floor(cents)
        margin = cents * 4e-16 + 1e-9
        fast = (array >= 0) & (cents < 2.0**52) & (cents - floor > margin) & (floor + 1 - cents > margin)
    whole = np.where(fast, floor, 0).astype(np.int64).tolist()
    return [
        Decimal(c).scaleb(-2) if ok else _amount_by_hand(values[i], equity)
        for i, (c, ok) in enumerate(zip(whole, fast.tolist(), strict=True))
    ]


def _amount_by_hand(weight: float, equity: Decimal) -> Decimal:
    return (Decimal(repr(float(weight))) * equity).quantize(CENT, rounding=ROUND_DOWN)


def weights_of_amounts(ids: np.ndarray, amounts: dict[int, Decimal], equity: Decimal) -> tuple[np.ndarray, float]:
    """Funds as fractions of equity, in the order of ``ids``, and the basis used.

    If the funds add up to more than the equity (the equity was lowered), weights are taken of
    the funds' total instead, so they still sum to at most 1.
    """
    vector = np.array([float(amounts.get(int(i), 0)) for i in ids], dtype=float)
    total = float(sum(amounts.values(), Decimal("0")))
    basis = max(float(equity), total)
    if basis <= 0:
        return np.zeros(len(ids)), float(equity)
    return vector / basis, basis
