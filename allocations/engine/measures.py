r"""Measures of a daily return series and of a book's weights.

Every function takes plain arrays; ``TRADING_DAYS = 252`` annualises.
"""

from __future__ import annotations

import numpy as np

from .estimators import TRADING_DAYS

__all__ = [
    "value_path",
    "total_return",
    "max_drawdown",
    "annualised_volatility",
    "sharpe_ratio",
    "effective_number",
]


def value_path(returns) -> np.ndarray:
    r"""Value of one unit invested: :math:`V_0 = 1`, :math:`V_t = \prod_{u \le t} (1 + r_u)`; shape (n + 1,)."""
    r = np.asarray(returns, dtype=float)
    return np.concatenate([[1.0], np.cumprod(1.0 + r)])


def total_return(returns) -> float:
    r"""Compounded return :math:`\prod_t (1 + r_t) - 1`; 0.0 for an empty series."""
    return float(value_path(returns)[-1] - 1.0)


def max_drawdown(returns) -> float:
    r"""Largest fall from a peak, :math:`\max_t (1 - V_t / \max_{u \le t} V_u)`, a fraction >= 0; 0.0 if empty."""
    value = value_path(returns)
    return float(np.max(1.0 - value / np.maximum.accumulate(value)))


def annualised_volatility(returns) -> float | None:
    r"""Sample standard deviation (ddof 1) times :math:`\sqrt{252}`; None with fewer than 2 returns."""
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return None
    return float(np.std(r, ddof=1) * np.sqrt(TRADING_DAYS))


def sharpe_ratio(returns) -> float | None:
    r"""Annualised Sharpe ratio :math:`\sqrt{252}\,\bar r / s` (no risk-free rate, :math:`s` with ddof 1).

    None with fewer than 2 returns or when :math:`s = 0`.
    """
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return None
    std = float(np.std(r, ddof=1))
    if std <= 0:
        return None
    return float(np.sqrt(TRADING_DAYS) * r.mean() / std)


def effective_number(weights) -> float:
    r"""Effective number of holdings :math:`(\sum_i w_i)^2 / \sum_i w_i^2`; 0.0 when every weight is 0.

    Cash (:math:`1 - \sum w`) does not inflate it: it depends on the shares :math:`w / \sum w` only.
    """
    w = np.asarray(weights, dtype=float)
    squares = float(w @ w)
    return float(w.sum() ** 2 / squares) if squares > 0 else 0.0
