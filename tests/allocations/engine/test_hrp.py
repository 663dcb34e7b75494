"""Hierarchical risk parity: a hand-computed case, an independent implementation, the pipeline."""

import warnings

import numpy as np
import pytest

from allocations.engine import (
    AllocationPolicy,
    allocate,
    estimate_covariance,
    hrp_order,
    hrp_weights,
)

from .conftest import factor_returns
from .skfolio_support import fixed_prior

VOLS = np.array([0.10, 0.20, 0.15, 0.25])


def four_strategies() -> np.ndarray:
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = 0.8  # a tight pair
    corr[2, 3] = corr[3, 2] = 0.2  # a loose pair, uncorrelated with the first
    return corr * np.outer(VOLS, VOLS)


def test_hand_computed_four_strategies():
    cov = four_strategies()
    # distances sqrt((1 - rho) / 2): 0.316 within {0, 1}, 0.632 within {2, 3}, 0.707 across
    assert hrp_order(cov).tolist() == [0, 1, 2, 3]
    # halves {0, 1} | {2, 3}: inverse-variance portfolios (.8, .2) and (25/34, 9/34)
    v_left = 0.8**2 * 0.01 + 0.2**2 * 0.04 + 2 * 0.8 * 0.2 * (0.8 * 0.1 * 0.2)  # 0.01312
    v_right = (625 * 0.0225 + 81 * 0.0625 + 2 * 225 * (0.2 * 0.15 * 0.25)) / 34**2  # 22.5 / 1156
    alpha = 1 - v_left / (v_left + v_right)
    # then single strategies: 1 - .01 / .05 = .8 and 1 - .0225 / .085 = 25/34
    expected = [alpha * 0.8, alpha * 0.2, (1 - alpha) * 25 / 34, (1 - alpha) * 9 / 34]
    np.testing.assert_allclose(hrp_weights(cov), expected, rtol=1e-13)
    np.testing.assert_allclose(expected, [0.477875, 0.119469, 0.296070, 0.106585], atol=1e-6)


def test_factor_form_and_dense_matrix_agree():
    est = estimate_covariance(factor_returns(60, 90, seed=3))
    np.testing.assert_allclose(hrp_weights(est.covariance), hrp_weights(est.covariance.dense()), rtol=1e-12)


def test_equal_budgets_are_the_classical_algorithm_and_budgets_tilt_it():
    cov = four_strategies()
    np.testing.assert_allclose(hrp_weights(cov, np.full(4, 3.0)), hrp_weights(cov), rtol=1e-14)
    tilted = hrp_weights(cov, np.array([1.0, 1.0, 4.0, 4.0]))
    assert tilted[2:].sum() > hrp_weights(cov)[2:].sum()


@pytest.mark.parametrize("n", [7, 40, 200])
def test_matches_skfolio_on_the_same_covariance(n):
    pytest.importorskip("skfolio")
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.seriation import HierarchicalSeriation

    x = factor_returns(n, 120, seed=n)
    # skfolio takes the correlation distance from the returns: the sample covariance makes both the same
    cov = estimate_covariance(x, estimator="sample").covariance.dense()
    model = HierarchicalRiskParity(
        prior_estimator=fixed_prior(cov),
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=HierarchicalClustering(linkage_method=LinkageMethod.SINGLE),
            optimal_ordering=False,
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x)
    np.testing.assert_allclose(hrp_weights(cov), model.weights_, rtol=1e-10, atol=1e-14)


def test_allocate_with_hrp_uses_the_estimated_covariance():
    returns = factor_returns(30, 120, seed=5)
    sectors = [f"S{i % 3}" for i in range(30)]
    loose = {"max_single_strategy": 1.0, "max_sector": 1.0, "max_total_risk": 1.0}
    res = allocate(returns, sectors, policy=AllocationPolicy(method="hrp", **loose))
    expected = hrp_weights(estimate_covariance(returns).covariance)
    np.testing.assert_allclose(res.target_weights, expected, rtol=1e-12)
    assert res.explanation["method"] == "hrp"
    capped = allocate(returns, sectors, policy=AllocationPolicy(method="hrp", max_single_strategy=0.05))
    assert capped.target_weights.max() <= 0.05 + 1e-12
