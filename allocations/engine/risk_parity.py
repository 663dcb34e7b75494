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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import MethodContext, MethodWeights
from .covariance import FactorCovariance
from .errors import InvalidInputError, RiskParityError
from .methods import budgeted_inverse_volatility

__all__ = ["RiskParity", "RiskParitySolution", "risk_contributions", "risk_parity_weights", "solve_risk_parity"]


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
    r"""Risk contributions :math:`RC_i = w_i (\Sigma w)_i`; they sum to :math:`w^\top \Sigma w`.

    Parameters
    ----------
    covariance : ndarray, shape (N, N), or FactorCovariance
    weights : array-like, shape (N,)

    Returns
    -------
    ndarray, shape (N,)
    """
    op, _ = _as_operator(covariance)
    weights = np.asarray(weights, dtype=float)
    return weights * op.matvec(weights)


#: From this many strategies on, a factor covariance's Hessian products are taken in float32,
#: with CG tolerances no tighter than _SINGLE_PRECISION_RTOL (Newton then converges linearly
#: at that rate near the solution instead of quadratically, one or two more iterations).
_SINGLE_PRECISION_FROM = 2000
_SINGLE_PRECISION_RTOL = 1e-4


def _extended_matvec(op: FactorCovariance, v: np.ndarray) -> np.ndarray:
    """``Σv`` in extended precision (``np.longdouble``) for the final accuracy check."""
    f = op.factors.astype(np.longdouble)
    v = v.astype(np.longdouble)
    return f.T @ (f @ v) + op.ridge.astype(np.longdouble) * v


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


