"""Realised performance, risk and sector exposures of a portfolio (``GET .../allocation/performance``).

numpy over arrays built from a handful of queries: the history of the weights in force
(``amounts_in_force``), today's weights held over the last 252 return dates, the risk of a book
(``book_risk``); the metrics of a return series are ``allocations.engine.measures``'.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from django.utils import timezone

from allocations import db, engine
from allocations.engine import measures
from allocations.models import AllocationPolicy, AuditEntry, Portfolio, Strategy
from allocations.models.audit import audit_effective_time

from .panels import fund_amounts, returns_panel, window_start
from .policies import policy_current

BACKTEST_DAYS = 252


def path_metrics(returns: np.ndarray, dates: list[date]) -> dict:
    """Total return, annualised volatility, max drawdown and Sharpe of a daily return series."""
    returns = np.asarray(returns, dtype=float)
    n = returns.size
    if n == 0:
        return {
            "days": 0,
            "start": None,
            "end": None,
            "total_return": None,
            "annualised_volatility": None,
            "max_drawdown": None,
            "sharpe": None,
        }
    return {
        "days": int(n),
        "start": dates[0],
        "end": dates[-1],
        "total_return": measures.total_return(returns),
        "annualised_volatility": measures.annualised_volatility(returns),
        "max_drawdown": measures.max_drawdown(returns),
        "sharpe": measures.sharpe_ratio(returns),
    }


def amounts_in_force(portfolio: Portfolio, ids: np.ndarray, dates: list[date]) -> np.ndarray:
    """(T x N) amount of each strategy (``ids``, ascending) at the start of each date, from the
    fund-change audit rows: a change that took effect on day d first earns the return of the next
    return date after d; of several changes before one date the last in chain order wins; before
    a strategy's first change its amount is 0."""
    filled = np.zeros((len(dates), ids.size))
    days, strategy, amount = db.fund_changes(portfolio.pk)
    if not days.size or not dates or not ids.size:
        return filled
    t = np.searchsorted(np.array([d.toordinal() for d in dates], dtype=np.int64), days, side="right")
    column = np.clip(np.searchsorted(ids, strategy), 0, ids.size - 1)
    known = ids[column] == strategy
    t, column, amount = t[known], column[known], amount[known]
    key = t * ids.size + column
    _, first_from_end = np.unique(key[::-1], return_index=True)  # the last change of each (t, strategy)
    keep = key.size - 1 - first_from_end
    amounts = np.full((len(dates) + 1, ids.size), np.nan)
    amounts[t[keep], column[keep]] = amount[keep]
    index = np.where(np.isnan(amounts), 0, np.arange(amounts.shape[0])[:, None])
    np.maximum.accumulate(index, axis=0, out=index)  # forward-fill each column
    return np.nan_to_num(amounts[index, np.arange(ids.size)], nan=0.0)[: len(dates)]


def _history(portfolio: Portfolio, ids: np.ndarray, dates: list[date], panel: np.ndarray, equity: float) -> dict:
    """The allocated portfolio's daily return ``r_t = Σ_i w_{t,i} R_{t,i}`` from the first day capital was
    allocated: ``w_{t,i}`` the amount in force at the start of day ``t`` over the equity, ``R`` the stored
    returns (a missing one counts as 0)."""
    if not dates:
        return path_metrics(np.empty(0), [])
    amounts = amounts_in_force(portfolio, ids, dates)
    invested = amounts.sum(axis=1)
    held = np.flatnonzero(invested > 0)
    if held.size == 0:
        return path_metrics(np.empty(0), [])
    start = int(held[0])
    denominator = equity if equity > 0 else invested[start:, None]
    weights = amounts[start:] / denominator
    returns = np.einsum("tn,tn->t", weights, np.nan_to_num(panel[start:], nan=0.0))
    return path_metrics(returns, dates[start:])


