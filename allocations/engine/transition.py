r"""Transition planner: from the current weights to the target in bounded daily steps.

With :math:`\Delta = w^* - w^0` and turnover :math:`D = \sum_i |\Delta_i|`:

- ``force`` or :math:`D <` ``min_change``: one step, the target.
- otherwise :math:`n = \max(\text{period}, \lceil \max_i |\Delta_i| / \text{max\_daily\_change} \rceil)`
  equal steps, row ``k`` (1-based) :math:`= (1 - k/n)\,w^0 + (k/n)\,w^*`, the last row
  assigned the target exactly. Every step, the first included, moves each strategy by
  :math:`|\Delta_i| / n \le` ``max_daily_change``.

The ceiling is taken on the ratio minus a relative epsilon, so an exactly divisible
ratio that rounds up (``0.3 / 0.1 = 3.0000000000000004``) does not add a step; the step is
then checked against the cap and one step is added if rounding made it larger.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidInputError

__all__ = ["plan_transition", "transition_steps"]

_EPS = 1e-12


def _weights(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-D array of weights, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} contains NaN or infinite weights")
    if (arr < 0).any():
        raise InvalidInputError(f"{name} contains negative weights")
    return arr


def transition_steps(max_move: float, *, period_days: int, max_daily_change: float) -> int:
    """Number of equal steps ``max(period_days, ceil(max_move / max_daily_change))``."""
    needed = math.ceil(max_move / max_daily_change * (1.0 - _EPS)) if max_move > 0 else 1
    while needed > 0 and max_move / needed > max_daily_change:
        needed += 1
    return max(period_days, needed)


def plan_transition(
    current,
    target,
    *,
    period_days: int,
    max_daily_change: float,
    min_change: float,
    force: bool = False,
) -> np.ndarray:
    """Plan the steps from ``current`` to ``target``.

    Parameters
    ----------
    current, target : array-like, shape (N,)
        Non-negative weights (fractions of equity).
    period_days : int >= 1
        Minimum number of steps.
    max_daily_change : float in (0, 1]
        Largest move of any strategy in one step.
    min_change : float >= 0
        Below this turnover the target applies at once.
    force : bool
        Apply the target at once.

    Returns
    -------
    ndarray, shape (steps, N)
        Row ``k`` is the weights after step ``k + 1``; the last row equals ``target``.
    """
    w0 = _weights("current", current)
    w1 = _weights("target", target)
    if w0.shape != w1.shape:
        raise InvalidInputError(f"current and target must have the same shape, got {w0.shape} and {w1.shape}")
    if not isinstance(period_days, numbers.Integral) or isinstance(period_days, bool) or period_days < 1:
        raise InvalidInputError(f"period_days must be an integer >= 1, got {period_days!r}")
    if not (
        isinstance(max_daily_change, numbers.Real) and math.isfinite(max_daily_change) and 0.0 < max_daily_change <= 1.0
    ):
        raise InvalidInputError(f"max_daily_change must be in (0, 1], got {max_daily_change!r}")
    if not (isinstance(min_change, numbers.Real) and math.isfinite(min_change) and min_change >= 0.0):
        raise InvalidInputError(f"min_change must be a finite number >= 0, got {min_change!r}")

    delta = w1 - w0
    moves = np.abs(delta)
    if force or w0.size == 0 or moves.sum() < min_change:
        return w1[None, :].copy()
    n = transition_steps(float(moves.max()), period_days=int(period_days), max_daily_change=float(max_daily_change))
    progress = np.arange(1, n + 1, dtype=float)[:, None] / n
    schedule = (1.0 - progress) * w0 + progress * w1
    schedule[-1] = w1
    return schedule
