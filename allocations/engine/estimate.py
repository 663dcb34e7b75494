r"""Stage 2 of :func:`~allocations.engine.allocate`: estimate, and decide which strategies are held.

A strategy is **held** (keeps its current weight, 0 if new; gets no score) and flagged:

- ``"insufficient history"``: fewer than ``policy.lookback`` observations (or fewer than two
  in the covariance window);
- ``"stale"``: its last return is more than ``policy.stale_after_days`` business days old
  (``age_days``; by default the number of trailing rows without an observation);
- ``"zero variance"``: its annualised volatility over the lookback is below
  :data:`ZERO_VARIANCE_FLOOR` times the median volatility of the universe (every strategy
  with a volatility, held ones included) or below :data:`ABSOLUTE_FLOOR` (a strategy
  returning 1e-4 ± 1e-13 a day has zero variance, not a Sharpe ratio of 1e10), or exactly
  constant returns.

The first that applies is the flag. If no strategy is left to estimate,
:class:`~allocations.engine.errors.InsufficientDataError` is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import CovarianceEstimate, FactorCovariance, estimate_covariance
from .errors import InsufficientDataError
from .estimators import TRADING_DAYS, return_stats
from .inputs import Inputs
from .result import FLAGS

__all__ = ["ABSOLUTE_FLOOR", "ZERO_VARIANCE_FLOOR", "Estimates", "estimate"]

#: Volatility below this fraction of the universe's median volatility is zero variance.
ZERO_VARIANCE_FLOOR = 1e-6
#: ... and below this annualised volatility in any universe (a daily deviation of 6e-12 is
#: rounding, whatever the other strategies do).
ABSOLUTE_FLOOR = 1e-10

FLAG_INSUFFICIENT_HISTORY, FLAG_STALE, FLAG_ZERO_VARIANCE = FLAGS


@dataclass(frozen=True)
class Estimates:
    """What the later stages need; ``(k,)`` arrays follow ``index`` (the estimated strategies).

    Attributes
    ----------
    index : ndarray of int (k,)
        Strategies that are estimated (not held).
    held : ndarray of bool (N,)
    flags : ndarray of str (N,)
    volatility, sharpe : ndarray (k,)
        Annualised, overrides applied.
    covariance : FactorCovariance (k, k)
        Daily covariance of the estimated strategies (the methods use it).
    book_covariance : FactorCovariance (N, N)
        Daily covariance of the whole book (limits, ex-ante volatility, risk contributions).
    risk_known : ndarray of bool (N,)
        Strategies with a covariance row.
    estimate : CovarianceEstimate
    volatility_floor : float
    """

    index: np.ndarray
    held: np.ndarray
    flags: np.ndarray
    volatility: np.ndarray
    sharpe: np.ndarray
    covariance: FactorCovariance
    book_covariance: FactorCovariance
    risk_known: np.ndarray
    estimate: CovarianceEstimate
    volatility_floor: float

    def count(self, flag: str) -> int:
        """Return the number of strategies flagged ``flag``."""
        return int((self.flags == flag).sum())


def estimate(inputs: Inputs) -> Estimates:
    r"""Statistics, flags and covariances of one run (see the module docstring).

    Notes
    -----
    The risk of the whole book: hard limits and the ex-ante volatility cover held strategies too,
    so the book covariance has a row for every strategy:

    - every strategy with at least two observations in the covariance window (held ones
      included: a stale strategy's last known returns, a late starter's short history) is
      estimated together with the others by the policy's estimator;
    - a zero-variance strategy gets its own (near-zero) variance and no correlation;
    - a strategy with no usable history gets the variance of its ``volatility_override`` if
      one is given, and otherwise no risk at all: it is reported in
      ``explanation["risk_unknown"]`` (count and weight) and noted.
    """
    policy = inputs.policy
    r = inputs.returns
    t_rows, n = r.shape
    if t_rows == 0:
        raise InsufficientDataError(f"returns have no rows: all {n} strategies lack history")
    stats = return_stats(r, policy.lookback)

    # --- who is held ------------------------------------------------------------------------
    window = min(policy.covariance_lookback, t_rows)
    block = r[-window:]
    cov_counts = (~np.isnan(block)).sum(axis=0)
    insufficient = (stats.count < policy.lookback) | (cov_counts < 2)
    stale = ~insufficient & (inputs.age_days > policy.stale_after_days)
    vol = stats.volatility
    measured = np.isfinite(vol) & (vol > 0)  # every strategy with a volatility, held ones too
    floor = max(ZERO_VARIANCE_FLOOR * float(np.median(vol[measured])) if measured.any() else 0.0, ABSOLUTE_FLOOR)
    zero_var = ~insufficient & ~stale & (stats.zero_variance | ~(vol > floor))

    # --- covariance of the whole book ----------------------------------------------------------
    # estimated: every strategy with two observations in the window and some variance
    constant = (stats.count >= 2) & (stats.zero_variance | ~(vol > floor))
    estimated = (cov_counts >= 2) & ~constant
    cols = np.flatnonzero(estimated)
    if cols.size == 0:
        raise InsufficientDataError(_nothing_to_estimate(n, policy.lookback, insufficient, zero_var, stale))
    est = estimate_covariance(
        block if cols.size == n else block[:, cols],
        estimator=policy.covariance_estimator,
        halflife=policy.ewma_halflife,
    )
    other = np.where(constant, np.nan_to_num(vol) ** 2 / TRADING_DAYS, 0.0)
    ovr = inputs.volatility_override
    if ovr is not None:
        other = np.where(~estimated & ~constant & ~np.isnan(ovr), np.nan_to_num(ovr) ** 2 / TRADING_DAYS, other)
    book = est.covariance.embed(cols, n, variances=other if cols.size < n else None)
    risk_known = estimated | constant | (other > 0)

    # a strategy flat over the covariance window is zero variance too
    diag = book.diagonal()
    flat = estimated & ~insufficient & ~stale & ~zero_var & ~(diag * TRADING_DAYS > floor**2)
    zero_var |= flat
    held = insufficient | stale | zero_var
    index = np.flatnonzero(~held)
    if index.size == 0:
        raise InsufficientDataError(_nothing_to_estimate(n, policy.lookback, insufficient, zero_var, stale))

    volatility = vol[index].copy()
    sharpe = stats.sharpe[index].copy()
    if ovr is not None:
        given = estimated & ~np.isnan(ovr) & (diag > 0)
        if given.any():
            scale = np.ones(n)
            scale[given] = ovr[given] / np.sqrt(diag[given] * TRADING_DAYS)
            book = book.rescale(scale)
            volatility = np.where(given[index], ovr[index], volatility)
    if inputs.sharpe_override is not None:
        given = ~np.isnan(inputs.sharpe_override[index])
        sharpe[given] = inputs.sharpe_override[index][given]

    flags = np.full(n, "", dtype=object)
    flags[zero_var] = FLAG_ZERO_VARIANCE
    flags[stale] = FLAG_STALE
    flags[insufficient] = FLAG_INSUFFICIENT_HISTORY
    return Estimates(
        index=index,
        held=held,
        flags=flags,
        volatility=volatility,
        sharpe=sharpe,
        covariance=book.take(index),
        book_covariance=book,
        risk_known=risk_known,
        estimate=est,
        volatility_floor=floor,
    )


def _nothing_to_estimate(n: int, lookback: int, insufficient, zero_var, stale) -> str:
    return (
        f"no strategy can be estimated: {int(insufficient.sum())} of {n} have fewer than {lookback} "
        f"observations, {int(zero_var.sum())} have zero variance, {int(stale.sum())} are stale"
    )
