r"""One allocation run: estimate -> base weights -> signals -> smoothing -> limits -> transition.

:func:`allocate` takes arrays and engine dataclasses and returns an
:class:`AllocationResult`; it never touches the database.

Strategies that cannot be estimated
-----------------------------------
A strategy with fewer than ``policy.lookback`` observations ("insufficient history") or
whose observations in the performance or covariance window are all equal ("zero
variance") gets no score and no covariance row. It keeps its current weight (0 if new);
the other strategies share the equity left, ``1 - Σ held``. Held strategies still count
toward the strategy and sector caps (a held weight above a cap is cut) but never receive
weight freed by a cap, and, having no covariance row, stay outside the ex-ante volatility.
If no strategy can be estimated, :class:`InsufficientDataError` is raised (a typed error
rather than a silent fallback: there is nothing to base a decision on).

Fallbacks (recorded in ``explanation["fallbacks"]``)
-------------------------------------------------------
- the risk-parity solve fails to converge -> inverse volatility;
- every Sharpe ratio is non-positive or undefined -> equal Sharpe weights (the
  specification's rule).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InsufficientDataError, InvalidInputError, RiskParityError
from .estimators import TRADING_DAYS, estimate_covariance, return_stats
from .limits import LIMIT_NAMES, apply_limits
from .methods import (
    apply_signals,
    budgeted_inverse_volatility,
    decay_smoothing,
    equal_weight,
    inverse_volatility,
    performance_weighted,
    sector_multipliers,
)
from .policy import AllocationPolicy, SectorSignal
from .risk_parity import solve_risk_parity
from .transition import plan_transition

__all__ = ["allocate", "AllocationResult", "STAGES"]

#: Names of the per-strategy weight stages, in order.
STAGES: tuple[str, ...] = ("base", "after_signals", "after_smoothing", "after_caps", "final")

FLAG_INSUFFICIENT_HISTORY = "insufficient history"
FLAG_ZERO_VARIANCE = "zero variance"


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays -> plain floats/lists; NaN -> None (JSON has no NaN)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return [None if v != v else v for v in value.tolist()]
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if value != value else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass(frozen=True)
class AllocationResult:
    """Outcome of :func:`allocate`. Arrays are indexed like the columns of ``returns``.

    Attributes
    ----------
    target_weights : ndarray (N,)
        Final weights in fractions of equity; never NaN, ``>= 0``, summing to ``1 - cash``.
    cash : float
        Equity left unplaced (limits, total risk).
    schedule : ndarray (steps, N)
        :func:`plan_transition` from ``current_weights``; the last row is the target.
    base_weights, signal_weights, smoothed_weights, capped_weights : ndarray (N,)
        The stages: the method's weights, after sector signals, after decay smoothing,
        after the strategy/sector caps (before the total-risk scaling). Fractions of equity.
    momentum_weights : ndarray (N,)
        Smoothed momentum distribution to pass as the next run's ``previous``; NaN for
        strategies that were not estimated.
    risk_contributions : ndarray (N,)
        Share of the ex-ante variance, :math:`w_i(\\Sigma w)_i / w^\\top\\Sigma w`; NaN for
        strategies without a covariance row.
    binding_limit : ndarray of str (N,)
        ``"strategy"``, ``"sector"``, ``"total_risk"`` or ``""``.
    binding_amount : ndarray (N,)
        Weight removed by the binding limit.
    removed_by_limit : ndarray (3, N)
        Weight removed by each limit, rows in :data:`~allocations.engine.limits.LIMIT_NAMES` order.
    flags : ndarray of str (N,)
        ``"insufficient history"``, ``"zero variance"`` or ``""``.
    explanation : dict
        Run-level facts: ex-ante volatility, effective number of strategies, cash,
        turnover, fallbacks, applied and ignored signals, estimator details.
    """

    target_weights: np.ndarray
    cash: float
    schedule: np.ndarray
    base_weights: np.ndarray
    signal_weights: np.ndarray
    smoothed_weights: np.ndarray
    capped_weights: np.ndarray
    momentum_weights: np.ndarray
    risk_contributions: np.ndarray
    binding_limit: np.ndarray
    binding_amount: np.ndarray
    removed_by_limit: np.ndarray
    flags: np.ndarray
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def stages(self) -> dict[str, np.ndarray]:
        """Per-strategy weights of every stage, keyed by :data:`STAGES`."""
        return dict(
            zip(
                STAGES,
                (
                    self.base_weights,
                    self.signal_weights,
                    self.smoothed_weights,
                    self.capped_weights,
                    self.target_weights,
                ),
                strict=True,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (floats, lists, str, None for NaN), ready for JSON."""
        return {
            "target_weights": _plain(self.target_weights),
            "cash": float(self.cash),
            "schedule": self.schedule.tolist(),
            "stages": {name: _plain(arr) for name, arr in self.stages.items()},
            "momentum_weights": _plain(self.momentum_weights),
            "strategies": {
                "risk_contribution": _plain(self.risk_contributions),
                "binding_limit": [str(v) for v in self.binding_limit.tolist()],
                "binding_amount": _plain(self.binding_amount),
                **{f"removed_by_{name}": _plain(self.removed_by_limit[i]) for i, name in enumerate(LIMIT_NAMES)},
                "flags": [str(v) for v in self.flags.tolist()],
            },
            "explanation": _plain(self.explanation),
        }


