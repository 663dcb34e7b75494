r"""Hard limits in fractions of total equity: per strategy, per sector, ex-ante volatility.

The limits hold for the whole book, held strategies (no estimate: insufficient history,
zero variance, stale) included. A held strategy keeps its weight unless a limit requires
less, is then cut only as far as that limit requires, and never receives freed weight.
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
    r"""Annualised ex-ante volatility :math:`\sqrt{252\,w^\top\Sigma w}`.

    Parameters
    ----------
    covariance : ndarray, shape (N, N), or FactorCovariance
        Daily covariance :math:`\Sigma`.
    weights : array-like, shape (N,)
        Fractions of equity (cash is the rest and carries no risk).

    Returns
    -------
    float
        0.0 for an empty book.
    """
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
    rounds : 1 (the caps are solved in closed form; kept for the explanation's schema).
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
        r"""Fraction of equity left uninvested, :math:`\max(0, 1 - \sum_i w_i)`."""
        return float(max(0.0, 1.0 - self.weights.sum()))


def _check_fraction(name: str, value: float) -> float:
    if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value) and 0.0 < value <= 1.0):
        raise InvalidInputError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _levels(w: np.ndarray, caps: np.ndarray, groups: np.ndarray, targets: np.ndarray) -> np.ndarray:
    r"""Per group ``g`` the level :math:`\alpha_g \ge 0` with :math:`\sum_{i \in g}\min(c_i, \alpha_g w_i) = t_g`.

    ``inf`` when even :math:`\sum_{i\in g} c_i` (every strategy capped) stays below :math:`t_g`.
    Breakpoints :math:`k_i = c_i / w_i` sorted per group; at :math:`\alpha = k_j` the sum is
    :math:`C_{\le j} + k_j W_{> j}` (caps reached so far, weight still proportional), and
    between breakpoints it is linear.

    Parameters
    ----------
    w, caps : ndarray (N,)
        Non-negative weights and caps (strategies with ``w = 0`` contribute nothing).
    groups : ndarray of int (N,)
    targets : ndarray (G,)
    """
    levels = np.full(targets.shape, np.inf)
    levels[targets <= 0] = 0.0
    pos = np.flatnonzero(w > 0)
    if pos.size == 0:
        return levels
    keys = caps[pos] / w[pos]
    order = np.lexsort((keys, groups[pos]))
    idx = pos[order]
    g, k, wv, cv = groups[idx], keys[order], w[idx], caps[idx]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, g.size]))
    cum_w = np.cumsum(wv)
    cum_c = np.cumsum(cv)
    base_w = np.where(starts > 0, cum_w[starts - 1], 0.0)[np.searchsorted(starts, first)]
    base_c = np.where(starts > 0, cum_c[starts - 1], 0.0)[np.searchsorted(starts, first)]
    in_w = cum_w - base_w  # weight of the group up to and including j
    in_c = cum_c - base_c
    total_w = np.bincount(g, weights=wv, minlength=targets.size)[g]
    reached = in_c + k * (total_w - in_w) >= targets[g] * (1.0 - 1e-15)
    hits = np.flatnonzero(reached & (targets[g] > 0))
    if hits.size:
        grp, at = np.unique(g[hits], return_index=True)
        j = hits[at]
        capped_before = in_c[j] - cv[j]
        free_before = total_w[j] - in_w[j] + wv[j]
        levels[grp] = np.maximum((targets[grp] - capped_before) / free_before, 0.0)  # rounding
    return levels


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
    r"""Apply the caps, then the ex-ante volatility limit.

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

    Notes
    -----
    1. Caps, proportional water-filling with both caps at once (closed form, no rounds).

       - Held strategies: :math:`h_i \leftarrow \min(h_i, c)`; in a sector whose held weight alone
         exceeds its cap :math:`c_S`, the held weights are scaled by :math:`c_S / H_S`. The room
         left in sector ``S`` for the others is :math:`R_S = c_S - H_S`.
       - Every other strategy gets :math:`w_i' = \min(c, \alpha_S w_i)` with one scale per sector
         :math:`\alpha_S = \min(\lambda, \hat\alpha_S)`: :math:`\hat\alpha_S` solves
         :math:`\sum_{i \in S} \min(c, \hat\alpha_S w_i) = R_S` (``inf`` when every strategy of the
         sector is capped first), and the common level :math:`\lambda \ge 1` solves
         :math:`\sum_i w_i' = \sum_i w_i - \sum_i h_i'` (the weight freed by any cap, held ones
         included, goes to the strategies with room in proportion to their weight), ``inf`` when
         everything is capped: what cannot be placed is cash.

       Both equations are piecewise linear and increasing in the level; they are solved exactly
       by sorting the breakpoints :math:`c_i / w_i` (:func:`_levels`), O(N log N).
       Example: base (.5, .1 | .4), caps .2 and .25 -> (.2, .05, .2), cash .55.

    2. Total risk. With :math:`\sigma(w) = \sqrt{252\,w^\top \Sigma w}` on the whole book, if
       :math:`\sigma > \sigma_{max}` the strategies that are not held are scaled by the largest
       :math:`s \in [0, 1]` with :math:`\sigma(s f + h) = \sigma_{max}` (a quadratic in ``s``); only
       if the held strategies alone exceed it (``s = 0``) are they scaled too, by
       :math:`\sigma_{max} / \sigma(h)`. The rest is cash.

    Each strategy records how much weight each limit removed from it and, as its binding
    limit, the one that removed the most (``"strategy"``, ``"sector"``, ``"total_risk"``, or
    ``""`` when none did).
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
    held = ~receive

    removed = np.zeros((3, n))
    received = np.zeros(n)
    sector_total = np.bincount(codes, weights=w, minlength=n_sectors)
    if n and (w.max() > cap or sector_total.max() > sector_cap):
        # held strategies: cut only as far as their own caps require
        h = np.where(held, w, 0.0)
        h1 = np.minimum(h, cap)
        held_total = np.bincount(codes, weights=h1, minlength=n_sectors)
        over = held_total > sector_cap
        h2 = h1 * np.where(over, sector_cap / np.where(over, held_total, 1.0), 1.0)[codes]
        removed[0] += h - h1
        removed[1] += h1 - h2
        room = np.maximum(sector_cap - np.bincount(codes, weights=h2, minlength=n_sectors), 0.0)
        # the others: w_i' = min(cap, min(λ, alpha_hat_S) w_i)
        f = np.where(held, 0.0, w)
        alpha_hat = _levels(f, np.full(n, cap), codes, room)
        scale = np.where(f > 0, alpha_hat[codes], 0.0)  # inf (sector never binds) times f > 0 is inf
        effective_cap = np.minimum(cap, scale * f)
        target_total = max(float(w.sum() - h2.sum()), 0.0)
        lam = _levels(f, effective_cap, np.zeros(n, dtype=int), np.array([target_total]))[0]
        lam = max(lam, 1.0)
        f2 = effective_cap if np.isinf(lam) else np.minimum(effective_cap, lam * f)
        cut = f - f2
        at_cap = f2 >= cap * (1.0 - 1e-12)
        removed[0] += np.where((cut > 0) & at_cap, cut, 0.0)
        removed[1] += np.where((cut > 0) & ~at_cap, cut, 0.0)
        received = np.maximum(-cut, 0.0)
        w = np.where(held, h2, f2)
    capped = w.copy()

    volatility_before = volatility = 0.0
    risk_scale = 1.0
    if max_total_risk is not None:
        limit = _check_fraction("max_total_risk", max_total_risk)
        if covariance is None:
            raise InvalidInputError("max_total_risk needs a covariance")
        index = np.arange(n) if covered is None else np.asarray(covered)
        book = w[index]
        volatility_before = volatility = ex_ante_volatility(covariance, book)
        if volatility > limit:
            scaled = _scale_to_risk(covariance, book, held[index], limit)
            removed[2, index] = book - scaled
            w[index] = scaled
            volatility = ex_ante_volatility(covariance, scaled)
            risk_scale = limit / volatility_before

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
        rounds=1,
    )


