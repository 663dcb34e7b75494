r"""The allocation methods, by name.

:data:`METHOD_REGISTRY` maps every name of :data:`~allocations.engine.policy.METHODS` to
its class, whose ``for_run(ctx)`` takes the run's :class:`MethodContext`. This is the one
way a method runs; outside a run, the pure functions
(:func:`~allocations.engine.risk_parity.risk_parity_weights`,
:func:`~allocations.engine.hrp.hrp_weights`,
:func:`~allocations.engine.methods.inverse_volatility`, ...) compute the same weights from
arrays.
"""

from __future__ import annotations

from typing import Protocol

from .context import MethodContext, MethodWeights
from .hrp import HierarchicalRiskParity
from .methods import EqualWeight, InverseVolatility, Momentum, PerformanceWeighted
from .risk_parity import RiskParity

__all__ = ["METHOD_REGISTRY", "Hybrid", "Method", "MethodContext", "MethodWeights"]


class Method(Protocol):
    r"""A registry entry: ``for_run(ctx)`` gives the method's weights for one run.

    Notes
    -----
    Each method returns a :class:`MethodWeights`: a distribution over the estimated strategies
    written as :math:`w = a\,w^{risk} + (1 - a)\,w^{perf}`, where :math:`w^{perf}` is the
    performance chain (Sharpe weights blended with the current weights, then, for methods that
    use them, sector signals and decay smoothing, see :mod:`~allocations.engine.stages`):

    ==================== ========================================== ===== =======
    method               :math:`w^{risk}`                           a     signals
    ==================== ========================================== ===== =======
    equal_weight         1/N                                        1     no
    inverse_volatility   :math:`\propto 1/\sigma_i`                 1     no
    risk_parity          equal risk contributions (or risk budgets) 1     no
    hrp                  hierarchical risk parity                   1     no
    performance_weighted (none)                                     0     no
    momentum             (none)                                     0     yes
    hybrid               risk parity                                blend yes
    ==================== ========================================== ===== =======
    """

    def for_run(self, ctx: MethodContext) -> MethodWeights:
        """Return the method's weights over the run's estimated strategies."""
        ...


class Hybrid:
    """``hybrid``: risk parity (share ``policy.hybrid_blend``) and momentum (the rest)."""

    @classmethod
    def for_run(cls, ctx: MethodContext) -> MethodWeights:
        """Return risk parity (:meth:`RiskParity.weights_for_run`), share ``hybrid_blend``, with signals."""
        return MethodWeights(RiskParity.weights_for_run(ctx), ctx.inputs.policy.hybrid_blend, uses_signals=True)


#: Method name -> its class; every name of :data:`~allocations.engine.policy.METHODS`.
METHOD_REGISTRY: dict[str, type[Method]] = {
    "equal_weight": EqualWeight,
    "inverse_volatility": InverseVolatility,
    "risk_parity": RiskParity,
    "hrp": HierarchicalRiskParity,
    "performance_weighted": PerformanceWeighted,
    "momentum": Momentum,
    "hybrid": Hybrid,
}
