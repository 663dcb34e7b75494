"""Synthetic daily returns for the benches: a market factor, one factor per sector, idiosyncratic noise."""

from __future__ import annotations

import numpy as np

SECTORS = 20


def make_returns(n: int, t: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Daily returns of ``n`` strategies over ``t`` days: a market factor, one factor per sector and
    idiosyncratic noise, with 5% of the strategies starting late (NaN before their start)."""
    rng = np.random.default_rng(seed)
    codes = np.arange(n) % SECTORS
    market = rng.standard_normal((t, 1)) * 0.006
    sector = rng.standard_normal((t, SECTORS)) * 0.006
    returns = (
        2e-4
        + market * rng.uniform(0.2, 1.0, n)
        + sector[:, codes] * rng.uniform(0.2, 1.0, n)
        + rng.standard_normal((t, n)) * 0.01 * rng.uniform(0.5, 2.0, n)
    )
    late = rng.random(n) < 0.05
    start = np.where(late, rng.integers(0, t - 40, n), 0) if t > 40 else np.zeros(n, dtype=int)
    returns[np.arange(t)[:, None] < start] = np.nan
    return returns, [f"sector-{c:02d}" for c in codes]
