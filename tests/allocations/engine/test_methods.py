"""Base methods and the momentum stages, against hand-computed numbers."""

import numpy as np
import pytest

from allocations.engine import (
    AllocationPolicy,
    EqualWeight,
    InvalidInputError,
    InverseVolatility,
    PerformanceWeighted,
    SectorSignal,
    apply_signals,
    decay_smoothing,
    equal_weight,
    inverse_volatility,
    performance_weighted,
    sector_multipliers,
    sharpe_weights,
)

from .conftest import factor_returns


def test_equal_weight():
    np.testing.assert_allclose(equal_weight(4), [0.25] * 4)
    assert EqualWeight().fit(np.zeros((3, 5))).weights_.tolist() == [0.2] * 5


def test_inverse_volatility_closed_form():
    np.testing.assert_allclose(inverse_volatility([0.1, 0.2, 0.4]), np.array([4, 2, 1]) / 7, rtol=1e-15)
    x = factor_returns(4, 40, seed=1)
    model = InverseVolatility(lookback=30).fit(x)
    vol = x[-30:].std(axis=0, ddof=1)
    np.testing.assert_allclose(model.weights_, (1 / vol) / (1 / vol).sum(), rtol=1e-12)


def test_sharpe_weights_ignore_negative_and_undefined_scores():
    np.testing.assert_allclose(sharpe_weights([1.0, -2.0, np.nan, 3.0]), [0.25, 0, 0, 0.75])
    np.testing.assert_allclose(sharpe_weights([-1.0, np.nan, 0.0]), [1 / 3] * 3)


def test_performance_weighted_blends_with_current_weights():
    sharpe = np.array([1.0, 3.0])
    np.testing.assert_allclose(performance_weighted(sharpe, None, 0.3), [0.25, 0.75])
    np.testing.assert_allclose(performance_weighted(sharpe, np.zeros(2), 0.3), [0.25, 0.75])
    # current (0.3, 0.1) of equity -> (0.75, 0.25) of the invested part
    np.testing.assert_allclose(
        performance_weighted(sharpe, np.array([0.3, 0.1]), 0.3),
        [0.7 * 0.75 + 0.3 * 0.25, 0.7 * 0.25 + 0.3 * 0.75],
    )
    model = PerformanceWeighted(lookback=30, momentum_factor=1.0).fit(factor_returns(3, 40))
    assert model.weights_.sum() == pytest.approx(1.0)


def test_signals_apply_to_every_strategy_of_the_sector():
    policy = AllocationPolicy()
    sectors = ["tech", "tech", "energy", "health"]
    signals = [
        SectorSignal("tech", "SELL", 1.0),
        SectorSignal("tech", "BUY", 0.5),  # the last one for a sector wins
        SectorSignal("energy", "sell", 0.5),
        SectorSignal("crypto", "BUY", 1.0),
    ]
    multipliers, ignored, applied = sector_multipliers(sectors, signals, policy)
    np.testing.assert_allclose(multipliers, [1.15, 1.15, 0.9, 1.0])
    assert ignored == ["crypto"]
    assert applied == {"tech": pytest.approx(1.15), "energy": pytest.approx(0.9)}
    w = apply_signals(np.full(4, 0.25), multipliers)
    np.testing.assert_allclose(w, np.array([1.15, 1.15, 0.9, 1.0]) / 4.2)


def test_decay_smoothing_blends_strategies_in_both_runs_only():
    new = np.array([0.5, 0.3, 0.2])
    previous = np.array([0.2, 0.8, np.nan])  # strategy 2 is new
    expected = np.array([0.95 * 0.5 + 0.05 * 0.2, 0.95 * 0.3 + 0.05 * 0.8, 0.2])
    np.testing.assert_allclose(decay_smoothing(new, previous, 0.95), expected / expected.sum())
    np.testing.assert_array_equal(decay_smoothing(new, None, 0.95), new)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: equal_weight(0), "empty"),
        (lambda: inverse_volatility([0.1, 0.0]), "positive"),
        (lambda: inverse_volatility([]), "empty"),
        (lambda: sharpe_weights([]), "empty"),
        (lambda: SectorSignal("tech", "BUY", 1.5), "confidence"),
        (lambda: SectorSignal("tech", "BUY", float("nan")), "confidence"),
        (lambda: SectorSignal("tech", "SHORT", 0.5), "action"),
        (lambda: SectorSignal("", "BUY", 0.5), "sector"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_every_policy_method_has_a_registry_entry():
    from allocations.engine import METHOD_REGISTRY, METHODS

    assert set(METHOD_REGISTRY) == set(METHODS)
    assert "hrp" in METHODS
