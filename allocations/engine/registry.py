r"""The allocation methods, by name: :data:`METHOD_REGISTRY` maps every name of
:data:`~allocations.engine.policy.METHODS` to a function of the run's :class:`MethodContext`.

Each method returns a :class:`MethodWeights`: a distribution over the estimated strategies
written as :math:`w = a\,w^{risk} + (1 - a)\,w^{perf}`, where :math:`w^{perf}` is the
performance chain (Sharpe weights blended with the current weights, then, for methods that
use them, sector signals and decay smoothing, see :mod:`~allocations.engine.stages`):

================== ============================================ ===== =========
method             :math:`w^{risk}`                             a     signals
================== ============================================ ===== =========
equal_weight       1/N                                          1     no
inverse_volatility :math:`\propto 1/\sigma_i`                   1     no
risk_parity        equal risk contributions (or risk budgets)   1     no
hrp                hierarchical risk parity                     1     no
performance_weighted (none)                                     0     no
momentum           (none)                                       0     yes
hybrid             risk parity                                  blend yes
================== ============================================ ===== =========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import RiskParityError
from .estimate import Estimates
from .hrp import hrp_weights
from .inputs import Inputs
from .methods import budgeted_inverse_volatility, equal_weight, inverse_volatility
from .risk_parity import solve_risk_parity

__all__ = ["MethodContext", "MethodWeights", "METHOD_REGISTRY"]


@dataclass
class MethodContext:
    """Inputs and estimates of one run, and the run's records (fallbacks, solver details)."""

    inputs: Inputs
    estimates: Estimates
    fallbacks: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def budgets(self) -> np.ndarray | None:
        b = self.inputs.budgets
        return None if b is None else b[self.estimates.index]


@dataclass(frozen=True)
class MethodWeights:
    """``risk`` (k,) or None, its share ``a`` in [0, 1], and whether signals and smoothing apply."""

    risk: np.ndarray | None
    share: float
    uses_signals: bool = False


def _risk_parity(ctx: MethodContext) -> np.ndarray:
    """Risk-parity weights; on a solver failure, budgeted inverse volatility (recorded)."""
    covariance = ctx.estimates.covariance
    try:
        solution = solve_risk_parity(covariance, ctx.budgets)
    except RiskParityError as exc:
        b = ctx.budgets
        ctx.fallbacks.append(f"risk_parity -> inverse_volatility{'' if b is None else ' with budgets'} ({exc})")
        return budgeted_inverse_volatility(np.sqrt(covariance.diagonal()), b)
    ctx.details["risk_parity"] = {
        "error": solution.error,
        "newton_iterations": solution.newton_iterations,
        "cg_iterations": solution.cg_iterations,
    }
    return solution.weights


def _equal_weight(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(equal_weight(ctx.estimates.index.size), 1.0)


def _inverse_volatility(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(inverse_volatility(ctx.estimates.volatility), 1.0)


def _risk_parity_method(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(_risk_parity(ctx), 1.0)


def _hrp(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(hrp_weights(ctx.estimates.covariance, ctx.budgets), 1.0)


def _performance_weighted(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(None, 0.0)


def _momentum(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(None, 0.0, uses_signals=True)


def _hybrid(ctx: MethodContext) -> MethodWeights:
    return MethodWeights(_risk_parity(ctx), ctx.inputs.policy.hybrid_blend, uses_signals=True)


#: Method name -> function of the run's context.
METHOD_REGISTRY: dict[str, Callable[[MethodContext], MethodWeights]] = {
    "equal_weight": _equal_weight,
    "inverse_volatility": _inverse_volatility,
    "risk_parity": _risk_parity_method,
    "hrp": _hrp,
    "performance_weighted": _performance_weighted,
    "momentum": _momentum,
    "hybrid": _hybrid,
}
