"""The demo's returns: synthetic daily returns on business days, written as the ingestion services write them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from allocations.models import Portfolio, StrategyReturn
from allocations.selectors.panels import returns_snapshot_get
from allocations.services.returns_snapshot import returns_snapshot_merge


def business_days(end: date, count: int) -> list[date]:
    """The ``count`` weekdays up to and including ``end`` (or the weekday before it), oldest first."""
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def synthetic_returns(n_strategies: int, n_days: int, sector_of: np.ndarray, seed: int) -> np.ndarray:
    """Daily returns (T x N) with a market factor, a factor per sector and idiosyncratic noise.

    r_it = beta_i m_t + gamma_i f_{s(i),t} + e_it, with annual drifts between -5 % and +15 % and
    volatilities between about 8 % and 40 %: enough structure for risk parity to differ from
    inverse volatility and for sector signals to matter.
    """
    rng = np.random.default_rng(seed)
    n_sectors = int(sector_of.max()) + 1
    market = rng.normal(0.0003, 0.008, size=(n_days, 1))
    sector_factors = rng.normal(0.0, 0.006, size=(n_days, n_sectors))
    beta = rng.uniform(0.2, 1.2, size=n_strategies)
    gamma = rng.uniform(0.5, 1.5, size=n_strategies)
    idio_vol = rng.uniform(0.004, 0.02, size=n_strategies)
    drift = rng.uniform(-0.05, 0.15, size=n_strategies) / 252
    noise = rng.standard_normal((n_days, n_strategies)) * idio_vol
    returns = drift + market * beta + sector_factors[:, sector_of] * gamma + noise
    return np.clip(returns, -0.5, 0.5)


def returns_create(portfolio: Portfolio, ids: list[int], days: list[date], values: np.ndarray) -> None:
    """The returns ``values`` (days x ids) as rows, and the portfolio's snapshot kept with them as the
    ingestion services keep it (the rows' trigger drops it; it is stored again, merged)."""
    before = returns_snapshot_get(portfolio_id=portfolio.pk)
    StrategyReturn.objects.bulk_create(
        (
            StrategyReturn(strategy_id=sid, date=day, value=float(values[t, j]))
            for j, sid in enumerate(ids)
            for t, day in enumerate(days)
        ),
        batch_size=5000,
    )
    grid_days, grid_ids = np.meshgrid([d.toordinal() for d in days], ids, indexing="ij")
    returns_snapshot_merge(
        portfolio=portfolio,
        before=before,
        strategy_ids=grid_ids.ravel(),
        days=grid_days.ravel(),
        values=np.asarray(values, dtype=float).ravel(),
    )
