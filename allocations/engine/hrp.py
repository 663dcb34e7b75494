r"""Hierarchical risk parity (López de Prado 2016, "Building diversified portfolios that
outperform out of sample").

1. Correlation distance :math:`d_{ij} = \sqrt{(1 - \rho_{ij}) / 2}` and single-linkage
   clustering on it (``scipy.cluster.hierarchy``).
2. Quasi-diagonalisation: the strategies in the dendrogram's leaf order.
3. Recursive bisection: the ordered list is split into halves ``[0, n//2)`` and
   ``[n//2, n)`` down to single strategies; each half ``c`` gets its inverse-variance
   portfolio :math:`v^c_i \propto 1/\sigma_i^2` (:math:`i \in c`) and its variance
   :math:`V_c = v^{c\top}\Sigma_{cc}v^c`; the left half's weights are multiplied by
   :math:`\alpha = 1 - V_L / (V_L + V_R)`, the right half's by :math:`1 - \alpha`.

With risk budgets ``b`` the inverse-variance portfolios become :math:`v_i \propto b_i/\sigma_i^2`
and :math:`\alpha = (\bar b_L/V_L) / (\bar b_L/V_L + \bar b_R/V_R)` with :math:`\bar b_c` the
mean budget of half ``c`` (an extension of ours: HRP does not equalise risk contributions,
so budgets tilt it rather than fix its risk shares); equal budgets give the classical algorithm.

The bisection runs level by level, all the halves of a level at once: for a
:class:`~allocations.engine.covariance.FactorCovariance` :math:`\Sigma = F^\top F + \operatorname{diag}(d)`
the variances of every half are column sums of ``F diag(v)`` over contiguous column ranges
(``np.add.reduceat``), ``O(TN)`` per level and ``O(TN log N)`` in all.
"""

from __future__ import annotations

import numpy as np

from .covariance import FactorCovariance
from .errors import InvalidInputError

__all__ = ["hrp_weights", "hrp_order"]


def _correlation(covariance) -> tuple[np.ndarray, np.ndarray]:
    """Dense correlation matrix (N, N) and the variances (N,)."""
    dense = covariance.dense() if isinstance(covariance, FactorCovariance) else np.asarray(covariance, dtype=float)
    if dense.ndim != 2 or dense.shape[0] != dense.shape[1] or dense.shape[0] == 0:
        raise InvalidInputError(f"covariance must be a non-empty square matrix, got shape {dense.shape}")
    variances = np.diagonal(dense).copy()
    if not np.isfinite(dense).all() or (variances <= 0).any():
        raise InvalidInputError("covariance must be finite with a strictly positive diagonal")
    inv_sd = 1.0 / np.sqrt(variances)
    corr = dense * inv_sd[:, None] * inv_sd[None, :]
    return corr, variances


def hrp_order(covariance) -> np.ndarray:
    r"""Quasi-diagonal order: leaves of the single-linkage dendrogram on :math:`\sqrt{(1-\rho)/2}`, shape (N,)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    corr, _ = _correlation(covariance)
    n = corr.shape[0]
    if n < 3:
        return np.arange(n)
    distance = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    np.fill_diagonal(distance, 0.0)
    distance = 0.5 * (distance + distance.T)
    return leaves_list(linkage(squareform(distance, checks=False), method="single"))


def _half_variances(covariance, order: np.ndarray, v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Variance :math:`v_c^\\top \\Sigma_{cc} v_c` of every contiguous range ``[starts[k], starts[k+1])``
    of the ordered strategies, with ``v`` (in that order) zero outside nothing: block-diagonal."""
    if isinstance(covariance, FactorCovariance):
        f = covariance.factors[:, order] * v
        sums = np.add.reduceat(f, starts, axis=1)
        return np.einsum("tk,tk->k", sums, sums) + np.add.reduceat(covariance.ridge[order] * v * v, starts)
    dense = np.asarray(covariance, dtype=float)[np.ix_(order, order)]
    block = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, order.size]))
    row_sums = np.add.reduceat(dense * v, starts, axis=1)  # (N, K): Σ_j∈k Σ_ij v_j
    own = row_sums[np.arange(order.size), block] * v
    return np.add.reduceat(own, starts)


def hrp_weights(covariance, budgets=None) -> np.ndarray:
    """Hierarchical-risk-parity weights, shape (N,), non-negative, summing to 1.

    Parameters
    ----------
    covariance : ndarray (N, N) or FactorCovariance
        Positive diagonal.
    budgets : ndarray (N,), optional
        Positive risk budgets (see the module docstring); default equal.

    Returns
    -------
    ndarray, shape (N,)
    """
    order = hrp_order(covariance)
    n = order.size
    variances = covariance.diagonal() if isinstance(covariance, FactorCovariance) else np.diag(covariance)
    b = np.ones(n) if budgets is None else np.asarray(budgets, dtype=float)
    if b.shape != (n,) or not np.isfinite(b).all() or (b <= 0).any():
        raise InvalidInputError("budgets must be finite, strictly positive, one per strategy")
    ivp = (b / variances)[order]
    b = b[order]
    w = np.ones(n)
    bounds = np.array([0])  # starts of the ranges partitioning the ordered strategies
    while True:
        lengths = np.diff(np.r_[bounds, n])
        split = lengths > 1
        if not split.any():
            break
        lo, length = bounds[split], lengths[split]
        mid = lo + length // 2
        halves = np.column_stack([length // 2, length - length // 2]).ravel()  # left, right of each range
        covered = np.flatnonzero(np.repeat(split, lengths))  # positions in ranges being split
        local_starts = np.r_[0, np.cumsum(halves)[:-1]]
        half = np.repeat(np.arange(halves.size), halves)
        # inverse-variance portfolio within every half, its variance and budget
        v = ivp[covered] / np.add.reduceat(ivp[covered], local_starts)[half]
        var = _half_variances(covariance, order[covered], v, local_starts)
        ratio = np.add.reduceat(b[covered], local_starts) / halves / var  # mean budget over variance
        alpha = ratio[0::2] / (ratio[0::2] + ratio[1::2])
        w[covered] *= np.column_stack([alpha, 1.0 - alpha]).ravel()[half]
        bounds = np.sort(np.r_[bounds, mid])
    out = np.empty(n)
    out[order] = w
    return out / out.sum()
