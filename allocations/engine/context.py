"""What an allocation method sees of one run, and what it returns.

A method's ``for_run`` takes the run's :class:`MethodContext` and returns a
:class:`MethodWeights`; see :mod:`~allocations.engine.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # annotations only: the stages import the methods, not the other way round
    from .estimate import Estimates
    from .inputs import Inputs

__all__ = ["MethodContext", "MethodWeights"]


@dataclass
class MethodContext:
    """Inputs and estimates of one run, and the run's records (fallbacks, solver details)."""

    inputs: Inputs
    estimates: Estimates
    fallbacks: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def budgets(self) -> np.ndarray | None:
        """Risk budgets of the estimated strategies, shape (k,), or None."""
        b = self.inputs.budgets
        return None if b is None else b[self.estimates.index]


@dataclass(frozen=True)
class MethodWeights:
    r"""A method's distribution over the estimated strategies, :math:`w = a\,w^{risk} + (1 - a)\,w^{perf}`.

    Attributes
    ----------
    risk : ndarray (k,) or None
        :math:`w^{risk}` (None for the performance-only methods).
    share : float in [0, 1]
        ``a``.
    uses_signals : bool
        Whether sector signals and decay smoothing apply to :math:`w^{perf}`.
    """

    risk: np.ndarray | None
    share: float
    uses_signals: bool = False
