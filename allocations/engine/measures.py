r"""Performance measures of a return series and of a weight vector.

One home for the formulas the engine, the performance read and the dashboard share. A
return series ``r`` is a 1-D array of simple daily returns :math:`r_1, \dots, r_n`, oldest
first; annualisation uses :data:`TRADING_DAYS` = 252.
"""

from __future__ import annotations

import numpy as np

from .estimators import TRADING_DAYS

__all__ = [
    "TRADING_DAYS",
    "annualised_volatility",
    "effective_number",
    "max_drawdown",
    "sharpe_ratio",
    "total_return",
    "value_path",
]


def _series(returns) -> np.ndarray:
    return np.asarray(returns, dtype=float).ravel()


def value_path(returns) -> np.ndarray:
    r"""Value of one unit invested: :math:`V_0 = 1`, :math:`V_t = \prod_{u \le t} (1 + r_u)`.

    Parameters
    ----------
    returns : array-like, shape (n,)

    Returns
    -------
    ndarray, shape (n + 1,)
    """
    r = _series(returns)
    out = np.empty(r.size + 1)
    out[0] = 1.0
    np.cumprod(1.0 + r, out=out[1:])
    return out


def total_return(returns) -> float:
    r"""Compounded return :math:`\prod_t (1 + r_t) - 1`; 0.0 for an empty series."""
    r = _series(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else 0.0


def max_drawdown(returns) -> float:
    r"""Largest fall from a running peak, a positive fraction; 0.0 for an empty series.

    :math:`\max_t \left(1 - V_t / \max_{u \le t} V_u\right)` over the value path
    (:func:`value_path`, ``V_0 = 1`` included).
    """
    v = value_path(returns)
    return float(max(0.0, (1.0 - v / np.maximum.accumulate(v)).max()))


def annualised_volatility(returns) -> float | None:
    r"""Annualised volatility :math:`\sqrt{252}\, s`; None when ``n < 2``.

    :math:`s = \sqrt{\tfrac{1}{n-1}\sum_t (r_t - \bar r)^2}`, the sample standard deviation.
    """
    r = _series(returns)
    if r.size < 2:
        return None
    return float(np.std(r, ddof=1) * np.sqrt(TRADING_DAYS))


def sharpe_ratio(returns) -> float | None:
    r"""Annualised Sharpe ratio (zero risk-free rate) :math:`\sqrt{252}\,\bar r / s`.

    ``s`` is the sample standard deviation (ddof = 1); None when ``n < 2`` or ``s = 0``.
    """
    r = _series(returns)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    if not sd > 0:
        return None
    return float(np.sqrt(TRADING_DAYS) * r.mean() / sd)


def effective_number(weights) -> float:
    r"""Effective number of strategies :math:`(\sum_i w_i)^2 / \sum_i w_i^2`.

    0.0 when :math:`\sum_i w_i^2 = 0`. Cash is not a strategy, so it does not inflate the
    count (weights of 0.1 on five strategies count 5, whatever the cash).
    """
    w = np.asarray(weights, dtype=float).ravel()
    squares = float(w @ w)
    return float(w.sum() ** 2 / squares) if squares > 0 else 0.0
