r"""Covariance estimators, kept in factor form.

Conventions
-----------
``returns`` is a ``(T, N)`` array of daily returns, rows oldest to newest, one column per
strategy; ``NaN`` means "no observation that day".

Covariances are returned as a :class:`FactorCovariance`, ``Σ = FᵀF + diag(d)``, built from
the (weighted, centred) returns: the ``N x N`` matrix is never formed unless asked for with
:meth:`FactorCovariance.dense`. Products ``Σv`` cost ``O(TN)`` instead of ``O(N²)``, which is
what keeps the engine fast and small at N = 5,000-10,000 strategies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError, InvalidPolicyError
from .policy import COVARIANCE_ESTIMATORS

__all__ = [
    "CovarianceEstimate",
    "FactorCovariance",
    "LedoitWolf",
    "estimate_covariance",
    "ewma_covariance",
    "ledoit_wolf",
    "sample_covariance",
]

DEFAULT_ESTIMATOR = "ledoit_wolf_correlation"

#: From this many strategies on, the default estimator's Ledoit-Wolf intensity uses a float32
#: Gram matrix (see :func:`_ledoit_wolf_shrinkage`); the factors themselves stay float64.
_SINGLE_PRECISION_GRAM_FROM = 2000


class FactorCovariance:
    r"""A covariance matrix kept in factor form, :math:`\Sigma = F^\top F + \operatorname{diag}(d)`.

    Parameters
    ----------
    factors : ndarray, shape (K, N)
        ``F``; for the estimators here, the centred returns times ``sqrt`` of the row weights.
    ridge : ndarray, shape (N,) or float
        ``d``, a non-negative diagonal added to ``FᵀF`` (Ledoit-Wolf's shrinkage target).
    """

    __slots__ = ("_diag", "factors", "ridge")

    def __init__(self, factors: np.ndarray, ridge: np.ndarray | float = 0.0) -> None:
        self.factors = np.ascontiguousarray(factors, dtype=float)
        n = self.factors.shape[1]
        self.ridge = np.broadcast_to(np.asarray(ridge, dtype=float), (n,)).copy()
        self._diag: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, N)``."""
        n = self.factors.shape[1]
        return (n, n)

    def matvec(self, v: np.ndarray) -> np.ndarray:
        r""":math:`\Sigma v = F^\top (F v) + d \odot v`; ``v`` of shape (N,) or (N, k)."""
        out = self.factors.T @ (self.factors @ v)
        out += self.ridge * v if v.ndim == 1 else self.ridge[:, None] * v
        return out

    __matmul__ = matvec

    def diagonal(self) -> np.ndarray:
        """Variances, ``Σ_ii = Σ_k F_ki² + d_i``."""
        if self._diag is None:
            self._diag = np.einsum("ki,ki->i", self.factors, self.factors) + self.ridge
        return self._diag

    def dense(self) -> np.ndarray:
        """Return the ``(N, N)`` matrix (for tests and for libraries that need it)."""
        out = self.factors.T @ self.factors
        out[np.diag_indices_from(out)] += self.ridge
        return out

    def rescale(self, scale: np.ndarray) -> FactorCovariance:
        r""":math:`D \Sigma D` with ``D = diag(scale)``: same correlations, volatilities times ``scale``."""
        scale = np.asarray(scale, dtype=float)
        return FactorCovariance(self.factors * scale, self.ridge * scale**2)

    def take(self, index: np.ndarray) -> FactorCovariance:
        """Return the covariance of the strategies ``index`` (rows and columns), shape (k, k)."""
        index = np.asarray(index)
        if index.size == self.shape[0] and (index == np.arange(index.size)).all():
            return self
        return FactorCovariance(self.factors[:, index], self.ridge[index])

    def embed(self, index: np.ndarray, n: int, variances: np.ndarray | None = None) -> FactorCovariance:
        """Place this covariance at the strategies ``index`` of a book of ``n``.

        The other strategies get no correlation and the variance ``variances`` (shape (n,),
        entries outside ``index`` used; default 0, i.e. no known risk).
        """
        index = np.asarray(index)
        if index.size == n and variances is None:
            return self
        factors = np.zeros((self.factors.shape[0], n))
        factors[:, index] = self.factors
        ridge = np.zeros(n) if variances is None else np.nan_to_num(np.asarray(variances, dtype=float))
        ridge[index] = self.ridge
        return FactorCovariance(factors, ridge)


@dataclass(frozen=True)
class CovarianceEstimate:
    """A covariance estimate and how it was obtained.

    Attributes
    ----------
    covariance : FactorCovariance
        Daily covariance of the strategies passed in.
    estimator : str
    window : int
        Rows used.
    shrinkage : float
        Ledoit-Wolf intensity (0 for the other estimators).
    observations : ndarray (N,)
        Observed rows per strategy in the window.
    """

    covariance: FactorCovariance
    estimator: str
    window: int
    shrinkage: float
    observations: np.ndarray


def _ledoit_wolf_shrinkage(x: np.ndarray, *, single: bool = False) -> tuple[float, float]:
    r"""Ledoit-Wolf (2004) intensity for centred ``x`` of shape (n, p), as scikit-learn computes it.

    With :math:`S = x^\top x / n`, :math:`\mu = \operatorname{tr} S / p`,

    .. math::
        \delta = \tfrac{1}{p}\lVert S - \mu I\rVert_F^2, \quad
        \beta = \tfrac{1}{p n}\Big(\tfrac{1}{n}\sum_t \lVert x_t\rVert^4 - \lVert S\rVert_F^2\Big), \quad
        s = \min(\beta, \delta) / \delta .

    :math:`\sum_{ij}(x^{2\top}x^2)_{ij} = \sum_t \lVert x_t\rVert^4` costs O(np), and
    :math:`\lVert S\rVert_F = \lVert x x^\top\rVert_F / n` uses the smaller Gram matrix,
    so the ``p x p`` matrix is never formed. ``single``: the Gram matrix in float32 (about
    3x faster at p = 10,000; the intensity, itself an estimate with an error of order
    :math:`1/\sqrt{n}`, moves by about 1e-7 relative).

    Returns
    -------
    (shrinkage, mu)
    """
    n, p = x.shape
    row_sq = np.einsum("ti,ti->t", x, x)
    trace = row_sq.sum() / n  # tr S
    mu = trace / p
    if p == 1:
        return 0.0, mu
    xg = x.astype(np.float32) if single else x
    gram = xg @ xg.T if n <= p else xg.T @ xg
    delta_ = float(np.einsum("ij,ij->", gram, gram, dtype=float)) / n**2  # ||S||_F^2
    beta_ = np.dot(row_sq, row_sq)
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * trace + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    return float(shrinkage), float(mu)


def estimate_covariance(
    returns: np.ndarray,
    *,
    estimator: str = DEFAULT_ESTIMATOR,
    window: int | None = None,
    halflife: float = 63.0,
) -> CovarianceEstimate:
    r"""Daily covariance of the columns of ``returns`` over its last ``window`` rows.

    Each column is centred on the mean of its observed entries; a missing entry (NaN)
    then contributes zero, and the column is rescaled so that its variance is taken over
    its own observations only (for the sample estimator
    :math:`\sqrt{(W-1)/(n_i-1)}`). Rescaling is a congruence ``D X``, so the result stays
    positive semi-definite; correlations with a late starter are measured over the common
    days and shrunk toward zero by the missing ones.

    - ``"ledoit_wolf_correlation"`` (default): with :math:`s_i` the sample standard deviation
      of strategy ``i`` over its observations and :math:`Z = X D^{-1}` the standardised
      returns (:math:`z_i^\top z_i / W = 1`, ``D`` the population deviations),
      :math:`\Sigma = S\,[(1-\rho) Z^\top Z / W + \rho I]\,S`, ``S = diag(s)``, with the
      Ledoit-Wolf intensity :math:`\rho` of the standardised returns. The diagonal is exactly
      :math:`s_i^2` (every strategy keeps its own variance), the correlations are shrunk
      toward zero, and it is positive definite whenever :math:`\rho > 0`, in particular when
      N > W. A column without variance stays a zero row (the caller flags it).
    - ``"sample"``: :math:`\Sigma = X^\top X / (W - 1)` (singular when N >= W).
    - ``"ledoit_wolf"``: :math:`\Sigma = (1-s) X^\top X / W + s\,\mu I`, Ledoit & Wolf (2004),
      "A well-conditioned estimator for large-dimensional covariance matrices", with the
      intensity ``s`` of :func:`_ledoit_wolf_shrinkage`; positive definite whenever
      ``s > 0``, in particular when N > W.
    - ``"ewma"``: :math:`\Sigma = \sum_t a_t x_t x_t^\top` with
      :math:`a_t \propto 2^{-\text{age}_t/h}`, :math:`\sum a_t = 1`, centred on the weighted
      mean (no small-sample correction).

    Parameters
    ----------
    returns : ndarray, shape (T, N)
        Every column needs at least two observations in the window.
    estimator : {"ledoit_wolf_correlation", "ledoit_wolf", "sample", "ewma"}
    window : int, optional
        Rows used, default all.
    halflife : float
        EWMA half-life in days.

    Returns
    -------
    CovarianceEstimate

    Notes
    -----
    The estimators (:data:`~allocations.engine.policy.COVARIANCE_ESTIMATORS`):

    - ``"ledoit_wolf_correlation"`` (the default): each strategy keeps its own sample variance
      and the correlations are shrunk, Ledoit-Wolf on the standardised returns;
    - ``"ledoit_wolf"``: Ledoit & Wolf (2004) toward a scaled identity, which pulls every
      variance toward the average (a 2%-vol strategy among 20%-vol ones looks like 12%);
    - ``"sample"`` and ``"ewma"``.
    """
    if estimator not in COVARIANCE_ESTIMATORS:
        raise InvalidPolicyError(
            f"covariance_estimator: unknown estimator {estimator!r}; "
            f"expected one of {', '.join(COVARIANCE_ESTIMATORS)}",
            field="covariance_estimator",
        )
    returns = np.asarray(returns, dtype=float)
    if returns.ndim != 2 or returns.shape[1] == 0:
        raise InvalidInputError(f"returns must be a non-empty 2-D array, got shape {returns.shape}")
    block = returns[-window:] if window else returns
    rows = block.shape[0]
    observed = ~np.isnan(block)
    complete = bool(observed.all())
    counts = observed.sum(axis=0) if not complete else np.full(block.shape[1], rows)
    if counts.min() < 2:
        raise InvalidInputError(
            "covariance: every strategy needs at least two observations in the window", field="covariance"
        )

    if estimator == "ewma":
        age = np.arange(rows - 1, -1, -1, dtype=float)
        a = np.exp2(-age / halflife)
        a /= a.sum()
        if complete:
            mean = a @ block
            x = block - mean
            mass = np.ones(block.shape[1])
        else:
            weights = np.where(observed, a[:, None], 0.0)
            mass = weights.sum(axis=0)
            mean = np.where(observed, block, 0.0).T @ a / mass
            x = np.where(observed, block - mean, 0.0)
        factors = x * np.sqrt(a)[:, None]
        if not complete:
            factors /= np.sqrt(mass)
        return CovarianceEstimate(FactorCovariance(factors), estimator, rows, 0.0, counts)

    if complete:
        x = block - block.mean(axis=0)
    else:
        x = np.where(observed, block, 0.0)
        mean = x.sum(axis=0) / counts
        np.subtract(x, mean, out=x, where=observed)  # unobserved entries stay 0
    if estimator == "sample":
        if not complete:
            x *= np.sqrt((rows - 1) / (counts - 1.0))
        return CovarianceEstimate(FactorCovariance(x / np.sqrt(rows - 1.0)), estimator, rows, 0.0, counts)

    if estimator == "ledoit_wolf_correlation":
        return _ledoit_wolf_correlation(x, counts, rows)
    if not complete:
        x *= np.sqrt(rows / counts)
    shrinkage, mu = _ledoit_wolf_shrinkage(x)
    factors = x * np.sqrt((1.0 - shrinkage) / rows)
    return CovarianceEstimate(FactorCovariance(factors, shrinkage * mu), estimator, rows, shrinkage, counts)


def _ledoit_wolf_correlation(x: np.ndarray, counts: np.ndarray, rows: int) -> CovarianceEstimate:
    """Ledoit-Wolf on standardised returns; see :func:`estimate_covariance`.

    ``x`` (W, N) is centred, zero where unobserved, and modified in place.
    """
    squares = np.einsum("ti,ti->i", x, x)  # sum of squared deviations over each column's observations
    sd = np.sqrt(squares / (counts - 1.0))  # sample standard deviation, ddof = 1
    varying = squares > 0
    x *= np.where(varying, np.sqrt(rows / np.where(varying, squares, 1.0)), 0.0)  # z_i'z_i / W = 1
    z = x if varying.all() else x[:, varying]
    single = z.shape[1] >= _SINGLE_PRECISION_GRAM_FROM
    shrinkage, _ = _ledoit_wolf_shrinkage(z, single=single) if z.shape[1] else (0.0, 1.0)
    x *= np.sqrt((1.0 - shrinkage) / rows) * sd  # the factors, in place
    ridge = shrinkage * sd**2
    return CovarianceEstimate(FactorCovariance(x, ridge), "ledoit_wolf_correlation", rows, shrinkage, counts)


def sample_covariance(returns: np.ndarray) -> np.ndarray:
    """Dense unbiased sample covariance, ``(N, N)``; see :func:`estimate_covariance`."""
    return estimate_covariance(returns, estimator="sample").covariance.dense()


def ledoit_wolf(returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Dense Ledoit-Wolf covariance and its shrinkage, like ``sklearn.covariance.ledoit_wolf``."""
    est = estimate_covariance(returns, estimator="ledoit_wolf")
    return est.covariance.dense(), est.shrinkage


def ewma_covariance(returns: np.ndarray, halflife: float = 63.0) -> np.ndarray:
    """Dense exponentially weighted covariance, ``(N, N)``; see :func:`estimate_covariance`."""
    return estimate_covariance(returns, estimator="ewma", halflife=halflife).covariance.dense()


class LedoitWolf:
    """Estimator-style Ledoit-Wolf covariance.

    ``LedoitWolf().fit(returns)`` sets ``covariance_`` (dense ``(N, N)``), ``shrinkage_`` and
    ``factor_covariance_`` (a :class:`FactorCovariance`) and returns ``self``.
    """

    def __init__(self, window: int | None = None) -> None:
        self.window = window

    def fit(self, returns: np.ndarray) -> LedoitWolf:
        """Estimate the covariance of ``returns`` (T, N) and return ``self``."""
        est = estimate_covariance(returns, estimator="ledoit_wolf", window=self.window)
        self.factor_covariance_ = est.covariance
        self.shrinkage_ = est.shrinkage
        self.covariance_ = est.covariance.dense()
        return self
