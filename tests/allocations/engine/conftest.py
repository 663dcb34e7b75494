"""Shared fixtures of the engine tests (pure numpy: no database)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

#: Hypothesis settings of the engine's property tests: reproducible and quick (the whole engine
#: suite stays within seconds). Applied per test so the project's other tests keep their own.
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def factor_returns(n: int, t: int, *, sectors: int = 5, seed: int = 0, drift: float = 3e-4) -> np.ndarray:
    """Daily returns with one positive factor per sector plus idiosyncratic noise, shape (t, n)."""
    rng = np.random.default_rng(seed)
    codes = np.arange(n) % sectors
    factors = rng.standard_normal((t, sectors)) * 0.01
    loadings = rng.uniform(0.2, 1.0, n)
    noise = rng.standard_normal((t, n)) * 0.01 * rng.uniform(0.5, 2.0, n)
    return drift + factors[:, codes] * loadings + noise


@pytest.fixture
def panel():
    n = 40
    sectors = [f"S{i % 5}" for i in range(n)]
    return factor_returns(n, 120, seed=7), sectors
