"""allocate(): every stage together, the explanation, fallbacks and bad input."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import allocations.engine.risk_parity as risk_parity_module
from allocations.engine import (
    METHODS,
    AllocationPolicy,
    InsufficientDataError,
    InvalidInputError,
    RiskParityError,
    SectorSignal,
    allocate,
    estimate_covariance,
    risk_parity_weights,
)

from .conftest import PROPERTY, factor_returns

LOOSE = {"max_single_strategy": 1.0, "max_sector": 1.0, "max_total_risk": 1.0}


def test_every_method_gives_valid_weights_and_a_serialisable_result(panel):
    returns, sectors = panel
    current = np.full(40, 1 / 40)
    for method in METHODS:
        res = allocate(
            returns,
            sectors,
            policy=AllocationPolicy(method=method),
            current_weights=current,
            signals=[SectorSignal("S1", "BUY", 0.7)],
        )
        w = res.target_weights
        assert np.isfinite(w).all() and (w >= 0).all() and w.sum() <= 1 + 1e-12
        assert w.max() <= 0.2 + 1e-9
        assert np.bincount(np.arange(40) % 5, weights=w).max() <= 0.3 + 1e-9
        assert res.explanation["ex_ante_volatility"] <= 0.8 + 1e-9
        assert res.cash == pytest.approx(1 - w.sum())
        np.testing.assert_array_equal(res.schedule[-1], w)
        data = res.to_dict()
        json.dumps(data, allow_nan=False)
        assert set(data["stages"]) == {"base", "after_signals", "after_smoothing", "after_caps", "final"}
        assert data["explanation"]["method"] == method


def test_equal_weight_with_loose_limits(panel):
    returns, sectors = panel
    res = allocate(returns, sectors, policy=AllocationPolicy(method="equal_weight", **LOOSE))
    np.testing.assert_allclose(res.target_weights, 1 / 40)
    assert res.explanation["effective_number_of_strategies"] == pytest.approx(40)
    assert res.explanation["turnover"] == pytest.approx(1.0)


def test_risk_parity_gives_equal_risk_contributions_when_no_limit_binds(panel):
    returns, sectors = panel
    res = allocate(returns, sectors, policy=AllocationPolicy(method="risk_parity", **LOOSE))
    np.testing.assert_allclose(res.risk_contributions, 1 / 40, rtol=1e-9)
    cov = estimate_covariance(returns).covariance.dense()
    np.testing.assert_allclose(res.target_weights, risk_parity_weights(cov), rtol=1e-9)
    assert res.explanation["risk_parity"]["error"] <= 1e-10


def test_hybrid_is_the_blend_of_risk_parity_and_momentum(panel):
    returns, sectors = panel
    policy = AllocationPolicy(method="hybrid", hybrid_blend=0.25, **LOOSE)
    hybrid = allocate(returns, sectors, policy=policy)
    rp = allocate(returns, sectors, policy=AllocationPolicy(method="risk_parity", **LOOSE))
    mom = allocate(returns, sectors, policy=AllocationPolicy(method="momentum", **LOOSE))
    np.testing.assert_allclose(hybrid.target_weights, 0.25 * rp.target_weights + 0.75 * mom.target_weights, rtol=1e-9)


def test_signals_scale_every_strategy_of_the_sector_and_unknown_sectors_are_reported(panel):
    returns, sectors = panel
    policy = AllocationPolicy(method="momentum", **LOOSE)
    res = allocate(
        returns,
        sectors,
        policy=policy,
        signals=[
            SectorSignal("S1", "BUY", 1.0),
            SectorSignal("S2", "SELL", 0.5),
            {"sector": "nowhere", "action": "BUY", "confidence": 1.0},
        ],
    )
    ratio = res.signal_weights / np.where(res.base_weights > 0, res.base_weights, np.nan)
    in_s1 = np.array(sectors) == "S1"
    in_s2 = np.array(sectors) == "S2"
    scored = ~np.isnan(ratio)
    k = np.nanmedian(ratio[~in_s1 & ~in_s2 & scored])
    np.testing.assert_allclose(ratio[in_s1 & scored], 1.3 * k, rtol=1e-12)
    np.testing.assert_allclose(ratio[in_s2 & scored], 0.9 * k, rtol=1e-12)
    assert res.explanation["ignored_signals"] == ["nowhere"]
    assert res.explanation["signals_applied"] == {"S1": pytest.approx(1.3), "S2": pytest.approx(0.9)}


def test_decay_smoothing_with_the_previous_run(panel):
    returns, sectors = panel
    policy = AllocationPolicy(method="momentum", signal_decay=0.6, **LOOSE)
    first = allocate(returns, sectors, policy=policy)
    previous = np.full(40, 1 / 39)
    previous[0] = np.nan  # strategy 0 was not in the previous run
    second = allocate(returns, sectors, policy=policy, previous=previous)
    new = first.momentum_weights
    expected = np.where(np.isnan(previous), new, 0.6 * new + 0.4 * np.nan_to_num(previous))
    np.testing.assert_allclose(second.momentum_weights, expected / expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(second.target_weights, second.momentum_weights, rtol=1e-12)


def test_strategies_without_history_or_variance_keep_their_weight(panel):
    returns, sectors = panel
    returns = returns.copy()
    returns[:-10, 0] = np.nan  # 10 observations < lookback 30
    returns[:, 1] = 0.001  # zero variance
    returns[:, 2] = np.nan  # new, never observed
    current = np.zeros(40)
    current[[0, 1]] = [0.05, 0.02]
    res = allocate(returns, sectors, policy=AllocationPolicy(method="equal_weight", **LOOSE), current_weights=current)
    assert res.flags[:4].tolist() == ["insufficient history", "zero variance", "insufficient history", ""]
    np.testing.assert_allclose(res.target_weights[:3], [0.05, 0.02, 0.0])
    np.testing.assert_allclose(res.target_weights[3:], 0.93 / 37)
    assert np.isnan(res.momentum_weights[:3]).all()
    # issue 9: risk is measured on the whole book; only a strategy never observed has no covariance row
    assert np.isfinite(res.risk_contributions[:2]).all() and np.isnan(res.risk_contributions[2])
    assert res.explanation["risk_unknown"] == {"strategies": 1, "weight": 0.0}
    assert res.explanation["insufficient_history"] == 2 and res.explanation["zero_variance"] == 1
    assert not np.isnan(res.target_weights).any()


def test_default_caps_on_three_strategies_leave_cash():
    returns = factor_returns(3, 60, seed=2)
    res = allocate(returns, ["a", "b", "c"], policy=AllocationPolicy(method="equal_weight"))
    np.testing.assert_allclose(res.target_weights, 0.2)
    assert res.cash == pytest.approx(0.4)
    assert res.binding_limit.tolist() == ["strategy"] * 3
    np.testing.assert_allclose(res.binding_amount, 1 / 3 - 0.2)


def test_total_risk_limit_is_recorded(panel):
    returns, sectors = panel
    res = allocate(
        returns * 5,
        sectors,
        policy=AllocationPolicy(method="equal_weight", max_single_strategy=1.0, max_sector=1.0, max_total_risk=0.1),
    )
    assert res.explanation["ex_ante_volatility"] == pytest.approx(0.1, rel=1e-9)
    assert set(res.binding_limit.tolist()) == {"total_risk"}
    assert res.cash > 0


def test_risk_parity_failure_falls_back_to_inverse_volatility(panel, monkeypatch):
    returns, sectors = panel

    def fail(*args, **kwargs):
        raise RiskParityError("did not converge (test)")

    monkeypatch.setattr(risk_parity_module, "solve_risk_parity", fail)
    res = allocate(returns, sectors, policy=AllocationPolicy(method="risk_parity", **LOOSE))
    assert res.explanation["fallbacks"][0].startswith("risk_parity -> inverse_volatility")
    # the fallback weights are 1/vol with the covariance's own volatilities
    vol = np.sqrt(np.diag(estimate_covariance(returns).covariance.dense()))
    np.testing.assert_allclose(res.target_weights, (1 / vol) / (1 / vol).sum(), rtol=1e-12)


def test_overrides(panel):
    returns, sectors = panel
    vol = np.full(40, np.nan)
    vol[0] = 1e-3  # tiny volatility: inverse volatility puts nearly everything on strategy 0
    res = allocate(
        returns,
        sectors,
        policy=AllocationPolicy(method="inverse_volatility", **LOOSE),
        volatility_override=vol,
    )
    assert res.target_weights[0] > 0.8
    sharpe = np.full(40, -1.0)
    sharpe[3] = 2.0
    res = allocate(
        returns,
        sectors,
        policy=AllocationPolicy(method="performance_weighted", **LOOSE),
        sharpe_override=sharpe,
    )
    assert res.target_weights[3] == pytest.approx(1.0)


def test_more_strategies_than_days():
    n = 300
    returns = factor_returns(n, 30, seed=5)
    res = allocate(returns, [f"S{i % 20}" for i in range(n)], policy=AllocationPolicy(method="risk_parity"))
    assert res.explanation["covariance"]["shrinkage"] > 0
    assert np.isfinite(res.target_weights).all() and res.target_weights.sum() == pytest.approx(1.0)


def test_sectors_may_be_a_tuple_or_an_object_array(panel):
    returns, sectors = panel
    expected = allocate(returns, sectors).target_weights
    np.testing.assert_array_equal(allocate(returns, tuple(sectors)).target_weights, expected)
    np.testing.assert_array_equal(allocate(returns, np.array(sectors, dtype=object)).target_weights, expected)


def test_force_rebalance_is_one_step(panel):
    returns, sectors = panel
    res = allocate(returns, sectors, force_rebalance=True)
    assert res.schedule.shape == (1, 40)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda r, s, k: (np.zeros((60, 0)), [], k), InvalidInputError, "empty"),
        (lambda r, s, k: (r[:, 0], s, k), InvalidInputError, "2-D"),
        (lambda r, s, k: (np.where(np.arange(40) == 3, np.inf, r), s, k), InvalidInputError, "infinite"),
        (lambda r, s, k: (r, s[:-1], k), InvalidInputError, "sectors"),
        (lambda r, s, k: (r, [None] * 40, k), InvalidInputError, "sectors"),
        (
            lambda r, s, k: (r, s, k | {"current_weights": np.full(40, 0.1)}),
            InvalidInputError,
            "current_weights",
        ),
        (
            lambda r, s, k: (r, s, k | {"current_weights": np.full(39, 0.01)}),
            InvalidInputError,
            "current_weights",
        ),
        (lambda r, s, k: (r, s, k | {"previous": np.full(40, np.inf)}), InvalidInputError, "previous"),
        (lambda r, s, k: (r, s, k | {"budgets": np.zeros(40)}), InvalidInputError, "budgets"),
        (
            lambda r, s, k: (r, s, k | {"signals": [{"sector": "S1", "action": "BUY", "confidence": 2}]}),
            InvalidInputError,
            "confidence",
        ),
        (lambda r, s, k: (r, s, k | {"signals": ["S1"]}), InvalidInputError, "signals"),
        (lambda r, s, k: (r, s, k | {"policy": {"method": "hybrid"}}), InvalidInputError, "policy"),
        (lambda r, s, k: (np.full_like(r, 0.01), s, k), InsufficientDataError, "zero variance"),
        (lambda r, s, k: (r[-10:], s, k), InsufficientDataError, "fewer than 30"),
        (lambda r, s, k: (r[:0], s, k), InsufficientDataError, "no rows"),
    ],
)
def test_bad_input_gives_typed_errors(panel, change, error, match):
    returns, sectors = panel
    r, s, kwargs = change(returns, list(sectors), {})
    with pytest.raises(error, match=match):
        allocate(r, s, **kwargs)


@PROPERTY
@given(
    n=st.integers(1, 40),
    t=st.integers(30, 90),
    method=st.sampled_from(METHODS),
    cap=st.floats(0.02, 1.0),
    sector_cap=st.floats(0.02, 1.0),
    risk_cap=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
    estimator=st.sampled_from(["ledoit_wolf_correlation", "ledoit_wolf", "sample", "ewma"]),
)
def test_properties_over_random_panels(n, t, method, cap, sector_cap, risk_cap, seed, estimator):
    """Hard limits hold for the whole book, held (late, stale, constant) strategies included."""
    rng = np.random.default_rng(seed)
    returns = factor_returns(n, t, seed=seed % 1000, sectors=3)
    starts = rng.integers(0, t, n) * (rng.random(n) < 0.3)
    returns[np.arange(t)[:, None] < starts] = np.nan
    constant = rng.random(n) < 0.1
    returns[:, constant] = 0.001
    stale = rng.random(n) < 0.15
    returns[-15:, stale] = np.nan
    sectors = [f"S{c}" for c in rng.integers(0, 4, n)]
    current = rng.dirichlet(np.ones(n)) * rng.uniform(0, 1)
    policy = AllocationPolicy(
        method=method,
        max_single_strategy=cap,
        max_sector=sector_cap,
        max_total_risk=risk_cap,
        covariance_estimator=estimator,
    )
    signals = [SectorSignal(f"S{i}", rng.choice(["BUY", "SELL", "HOLD"]), rng.uniform()) for i in range(3)]
    observed = (~np.isnan(returns)).sum(axis=0)
    try:
        res = allocate(returns, sectors, policy=policy, current_weights=current, signals=signals)
    except InsufficientDataError:
        assert ((observed < 30) | stale | constant).all()
        return
    w = res.target_weights
    assert np.isfinite(w).all() and (w >= 0).all() and w.sum() <= 1 + 1e-9
    held = res.flags != ""
    assert set(res.flags[held]) <= {"insufficient history", "stale", "zero variance"}
    assert (res.flags[stale & (observed >= 30)] == "stale").all()
    assert w.max(initial=0) <= cap + 1e-9
    assert (w[held] <= current[held] + 1e-12).all()
    cut = held & (w < current - 1e-12)
    assert (res.binding_limit[cut] != "").all()
    codes = np.unique(sectors, return_inverse=True)[1]
    assert np.bincount(codes, weights=w).max() <= sector_cap + 1e-9
    assert res.explanation["ex_ante_volatility"] <= risk_cap + 1e-9
    for stage in res.stages.values():
        assert np.isfinite(stage).all()
    np.testing.assert_array_equal(res.schedule[-1], w)
    steps = np.abs(np.diff(np.vstack([current, res.schedule]), axis=0))
    if res.schedule.shape[0] > 1:
        assert steps.max() <= policy.max_daily_change + 1e-12


def test_issue_9_risk_budgets_1_to_100_are_respected_without_fallback():
    n = 2000
    returns = factor_returns(n, 252, seed=1)
    budgets = np.where(np.arange(n) < n // 2, 1.0, 0.01)
    policy = AllocationPolicy(method="risk_parity", covariance_estimator="ledoit_wolf", **LOOSE)
    res = allocate(returns, [f"S{i % 5}" for i in range(n)], policy=policy, budgets=budgets)
    assert res.explanation["fallbacks"] == []
    rc = res.risk_contributions
    assert rc[: n // 2].sum() / rc[n // 2 :].sum() == pytest.approx(100.0, rel=1e-8)


def test_issue_9_a_failed_risk_parity_falls_back_with_the_budgets(panel, monkeypatch):
    returns, sectors = panel

    def fail(*args, **kwargs):
        raise RiskParityError("did not converge (test)")

    monkeypatch.setattr(risk_parity_module, "solve_risk_parity", fail)
    budgets = np.where(np.arange(40) < 20, 1.0, 0.01)
    res = allocate(returns, sectors, policy=AllocationPolicy(method="risk_parity", **LOOSE), budgets=budgets)
    assert res.explanation["fallbacks"][0].startswith("risk_parity -> inverse_volatility with budgets")
    vol = np.sqrt(np.diag(estimate_covariance(returns).covariance.dense()))
    expected = np.sqrt(budgets) / vol
    np.testing.assert_allclose(res.target_weights, expected / expected.sum(), rtol=1e-12)


def held_book(seed=21):
    """Ten strategies in two sectors; strategy 0 started 20 days ago (insufficient history)."""
    returns = factor_returns(10, 120, seed=seed, sectors=2)
    returns[:-20, 0] = np.nan
    returns[-20:, 0] *= 4  # and is volatile
    sectors = ["A"] * 5 + ["B"] * 5
    current = np.zeros(10)
    current[0] = 0.40
    return returns, sectors, current


def test_issue_9_a_held_strategy_keeps_its_weight_when_the_sector_cap_can_be_met_otherwise():
    """Issue 9, defect 4: a strategy held for lack of history was cut from .40 to .23 by a cap."""
    returns, sectors, current = held_book()
    policy = AllocationPolicy(method="equal_weight", max_single_strategy=1.0, max_sector=0.5, max_total_risk=1.0)
    res = allocate(returns, sectors, policy=policy, current_weights=current)
    assert res.flags[0] == "insufficient history"
    assert res.target_weights[0] == pytest.approx(0.40, abs=1e-15)
    assert res.binding_limit[0] == ""
    totals = np.bincount(np.arange(10) // 5, weights=res.target_weights)
    assert totals.max() <= 0.5 + 1e-9
    # a strategy cap below its weight cuts it exactly to the cap, and says so
    policy = AllocationPolicy(method="equal_weight", max_single_strategy=0.3, max_sector=1.0, max_total_risk=1.0)
    res = allocate(returns, sectors, policy=policy, current_weights=current)
    assert res.target_weights[0] == pytest.approx(0.30, abs=1e-15)
    assert res.binding_limit[0] == "strategy" and res.binding_amount[0] == pytest.approx(0.10)


def test_issue_9_ex_ante_volatility_is_measured_on_the_whole_book():
    """Issue 9, defect 4: the volatility cap left out a held 50% position (5% reported, 16% real)."""
    returns, sectors, current = held_book()
    current[0] = 0.5
    policy = AllocationPolicy(method="equal_weight", max_single_strategy=1.0, max_sector=1.0, max_total_risk=0.05)
    res = allocate(returns, sectors, policy=policy, current_weights=current)
    cov = estimate_covariance(returns[-252:]).covariance.dense()
    w = res.target_weights
    book_volatility = np.sqrt(w @ cov @ w * 252)
    assert res.explanation["ex_ante_volatility"] == pytest.approx(book_volatility, rel=1e-10)
    assert book_volatility <= 0.05 + 1e-9
    assert res.risk_contributions[0] > 0


def test_issue_9_near_zero_variance_is_zero_variance():
    """Issue 9, defect 5: 1e-4 ± 1e-13 a day got a Sharpe ratio of 1.3e10 and all the performance weight."""
    returns = factor_returns(20, 60, seed=8)
    returns[:, 4] = 1e-4 + 1e-13 * np.random.default_rng(0).standard_normal(60)
    current = np.full(20, 0.04)
    res = allocate(
        returns,
        [f"S{i % 4}" for i in range(20)],
        policy=AllocationPolicy(method="performance_weighted", **LOOSE),
        current_weights=current,
    )
    assert res.flags[4] == "zero variance"
    assert res.target_weights[4] == pytest.approx(0.04)
    assert res.explanation["zero_variance"] == 1
    assert res.target_weights.max() < 0.5


def test_issue_9_stale_strategies_are_held_and_flagged():
    """Issue 9, defect 7: a strategy without returns for 60 days was still scored on them."""
    returns = factor_returns(20, 200, seed=9)
    returns[-60:, 3] = np.nan  # no return for 60 days
    returns[:-60, 3] += 0.01  # and a great Sharpe ratio before
    current = np.full(20, 0.03)
    sectors = [f"S{i % 4}" for i in range(20)]
    policy = AllocationPolicy(method="performance_weighted", **LOOSE)
    res = allocate(returns, sectors, policy=policy, current_weights=current)
    assert res.flags[3] == "stale" and res.explanation["stale"] == 1
    assert res.target_weights[3] == pytest.approx(0.03)
    assert np.isfinite(res.risk_contributions[3])  # its last known returns still give it a risk
    # age_days from the services overrides the trailing-NaN count
    fresh = np.zeros(20)
    res = allocate(returns[:-60], sectors, policy=policy, current_weights=current, age_days=fresh)
    assert res.flags[3] == ""
    age = np.zeros(20)
    age[5] = 11
    res = allocate(returns[:-60], sectors, policy=policy, current_weights=current, age_days=age)
    assert res.flags[5] == "stale" and res.flags[3] == ""
    res = allocate(returns[:-60], sectors, policy=AllocationPolicy(stale_after_days=11, **LOOSE), age_days=age)
    assert res.flags[5] == ""


def test_issue_9_risk_parity_on_the_default_covariance_keeps_low_volatilities():
    """Issue 9, defect 6: 0.28 of the book on ten 2%-vol strategies of fifty where 0.71 is right."""
    rng = np.random.default_rng(0)
    vol = np.r_[np.full(10, 0.02), np.full(40, 0.20)] / np.sqrt(252)
    returns = rng.standard_normal((252, 50)) * vol
    res = allocate(returns, ["S"] * 50, policy=AllocationPolicy(method="risk_parity", **LOOSE))
    assert res.target_weights[:10].sum() == pytest.approx(0.71, abs=0.03)


def test_issue_9_a_held_strategy_without_any_history_is_reported_or_takes_its_volatility_override(panel):
    returns, sectors = panel
    returns = returns.copy()
    returns[:, 0] = np.nan  # nothing at all is known about strategy 0
    current = np.zeros(40)
    current[0] = 0.1
    policy = AllocationPolicy(method="equal_weight", **LOOSE)
    res = allocate(returns, sectors, policy=policy, current_weights=current)
    assert res.target_weights[0] == pytest.approx(0.1)
    assert np.isnan(res.risk_contributions[0])
    assert res.explanation["risk_unknown"] == {"strategies": 1, "weight": pytest.approx(0.1)}
    assert any("risk is unknown" in note for note in res.explanation["notes"])
    vol = np.full(40, np.nan)
    vol[0] = 0.3
    res = allocate(returns, sectors, policy=policy, current_weights=current, volatility_override=vol)
    assert res.risk_contributions[0] > 0
    assert res.explanation["risk_unknown"]["strategies"] == 0


def test_near_zero_variance_is_flagged_even_when_it_is_the_only_strategy_left_to_score():
    returns = factor_returns(3, 40, seed=4)
    returns[:, 0] = 0.001  # constant
    returns[:-20, 1] = np.nan  # insufficient history, but a volatility
    returns[:, 2] = 1e-4 + 1e-13 * np.random.default_rng(1).standard_normal(40)
    with pytest.raises(InsufficientDataError, match="zero variance"):
        allocate(returns, ["a", "b", "c"], policy=AllocationPolicy(method="performance_weighted"))
