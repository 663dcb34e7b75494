"""Pure-numpy allocation engine: estimators, allocation methods, limits, transition planner, measures.

No Django import: arrays and engine dataclasses in, dataclasses out. See
``docs/architecture.md`` (and ``../shared/ARCHITECTURE.md`` §5) for the formulas; the docstrings carry them too.

>>> import numpy as np
>>> from allocations.engine import risk_parity_weights
>>> risk_parity_weights(np.diag([0.01, 0.04])).round(4).tolist()
[0.6667, 0.3333]
"""

from .covariance import (
    CovarianceEstimate,
    FactorCovariance,
    LedoitWolf,
    estimate_covariance,
    ewma_covariance,
    ledoit_wolf,
    sample_covariance,
)
from .errors import EngineError, InsufficientDataError, InvalidInputError, InvalidPolicyError, RiskParityError
from .estimators import TRADING_DAYS, ReturnStats, return_stats
from .hrp import HierarchicalRiskParity, hrp_order, hrp_weights
from .laps import LapClock
from .limits import LIMIT_NAMES, LimitResult, apply_limits, ex_ante_volatility
from .measures import annualised_volatility, effective_number, max_drawdown, sharpe_ratio, total_return, value_path
from .methods import (
    EqualWeight,
    InverseVolatility,
    Momentum,
    PerformanceWeighted,
    apply_signals,
    budgeted_inverse_volatility,
    decay_smoothing,
    equal_weight,
    inverse_volatility,
    performance_weighted,
    sector_multipliers,
    sharpe_weights,
)
from .pipeline import allocate
from .policy import (
    ACTIONS,
    COVARIANCE_ESTIMATORS,
    MAX_TRANSITION_STEPS,
    METHODS,
    POLICY_BOUNDS,
    AllocationPolicy,
    Bounds,
    SectorSignal,
)
from .registry import METHOD_REGISTRY
from .result import FLAGS, STAGES, AllocationResult
from .risk_parity import RiskParity, RiskParitySolution, risk_contributions, risk_parity_weights, solve_risk_parity
from .transition import plan_transition, transition_step_count, transition_steps

# One list, sorted; the imports above say which module each name comes from. The registry's
# ``Method`` and ``Hybrid``, and the stage modules (context, estimate, inputs, stages), stay
# in their modules: they are the pipeline's parts, not the engine's surface.
__all__ = [
    "ACTIONS",
    "COVARIANCE_ESTIMATORS",
    "FLAGS",
    "LIMIT_NAMES",
    "MAX_TRANSITION_STEPS",
    "METHODS",
    "METHOD_REGISTRY",
    "POLICY_BOUNDS",
    "STAGES",
    "TRADING_DAYS",
    "AllocationPolicy",
    "AllocationResult",
    "Bounds",
    "CovarianceEstimate",
    "EngineError",
    "EqualWeight",
    "FactorCovariance",
    "HierarchicalRiskParity",
    "InsufficientDataError",
    "InvalidInputError",
    "InvalidPolicyError",
    "InverseVolatility",
    "LapClock",
    "LedoitWolf",
    "LimitResult",
    "Momentum",
    "PerformanceWeighted",
    "ReturnStats",
    "RiskParity",
    "RiskParityError",
    "RiskParitySolution",
    "SectorSignal",
    "allocate",
    "annualised_volatility",
    "apply_limits",
    "apply_signals",
    "budgeted_inverse_volatility",
    "decay_smoothing",
    "effective_number",
    "equal_weight",
    "estimate_covariance",
    "ewma_covariance",
    "ex_ante_volatility",
    "hrp_order",
    "hrp_weights",
    "inverse_volatility",
    "ledoit_wolf",
    "max_drawdown",
    "performance_weighted",
    "plan_transition",
    "return_stats",
    "risk_contributions",
    "risk_parity_weights",
    "sample_covariance",
    "sector_multipliers",
    "sharpe_ratio",
    "sharpe_weights",
    "solve_risk_parity",
    "total_return",
    "transition_step_count",
    "transition_steps",
    "value_path",
]
