r"""The stages of :func:`~allocations.engine.allocate` after the estimates.

``base weights -> signals -> smoothing`` work on distributions over the estimated strategies
(see :mod:`~allocations.engine.registry`); :func:`spread` turns a distribution into
fractions of equity for the whole book, held strategies keeping their weight:

.. math::
    w_i = w^{current}_i \ (i \text{ held}), \qquad
    w_i = d_i \,(1 - \textstyle\sum_{j\,\text{held}} w^{current}_j) \ (\text{otherwise}).

``limits -> transition -> explain`` then work on the whole book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimate import Estimates
from .estimators import TRADING_DAYS
from .inputs import Inputs
from .limits import LIMIT_NAMES, LimitResult, apply_limits
from .measures import effective_number
from .methods import apply_signals, decay_smoothing, performance_weighted, sector_multipliers
from .registry import METHOD_REGISTRY, MethodContext, MethodWeights
from .transition import plan_transition

__all__ = [
    "Chain",
    "base_weights",
    "explain",
    "limits",
    "signals",
    "smoothing",
    "spread",
    "spread_momentum",
    "stage_distributions",
    "transition",
]


@dataclass
class Chain:
    """Distributions (k,) of the three weight stages, and the run's momentum weights."""

    method: MethodWeights
    performance: np.ndarray
    signalled: np.ndarray | None = None
    momentum: np.ndarray | None = None
    applied: dict[str, float] | None = None
    ignored: list[str] | None = None

    def combine(self, performance: np.ndarray) -> np.ndarray:
        r""":math:`a\,w^{risk} + (1 - a)\,w^{perf}`."""
        a = self.method.share
        if self.method.risk is None:
            return performance
        return self.method.risk if a == 1.0 else a * self.method.risk + (1.0 - a) * performance


def base_weights(ctx: MethodContext) -> Chain:
    """Compute the method's weights and the performance weights (Sharpe blended with the current weights)."""
    est, policy = ctx.estimates, ctx.inputs.policy
    if policy.method in ("performance_weighted", "momentum", "hybrid") and not (np.nan_to_num(est.sharpe) > 0).any():
        ctx.fallbacks.append("performance: no positive Sharpe ratio, equal Sharpe weights")
    performance = performance_weighted(est.sharpe, ctx.inputs.current[est.index], policy.momentum_factor)
    return Chain(method=METHOD_REGISTRY[policy.method].for_run(ctx), performance=performance)


def signals(ctx: MethodContext, chain: Chain) -> None:
    r"""Apply the sector signals to the performance weights: :math:`w_i m_{s(i)} / \sum_j w_j m_{s(j)}`."""
    inputs = ctx.inputs
    multipliers, chain.ignored, chain.applied = sector_multipliers(inputs.sectors, inputs.signals, inputs.policy)
    chain.signalled = apply_signals(chain.performance, multipliers[ctx.estimates.index])


def smoothing(ctx: MethodContext, chain: Chain) -> None:
    """Decay smoothing with the previous run's momentum weights (:func:`decay_smoothing`)."""
    prev = ctx.inputs.previous
    chain.momentum = decay_smoothing(
        chain.signalled, None if prev is None else prev[ctx.estimates.index], ctx.inputs.policy.signal_decay
    )


