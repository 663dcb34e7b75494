r"""Transition planner: from the current weights to the target in bounded daily steps.

With :math:`\Delta = w^* - w^0` and turnover :math:`D = \sum_i |\Delta_i|`:

- ``force`` or :math:`D <` ``min_change``: one step, the target.
- otherwise :math:`n = \max(\text{period}, \lceil \max_i |\Delta_i| / \text{max\_daily\_change} \rceil)`
  equal steps, row ``k`` (1-based) :math:`= (1 - k/n)\,w^0 + (k/n)\,w^*`, the last row
  assigned the target exactly. Every step, the first included, moves each strategy by
  :math:`|\Delta_i| / n \le` ``max_daily_change``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidInputError, InvalidPolicyError
from .policy import MAX_TRANSITION_STEPS

__all__ = ["MAX_TRANSITION_STEPS", "plan_transition", "transition_step_count", "transition_steps"]

_ROUND_OFF = 1e-9


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
    r"""Count the equal steps for the largest move ``m`` and the daily cap ``c``, at least 1.

    :math:`\max(\text{period}, \lceil m / c - 10^{-9}\rceil)`.

    Raises
    ------
    InvalidPolicyError
        More than :data:`MAX_TRANSITION_STEPS` steps (checked before any ceiling is taken,
        so ``c = 1e-300`` cannot overflow or loop).

    Notes
    -----
    The step count is computed in closed form, :math:`\lceil x - 10^{-9} \rceil` with
    :math:`x = \max_i|\Delta_i| / \text{max\_daily\_change}`, so an exactly divisible ratio that
    rounds up (``0.3 / 0.1 = 3.0000000000000004``) does not add a step; a step then exceeds the
    cap by at most ``1e-9`` of it. The count is checked against
    :data:`~allocations.engine.policy.MAX_TRANSITION_STEPS` **before** anything is allocated: a
    larger plan is an :class:`~allocations.engine.errors.InvalidPolicyError` (with the policy's
    bounds, ``max_daily_change >= 1/260`` and ``transition_period_days <= 260``, it never is).
    """
    if period_days > MAX_TRANSITION_STEPS:
        raise InvalidPolicyError(
            f"policy.transition_period_days: {period_days} steps exceed the limit of {MAX_TRANSITION_STEPS}",
            field="policy.transition_period_days",
        )
    ratio = max_move / max_daily_change - _ROUND_OFF if max_move > 0 else 0.0
    if not ratio <= MAX_TRANSITION_STEPS:  # also NaN and inf
        raise InvalidPolicyError(
            f"policy.max_daily_change: a move of {max_move:.6g} in steps of at most {max_daily_change:.6g} "
            f"needs more than {MAX_TRANSITION_STEPS} steps",
            field="policy.max_daily_change",
        )
    return max(int(period_days), math.ceil(ratio), 1)


def _validate(current, target, period_days, max_daily_change, min_change) -> tuple[np.ndarray, np.ndarray]:
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
    return w0, w1


def _count(w0: np.ndarray, w1: np.ndarray, period_days, max_daily_change, min_change, force: bool) -> int:
    moves = np.abs(w1 - w0)
    if force or w0.size == 0 or moves.sum() < min_change:
        return 1
    return transition_steps(float(moves.max()), period_days=int(period_days), max_daily_change=float(max_daily_change))


def transition_step_count(
    current,
    target,
    *,
    period_days: int,
    max_daily_change: float,
    min_change: float,
    force: bool = False,
) -> int:
    r"""Count the steps :func:`plan_transition` would plan, in closed form, allocating nothing.

    1 for ``force`` or a turnover :math:`\sum_i|w^*_i - w^0_i|` below ``min_change``;
    otherwise :math:`\max(\text{period}, \lceil \max_i|w^*_i - w^0_i| / \text{max\_daily\_change} - 10^{-9}\rceil)`.

    Raises
    ------
    InvalidInputError
        Malformed weights or arguments.
    InvalidPolicyError
        More than :data:`MAX_TRANSITION_STEPS` steps.
    """
    w0, w1 = _validate(current, target, period_days, max_daily_change, min_change)
    return _count(w0, w1, period_days, max_daily_change, min_change, force)


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

    Raises
    ------
    InvalidInputError
        Malformed weights or arguments.
    InvalidPolicyError
        The plan would exceed :data:`MAX_TRANSITION_STEPS` steps (nothing is allocated).
    """
    w0, w1 = _validate(current, target, period_days, max_daily_change, min_change)
    n = _count(w0, w1, period_days, max_daily_change, min_change, force)  # bounded before allocating
    if n == 1:
        return w1[None, :].copy()
    progress = np.arange(1, n + 1, dtype=float)[:, None] / n
    schedule = (1.0 - progress) * w0 + progress * w1
    schedule[-1] = w1
    return schedule
