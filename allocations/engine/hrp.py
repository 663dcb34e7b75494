r"""Hierarchical risk parity.

López de Prado (2016), "Building diversified portfolios that outperform out of sample":

1. Correlation distance :math:`d_{ij} = \sqrt{(1 - \rho_{ij}) / 2}` and single-linkage
   clustering on it (``scipy.cluster.hierarchy``).
2. Quasi-diagonalisation: the strategies in the dendrogram's leaf order.
3. Recursive bisection: the ordered list is split into halves ``[0, n//2)`` and
   ``[n//2, n)`` down to single strategies; each half ``c`` gets its inverse-variance
   portfolio :math:`v^c_i \propto 1/\sigma_i^2` (:math:`i \in c`) and its variance
   :math:`V_c = v^{c\top}\Sigma_{cc}v^c`; the left half's weights are multiplied by
   :math:`\alpha = 1 - V_L / (V_L + V_R)`, the right half's by :math:`1 - \alpha`.
"""

from __future__ import annotations

import numpy as np

from .context import MethodContext, MethodWeights
from .covariance import FactorCovariance
from .errors import InvalidInputError

__all__ = ["HierarchicalRiskParity", "hrp_order", "hrp_weights"]


def _correlation(covariance) -> tuple[np.ndarray, np.ndarray]:
    r"""Dense correlation matrix (N, N) and the variances (N,).

    For a factor covariance the factors are scaled first,
    :math:`C = (FD^{-1})^\top (FD^{-1}) + \operatorname{diag}(d/\sigma^2)`: one symmetric
    product, no pass over an N x N matrix to rescale it.
    """
    if isinstance(covariance, FactorCovariance):
        variances = covariance.diagonal()
        if not np.isfinite(covariance.factors).all() or not np.isfinite(variances).all() or (variances <= 0).any():
            raise InvalidInputError("covariance must be finite with a strictly positive diagonal")
        inv_sd = 1.0 / np.sqrt(variances)
        scaled = covariance.factors * inv_sd
        corr = scaled.T @ scaled
        corr[np.diag_indices_from(corr)] += covariance.ridge * inv_sd * inv_sd
        return corr, variances
    dense = np.asarray(covariance, dtype=float)
    if dense.ndim != 2 or dense.shape[0] != dense.shape[1] or dense.shape[0] == 0:
        raise InvalidInputError(f"covariance must be a non-empty square matrix, got shape {dense.shape}")
    variances = np.diagonal(dense).copy()
    if not np.isfinite(dense).all() or (variances <= 0).any():
        raise InvalidInputError("covariance must be finite with a strictly positive diagonal")
    inv_sd = 1.0 / np.sqrt(variances)
    corr = dense * inv_sd[:, None]
    corr *= inv_sd[None, :]
    return corr, variances


def hrp_order(covariance) -> np.ndarray:
    r"""Quasi-diagonal order: leaves of the single-linkage dendrogram on :math:`\sqrt{(1-\rho)/2}`.

    Parameters
    ----------
    covariance : ndarray (N, N) or FactorCovariance
        Positive diagonal.

    Returns
    -------
    ndarray of int, shape (N,)
        A permutation of the strategies; the identity for N < 3.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    corr, _ = _correlation(covariance)
    n = corr.shape[0]
    if n < 3:
        return np.arange(n)
    # condensed upper triangle only: d = sqrt((1 - rho) / 2), clipped to [0, 1] against rounding
    condensed = squareform(corr, checks=False)
    np.subtract(1.0, condensed, out=condensed)
    np.clip(condensed, 0.0, 2.0, out=condensed)
    np.sqrt(condensed * 0.5, out=condensed)
    return leaves_list(linkage(condensed, method="single"))


def _piece_variances(sorted_cov, v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    r"""Variance :math:`v_c^\top \Sigma_{cc} v_c` of every piece ``[starts[k], starts[k+1])``.

    The pieces are contiguous ranges of the ordered strategies (a block-diagonal quadratic
    form); ``sorted_cov`` is ``(factors, ridge)`` or a dense matrix, both in the
    quasi-diagonal order.
    """
    if isinstance(sorted_cov, tuple):
        factors, ridge = sorted_cov
        sums = np.add.reduceat(factors * v, starts, axis=1)
        return np.einsum("tk,tk->k", sums, sums) + np.add.reduceat(ridge * v * v, starts)
    piece = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, v.size]))
    row_sums = np.add.reduceat(sorted_cov * v, starts, axis=1)  # (N, K): Σ_j∈k Σ_ij v_j
    return np.add.reduceat(row_sums[np.arange(v.size), piece] * v, starts)


def hrp_weights(covariance, budgets=None) -> np.ndarray:
    r"""Hierarchical-risk-parity weights, shape (N,), non-negative, summing to 1.

    Parameters
    ----------
    covariance : ndarray (N, N) or FactorCovariance
        Positive diagonal.
    budgets : ndarray (N,), optional
        Positive risk budgets (see the module docstring); default equal.

    Returns
    -------
    ndarray, shape (N,)

    Notes
    -----
    With risk budgets ``b`` the inverse-variance portfolios become :math:`v_i \propto b_i/\sigma_i^2`
    and :math:`\alpha = (\bar b_L/V_L) / (\bar b_L/V_L + \bar b_R/V_R)` with :math:`\bar b_c` the
    mean budget of half ``c`` (an extension of ours: HRP does not equalise risk contributions,
    so budgets tilt it rather than fix its risk shares); equal budgets give the classical algorithm.

    The bisection runs level by level, all the halves of a level at once: for a
    :class:`~allocations.engine.covariance.FactorCovariance` :math:`\Sigma = F^\top F + \operatorname{diag}(d)`
    the variances of every half are column sums of ``F diag(v)`` over contiguous column ranges
    (``np.add.reduceat``), ``O(TN)`` per level and ``O(TN log N)`` in all.
    """
    order = hrp_order(covariance)
    n = order.size
    if isinstance(covariance, FactorCovariance):
        variances = covariance.diagonal()
        sorted_cov = (covariance.factors[:, order], covariance.ridge[order])
    else:
        dense = np.asarray(covariance, dtype=float)
        variances = np.diagonal(dense)
        sorted_cov = dense[np.ix_(order, order)]
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
        # pieces: both halves of every range being split, and the single strategies as they are
        starts = np.sort(np.r_[bounds, bounds[split] + lengths[split] // 2])
        sizes = np.diff(np.r_[starts, n])
        piece = np.repeat(np.arange(starts.size), sizes)
        v = ivp / np.add.reduceat(ivp, starts)[piece]  # inverse-variance portfolio of every piece
        ratio = np.add.reduceat(b, starts) / sizes / _piece_variances(sorted_cov, v, starts)
        left = np.searchsorted(starts, bounds[split])
        alpha = ratio[left] / (ratio[left] + ratio[left + 1])
        factor = np.ones(starts.size)
        factor[left] = alpha
        factor[left + 1] = 1.0 - alpha
        w *= factor[piece]
        bounds = starts
    out = np.empty(n)
    out[order] = w
    return out / out.sum()


class HierarchicalRiskParity:
    """``"hrp"`` in the method registry: :func:`hrp_weights` on the estimated strategies' covariance."""

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return :func:`hrp_weights` with the run's risk budgets, share 1, no signals."""
        return MethodWeights(hrp_weights(ctx.estimates.covariance, ctx.budgets), 1.0)
