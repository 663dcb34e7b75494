"""Limits: caps with redistribution, infeasible caps, total risk; properties over random inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocations.engine import InvalidInputError, apply_limits, ex_ante_volatility

from .conftest import PROPERTY


def codes(*labels):
    return np.unique(np.array(labels), return_inverse=True)[1]


def test_strategy_cap_redistributes_in_proportion():
    w = np.array([0.5, 0.3, 0.2])
    res = apply_limits(w, codes("a", "b", "c"), max_single_strategy=0.4, max_sector=1.0)
    # 0.1 freed from strategy 0 goes to 1 and 2 in proportion 3:2
    np.testing.assert_allclose(res.weights, [0.4, 0.36, 0.24])
    assert res.binding_limit.tolist() == ["strategy", "", ""]
    np.testing.assert_allclose(res.binding_amount, [0.1, 0, 0], atol=1e-15)
    assert res.cash == pytest.approx(0.0, abs=1e-15)


def test_sector_cap_then_redistribution():
    w = np.array([0.3, 0.3, 0.2, 0.2])
    res = apply_limits(w, codes("x", "x", "y", "z"), max_single_strategy=1.0, max_sector=0.4)
    np.testing.assert_allclose(res.weights, [0.2, 0.2, 0.3, 0.3])
    assert res.binding_limit.tolist() == ["sector", "sector", "", ""]


def test_infeasible_caps_leave_cash_and_never_raise():
    w = np.full(3, 1 / 3)
    res = apply_limits(w, codes("a", "b", "c"), max_single_strategy=0.2, max_sector=0.3)
    np.testing.assert_allclose(res.weights, [0.2, 0.2, 0.2])
    assert res.cash == pytest.approx(0.4)
    res = apply_limits(w, codes("a", "a", "a"), max_single_strategy=0.2, max_sector=0.3)
    np.testing.assert_allclose(res.weights, [0.1, 0.1, 0.1])
    assert res.cash == pytest.approx(0.7)


def test_held_strategies_do_not_receive_freed_weight():
    w = np.array([0.6, 0.3, 0.1])
    res = apply_limits(
        w,
        codes("a", "b", "c"),
        max_single_strategy=0.5,
        max_sector=1.0,
        can_receive=np.array([True, True, False]),
    )
    np.testing.assert_allclose(res.weights, [0.5, 0.4, 0.1])


def test_total_risk_scales_down_and_leaves_cash():
    cov = np.diag([1e-3, 1e-3])  # daily variance 1e-3: annualised volatility 0.50 each
    w = np.array([0.5, 0.5])
    before = ex_ante_volatility(cov, w)
    assert before == pytest.approx(np.sqrt(0.5e-3 * 252))
    res = apply_limits(w, codes("a", "b"), max_single_strategy=1.0, max_sector=1.0, max_total_risk=0.1, covariance=cov)
    assert res.volatility == pytest.approx(0.1, rel=1e-12)
    np.testing.assert_allclose(res.weights, w * 0.1 / before)
    assert res.binding_limit.tolist() == ["total_risk", "total_risk"]
    assert res.cash == pytest.approx(1 - 0.1 / before)


# A random book for the properties: sizes, limits and a seed.
BOOKS = {
    "n": st.integers(1, 60),
    "n_sectors": st.integers(1, 8),
    "cap": st.floats(0.01, 1.0),
    "sector_cap": st.floats(0.01, 1.0),
    "risk_cap": st.floats(0.01, 1.0),
    "seed": st.integers(0, 2**32 - 1),
}


def sectors_and_covariance(rng, n, n_sectors):
    """Random sector codes and a positive semi-definite covariance (daily scale) of ``n`` strategies."""
    sector_codes = rng.integers(0, n_sectors, n)
    a = rng.standard_normal((n + 2, n)) * 0.02
    return sector_codes, a.T @ a / (n + 2)


def assert_limits_hold(out, w, sector_codes, cov, cap, sector_cap, risk_cap):
    """Weights finite and non-negative, weight never created, every cap respected."""
    assert np.isfinite(out).all() and (out >= 0).all() and out.sum() <= w.sum() + 1e-12
    assert out.max(initial=0) <= cap + 1e-9
    assert np.bincount(sector_codes, weights=out).max() <= sector_cap + 1e-9
    assert ex_ante_volatility(cov, out) <= risk_cap + 1e-9


@PROPERTY
@given(invested=st.floats(0.0, 1.0), **BOOKS)
def test_caps_always_hold(n, n_sectors, cap, sector_cap, risk_cap, invested, seed):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(n, 0.3)) * invested
    sector_codes, cov = sectors_and_covariance(rng, n, n_sectors)
    res = apply_limits(
        w, sector_codes, max_single_strategy=cap, max_sector=sector_cap, max_total_risk=risk_cap, covariance=cov
    )
    out = res.weights
    assert out.sum() <= 1 + 1e-12
    # weight is only moved or turned into cash, never created
    assert_limits_hold(out, w, sector_codes, cov, cap, sector_cap, risk_cap)
    # when caps are not binding the weights are untouched
    if w.max() <= cap and np.bincount(sector_codes, weights=w).max() <= sector_cap:
        np.testing.assert_allclose(res.capped_weights, w, atol=1e-15)


def test_bad_limits():
    with pytest.raises(InvalidInputError, match="max_single_strategy"):
        apply_limits(np.ones(2) / 2, codes("a", "b"), max_single_strategy=0.0, max_sector=0.5)
    with pytest.raises(InvalidInputError, match="max_sector"):
        apply_limits(np.ones(2) / 2, codes("a", "b"), max_single_strategy=0.5, max_sector=1.5)
    with pytest.raises(InvalidInputError, match="non-negative"):
        apply_limits(np.array([-0.1, 0.5]), codes("a", "b"), max_single_strategy=0.5, max_sector=0.5)


def test_issue_9_both_caps_at_once_by_proportional_water_filling():
    """Issue 9, defect 3: scaling the whole sector after clipping gave (.167, .083, .2)."""
    res = apply_limits(np.array([0.5, 0.1, 0.4]), codes("a", "a", "b"), max_single_strategy=0.2, max_sector=0.25)
    np.testing.assert_allclose(res.weights, [0.2, 0.05, 0.2], atol=1e-15)
    assert res.cash == pytest.approx(0.55)
    assert res.binding_limit.tolist() == ["strategy", "sector", "strategy"]


def test_freed_weight_goes_to_room_in_proportion_to_weight_across_sectors():
    # sector x is capped at .4 (scale 2/3); y and z receive .2 in proportion 2:1; nobody passes .35
    w = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
    res = apply_limits(w, codes("x", "x", "y", "z", "z"), max_single_strategy=0.35, max_sector=0.4)
    np.testing.assert_allclose(res.weights, [0.2, 0.2, 0.3, 0.15, 0.15], atol=1e-15)
    np.testing.assert_allclose(res.received, [0, 0, 0.1, 0.05, 0.05], atol=1e-15)


def test_issue_9_a_held_strategy_is_cut_only_as_far_as_a_limit_requires():
    """Issue 9, defect 4: a held .40 was cut to .23 by a cap without saying so."""
    w = np.array([0.4, 0.3, 0.3])
    receive = np.array([False, True, True])
    # the sector cap .5 can be met by cutting the other member of the sector: the held one keeps .4
    res = apply_limits(w, codes("a", "a", "b"), max_single_strategy=1.0, max_sector=0.5, can_receive=receive)
    np.testing.assert_allclose(res.weights, [0.4, 0.1, 0.5], atol=1e-15)
    assert res.binding_limit.tolist() == ["", "sector", ""]
    # a strategy cap below the held weight cuts it exactly to the cap, and names the limit
    res = apply_limits(w, codes("a", "b", "c"), max_single_strategy=0.35, max_sector=1.0, can_receive=receive)
    np.testing.assert_allclose(res.weights, [0.35, 0.325, 0.325], atol=1e-15)
    assert res.binding_limit[0] == "strategy" and res.binding_amount[0] == pytest.approx(0.05)
    # held weight alone above its sector's cap: the held strategy is cut to the cap, the rest gets 0
    res = apply_limits(w, codes("a", "a", "b"), max_single_strategy=1.0, max_sector=0.3, can_receive=receive)
    np.testing.assert_allclose(res.weights, [0.3, 0.0, 0.3], atol=1e-15)
    assert res.binding_limit.tolist() == ["sector", "sector", ""]


def test_issue_9_total_risk_on_the_whole_book_cuts_held_strategies_last():
    cov = np.diag([1e-3, 1e-3, 1e-3])  # annualised volatility 0.50 each, uncorrelated
    w = np.array([0.5, 0.25, 0.25])
    held = np.array([False, True, True])

    def risk_capped(max_total_risk):
        return apply_limits(
            w,
            codes("a", "b", "c"),
            max_single_strategy=1.0,
            max_sector=1.0,
            max_total_risk=max_total_risk,
            covariance=cov,
            can_receive=~held,
        )

    # without the held strategies 0.5 * 0.5 = 0.25 would be under 0.3; the whole book is ~0.306
    res = risk_capped(0.3)
    assert res.volatility == pytest.approx(0.3, rel=1e-12)
    np.testing.assert_allclose(res.weights[1:], 0.25)
    assert res.binding_limit.tolist() == ["total_risk", "", ""]
    # the held strategies alone above the limit: the others go to 0, the held ones scale
    res = risk_capped(0.1)
    assert res.volatility == pytest.approx(0.1, rel=1e-12)
    assert res.weights[0] == 0.0
    np.testing.assert_allclose(res.weights[1], res.weights[2])


@PROPERTY
@given(held_share=st.floats(0.0, 1.0), **BOOKS)
def test_caps_hold_for_the_whole_book_with_held_strategies(n, n_sectors, cap, sector_cap, risk_cap, held_share, seed):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(n, 0.3)) * rng.uniform(0, 1)
    held = rng.random(n) < held_share
    sector_codes, cov = sectors_and_covariance(rng, n, n_sectors)
    res = apply_limits(
        w,
        sector_codes,
        max_single_strategy=cap,
        max_sector=sector_cap,
        max_total_risk=risk_cap,
        covariance=cov,
        can_receive=~held,
    )
    out = res.weights
    assert_limits_hold(out, w, sector_codes, cov, cap, sector_cap, risk_cap)
    # held strategies never grow, and are only cut with a limit named
    assert (out[held] <= w[held] + 1e-15).all()
    cut = held & (out < w - 1e-12)
    assert (res.binding_limit[cut] != "").all()
