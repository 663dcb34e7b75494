"""Reads behind ``GET .../allocation/performance``: realised performance, risk and sector exposures.

All arithmetic is numpy over arrays built from a handful of queries:

- **history**: the allocated portfolio's daily return ``r_t = Σ_i w_{t,i} R_{t,i}``, where
  ``w_{t,i}`` is the amount of strategy ``i`` in force at the start of day ``t`` (the last fund
  change of the audit trail made before that day) divided by the total equity, and ``R`` the
  stored daily returns (a missing return counts as 0). It starts on the first day capital was
  allocated.
- **current_allocation_backtest**: today's weights held over the last 252 return dates.
- metrics of a return series ``r`` of length ``n``: total return ``Π(1 + r_t) − 1``; annualised
  volatility ``s·√252`` with ``s`` the sample standard deviation; Sharpe ``√252·mean(r)/s``
  (none when ``s = 0`` or ``n < 2``); max drawdown ``max_t (1 − V_t / max_{u≤t} V_u)`` with
  ``V_0 = 1`` and ``V_t = Π_{u≤t}(1 + r_u)``, a positive fraction.
- **risk**: ex-ante volatility ``√(252 wᵀΣw)`` of the current weights with the policy's
  covariance estimator and window (``allocations.engine``), effective number of strategies
  ``1 / Σ p_i²`` with ``p = w / Σw``, the largest weight, cash ``1 − Σw``.
- **sector_exposures**: the funds of each sector's strategies divided by the total EQUITY.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from django.utils import timezone

from allocations import engine
from allocations.models import AuditEntry, Fund, Portfolio, Strategy, StrategyReturn
from allocations.selectors import policy_current

BACKTEST_DAYS = 252
TRADING_DAYS = 252


def path_metrics(returns: np.ndarray, dates: list[date]) -> dict:
    """Total return, annualised volatility, max drawdown and Sharpe of a daily return series."""
    returns = np.asarray(returns, dtype=float)
    n = returns.size
    out = {
        "days": int(n),
        "start": dates[0] if n else None,
        "end": dates[-1] if n else None,
        "total_return": None,
        "annualised_volatility": None,
        "max_drawdown": None,
        "sharpe": None,
    }
    if n == 0:
        return out
    value = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    out["total_return"] = float(value[-1] - 1.0)
    out["max_drawdown"] = float(np.max(1.0 - value / np.maximum.accumulate(value)))
    if n >= 2:
        std = float(np.std(returns, ddof=1))
        out["annualised_volatility"] = std * np.sqrt(TRADING_DAYS)
        if std > 0:
            out["sharpe"] = float(np.sqrt(TRADING_DAYS) * returns.mean() / std)
    return out


def _returns_panel(ids: list[int], since: date | None) -> tuple[list[date], np.ndarray]:
    """Daily returns (T x N, NaN where missing) of strategies ``ids`` from ``since`` on."""
    rows = StrategyReturn.objects.filter(strategy_id__in=ids)
    if since is not None:
        rows = rows.filter(date__gte=since)
    triples = list(rows.values_list("strategy_id", "date", "value"))
    if not triples:
        return [], np.empty((0, len(ids)))
    strategy_ids, days, values = zip(*triples, strict=True)
    dates = sorted(set(days))
    row_of = {d: t for t, d in enumerate(dates)}
    col_of = {sid: j for j, sid in enumerate(ids)}
    panel = np.full((len(dates), len(ids)), np.nan)
    panel[
        np.fromiter((row_of[d] for d in days), int, len(days)),
        np.fromiter((col_of[s] for s in strategy_ids), int, len(days)),
    ] = np.asarray(values, dtype=float)
    return dates, panel


def _amounts_in_force(portfolio: Portfolio, ids: list[int], dates: list[date]) -> np.ndarray:
    """(T x N) amount of each strategy at the start of each date, from the fund-change audit rows."""
    col_of = {sid: j for j, sid in enumerate(ids)}
    ordinals = np.array([d.toordinal() for d in dates], dtype=np.int64)
    latest: dict[tuple[int, int], float] = {}
    changes = (
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE, strategy_id__in=ids)
        .order_by("id")
        .values_list("created_at", "strategy_id", "new_amount")
    )
    for created_at, strategy_id, new_amount in changes.iterator(chunk_size=5000):
        # A change made on day d first earns the return of the next return date after d.
        day = timezone.localtime(created_at).date().toordinal()
        t = int(np.searchsorted(ordinals, day, side="right"))
        latest[(t, col_of[strategy_id])] = float(new_amount or 0)
    amounts = np.full((len(dates) + 1, len(ids)), np.nan)
    if latest:
        keys = np.array(list(latest), dtype=int)
        amounts[keys[:, 0], keys[:, 1]] = np.fromiter(latest.values(), float, len(latest))
    # forward-fill each column; before a strategy's first change its amount is 0
    index = np.where(np.isnan(amounts), 0, np.arange(amounts.shape[0])[:, None])
    np.maximum.accumulate(index, axis=0, out=index)
    filled = amounts[index, np.arange(amounts.shape[1])]
    return np.nan_to_num(filled, nan=0.0)[: len(dates)]


def _history(portfolio, ids, dates, panel, equity) -> dict:
    if not dates:
        return path_metrics(np.empty(0), [])
    amounts = _amounts_in_force(portfolio, ids, dates)
    invested = amounts.sum(axis=1)
    held = np.flatnonzero(invested > 0)
    if held.size == 0:
        return path_metrics(np.empty(0), [])
    start = int(held[0])
    denominator = equity if equity > 0 else invested[start:, None]
    weights = amounts[start:] / denominator
    returns = np.einsum("tn,tn->t", weights, np.nan_to_num(panel[start:], nan=0.0))
    return path_metrics(returns, dates[start:])


def _risk(portfolio, codes, ids, weights, policy) -> dict:
    estimator = policy.covariance_estimator if policy else "ledoit_wolf"
    window = policy.covariance_lookback if policy else BACKTEST_DAYS
    invested = float(weights.sum())
    largest = int(np.argmax(weights)) if weights.size else None
    risk = {
        "ex_ante_volatility": None,
        "effective_number_of_strategies": float(1.0 / np.sum((weights / invested) ** 2)) if invested > 0 else None,
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
    recent = StrategyReturn.objects.filter(strategy_id__in=[ids[j] for j in held])
    last_dates = list(recent.values_list("date", flat=True).distinct().order_by("-date")[:window])
    dates, panel = _returns_panel([ids[j] for j in held], min(last_dates) if last_dates else None)
    observed = (~np.isnan(panel)).sum(axis=0) if dates else np.zeros(held.size, dtype=int)
    usable = observed >= 2
    risk["strategies_without_history"] = [codes[held[j]] for j in np.flatnonzero(~usable)]
    if usable.any():
        estimate = engine.estimate_covariance(panel[:, usable], estimator=estimator, window=window)
        risk["ex_ante_volatility"] = engine.ex_ante_volatility(estimate.covariance, weights[held][usable])
    return risk


def portfolio_performance(*, portfolio: Portfolio) -> dict:
    strategies = list(
        Strategy.objects.filter(portfolio=portfolio).order_by("id").values_list("id", "code", "sector__code")
    )
    ids = [s[0] for s in strategies]
    codes = [s[1] for s in strategies]
    sectors = np.array([s[2] for s in strategies], dtype=object)
    funds = dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount"))
    amounts = np.array([float(funds.get(sid, 0)) for sid in ids], dtype=float)
    equity = float(portfolio.total_equity)
    weights = amounts / equity if equity > 0 else np.zeros_like(amounts)

    first_change = (
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    backtest_dates = list(
        StrategyReturn.objects.filter(strategy__portfolio=portfolio)
        .values_list("date", flat=True)
        .distinct()
        .order_by("-date")[:BACKTEST_DAYS]
    )
    starts = [
        d
        for d in (
            backtest_dates[-1] if backtest_dates else None,
            timezone.localtime(first_change).date() if first_change else None,
        )
        if d is not None
    ]
    dates, panel = _returns_panel(ids, min(starts)) if ids and starts else ([], np.empty((0, len(ids))))

    history = _history(portfolio, ids, dates, panel, equity)
    if dates:
        cut = max(0, len(dates) - BACKTEST_DAYS)
        backtest = path_metrics(np.nan_to_num(panel[cut:], nan=0.0) @ weights, dates[cut:])
    else:
        backtest = path_metrics(np.empty(0), [])

    if sectors.size:
        names, inverse = np.unique(sectors, return_inverse=True)
        totals = np.bincount(inverse, weights=amounts, minlength=names.size)
        exposures = {
            str(name): float(total / equity) if equity > 0 else 0.0 for name, total in zip(names, totals, strict=True)
        }
    else:
        exposures = {}

    return {
        "portfolio": portfolio.slug,
        "timestamp": timezone.now(),
        "total_equity": portfolio.total_equity,
        "history": history,
        "current_allocation_backtest": backtest,
        "risk": _risk(portfolio, codes, ids, weights, policy_current(portfolio=portfolio)),
        "sector_exposures": exposures,
    }
