"""Base methods and the momentum stages, against hand-computed numbers."""

import numpy as np
import pytest

from allocations.engine import (
    AllocationPolicy,
    InvalidInputError,
    SectorSignal,
    apply_signals,
    decay_smoothing,
    equal_weight,
    inverse_volatility,
    performance_weighted,
    return_stats,
    sector_multipliers,
    sharpe_weights,
)

from .conftest import factor_returns


def test_equal_weight():
    np.testing.assert_allclose(equal_weight(4), [0.25] * 4)


def test_inverse_volatility_closed_form():
    np.testing.assert_allclose(inverse_volatility([0.1, 0.2, 0.4]), np.array([4, 2, 1]) / 7, rtol=1e-15)
    x = factor_returns(4, 40, seed=1)
    weights = inverse_volatility(return_stats(x, 30).volatility)
    vol = x[-30:].std(axis=0, ddof=1)
    np.testing.assert_allclose(weights, (1 / vol) / (1 / vol).sum(), rtol=1e-12)


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
    weights = performance_weighted(return_stats(factor_returns(3, 40), 30).sharpe, None, 1.0)
    assert weights.sum() == pytest.approx(1.0)


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


def test_registry_entries_are_the_pure_functions_on_the_runs_estimates():
    from allocations.engine import METHOD_REGISTRY, hrp_weights, risk_parity_weights
    from allocations.engine.context import MethodContext
    from allocations.engine.estimate import estimate
    from allocations.engine.inputs import validate

    returns = factor_returns(6, 60, seed=2)
    budgets = np.array([1.0, 2.0, 1.0, 3.0, 1.0, 2.0])
    inputs = validate(
        returns,
        ["a", "b"] * 3,
        policy=AllocationPolicy(lookback=30),
        budgets=budgets,
        current_weights=None,
        signals=(),
        previous=None,
        sharpe_override=None,
        volatility_override=None,
        age_days=None,
    )
    ctx = MethodContext(inputs, estimate(inputs))
    cov, vol = ctx.estimates.covariance, ctx.estimates.volatility
    expected = {
        "equal_weight": equal_weight(6),
        "inverse_volatility": inverse_volatility(vol),
        "risk_parity": risk_parity_weights(cov, budgets),
        "hrp": hrp_weights(cov, budgets),
    }
    for name, weights in expected.items():
        method = METHOD_REGISTRY[name].for_run(ctx)
        np.testing.assert_allclose(method.risk, weights, rtol=1e-12, err_msg=name)
        assert (method.share, method.uses_signals) == (1.0, False)
    for name, uses_signals in (("performance_weighted", False), ("momentum", True)):
        method = METHOD_REGISTRY[name].for_run(ctx)
        assert (method.risk, method.share, method.uses_signals) == (None, 0.0, uses_signals)