def _scale_to_risk(covariance, book: np.ndarray, held: np.ndarray, limit: float) -> np.ndarray:
    r"""Scale the book down to the volatility limit, the held strategies last.

    The strategies that are not held are scaled by the largest :math:`s \in [0, 1]` with
    :math:`252\,(s f + h)^\top\Sigma(s f + h) = \sigma_{max}^2`, i.e. :math:`a s^2 + 2 b s + c = v`
    with :math:`a = f^\top\Sigma f`, :math:`b = f^\top\Sigma h`, :math:`c = h^\top\Sigma h`; when
    :math:`c > v` (the held strategies alone exceed the limit), ``s = 0`` and ``h`` is scaled by
    :math:`\sqrt{v / c}`.
    """
    matvec = covariance.matvec if hasattr(covariance, "matvec") else (lambda x: covariance @ x)
    f = np.where(held, 0.0, book)
    h = np.where(held, book, 0.0)
    sf, sh = matvec(f), matvec(h)
    a, b, c = float(f @ sf), float(f @ sh), float(h @ sh)
    v = limit**2 / TRADING_DAYS
    if c >= v:
        return h * np.sqrt(v / c) if c > 0 else h
    if not a > 0:
        return book
    s = (-b + np.sqrt(max(b * b - a * (c - v), 0.0))) / a
    return np.where(held, book, book * min(max(s, 0.0), 1.0))
