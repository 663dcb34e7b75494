"""Estimators: mean/volatility/Sharpe, and the covariance estimators against independent formulas."""

import numpy as np
import pytest

from allocations.engine import (
    InvalidInputError,
    InvalidPolicyError,
    LedoitWolf,
    estimate_covariance,
    ewma_covariance,
    ledoit_wolf,
    return_stats,
    risk_parity_weights,
    sample_covariance,
)

from .conftest import factor_returns


def ledoit_wolf_reference(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit & Wolf (2004), J. Multivariate Anal. 88, Lemma 3.2-3.4 and Theorem 3.1, written
    directly from the paper in the normalised Frobenius norm ||A||² = tr(AAᵀ)/p:

    S = XᵀX/n (X centred), m = <S, I>, d² = ||S - mI||², b̄² = (1/n²) Σ_t ||x_t x_tᵀ - S||²,
    b² = min(b̄², d²), shrinkage b²/d², estimate (b²/d²) m I + (1 - b²/d²) S.
    """
    n, p = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    m = np.trace(s) / p
    d2 = np.sum((s - m * np.eye(p)) ** 2) / p
    b2_bar = sum(np.sum((np.outer(row, row) - s) ** 2) / p for row in xc) / n**2
    b2 = min(b2_bar, d2)
    shrink = b2 / d2
    return shrink * m * np.eye(p) + (1 - shrink) * s, shrink


@pytest.mark.parametrize(("t", "n"), [(30, 60), (120, 15), (252, 40)])
def test_ledoit_wolf_matches_the_papers_formula(t, n):
    x = np.random.default_rng(t + n).standard_normal((t, n)) * 0.01
    expected, expected_shrink = ledoit_wolf_reference(x)
    covariance, shrink = ledoit_wolf(x)
    assert shrink == pytest.approx(expected_shrink, rel=1e-10)
    np.testing.assert_allclose(covariance, expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def test_ledoit_wolf_matches_scikit_learn():
    sklearn_covariance = pytest.importorskip("sklearn.covariance")
    x = factor_returns(80, 30, seed=3)
    expected, expected_shrink = sklearn_covariance.ledoit_wolf(x)
    covariance, shrink = ledoit_wolf(x)
    assert shrink == pytest.approx(expected_shrink, rel=1e-10)
    np.testing.assert_allclose(covariance, expected, rtol=1e-10, atol=1e-18)


def test_ledoit_wolf_is_positive_definite_with_more_strategies_than_days():
    x = factor_returns(1000, 30, seed=1)
    estimator = LedoitWolf().fit(x)
    cov = estimator.covariance_
    np.testing.assert_array_equal(cov, cov.T)
    assert 0 < estimator.shrinkage_ < 1
    assert np.linalg.eigvalsh(cov).min() > 0
    # the factor form and the dense matrix agree
    v = np.random.default_rng(0).standard_normal(1000)
    np.testing.assert_allclose(estimator.factor_covariance_.matvec(v), cov @ v, rtol=1e-12, atol=1e-18)


def test_sample_covariance_matches_numpy():
    x = factor_returns(12, 50, seed=2)
    np.testing.assert_allclose(sample_covariance(x), np.cov(x, rowvar=False), rtol=1e-12)


def test_ewma_covariance_matches_the_weighted_formula():
    x = factor_returns(6, 40, seed=4)
    halflife = 10.0
    age = np.arange(39, -1, -1)
    a = 0.5 ** (age / halflife)
    a /= a.sum()
    mean = a @ x
    expected = (x - mean).T @ ((x - mean) * a[:, None])
    np.testing.assert_allclose(ewma_covariance(x, halflife=halflife), expected, rtol=1e-12)


def test_missing_observations_use_each_strategys_own_days():
    x = factor_returns(4, 60, seed=5)
    x[:20, 0] = np.nan  # strategy 0 started 20 days later
    cov = estimate_covariance(x, estimator="sample").covariance.dense()
    assert cov[0, 0] == pytest.approx(np.var(x[20:, 0], ddof=1), rel=1e-12)
    assert cov[1, 1] == pytest.approx(np.var(x[:, 1], ddof=1), rel=1e-12)
    assert np.linalg.eigvalsh(cov).min() > -1e-18


def test_return_stats_closed_form():
    x = factor_returns(5, 50, seed=6)
    stats = return_stats(x, 30)
    tail = x[-30:]
    np.testing.assert_allclose(stats.mean, tail.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.volatility, tail.std(axis=0, ddof=1) * np.sqrt(252), rtol=1e-12)
    np.testing.assert_allclose(stats.sharpe, np.sqrt(252) * tail.mean(axis=0) / tail.std(axis=0, ddof=1), rtol=1e-10)
    assert (stats.count == 30).all()


def test_return_stats_uses_each_strategys_last_observations_and_never_divides_by_zero():
    x = factor_returns(3, 50, seed=8)
    x[-5:, 0] = np.nan  # stopped reporting 5 days ago: use its last 30 observations
    x[:, 1] = 0.002  # constant
    x[:45, 2] = np.nan  # only 5 observations
    stats = return_stats(x, 30)
    np.testing.assert_allclose(stats.mean[0], x[-35:-5, 0].mean(), rtol=1e-12)
    assert stats.zero_variance.tolist() == [False, True, False]
    assert stats.volatility[1] == 0 and np.isnan(stats.sharpe[1])
    assert stats.count.tolist() == [30, 30, 5]


def test_covariance_bad_inputs():
    with pytest.raises(InvalidPolicyError, match="estimator"):
        estimate_covariance(np.zeros((5, 2)), estimator="shrunk")
    with pytest.raises(InvalidInputError, match="two observations"):
        estimate_covariance(np.array([[0.1, np.nan], [0.2, np.nan], [0.3, 0.1]]))


def two_and_twenty_percent_panel(t=252, seed=0):
    """Ten uncorrelated strategies of 2% annualised volatility among forty of 20%."""
    rng = np.random.default_rng(seed)
    vol = np.r_[np.full(10, 0.02), np.full(40, 0.20)] / np.sqrt(252)
    return rng.standard_normal((t, 50)) * vol


def test_issue_9_default_covariance_keeps_a_low_volatility():
    """Issue 9, defect 6: shrinking toward a scaled identity made a 2%-vol strategy look like 11.7%."""
    returns = two_and_twenty_percent_panel()
    est = estimate_covariance(returns)
    assert est.estimator == "ledoit_wolf_correlation"
    vol = np.sqrt(est.covariance.diagonal() * 252)
    np.testing.assert_allclose(vol, np.std(returns, axis=0, ddof=1) * np.sqrt(252), rtol=1e-12)
    assert vol[:10] == pytest.approx(np.full(10, 0.02), rel=0.15)
    # risk parity on it is close to inverse volatility (true for uncorrelated strategies): 0.71 on the ten
    w = risk_parity_weights(est.covariance)
    inverse_vol = (1 / vol) / (1 / vol).sum()
    assert w[:10].sum() == pytest.approx(inverse_vol[:10].sum(), abs=0.02)
    assert w[:10].sum() == pytest.approx(0.71, abs=0.03)
    # the former default, still available by name, pulls the low volatilities up
    old = estimate_covariance(returns, estimator="ledoit_wolf")
    assert np.sqrt(old.covariance.diagonal()[:10] * 252).min() > 0.05


def test_ledoit_wolf_correlation_matches_its_formula_and_is_positive_definite_when_n_exceeds_t():
    x = factor_returns(120, 30, seed=11)
    est = estimate_covariance(x, estimator="ledoit_wolf_correlation")
    xc = x - x.mean(axis=0)
    sd_pop = np.sqrt((xc**2).mean(axis=0))
    z = xc / sd_pop
    corr = z.T @ z / 30
    # the Ledoit-Wolf intensity of the standardised returns, from the paper's formula
    _, rho = ledoit_wolf_reference(z)
    assert est.shrinkage == pytest.approx(rho, rel=1e-10) and 0 < rho < 1
    s = np.std(x, axis=0, ddof=1)
    expected = ((1 - rho) * corr + rho * np.eye(120)) * np.outer(s, s)
    dense = est.covariance.dense()
    np.testing.assert_allclose(dense, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(np.diag(dense), s**2, rtol=1e-12)
    assert np.linalg.eigvalsh(dense).min() > 0


def test_ledoit_wolf_correlation_with_late_starters_and_a_constant_column():
    x = factor_returns(20, 60, seed=12)
    x[:25, 3] = np.nan
    x[:, 5] = 0.001
    est = estimate_covariance(x, estimator="ledoit_wolf_correlation")
    diag = est.covariance.diagonal()
    assert diag[5] <= 1e-30  # rounding of the mean only; the pipeline's floor flags it
    np.testing.assert_allclose(diag[3], np.nanvar(x[:, 3], ddof=1), rtol=1e-12)
    assert np.isfinite(est.covariance.dense()).all()


def test_single_precision_gram_moves_the_intensity_negligibly():
    from allocations.engine.covariance import _ledoit_wolf_shrinkage

    z = factor_returns(2500, 60, seed=13)
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    exact, _ = _ledoit_wolf_shrinkage(z)
    single, _ = _ledoit_wolf_shrinkage(z, single=True)
    assert single == pytest.approx(exact, rel=1e-5)


def test_an_unknown_estimator_is_refused_listing_the_known_ones():
    """Issue 21 item 18: the message named the bad estimator only."""
    from allocations.engine import COVARIANCE_ESTIMATORS

    with pytest.raises(InvalidPolicyError) as caught:
        estimate_covariance(np.zeros((5, 2)), estimator="shrunk")
    assert str(caught.value).endswith(f"expected one of {', '.join(COVARIANCE_ESTIMATORS)}")
