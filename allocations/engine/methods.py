r"""Base allocation methods and the momentum stages.

Every function here works on the strategies that can be estimated and returns a
distribution over them (non-negative, summing to 1); :func:`~allocations.engine.allocate`
scales it to the equity left once held strategies keep their weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .context import MethodContext, MethodWeights
from .errors import InvalidInputError
from .policy import AllocationPolicy, SectorSignal

__all__ = [
    "EqualWeight",
    "InverseVolatility",
    "Momentum",
    "PerformanceWeighted",
    "apply_signals",
    "budgeted_inverse_volatility",
    "decay_smoothing",
    "equal_weight",
    "inverse_volatility",
    "performance_weighted",
    "sector_multipliers",
    "sharpe_weights",
]


def _normalise(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    if not total > 0:
        return np.full(weights.shape, 1.0 / weights.size)
    return weights / total


def equal_weight(n: int) -> np.ndarray:
    r"""Equal weights :math:`w_i = 1/N`.

    Parameters
    ----------
    n : int
        Number of strategies N, at least 1.

    Returns
    -------
    ndarray, shape (N,)

    Raises
    ------
    InvalidInputError
        ``n < 1``.
    """
    if n < 1:
        raise InvalidInputError("equal_weight: the universe is empty", field="equal_weight")
    return np.full(n, 1.0 / n)


def inverse_volatility(volatility: np.ndarray) -> np.ndarray:
    r"""Inverse-volatility weights :math:`w_i = \sigma_i^{-1} / \sum_j \sigma_j^{-1}`.

    This is what the specification's code calls risk parity; it ignores correlations.

    Parameters
    ----------
    volatility : array-like, shape (N,)
        Volatilities :math:`\sigma_i`, finite and strictly positive (any common scale).

    Returns
    -------
    ndarray, shape (N,)
        Non-negative, summing to 1.

    Raises
    ------
    InvalidInputError
        An empty universe, or a volatility that is not finite and > 0.
    """
    volatility = np.asarray(volatility, dtype=float)
    if volatility.size == 0:
        raise InvalidInputError("inverse_volatility: the universe is empty", field="inverse_volatility")
    if not np.isfinite(volatility).all() or (volatility <= 0).any():
        raise InvalidInputError(
            "inverse_volatility: volatilities must be finite and strictly positive", field="inverse_volatility"
        )
    return _normalise(1.0 / volatility)


def budgeted_inverse_volatility(volatility: np.ndarray, budgets: np.ndarray | None = None) -> np.ndarray:
    r""":math:`w_i \propto \sqrt{b_i} / \sigma_i`, plain inverse volatility for equal budgets.

    Risk budgeting's exact answer for uncorrelated strategies
    (:math:`RC_i = w_i^2\sigma_i^2 \propto b_i`). The fallback when the risk-parity solve
    fails, so the budgets still count.

    Parameters
    ----------
    volatility : array-like, shape (N,)
        Finite and strictly positive, as for :func:`inverse_volatility`.
    budgets : array-like, shape (N,), optional
        Positive risk budgets :math:`b_i` (any scale); default equal.

    Returns
    -------
    ndarray, shape (N,)
        Non-negative, summing to 1.
    """
    weights = inverse_volatility(volatility)
    if budgets is None:
        return weights
    return _normalise(weights * np.sqrt(np.asarray(budgets, dtype=float)))


def sharpe_weights(sharpe: np.ndarray) -> np.ndarray:
    r"""Sharpe weights :math:`w_i \propto \max(S_i, 0)`.

    NaN (no score) counts as 0; when no score is positive, :math:`w_i = 1/N` (the
    specification's rule).

    Parameters
    ----------
    sharpe : array-like, shape (N,)
        Sharpe ratios :math:`S_i`, NaN allowed.

    Returns
    -------
    ndarray, shape (N,)
        Non-negative, summing to 1.
    """
    sharpe = np.asarray(sharpe, dtype=float)
    if sharpe.size == 0:
        raise InvalidInputError("sharpe_weights: the universe is empty", field="sharpe_weights")
    score = np.where(np.isnan(sharpe), 0.0, np.maximum(sharpe, 0.0))
    return _normalise(score)


def performance_weighted(sharpe: np.ndarray, current: np.ndarray | None, momentum_factor: float) -> np.ndarray:
    r"""Blend current weights with Sharpe weights (the specification's momentum adjustment).

    .. math::
        w = (1 - m)\,\hat w^{current} + m\,w^{sharpe},\qquad
        \hat w^{current} = w^{current} / \textstyle\sum w^{current}

    With no current allocation (``None`` or summing to 0), :math:`w = w^{sharpe}`.

    Parameters
    ----------
    sharpe : array-like, shape (N,)
        Sharpe ratios, for :func:`sharpe_weights`.
    current : array-like, shape (N,), or None
        Current weights :math:`w^{current}` (fractions of equity; only their shares count).
    momentum_factor : float in [0, 1]
        :math:`m`, the weight of the Sharpe weights.

    Returns
    -------
    ndarray, shape (N,)
        Non-negative, summing to 1.
    """
    target = sharpe_weights(sharpe)
    if current is None:
        return target
    current = np.asarray(current, dtype=float)
    total = current.sum()
    if not total > 0:
        return target
    return (1.0 - momentum_factor) * (current / total) + momentum_factor * target


def sector_multipliers(
    sectors: Sequence[str], signals: Sequence[SectorSignal], policy: AllocationPolicy
) -> tuple[np.ndarray, list[str], dict[str, float]]:
    r"""Per-strategy signal multipliers.

    A BUY of confidence ``c`` multiplies every strategy of its sector by
    :math:`1 + \text{buy}\cdot c`, a SELL by :math:`1 - \text{sell}\cdot c`, HOLD by 1. When a
    sector has several signals the last one wins.

    Parameters
    ----------
    sectors : sequence of str, length N
        Each strategy's sector.
    signals : sequence of SectorSignal
    policy : AllocationPolicy
        ``buy_multiplier`` and ``sell_multiplier``.

    Returns
    -------
    multipliers : ndarray, shape (N,)
    ignored : list of str
        Signalled sectors that no strategy belongs to.
    applied : dict
        Sector -> multiplier actually used.
    """
    labels, codes = np.unique(np.asarray(sectors, dtype=object).astype(str), return_inverse=True)
    index = {label: i for i, label in enumerate(labels.tolist())}
    latest: dict[str, SectorSignal] = {}
    for signal in signals:  # a handful of sectors, not strategies
        latest[signal.sector] = signal
    per_sector = np.ones(len(labels))
    ignored: list[str] = []
    applied: dict[str, float] = {}
    for sector, signal in latest.items():
        if sector not in index:
            ignored.append(sector)
            continue
        per_sector[index[sector]] = applied[sector] = signal.multiplier(policy)
    return per_sector[codes], ignored, applied


def apply_signals(weights: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    r"""Apply signal multipliers: :math:`w_i \leftarrow w_i m_i / \sum_j w_j m_j`.

    Parameters
    ----------
    weights : array-like, shape (N,)
    multipliers : ndarray, shape (N,)
        From :func:`sector_multipliers`.

    Returns
    -------
    ndarray, shape (N,)
        Summing to 1; an all-zero product falls back to :math:`1/N`.
    """
    return _normalise(np.asarray(weights, dtype=float) * multipliers)


def decay_smoothing(new: np.ndarray, previous: np.ndarray | None, decay: float) -> np.ndarray:
    r"""Smooth with the previous run's weights, then renormalise.

    :math:`w_i = d\,w^{new}_i + (1-d)\,w^{prev}_i` for strategies in both runs (``previous``
    finite), :math:`w_i = w^{new}_i` for new ones (``previous`` NaN).

    Parameters
    ----------
    new : ndarray, shape (N,)
    previous : ndarray, shape (N,) or None
    decay : float in [0, 1]

    Returns
    -------
    ndarray, shape (N,)
        Summing to 1; ``new`` itself when ``previous`` is None.
    """
    new = np.asarray(new, dtype=float)
    if previous is None:
        return new
    previous = np.asarray(previous, dtype=float)
    known = ~np.isnan(previous)
    smoothed = np.where(known, decay * new + (1.0 - decay) * np.where(known, previous, 0.0), new)
    return _normalise(smoothed)


class EqualWeight:
    """``"equal_weight"`` in the method registry: 1/k over the k estimated strategies (:func:`equal_weight`)."""

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return :math:`w^{risk}_i = 1/k`, share 1, no signals."""
        return MethodWeights(equal_weight(ctx.estimates.index.size), 1.0)


class InverseVolatility:
    r"""``"inverse_volatility"`` in the method registry: :math:`\propto 1/\sigma_i` (:func:`inverse_volatility`)."""

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return :func:`inverse_volatility` of the run's volatilities (overrides applied), share 1, no signals."""
        return MethodWeights(inverse_volatility(ctx.estimates.volatility), 1.0)


class PerformanceWeighted:
    """``"performance_weighted"`` in the method registry: the performance weights alone, no signals.

    The performance weights (:func:`performance_weighted`) are the pipeline's, see
    :func:`~allocations.engine.stages.base_weights`.
    """

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return no :math:`w^{risk}`, share 0, no signals."""
        return MethodWeights(None, 0.0)


class Momentum:
    """``"momentum"`` in the method registry: performance weights, then sector signals and decay smoothing.

    The chain is :mod:`~allocations.engine.stages`'s.
    """

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return no :math:`w^{risk}`, share 0, with signals."""
        return MethodWeights(None, 0.0, uses_signals=True)