def _vector(name: str, value, n: int, *, allow_nan: bool = False, nonnegative: bool = True) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},), got {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise InvalidInputError(
            f"{name} contains {'infinite' if allow_nan else 'NaN or infinite'} values "
            f"(first at index {int(np.flatnonzero(bad)[0])})"
        )
    if nonnegative and (arr < 0).any():
        raise InvalidInputError(f"{name} contains negative values (first at index {int(np.flatnonzero(arr < 0)[0])})")
    return arr


def _signals(signals) -> list[SectorSignal]:
    out = []
    for s in signals or ():
        if isinstance(s, SectorSignal):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(SectorSignal(**{k: s[k] for k in ("sector", "action", "confidence") if k in s}))
        else:
            raise InvalidInputError(f"signals must be SectorSignal objects or mappings, got {type(s).__name__}")
    return out


def allocate(
    returns,
    sectors: Sequence[str],
    *,
    policy: AllocationPolicy | None = None,
    current_weights=None,
    signals: Sequence[SectorSignal] = (),
    previous=None,
    budgets=None,
    force_rebalance: bool = False,
    sharpe_override=None,
    volatility_override=None,
) -> AllocationResult:
    r"""Run every stage of one allocation.

    Parameters
    ----------
    returns : array-like, shape (T, N)
        Daily returns, rows oldest to newest; NaN = no observation that day; ±inf is an error.
    sectors : sequence of str, length N
    policy : AllocationPolicy, optional
        Defaults to ``AllocationPolicy()``.
    current_weights : array-like (N,), optional
        Current funds as fractions of equity (default zeros); ``>= 0``, sum ``<= 1``.
    signals : sequence of SectorSignal (or mappings with sector/action/confidence)
        Latest signal per sector; for a repeated sector the last wins; unknown sectors are
        ignored and listed in ``explanation["ignored_signals"]``.
    previous : array-like (N,), optional
        The previous run's ``momentum_weights``; NaN = strategy not in that run.
    budgets : array-like (N,), optional
        Positive risk budgets for ``risk_parity`` (and the risk-parity half of ``hybrid``).
    force_rebalance : bool
        Apply the target in one step.
    sharpe_override, volatility_override : array-like (N,), optional
        Per-strategy annualised Sharpe / volatility to use instead of the estimates (NaN =
        use the returns). A volatility override rescales the covariance
        :math:`\Sigma \leftarrow D\Sigma D` so that its diagonal matches, keeping correlations.
        Overrides do not make a strategy without history estimable.

    Returns
    -------
    AllocationResult

    Raises
    ------
    InvalidInputError, InvalidPolicyError, InsufficientDataError
    """
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = (now - clock[0]) * 1e3
        clock[0] = now

    policy = AllocationPolicy() if policy is None else policy
    if not isinstance(policy, AllocationPolicy):
        raise InvalidInputError(f"policy must be an AllocationPolicy, got {type(policy).__name__}")

    # --- inputs -------------------------------------------------------------------------
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise InvalidInputError(f"returns must be a 2-D (days x strategies) array, got shape {r.shape}")
    t_rows, n = r.shape
    if n == 0:
        raise InvalidInputError("returns: the universe is empty (no strategy columns)")
    if np.isinf(r).any():
        col = int(np.flatnonzero(np.isinf(r).any(axis=0))[0])
        raise InvalidInputError(f"returns contain infinite values (first in strategy column {col})")
    sector_arr = np.asarray(sectors)
    if sector_arr.shape != (n,):
        raise InvalidInputError(f"sectors must have length {n}, got shape {sector_arr.shape}")
    if sector_arr.dtype.kind == "O" and sector_arr.size:  # e.g. an object array built by the services
        is_str = np.frompyfunc(lambda label: isinstance(label, str), 1, 1)(sector_arr).astype(bool)
        if is_str.all():
            sector_arr = sector_arr.astype(str)
    if sector_arr.dtype.kind != "U" or (sector_arr == "").any():
        raise InvalidInputError("sectors must be non-empty strings")
    current = np.zeros(n) if current_weights is None else _vector("current_weights", current_weights, n)
    if current.sum() > 1.0 + 1e-9:
        raise InvalidInputError(f"current_weights sum to {current.sum():.6g} > 1 (fractions of equity)")
    prev = None if previous is None else _vector("previous", previous, n, allow_nan=True)
    budget_arr = None if budgets is None else _vector("budgets", budgets, n)
    if budget_arr is not None and (budget_arr <= 0).any():
        raise InvalidInputError("budgets must be strictly positive")
    sharpe_ovr = (
        None
        if sharpe_override is None
        else _vector("sharpe_override", sharpe_override, n, allow_nan=True, nonnegative=False)
    )
    vol_ovr = (
        None if volatility_override is None else _vector("volatility_override", volatility_override, n, allow_nan=True)
    )
    if vol_ovr is not None and (vol_ovr == 0).any():
        raise InvalidInputError("volatility_override must be > 0 (or NaN to use the returns)")
    signal_list = _signals(signals)

    fallbacks: list[str] = []
    notes: list[str] = []

    lap("validate")
    # --- estimate -----------------------------------------------------------------------
    stats = return_stats(r, policy.lookback) if t_rows else None
    if stats is None:
        raise InsufficientDataError(f"returns have no rows: all {n} strategies lack history")
    insufficient = stats.count < policy.lookback
    zero_var = ~insufficient & stats.zero_variance
    cov_window = min(policy.covariance_lookback, t_rows)
    candidate = ~insufficient & ~zero_var
    cov_counts = (~np.isnan(r[-cov_window:])).sum(axis=0)
    insufficient |= candidate & (cov_counts < 2)
    candidate &= cov_counts >= 2
    index = np.flatnonzero(candidate)
    estimate = None
    while index.size:
        estimate = estimate_covariance(
            r[-cov_window:, index] if index.size < n else r[-cov_window:],
            estimator=policy.covariance_estimator,
            halflife=policy.ewma_halflife,
        )
        flat = estimate.covariance.diagonal() <= 0
        if not flat.any():
            break
        zero_var[index[flat]] = True
        index = index[~flat]
    if index.size == 0:
        raise InsufficientDataError(
            f"no strategy can be estimated: {int(insufficient.sum())} of {n} have fewer than "
            f"{policy.lookback} observations, {int(zero_var.sum())} have zero variance"
        )
    estimable = np.zeros(n, dtype=bool)
    estimable[index] = True
    covariance = estimate.covariance

    volatility = stats.volatility[index].copy()
    sharpe = stats.sharpe[index].copy()
    if vol_ovr is not None:
        given = ~np.isnan(vol_ovr[index])
        if given.any():
            scale = np.ones(index.size)
            estimated = np.sqrt(covariance.diagonal()[given] * TRADING_DAYS)
            scale[given] = vol_ovr[index][given] / estimated
            covariance = covariance.rescale(scale)
            volatility[given] = vol_ovr[index][given]
    if sharpe_ovr is not None:
        given = ~np.isnan(sharpe_ovr[index])
        sharpe[given] = sharpe_ovr[index][given]

    held = ~estimable
    remaining = max(0.0, 1.0 - float(current[held].sum()))

    lap("estimate")
    # --- base weights, signals, smoothing ------------------------------------------------
    current_e = current[index]
    if not (np.nan_to_num(sharpe) > 0).any() and policy.method in (
        "performance_weighted",
        "momentum",
        "hybrid",
    ):
        fallbacks.append("performance: no positive Sharpe ratio, equal Sharpe weights")
    perf = performance_weighted(sharpe, current_e, policy.momentum_factor)
    multipliers, ignored, applied = sector_multipliers(sector_arr, signal_list, policy)
    signalled = apply_signals(perf, multipliers[index])
    momentum = decay_smoothing(signalled, None if prev is None else prev[index], policy.signal_decay)

    rp_info: dict[str, Any] = {}
    if policy.method in ("risk_parity", "hybrid"):
        try:
            solution = solve_risk_parity(covariance, None if budget_arr is None else budget_arr[index])
            rp = solution.weights
            rp_info = {
                "error": solution.error,
                "newton_iterations": solution.newton_iterations,
                "cg_iterations": solution.cg_iterations,
            }
        except RiskParityError as exc:
            b = None if budget_arr is None else budget_arr[index]
            rp = budgeted_inverse_volatility(np.sqrt(covariance.diagonal()), b)
            fallbacks.append(f"risk_parity -> inverse_volatility{'' if b is None else ' with budgets'} ({exc})")

    method = policy.method
    if method == "equal_weight":
        base = sig = smooth = equal_weight(index.size)
    elif method == "inverse_volatility":
        base = sig = smooth = inverse_volatility(volatility)
    elif method == "risk_parity":
        base = sig = smooth = rp
    elif method == "performance_weighted":
        base = sig = smooth = perf
    elif method == "momentum":
        base, sig, smooth = perf, signalled, momentum
    else:  # hybrid
        a = policy.hybrid_blend
        base, sig, smooth = (a * rp + (1.0 - a) * x for x in (perf, signalled, momentum))
    if signal_list and method not in ("momentum", "hybrid"):
        notes.append(f"signals are not used by method {method!r}")

    def spread(dist: np.ndarray) -> np.ndarray:
        out = np.where(held, current, 0.0)
        out[index] = dist * remaining
        return out

    base_w, sig_w, smooth_w = spread(base), spread(sig), spread(smooth)

    lap("weights")
    # --- limits ---------------------------------------------------------------------------
    _, codes = np.unique(sector_arr, return_inverse=True)
    limits = apply_limits(
        smooth_w,
        codes,
        max_single_strategy=policy.max_single_strategy,
        max_sector=policy.max_sector,
        max_total_risk=policy.max_total_risk,
        covariance=covariance,
        covered=index,
        can_receive=estimable,
    )
    target = limits.weights
    target = np.where(target < 0, 0.0, target)  # guards -0.0 only; limits never go negative
    cash = max(0.0, 1.0 - float(target.sum()))

    lap("limits")
    # --- explanation ----------------------------------------------------------------------
    w_cov = target[index]
    sigma_w = covariance.matvec(w_cov)
    variance = float(w_cov @ sigma_w)
    rc = np.full(n, np.nan)
    rc[index] = w_cov * sigma_w / variance if variance > 0 else 0.0
    invested = float(target.sum())
    squares = float(target @ target)
    momentum_store = np.full(n, np.nan)
    momentum_store[index] = momentum
    flags = np.full(n, "", dtype=object)
    flags[insufficient] = FLAG_INSUFFICIENT_HISTORY
    flags[zero_var] = FLAG_ZERO_VARIANCE

    lap("explain")
    schedule = plan_transition(
        current,
        target,
        period_days=policy.transition_period_days,
        max_daily_change=policy.max_daily_change,
        min_change=policy.min_change,
        force=force_rebalance,
    )
    lap("transition")
    explanation: dict[str, Any] = {
        "timings_ms": timings,
        "method": method,
        "policy": policy.to_dict(),
        "ex_ante_volatility": float(np.sqrt(max(variance, 0.0) * TRADING_DAYS)),
        "ex_ante_volatility_before_limits": limits.volatility_before,
        "effective_number_of_strategies": invested**2 / squares if squares > 0 else 0.0,
        "cash": cash,
        "invested": invested,
        "turnover": float(np.abs(target - current).sum()),
        "steps": int(schedule.shape[0]),
        "force_rebalance": bool(force_rebalance),
        "fallbacks": fallbacks,
        "notes": notes,
        "signals_applied": applied if method in ("momentum", "hybrid") else {},
        "ignored_signals": ignored,
        "strategies": n,
        "estimated": int(index.size),
        "insufficient_history": int(insufficient.sum()),
        "zero_variance": int(zero_var.sum()),
        "held_weight": float(current[held].sum()),
        "covariance": {
            "estimator": policy.covariance_estimator,
            "window": int(estimate.window),
            "shrinkage": float(estimate.shrinkage),
        },
        "risk_parity": rp_info,
        "limits": {
            "rounds": int(limits.rounds),
            "risk_scale": float(limits.risk_scale),
            "removed": {name: float(limits.removed[i].sum()) for i, name in enumerate(LIMIT_NAMES)},
        },
    }
    return AllocationResult(
        target_weights=target,
        cash=cash,
        schedule=schedule,
        base_weights=base_w,
        signal_weights=sig_w,
        smoothed_weights=smooth_w,
        capped_weights=limits.capped_weights,
        momentum_weights=momentum_store,
        risk_contributions=rc,
        binding_limit=limits.binding_limit,
        binding_amount=limits.binding_amount,
        removed_by_limit=limits.removed,
        flags=flags,
        explanation=explanation,
    )
