r"""Hard limits in fractions of total equity: per strategy, per sector, ex-ante volatility.

1. Caps. Repeat until no weight is freed:

   - strategy cap: :math:`w_i \leftarrow \min(w_i, c_s)`;
   - sector cap: for every sector ``S`` with :math:`W_S = \sum_{i \in S} w_i > c_S`,
     :math:`w_i \leftarrow w_i\,c_S / W_S` for :math:`i \in S`;
   - the weight ``F`` freed by both is given to the strategies that still have room
     (below their cap, in a sector below its cap, allowed to receive) in proportion to
     their weight: :math:`w_i \leftarrow w_i + F\,w_i / \sum_{j\,\text{room}} w_j`.

   Each round either frees nothing or fills at least one strategy or sector, so the loop
   ends after at most ``N + sectors`` rounds; it always ends on a capping step, so every
   cap holds. Weight that cannot be placed is cash.

2. Total risk. With :math:`\sigma = \sqrt{252\,w^\top \Sigma w}` over the strategies that
   have a covariance row, if :math:`\sigma > \sigma_{max}` those weights are multiplied by
   :math:`\sigma_{max}/\sigma`; the rest is cash.

Each strategy records how much weight each limit removed from it and, as its binding
limit, the one that removed the most (``"strategy"``, ``"sector"``, ``"total_risk"``, or
``""`` when none did).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError
from .estimators import TRADING_DAYS

__all__ = ["LIMIT_NAMES", "LimitResult", "apply_limits", "ex_ante_volatility"]

LIMIT_NAMES: tuple[str, ...] = ("strategy", "sector", "total_risk")
_NO_LIMIT = ""
_ROOM = 1.0 - 1e-12


def ex_ante_volatility(covariance, weights: np.ndarray) -> float:
    r"""Annualised ex-ante volatility :math:`\sqrt{252\,w^\top\Sigma w}` (``Σ`` daily)."""
    weights = np.asarray(weights, dtype=float)
    if weights.size == 0:
        return 0.0
    variance = weights @ covariance.matvec(weights) if hasattr(covariance, "matvec") else weights @ covariance @ weights
    return float(np.sqrt(max(variance, 0.0) * TRADING_DAYS))


@dataclass(frozen=True)
class LimitResult:
    """Outcome of :func:`apply_limits`; arrays have shape (N,).

    Attributes
    ----------
    weights : final weights (fractions of equity).
    capped_weights : after the strategy and sector caps, before the total-risk scaling.
    removed : ndarray (3, N), weight removed by each of :data:`LIMIT_NAMES`.
    binding_limit : ndarray of str, the limit that removed the most, or "".
    binding_amount : weight removed by the binding limit.
    received : weight received from redistribution.
    volatility_before, volatility : ex-ante volatility before and after the scaling.
    risk_scale : factor applied by the total-risk limit (1 when it did not bind).
    rounds : capping rounds.
    """

    weights: np.ndarray
    capped_weights: np.ndarray
    removed: np.ndarray
    binding_limit: np.ndarray
    binding_amount: np.ndarray
    received: np.ndarray
    volatility_before: float
    volatility: float
    risk_scale: float
    rounds: int

    @property
    def cash(self) -> float:
        return float(max(0.0, 1.0 - self.weights.sum()))


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value) and 0.0 < value <= 1.0):
        raise InvalidInputError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def apply_limits(
    weights: np.ndarray,
    sector_codes: np.ndarray,
    *,
    max_single_strategy: float,
    max_sector: float,
    max_total_risk: float | None = None,
    covariance=None,
    covered: np.ndarray | None = None,
    can_receive: np.ndarray | None = None,
) -> LimitResult:
    """Apply the caps, then the ex-ante volatility limit.

    Parameters
    ----------
    weights : ndarray, shape (N,)
        Non-negative, summing to at most 1.
    sector_codes : ndarray of int, shape (N,)
        Sector of each strategy as an integer code (``np.unique(..., return_inverse=True)``).
    max_single_strategy, max_sector : float in (0, 1]
    max_total_risk : float in (0, 1], optional
        Needs ``covariance``.
    covariance : FactorCovariance or ndarray, optional
        Daily covariance of the strategies selected by ``covered``.
    covered : ndarray of int, optional
        Indices of the strategies ``covariance`` describes (default all).
    can_receive : ndarray of bool, shape (N,), optional
        Strategies allowed to receive freed weight (default all); held strategies cannot.

    Returns
    -------
    LimitResult
    """
    w = np.array(weights, dtype=float)
    n = w.size
    codes = np.asarray(sector_codes)
    if codes.shape != (n,):
        raise InvalidInputError(f"sector_codes must have shape ({n},), got {codes.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInputError("weights must be finite and non-negative")
    cap = _check_fraction("max_single_strategy", max_single_strategy)
    sector_cap = _check_fraction("max_sector", max_sector)
    receive = np.ones(n, dtype=bool) if can_receive is None else np.asarray(can_receive, dtype=bool)
    n_sectors = int(codes.max()) + 1 if n else 0

    removed = np.zeros((3, n))
    received = np.zeros(n)
    rounds = 0
    while True:
        rounds += 1
        clipped = np.minimum(w, cap)
        removed[0] += w - clipped
        w = clipped
        sector_total = np.bincount(codes, weights=w, minlength=n_sectors)
        over = sector_total > sector_cap
        if over.any():
            factor = np.where(over, sector_cap / np.where(over, sector_total, 1.0), 1.0)[codes]
            scaled = w * factor
            removed[1] += w - scaled
            w = scaled
            sector_total = np.bincount(codes, weights=w, minlength=n_sectors)
        freed = (removed[0].sum() + removed[1].sum()) - received.sum()
        if freed <= 1e-15 or rounds > n + n_sectors + 1:  # ends on a capping step
            break
        room = receive & (w > 0) & (w < cap * _ROOM) & (sector_total[codes] < sector_cap * _ROOM)
        base = w[room].sum()
        if not base > 0:
            break
        gift = np.zeros(n)
        gift[room] = freed * w[room] / base
        received += gift
        w = w + gift
    capped = w.copy()

    volatility_before = volatility = 0.0
    risk_scale = 1.0
    if max_total_risk is not None:
        limit = _check_fraction("max_total_risk", max_total_risk)
        if covariance is None:
            raise InvalidInputError("max_total_risk needs a covariance")
        index = np.arange(n) if covered is None else np.asarray(covered)
        volatility_before = volatility = ex_ante_volatility(covariance, w[index])
        if volatility > limit:
            risk_scale = limit / volatility
            scaled = w[index] * risk_scale
            removed[2, index] = w[index] - scaled
            w[index] = scaled
            volatility = ex_ante_volatility(covariance, w[index])

    amounts = removed.max(axis=0)
    names = np.array((*LIMIT_NAMES,), dtype=object)[removed.argmax(axis=0)]
    binding = np.where(amounts > 1e-15, names, _NO_LIMIT).astype(object)
    return LimitResult(
        weights=w,
        capped_weights=capped,
        removed=removed,
        binding_limit=binding,
        binding_amount=np.where(amounts > 1e-15, amounts, 0.0),
        received=received,
        volatility_before=volatility_before,
        volatility=volatility,
        risk_scale=risk_scale,
        rounds=rounds,
    )
