r"""Equal risk contribution (risk parity) and risk budgeting.

A long-only, fully invested portfolio ``w`` has risk contributions
:math:`RC_i = w_i (\Sigma w)_i`, with :math:`\sum_i RC_i = w^\top \Sigma w`. Risk budgeting
asks for :math:`RC_i / \sum_j RC_j = b_i`; equal risk contribution (ERC) is
:math:`b_i = 1/N`. Spinu (2013), "An algorithm for computing risk parity weights", shows it
is the normalised minimiser of the strictly convex problem

.. math::
    \min_{y > 0} \; f(y) = \tfrac12 y^\top \Sigma y - \sum_i b_i \log y_i,
    \qquad w = y / \textstyle\sum_i y_i,

since :math:`\nabla f = \Sigma y - b / y = 0 \iff y_i(\Sigma y)_i = b_i`.

We solve it on the correlation matrix :math:`C = D^{-1}\Sigma D^{-1}` (``D`` the
volatilities; :math:`y = x / D`) with budgets scaled to :math:`\min_i b_i = 1`, which makes
``f`` self-concordant, by a damped Newton method. Each Newton system

.. math::
    H d = -\nabla f, \qquad H = C + \operatorname{diag}(b / x^2)

is solved by conjugate gradients preconditioned with ``diag(H)``, using only products
:math:`Cv`: no factorisation, ``O(N²)`` per product for a dense matrix and ``O(TN)`` for a
:class:`~allocations.engine.estimators.FactorCovariance`. The CG tolerance follows the
current error (inexact Newton), so convergence stays quadratic. Far from the solution a
full step is tried first and, if it leaves the domain or does not decrease ``f``, the
self-concordant damped step :math:`1/(1+\lambda)` (``λ`` the Newton decrement) is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError, RiskParityError
from .estimators import FactorCovariance

__all__ = ["risk_parity_weights", "risk_contributions", "RiskParity", "RiskParitySolution"]


class _DenseCovariance:
    __slots__ = ("matrix",)

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def matvec(self, v: np.ndarray) -> np.ndarray:
        return self.matrix @ v

    def diagonal(self) -> np.ndarray:
        return np.diagonal(self.matrix).copy()


def _as_operator(covariance) -> tuple[object, int]:
    if isinstance(covariance, FactorCovariance):
        return covariance, covariance.shape[0]
    matrix = np.asarray(covariance, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise InvalidInputError(f"covariance must be a non-empty square matrix, got shape {matrix.shape}")
    # Two products with a fixed positive probe vector detect NaN/inf entries (they reach
    # the product) and asymmetry in O(N²) time without N² temporaries.
    probe = np.random.default_rng(12345).uniform(0.5, 1.5, matrix.shape[0])
    right, left = matrix @ probe, matrix.T @ probe
    if not (np.isfinite(right).all() and np.isfinite(left).all()):
        raise InvalidInputError("covariance contains NaN or infinite entries")
    scale = np.abs(right).max() + np.abs(left).max()
    if np.abs(right - left).max() > 1e-10 * max(scale, np.finfo(float).tiny):
        raise InvalidInputError("covariance is not symmetric")
    return _DenseCovariance(matrix), matrix.shape[0]


def risk_contributions(covariance, weights: np.ndarray) -> np.ndarray:
    r"""Risk contributions :math:`RC_i = w_i (\Sigma w)_i`, shape (N,)."""
    op, _ = _as_operator(covariance)
    weights = np.asarray(weights, dtype=float)
    return weights * op.matvec(weights)


def _normalise_budgets(budgets, n: int) -> np.ndarray:
    if budgets is None:
        return np.full(n, 1.0 / n)
    b = np.asarray(budgets, dtype=float)
    if b.shape != (n,):
        raise InvalidInputError(f"budgets must have shape ({n},), got {b.shape}")
    if not np.isfinite(b).all() or (b <= 0).any():
        raise InvalidInputError("budgets must be finite and strictly positive")
    return b / b.sum()


def _budget_error(rc: np.ndarray, b: np.ndarray) -> float:
    """``max_i |RC_i / ΣRC / b_i - 1|``; for equal budgets ``max_i |RC_i / mean(RC) - 1|``."""
    total = rc.sum()
    if not total > 0 or not np.isfinite(total):
        return np.inf
    return float(np.abs(rc / (total * b) - 1.0).max())


@dataclass(frozen=True)
class RiskParitySolution:
    """Weights (N,), their risk contributions (N,), the achieved error, Newton and CG iterations."""

    weights: np.ndarray
    risk_contributions: np.ndarray
    error: float
    newton_iterations: int
    cg_iterations: int


def _pcg(apply_h, rhs: np.ndarray, precond: np.ndarray, rtol: float, maxiter: int) -> tuple[np.ndarray, int]:
    """Preconditioned CG for ``H d = rhs`` from ``d = 0``; stops at ``||r|| <= rtol ||rhs||``."""
    d = np.zeros_like(rhs)
    r = rhs.copy()
    z = r / precond
    p = z.copy()
    rz = r @ z
    target = rtol * np.sqrt(rhs @ rhs)
    for k in range(1, maxiter + 1):
        hp = apply_h(p)
        curvature = p @ hp
        if not curvature > 0:
            raise RiskParityError("risk parity: the covariance is not positive semi-definite (negative curvature)")
        alpha = rz / curvature
        d += alpha * p
        r -= alpha * hp
        if np.sqrt(r @ r) <= target:
            return d, k
        z = r / precond
        rz_next = r @ z
        p *= rz_next / rz
        p += z
        rz = rz_next
    return d, maxiter


def solve_risk_parity(covariance, budgets=None, *, tol: float = 1e-10, max_iter: int = 100) -> RiskParitySolution:
    """Solve risk budgeting and report diagnostics; see :func:`risk_parity_weights`."""
    op, n = _as_operator(covariance)
    b = _normalise_budgets(budgets, n)
    if not tol > 0:
        raise InvalidInputError(f"tol must be > 0, got {tol!r}")
    variances = op.diagonal()
    if not np.isfinite(variances).all() or (variances <= 0).any():
        raise InvalidInputError("covariance must have a finite, strictly positive diagonal")
    if n == 1:
        w = np.ones(1)
        return RiskParitySolution(w, w * op.matvec(w), 0.0, 0, 0)

    inv_sd = 1.0 / np.sqrt(variances)

    def corr(v: np.ndarray) -> np.ndarray:
        return op.matvec(v * inv_sd) * inv_sd

    beta = b / b.min()  # budgets >= 1 make f self-concordant
    x = np.sqrt(beta)
    cx = corr(x)
    quad = x @ cx
    if not quad > 0:
        raise RiskParityError("risk parity: the covariance is not positive definite (x'Σx <= 0 for x > 0)")
    t = np.sqrt(beta.sum() / quad)  # best start on the ray through sqrt(b)
    x *= t
    cx *= t

    def objective(x_: np.ndarray, cx_: np.ndarray) -> float:
        return 0.5 * (x_ @ cx_) - beta @ np.log(x_)

    cg_total = 0
    maxiter_cg = max(50, min(n, 1000))
    err = _budget_error(x * cx, b)
    newton = 0
    while err > 0.5 * tol and newton < max_iter:
        newton += 1
        grad = cx - beta / x
        curv = beta / (x * x)
        precond = 1.0 + curv  # diag(C) = 1

        def apply_h(v: np.ndarray, curv=curv) -> np.ndarray:
            return corr(v) + curv * v

        d, k = _pcg(apply_h, -grad, precond, rtol=min(0.1, err), maxiter=maxiter_cg)
        cg_total += k
        decrement = np.sqrt(max(-(grad @ d), 0.0))
        if decrement < 0.25:
            step = 1.0
            x_new = x + d
            if (x_new <= 0).any():
                step = 1.0 / (1.0 + decrement)
                x_new = x + step * d
            cx_new = corr(x_new)
        else:
            x_new = x + d
            cx_new = None
            if (x_new > 0).all():
                cx_new = corr(x_new)
                if objective(x_new, cx_new) > objective(x, cx) + 1e-4 * (grad @ d):
                    cx_new = None
            if cx_new is None:  # damped step, inside the domain by self-concordance
                x_new = x + d / (1.0 + decrement)
                cx_new = corr(x_new)
        if not np.isfinite(x_new).all() or (x_new <= 0).any():
            raise RiskParityError("risk parity: Newton iterate left the positive orthant")
        x, cx = x_new, cx_new
        err = _budget_error(x * cx, b)

    y = x * inv_sd
    w = y / y.sum()
    rc = w * op.matvec(w)
    err = _budget_error(rc, b)
    if not err <= tol:
        raise RiskParityError(
            f"risk parity did not converge: max relative risk-contribution error {err:.3e} > tol {tol:.1e} "
            f"after {newton} Newton iterations"
        )
    return RiskParitySolution(w, rc, err, newton, cg_total)


def risk_parity_weights(covariance, budgets=None, *, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    r"""Long-only, fully invested equal-risk-contribution (or risk-budgeting) weights.

    Parameters
    ----------
    covariance : ndarray, shape (N, N), or FactorCovariance
        Symmetric positive (semi-)definite with a positive diagonal.
    budgets : ndarray, shape (N,), optional
        Positive risk budgets ``b`` (normalised to sum to 1); default equal.
    tol : float
        Convergence: :math:`\max_i |RC_i / \sum_j RC_j / b_i - 1| \le tol`, i.e.
        :math:`\max_i |RC_i/\overline{RC} - 1| \le tol` for ERC.
    max_iter : int
        Newton iterations.

    Returns
    -------
    ndarray, shape (N,)
        ``w >= 0``, ``sum(w) == 1``.

    Raises
    ------
    InvalidInputError
        Malformed covariance or budgets.
    RiskParityError
        The accuracy ``tol`` was not reached.
    """
    return solve_risk_parity(covariance, budgets, tol=tol, max_iter=max_iter).weights


class RiskParity:
    """Estimator-style risk parity: ``RiskParity().fit(covariance)`` sets ``weights_``,
    ``risk_contributions_``, ``error_``, ``n_iter_`` and returns ``self``."""

    def __init__(self, budgets=None, *, tol: float = 1e-10, max_iter: int = 100) -> None:
        self.budgets = budgets
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, covariance) -> RiskParity:
        sol = solve_risk_parity(covariance, self.budgets, tol=self.tol, max_iter=self.max_iter)
        self.weights_ = sol.weights
        self.risk_contributions_ = sol.risk_contributions
        self.error_ = sol.error
        self.n_iter_ = sol.newton_iterations
        self.cg_iter_ = sol.cg_iterations
        return self
