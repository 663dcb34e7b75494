"""Return estimators: mean, volatility and Sharpe per strategy.

Conventions
-----------
``returns`` is a ``(T, N)`` array of daily returns, rows oldest to newest, one column per
strategy. ``NaN`` means "no observation that day" (a strategy that started later, a gap);
infinite values are rejected by the caller. Annualisation uses 252 trading days. The
covariance estimators are :mod:`allocations.engine.covariance`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TRADING_DAYS", "ReturnStats", "return_stats"]

TRADING_DAYS = 252


@dataclass(frozen=True)
class ReturnStats:
    """Per-strategy statistics over each strategy's last ``lookback`` observations.

    Attributes (all shape (N,))
    ---------------------------
    count : observations used, ``min(valid observations, lookback)``.
    mean : daily mean (NaN when ``count == 0``).
    volatility : annualised volatility ``std(ddof=1) * sqrt(252)`` (NaN when ``count < 2``).
    sharpe : annualised Sharpe ``252 mean / volatility``; NaN when the volatility is zero
        or undefined, so it never reaches a weight.
    zero_variance : every used observation is equal (checked exactly, via max == min).
    """

    count: np.ndarray
    mean: np.ndarray
    volatility: np.ndarray
    sharpe: np.ndarray
    zero_variance: np.ndarray


def _last_valid_mask(returns: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows to use per column: each column's last ``window`` non-NaN entries.

    Returns ``(block, mask)`` where ``block`` is the trailing part of ``returns`` that holds
    them and ``mask`` marks the entries used inside ``block``.
    """
    tail = returns[-window:]
    valid = ~np.isnan(tail)
    if valid.all():  # the common case: every strategy observed on every recent day
        return tail, valid
    valid = ~np.isnan(returns)
    from_end = np.cumsum(valid[::-1], axis=0)[::-1]  # valid observations at or after row t
    return returns, valid & (from_end <= window)


def return_stats(returns: np.ndarray, lookback: int) -> ReturnStats:
    r"""Mean, annualised volatility and Sharpe over each strategy's last ``lookback`` observations.

    .. math::
        \mu_i = \frac{1}{n_i}\sum_t r_{ti}, \quad
        \sigma_i = \sqrt{252}\,\sqrt{\tfrac{1}{n_i-1}\sum_t (r_{ti}-\mu_i)^2}, \quad
        S_i = \frac{252\,\mu_i}{\sigma_i}

    Parameters
    ----------
    returns : ndarray, shape (T, N)
    lookback : int

    Returns
    -------
    ReturnStats
    """
    block, mask = _last_valid_mask(returns, lookback)
    count = mask.sum(axis=0)
    filled = np.where(mask, block, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        dev = np.where(mask, block - mean, 0.0)
        var = np.einsum("ti,ti->i", dev, dev) / (count - 1)
        var[count < 2] = np.nan
        std = np.sqrt(var)
        hi = np.where(mask, block, -np.inf).max(axis=0)
        lo = np.where(mask, block, np.inf).min(axis=0)
        zero_variance = (count >= 1) & (hi == lo)
        volatility = std * np.sqrt(TRADING_DAYS)
        sharpe = np.where(zero_variance | ~(std > 0), np.nan, np.sqrt(TRADING_DAYS) * mean / std)
    volatility = np.where(zero_variance, 0.0, volatility)
    return ReturnStats(count=count, mean=mean, volatility=volatility, sharpe=sharpe, zero_variance=zero_variance)