def book_risk(codes: list[str], ids: np.ndarray, weights: np.ndarray, policy: AllocationPolicy | None) -> dict:
    """The risk block of a book held at ``weights`` (fractions of equity) of the strategies ``ids``:
    ex-ante volatility ``√(252 wᵀΣw)`` with the policy's covariance estimator and window, the effective
    number of strategies ``(Σw)² / Σw²``, the largest weight, cash ``1 − Σw``."""
    estimator = policy.covariance_estimator if policy else engine.AllocationPolicy.covariance_estimator
    window = policy.covariance_lookback if policy else BACKTEST_DAYS
    invested = float(weights.sum())
    largest = int(np.argmax(weights)) if weights.size else None
    risk = {
        "ex_ante_volatility": None,
        "effective_number_of_strategies": measures.effective_number(weights) if invested > 0 else None,
        "largest_weight": float(weights[largest]) if largest is not None else 0.0,
        "largest_weight_strategy": codes[largest] if largest is not None and weights[largest] > 0 else None,
        "cash": max(0.0, 1.0 - invested),
        "invested": invested,
        "covariance_estimator": estimator,
        "covariance_window": window,
        "strategies_without_history": [],
    }
    held = np.flatnonzero(weights > 0)
    if held.size == 0:
        return risk
    dates, panel = returns_panel(ids=ids[held], window=window, today=timezone.localdate())
    observed = (~np.isnan(panel)).sum(axis=0) if dates else np.zeros(held.size, dtype=int)
    usable = observed >= 2
    risk["strategies_without_history"] = [codes[held[j]] for j in np.flatnonzero(~usable)]
    if usable.any():
        estimate = engine.estimate_covariance(panel[:, usable], estimator=estimator, window=window)
        risk["ex_ante_volatility"] = engine.ex_ante_volatility(estimate.covariance, weights[held][usable])
    return risk


def _sector_exposures(sectors: np.ndarray, amounts: np.ndarray, equity: float) -> dict[str, float]:
    """The funds of each sector's strategies divided by the total equity."""
    if not sectors.size:
        return {}
    names, inverse = np.unique(sectors, return_inverse=True)
    totals = np.bincount(inverse, weights=amounts, minlength=names.size)
    return {str(name): float(total / equity) if equity > 0 else 0.0 for name, total in zip(names, totals, strict=True)}


def portfolio_performance(*, portfolio: Portfolio) -> dict:
    strategies = list(
        Strategy.objects.filter(portfolio=portfolio).order_by("id").values_list("id", "code", "sector__code")
    )
    ids = np.array([s[0] for s in strategies], dtype=np.int64)
    codes = [s[1] for s in strategies]
    sectors = np.array([s[2] for s in strategies], dtype=object)
    funds = fund_amounts(portfolio=portfolio)
    amounts = np.array([float(funds.get(int(sid), 0)) for sid in ids], dtype=float)
    equity = float(portfolio.total_equity)
    weights = amounts / equity if equity > 0 else np.zeros_like(amounts)

    first_change = (
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE)
        .annotate(at=audit_effective_time())
        .order_by("seq")
        .values_list("at", flat=True)
        .first()
    )
    starts = [
        d
        for d in (
            window_start(ids=ids.tolist(), window=BACKTEST_DAYS) if ids.size else None,
            timezone.localtime(first_change).date() if first_change else None,
        )
        if d is not None
    ]
    dates, panel = returns_panel(ids=ids, since=min(starts)) if ids.size and starts else ([], np.empty((0, ids.size)))

    history = _history(portfolio, ids, dates, panel, equity)
    if dates:
        cut = max(0, len(dates) - BACKTEST_DAYS)
        backtest = path_metrics(np.nan_to_num(panel[cut:], nan=0.0) @ weights, dates[cut:])
    else:
        backtest = path_metrics(np.empty(0), [])

    return {
        "portfolio": portfolio.slug,
        "timestamp": timezone.now(),
        "total_equity": portfolio.total_equity,
        "history": history,
        "current_allocation_backtest": backtest,
        "risk": book_risk(codes, ids, weights, policy_current(portfolio=portfolio)),
        "sector_exposures": _sector_exposures(sectors, amounts, equity),
    }