def stage_distributions(chain: Chain) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distributions of the base, after-signals and after-smoothing stages."""
    if not chain.method.uses_signals:
        same = chain.combine(chain.performance)
        return same, same, same
    return chain.combine(chain.performance), chain.combine(chain.signalled), chain.combine(chain.momentum)


def spread(inputs: Inputs, est: Estimates, distribution: np.ndarray) -> np.ndarray:
    """Fractions of equity for the book (N,): held strategies keep their weight, the others share the rest."""
    current = inputs.current
    remaining = max(0.0, 1.0 - float(current[est.held].sum()))
    out = np.where(est.held, current, 0.0)
    out[est.index] = distribution * remaining
    return out


def spread_momentum(inputs: Inputs, est: Estimates, momentum: np.ndarray) -> np.ndarray:
    """Spread the smoothed momentum distribution over the book (N,), NaN for held strategies.

    This is the next run's ``previous``.
    """
    out = np.full(inputs.n, np.nan)
    out[est.index] = momentum
    return out


def limits(inputs: Inputs, est: Estimates, weights: np.ndarray) -> LimitResult:
    """Strategy and sector caps, then the ex-ante volatility of the whole book (:func:`apply_limits`)."""
    policy = inputs.policy
    return apply_limits(
        weights,
        inputs.sector_codes,
        max_single_strategy=policy.max_single_strategy,
        max_sector=policy.max_sector,
        max_total_risk=policy.max_total_risk,
        covariance=est.book_covariance,
        can_receive=~est.held,
    )


def transition(inputs: Inputs, target: np.ndarray, force: bool) -> np.ndarray:
    """Plan the schedule from the current weights to ``target`` (:func:`plan_transition`)."""
    policy = inputs.policy
    return plan_transition(
        inputs.current,
        target,
        period_days=policy.transition_period_days,
        max_daily_change=policy.max_daily_change,
        min_change=policy.min_change,
        force=force,
    )


def explain(
    ctx: MethodContext, chain: Chain, limit: LimitResult, target: np.ndarray, schedule: np.ndarray, force: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""Compute the risk contributions on the whole book and the run-level explanation.

    Risk contributions are :math:`w_i(\Sigma w)_i / w^\top\Sigma w`, NaN for a strategy without
    a covariance row.
    """
    inputs, est = ctx.inputs, ctx.estimates
    policy, current, n = inputs.policy, inputs.current, inputs.n
    sigma_w = est.book_covariance.matvec(target)
    variance = float(target @ sigma_w)
    rc = np.where(est.risk_known, target * sigma_w / variance if variance > 0 else 0.0, np.nan)
    invested = float(target.sum())
    cash = max(0.0, 1.0 - invested)
    unknown = ~est.risk_known
    notes = []
    if inputs.signals and not chain.method.uses_signals:
        notes.append(f"signals are not used by method {policy.method!r}")
    if (unknown & (target > 0)).any():
        notes.append(
            f"{int((unknown & (target > 0)).sum())} held strategies have no history in the covariance window and "
            "no volatility override: their risk is unknown and outside the ex-ante volatility"
        )
    explanation: dict[str, Any] = {
        "method": policy.method,
        "policy": policy.to_dict(),
        "ex_ante_volatility": float(np.sqrt(max(variance, 0.0) * TRADING_DAYS)),
        "ex_ante_volatility_before_limits": limit.volatility_before,
        "effective_number_of_strategies": effective_number(target),
        "cash": cash,
        "invested": invested,
        "turnover": float(np.abs(target - current).sum()),
        "steps": int(schedule.shape[0]),
        "force_rebalance": bool(force),
        "fallbacks": ctx.fallbacks,
        "notes": notes,
        "signals_applied": chain.applied if chain.method.uses_signals else {},
        "ignored_signals": chain.ignored,
        "strategies": n,
        "estimated": int(est.index.size),
        "insufficient_history": est.count("insufficient history"),
        "zero_variance": est.count("zero variance"),
        "stale": est.count("stale"),
        "held_weight": float(current[est.held].sum()),
        "risk_unknown": {"strategies": int(unknown.sum()), "weight": float(target[unknown].sum())},
        "zero_variance_floor": est.volatility_floor,
        "covariance": {
            "estimator": policy.covariance_estimator,
            "window": int(est.estimate.window),
            "shrinkage": float(est.estimate.shrinkage),
        },
        "risk_parity": ctx.details.get("risk_parity", {}),
        "limits": {
            "rounds": int(limit.rounds),
            "risk_scale": float(limit.risk_scale),
            "removed": {name: float(limit.removed[i].sum()) for i, name in enumerate(LIMIT_NAMES)},
        },
    }
    return rc, explanation
