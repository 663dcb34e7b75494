"""The outcome of one allocation run, :class:`AllocationResult`, and its JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .limits import LIMIT_NAMES

__all__ = ["FLAGS", "STAGES", "AllocationResult"]

#: Names of the per-strategy weight stages, in order.
STAGES: tuple[str, ...] = ("base", "after_signals", "after_smoothing", "after_caps", "final")

#: Flags of a strategy that is held where it is (no estimate); "" for the others.
FLAGS: tuple[str, ...] = ("insufficient history", "stale", "zero variance")


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
    r"""Outcome of :func:`allocate`. Arrays are indexed like the columns of ``returns``.

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
        Share of the ex-ante variance, :math:`w_i(\Sigma w)_i / w^\top\Sigma w`; NaN for
        strategies without a covariance row.
    binding_limit : ndarray of str (N,)
        ``"strategy"``, ``"sector"``, ``"total_risk"`` or ``""``.
    binding_amount : ndarray (N,)
        Weight removed by the binding limit.
    removed_by_limit : ndarray (3, N)
        Weight removed by each limit, rows in :data:`~allocations.engine.limits.LIMIT_NAMES` order.
    flags : ndarray of str (N,)
        ``"insufficient history"``, ``"stale"``, ``"zero variance"`` (held strategies, see
        :data:`FLAGS`) or ``""``.
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

    def to_dict_explanation(self) -> dict[str, Any]:
        """Return the run-level facts of ``to_dict`` alone (``to_dict()["explanation"]``), without the arrays."""
        return _plain(self.explanation)

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
            "explanation": self.to_dict_explanation(),
        }
