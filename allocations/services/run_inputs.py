"""What a rebalance decides from: the request (already shaped by its serializer) and the rows.

The serializers own shape and type (a finite number, a known action, a confidence in [0, 1]);
here are the business rules only: the portfolio has a policy and strategies, a signalled sector
exists, an overridden strategy is in the universe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from allocations.calendar import business_days_since_last_return
from allocations.choices import unknown_name
from allocations.clock import now as clock_now
from allocations.errors import DomainError
from allocations.models import AllocationPolicy, AllocationRun, Portfolio
from allocations.money import CENT, MAX_AMOUNT, weights_of_amounts
from allocations.selectors.panels import (
    Universe,
    fund_amounts,
    latest_signals,
    previous_momentum,
    universe_load,
    universe_panel,
)
from allocations.selectors.policies import policy_current
from allocations.selectors.portfolios import portfolio_today
from allocations.selectors.strategies import sector_codes

from .actors import Actor


@dataclass(frozen=True)
class RebalanceRequest:
    """The specification's AllocationRequest, plus ``dry_run`` and the idempotency key.

    Values are typed (a serializer or the caller has checked them): ``total_equity`` a positive
    Decimal or None (the portfolio's); ``sector_signals`` mappings with ``sector``, ``action``
    (BUY/SELL/HOLD) and ``confidence`` in [0, 1]; ``strategy_performance`` strategy code ->
    ``{"sharpe": float, "volatility": float > 0}`` (either may be missing).
    """

    total_equity: Decimal | None = None
    sector_signals: list[dict] | None = None
    strategy_performance: dict[str, dict[str, float]] | None = None
    force_rebalance: bool = False
    allocation_method: str | None = None
    dry_run: bool = False
    idempotency_key: str | None = None
    trigger: str = AllocationRun.Trigger.API
    run_date: date | None = None  # for scheduled runs (one per portfolio per day)
    # The inputs digest of the dry run this request confirms: the run is refused unless it would
    # compute from the same method, options and inputs (what the person saw is what runs).
    previewed_digest: str | None = None


@dataclass
class RunInputs:
    """Everything the engine is called with, and what the run records about where it came from."""

    policy: AllocationPolicy
    method: str
    equity: Decimal
    today: date
    universe: Universe
    dates: list[date]
    panel: np.ndarray
    amounts: dict[int, Decimal]
    age_days: np.ndarray  # (N,) business days since each strategy's last return (stale above the policy's)
    current: np.ndarray
    weight_basis: float
    previous: np.ndarray | None
    signals: list[dict] = field(default_factory=list)
    sharpe_override: np.ndarray | None = None
    volatility_override: np.ndarray | None = None


def run_inputs_load(*, portfolio: Portfolio, actor: Actor, request: RebalanceRequest, clock=None) -> RunInputs:
    """Read the policy, universe, returns panel, funds and signals a rebalance of ``portfolio`` uses.

    ``clock`` (a ``engine.LapClock``), if given, times the returns panel apart from the other reads.
    """
    policy = policy_current(portfolio=portfolio)
    if policy is None:
        raise DomainError(f"portfolio {portfolio.slug!r} has no allocation policy yet", field="policy")
    equity = _equity(request.total_equity, portfolio, dry_run=request.dry_run)
    universe = universe_load(portfolio=portfolio)
    if len(universe) == 0:
        raise DomainError(f"portfolio {portfolio.slug!r} has no active strategies", field="strategies")
    now = clock_now()
    stored = latest_signals(portfolio=portfolio, since=now - timedelta(days=policy.signal_window_days))
    signals = _merge_signals(stored, request.sector_signals)
    sharpe_override, volatility_override = _overrides(request.strategy_performance, universe)
    today = portfolio_today(portfolio)
    if clock is not None:
        clock.lap("inputs")
    dates, panel = universe_panel(
        universe=universe, window=max(policy.lookback_period, policy.covariance_lookback), today=today
    )
    if clock is not None:
        clock.lap("returns_panel")
    amounts = fund_amounts(portfolio=portfolio)
    current, basis = weights_of_amounts(universe.ids, amounts, equity)
    inputs = RunInputs(
        policy=policy,
        method=request.allocation_method or policy.method,
        equity=equity,
        today=today,
        universe=universe,
        dates=dates,
        panel=panel,
        amounts=amounts,
        age_days=business_days_since_last_return(dates, panel, today),
        current=current,
        weight_basis=basis,
        previous=previous_momentum(portfolio=portfolio, universe=universe),
        signals=signals,
        sharpe_override=sharpe_override,
        volatility_override=volatility_override,
    )
    if clock is not None:
        clock.lap("inputs")
    return inputs


def _equity(requested: Decimal | None, portfolio: Portfolio, *, dry_run: bool) -> Decimal:
    """The portfolio's recorded equity; another one only in a dry run (a what-if that moves nothing).

    The equity is changed by its own decision of two risk officers (``services.equity``), never as
    a side effect of a rebalance request, a risk officer's included: funds are fractions of it, and
    a run at another equity would invest that equity with one pair of eyes.
    """
    differs = requested is not None and Decimal(requested) != portfolio.total_equity
    if differs and not dry_run:
        raise DomainError(
            f"total_equity {requested} differs from the portfolio's recorded equity {portfolio.total_equity}; "
            "risk officers change the equity (POST .../equity/, approved by a second one), then rebalance without it",
            field="total_equity",
        )
    equity = portfolio.total_equity if requested is None else Decimal(requested)
    if equity <= 0:
        raise DomainError(f"total_equity must be greater than 0, got {equity}", field="total_equity")
    if equity >= MAX_AMOUNT:
        raise DomainError(f"total_equity is too large: {equity}", field="total_equity")
    return equity.quantize(CENT)


def _merge_signals(stored: dict[str, dict], requested: list[dict] | None) -> list[dict]:
    """The stored latest signal of each sector, overridden per sector by the request's."""
    merged = dict(stored)
    if requested:
        known = sector_codes()
        for i, signal in enumerate(requested):
            sector = signal["sector"]
            if sector not in known:
                where = f"sector_signals[{i}].sector"
                raise DomainError(f"{where}: {unknown_name('sector', sector, known)}", field=where)
            merged[sector] = {
                "sector": sector,
                "action": signal["action"],
                "confidence": float(signal.get("confidence", 1.0)),
                "source": "request",
            }
    return list(merged.values())


def _overrides(
    performance: dict[str, dict[str, float]] | None, universe: Universe
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-strategy Sharpe and volatility given with the request (NaN: use the returns)."""
    if not performance:
        return None, None
    column = {code: j for j, code in enumerate(universe.codes)}
    sharpe = np.full(len(universe), np.nan)
    volatility = np.full(len(universe), np.nan)
    for code, metrics in performance.items():
        if code not in column:
            where = f"strategy_performance.{code}"
            raise DomainError(f"{where}: unknown or retired strategy {code!r}", field=where)
        if metrics.get("sharpe") is not None:
            sharpe[column[code]] = float(metrics["sharpe"])
        if metrics.get("volatility") is not None:
            volatility[column[code]] = float(metrics["volatility"])
    return sharpe, volatility
