"""allocations/money.py: amounts to the cent and weights of the equity (no database)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, settings

from allocations import money

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def floor_to_cent(weight: float, equity: Decimal) -> Decimal:
    """Independent: exact rational product of the weight's shortest decimal and the equity, floored."""
    exact = Fraction(repr(float(weight))) * Fraction(str(equity))
    cents = math.floor(exact * 100)
    return Decimal(cents) / 100


def test_amounts_for_weights_by_hand():
    equity = Decimal("100.00")
    amounts = money.amounts_for_weights([0.333333, 1 / 3, 0.29, 0.5, 0.0], equity)
    # 0.29 x 100 is 28.999999999999996 in floating point; the weight's decimal 0.29 gives 29.00.
    assert amounts == [Decimal("33.33"), Decimal("33.33"), Decimal("29.00"), Decimal("50.00"), Decimal("0.00")]
    assert all(a.as_tuple().exponent == -2 for a in amounts)
    assert money.amounts_for_weights([0.5], Decimal("0.01")) == [Decimal("0.00")]  # half a cent rounds down
    assert money.amounts_for_weights([0.999999], Decimal("1000000.00")) == [Decimal("999999.00")]
    assert money.amounts_for_weights([0.9999999], Decimal("1000.00")) == [Decimal("999.99")]  # not 1000.00


def test_amounts_for_weights_round_down_to_the_cent_and_never_exceed_the_equity():
    rng = np.random.default_rng(20240105)
    for trial in range(200):
        n = int(rng.integers(1, 40))
        weights = rng.dirichlet(np.ones(n)) * rng.uniform(0.5, 1.0)
        if trial % 4 == 0:
            weights = weights / weights.sum()  # a fully invested book
        equity = Decimal(int(rng.integers(1, 10**11))) / 100
        amounts = money.amounts_for_weights(weights, equity)
        assert amounts == [floor_to_cent(w, equity) for w in weights]
        for w, amount in zip(weights, amounts, strict=True):
            exact = Fraction(repr(float(w))) * Fraction(str(equity))
            assert Fraction(amount) <= exact < Fraction(amount) + Fraction(1, 100)
        assert sum(amounts, Decimal("0")) <= equity


def test_amounts_for_weights_agree_with_exact_arithmetic_near_whole_cents_and_at_any_size():
    """The float path and the decimal one give the exact floor wherever the product falls: on a whole
    cent, a hair either side of one, for tiny and for huge equities, for 0, 1 and NaN-free books."""
    rng = np.random.default_rng(7)
    for equity in (Decimal("0.01"), Decimal("100.00"), Decimal("1234567.89"), Decimal("99999999999999.99")):
        cents = int(equity * 100)
        k = rng.integers(0, cents + 1, 300)
        weights = np.concatenate(
            [k / cents, np.nextafter(k / cents, 0), np.nextafter(k / cents, 2), rng.uniform(0, 1, 300), [0.0, 1.0]]
        )
        weights = np.clip(weights, 0.0, 1.0)
        assert money.amounts_for_weights(weights, equity) == [floor_to_cent(w, equity) for w in weights]
        assert money.amounts_for_weights(weights.tolist(), equity) == [floor_to_cent(w, equity) for w in weights]


def test_weights_of_amounts_take_the_equity_as_basis():
    ids = np.array([3, 1, 7])
    amounts = {1: Decimal("200.00"), 3: Decimal("100.00"), 9: Decimal("50.00")}  # 9: not in the universe
    weights, basis = money.weights_of_amounts(ids, amounts, Decimal("1000.00"))
    assert basis == 1000.0
    np.testing.assert_allclose(weights, [0.1, 0.2, 0.0], rtol=0, atol=1e-15)


def test_weights_of_amounts_take_the_funds_when_they_exceed_the_equity():
    ids = np.array([1, 3])
    amounts = {1: Decimal("200.00"), 3: Decimal("100.00"), 9: Decimal("50.00")}  # Σ funds 350 > equity 300
    weights, basis = money.weights_of_amounts(ids, amounts, Decimal("300.00"))
    assert basis == 350.0
    np.testing.assert_allclose(weights, [200 / 350, 100 / 350], rtol=1e-15)
    assert weights.sum() <= 1.0


def test_weights_of_amounts_of_nothing_are_zeros():
    weights, basis = money.weights_of_amounts(np.array([1, 2]), {}, Decimal("0"))
    assert basis == 0.0
    np.testing.assert_array_equal(weights, [0.0, 0.0])


def test_amounts_and_weights_round_trip_within_a_cent():
    rng = np.random.default_rng(3)
    ids = np.array([2, 5, 8, 13, 21])
    weights = rng.dirichlet(np.ones(5)) * 0.9
    equity = Decimal("2500000.00")
    amounts = dict(zip(ids.tolist(), money.amounts_for_weights(weights, equity), strict=True))
    back, basis = money.weights_of_amounts(ids, amounts, equity)
    assert basis == float(equity)
    np.testing.assert_allclose(back, weights, rtol=0, atol=0.01 / float(equity))