def _best_ray(corr, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Budget-aware start: the best point of the rays :math:`x \propto \beta^p`, p in {1/2, 3/4, 1}.

    On a ray ``f`` is minimised at :math:`t^2 = \sum\beta / x^\top C x`; ``p = 1/2`` is exact for
    uncorrelated strategies, ``p = 1`` the limit of strongly correlated ones.
    """
    best = None
    for p in (0.5, 0.75, 1.0):
        x = beta**p
        cx = corr(x)
        quad = x @ cx
        if not quad > 0:
            raise RiskParityError("risk parity: the covariance is not positive definite (x'Σx <= 0 for x > 0)")
        t = np.sqrt(beta.sum() / quad)
        x, cx = x * t, cx * t
        f = 0.5 * (x @ cx) - beta @ np.log(x)
        if best is None or f < best[2]:
            best = (x, cx, f)
    return best[0], best[1]


def _line_search(x: np.ndarray, d: np.ndarray, beta: np.ndarray, a1: float, a2: float) -> float:
    r"""Exact line search along ``d``: the step ``s`` minimising ``f(x + s d)``.

    The minimiser over ``0 < s < s_max`` of
    :math:`\varphi(s) = f(x + s d) = \tfrac12 x^\top Cx + s\,a_1 + \tfrac{s^2}{2} a_2 - \sum_i \beta_i\log(x_i + s d_i)`
    with :math:`a_1 = d^\top Cx`, :math:`a_2 = d^\top C d` (no product with ``C`` needed), by a
    safeguarded one-dimensional Newton method on :math:`\varphi'` (convex, so the bracket
    ``[lo, hi]`` with :math:`\varphi'(lo) < 0 < \varphi'(hi)` shrinks to the root).
    """
    r = d / x
    neg = r < 0
    hi = float(1.0 / np.max(-r[neg])) if neg.any() else np.inf  # x + s d > 0 for s < hi
    lo = 0.0
    s = 1.0 if hi > 1.0 else 0.5 * hi
    for _ in range(100):
        q = r / (1.0 + s * r)
        g1 = a1 + s * a2 - beta @ q
        if g1 > 0:
            hi = s
        else:
            lo = s
        g2 = a2 + beta @ (q * q)
        s_new = s - g1 / g2 if g2 > 0 else np.inf
        if not lo < s_new < hi:
            s_new = 0.5 * (lo + hi) if np.isfinite(hi) else 2.0 * max(s, 1.0)
        if abs(s_new - s) <= 1e-12 * s:
            return s_new
        s = s_new
    return s


def solve_risk_parity(covariance, budgets=None, *, tol: float = 1e-10, max_iter: int = 500) -> RiskParitySolution:
    r"""Solve risk budgeting and report diagnostics.

    The arguments, the errors raised and the weights are those of :func:`risk_parity_weights`.

    Returns
    -------
    RiskParitySolution
        Weights (N,), their risk contributions (N,), the error reached, and the Newton and
        conjugate-gradient iteration counts.

    Notes
    -----
    We solve it on the correlation matrix :math:`C = D^{-1}\Sigma D^{-1}` (``D`` the
    volatilities; :math:`y = x / D`) with budgets scaled to :math:`\min_i b_i = 1`, which makes
    ``f`` self-concordant, by a damped Newton method. Each Newton system

    .. math::
        H d = -\nabla f, \qquad H = C + \operatorname{diag}(b / x^2)

    is solved by conjugate gradients preconditioned with ``diag(H)``, using only products
    :math:`Cv`: no factorisation, ``O(N²)`` per product for a dense matrix and ``O(TN)`` for a
    :class:`~allocations.engine.covariance.FactorCovariance`. The CG tolerance follows the
    current error (inexact Newton), so convergence stays quadratic.

    Globalisation: the start is budget-aware (the best point of the rays
    :math:`x \propto \beta^p`, ``p`` in {1/2, 3/4, 1}, each scaled optimally), and every Newton
    direction ``d`` is followed by an exact line search on the convex one-dimensional function
    :math:`s \mapsto f(x + s d)` inside the domain :math:`x + s d > 0`, which costs one extra
    product ``Cd`` and no further products. Budget ratios up to 1e4 converge at N = 5,000 in
    10-50 Newton iterations (the former fixed 100 iterations with a self-concordant damped step
    stalled). Near the rounding floor of float64 products (ill-conditioned budgets), the final
    accuracy check of a factor covariance is made in extended precision.
    """
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

    def finish(x_: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        y = x_ * inv_sd
        w_ = y / y.sum()
        rc_ = w_ * op.matvec(w_)
        err_ = _budget_error(rc_, b)
        if tol < err_ <= 100.0 * tol and isinstance(op, FactorCovariance):
            # near the rounding floor of float64 products (ill-conditioned budgets): check in
            # extended precision, O(TN) once
            rc_ = (w_ * _extended_matvec(op, w_)).astype(float)
            err_ = _budget_error(rc_, b)
        return w_, rc_, err_

    corr_hessian = corr
    if isinstance(op, FactorCovariance) and n >= _SINGLE_PRECISION_FROM:
        # Hessian products in single precision: they only steer the Newton direction (the
        # gradient stays in double precision, so the accuracy reached is unchanged) and read
        # half the memory, which is what a product costs at this size.
        factors32 = np.multiply(op.factors, inv_sd, dtype=np.float32)
        ridge_corr = op.ridge * inv_sd * inv_sd

        def corr_hessian(v: np.ndarray) -> np.ndarray:
            v32 = v.astype(np.float32)
            return (factors32.T @ (factors32 @ v32)).astype(float) + ridge_corr * v

    beta = b / b.min()  # budgets >= 1: f is self-concordant (the scale does not change Newton's steps)
    x, cx = _best_ray(corr, beta)
    cg_total = newton = 0
    maxiter_cg = max(50, min(n, 1000))
    err = _budget_error(x * cx, b)
    # Converged in the solver's coordinates (err <= tol / 2), the weights are checked in the
    # caller's; rounding can leave them slightly above tol on ill-conditioned matrices, so a few
    # more Newton steps polish the iterate and the best weights seen are kept.
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    polish = 0
    corr_now = corr
    precise = None
    if isinstance(op, FactorCovariance):

        def precise(v: np.ndarray) -> np.ndarray:
            return (_extended_matvec(op, v * inv_sd) * inv_sd).astype(float)

    while True:
        if err <= 0.5 * tol:
            candidate = finish(x)
            if best is None or candidate[2] < best[2]:
                best = candidate
        if best is not None:
            if best[2] <= tol or polish >= 5:
                break
            polish += 1
            if precise is not None and corr_now is corr:
                # the gradient itself is at float64's rounding floor: polish with products in
                # extended precision (O(TN) each, a few times at most)
                corr_now = precise
                cx = corr_now(x)
                err = _budget_error(x * cx, b)
        if newton >= max_iter:
            break
        newton += 1
        grad = cx - beta / x
        curv = beta / (x * x)

        def apply_h(v: np.ndarray, curv=curv) -> np.ndarray:
            return corr_hessian(v) + curv * v

        rtol = min(0.1, max(err, 1e-3 * tol if corr_hessian is corr else _SINGLE_PRECISION_RTOL))
        d, k = _pcg(apply_h, -grad, 1.0 + curv, rtol=rtol, maxiter=maxiter_cg)
        cg_total += k
        cd = corr(d)
        step = _line_search(x, d, beta, float(d @ cx), float(d @ cd))
        x_new = x + step * d
        if not np.isfinite(x_new).all() or (x_new <= 0).any():
            raise RiskParityError("risk parity: Newton iterate left the positive orthant")
        x = x_new
        # the cheap update C(x + s d) = Cx + s Cd accumulates rounding; recompute near the end
        cx = cx + step * cd if err > 1e-6 else corr_now(x)
        err = _budget_error(x * cx, b)

    w, rc, err = best if best is not None else finish(x)
    if not err <= tol:
        raise RiskParityError(
            f"risk parity did not converge: max relative risk-contribution error {err:.3e} > tol {tol:.1e} "
            f"after {newton} Newton iterations"
        )
    return RiskParitySolution(w, rc, err, newton, cg_total)


def risk_parity_weights(covariance, budgets=None, *, tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
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
    r"""``"risk_parity"`` in the method registry: risk parity on the estimated strategies' covariance.

    The risk budgets are the run's (:attr:`MethodContext.budgets`); if the solve fails, the
    weights are budgeted inverse volatility :math:`w_i \propto \sqrt{b_i}/\sigma_i` (so the
    budgets still count), recorded in ``explanation["fallbacks"]``.
    """

    @staticmethod
    def weights_for_run(ctx: MethodContext) -> np.ndarray:
        """Return the risk-parity weights (k,) of one run, or the fallback; diagnostics go to ``ctx.details``.

        Also the risk-parity half of ``"hybrid"``.
        """
        covariance = ctx.estimates.covariance
        budgets = ctx.budgets
        try:
            solution = solve_risk_parity(covariance, budgets)
        except RiskParityError as exc:
            with_budgets = "" if budgets is None else " with budgets"
            ctx.fallbacks.append(f"risk_parity -> inverse_volatility{with_budgets} ({exc})")
            return budgeted_inverse_volatility(np.sqrt(covariance.diagonal()), budgets)
        ctx.details["risk_parity"] = {
            "error": solution.error,
            "newton_iterations": solution.newton_iterations,
            "cg_iterations": solution.cg_iterations,
        }
        return solution.weights

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return :meth:`weights_for_run`, share 1, no signals."""
        return MethodWeights(cls.weights_for_run(ctx), 1.0)
