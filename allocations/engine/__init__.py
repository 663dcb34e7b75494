"""Pure-numpy allocation engine: estimators, allocation methods, limits, transition planner, measures.

No Django import: arrays and engine dataclasses in, dataclasses out. See
``ARCHITECTURE.md`` §5 for the formulas; every module's docstrings carry them too.

>>> import numpy as np
>>> from allocations.engine import risk_parity_weights
>>> risk_parity_weights(np.diag([0.01, 0.04])).round(4).tolist()
[0.6667, 0.3333]
"""

from .errors import (
    EngineError,
    InsufficientDataError,
    InvalidInputError,
    InvalidPolicyError,
    RiskParityError,
)
from .estimators import (
    TRADING_DAYS,
    CovarianceEstimate,
    FactorCovariance,
    LedoitWolf,
    ReturnStats,
    estimate_covariance,
    ewma_covariance,
    ledoit_wolf,
    return_stats,
    sample_covariance,
)
from .hrp import HierarchicalRiskParity, hrp_order, hrp_weights
from .limits import LIMIT_NAMES, LimitResult, apply_limits, ex_ante_volatility
from .measures import (
    annualised_volatility,
    effective_number,
    max_drawdown,
    sharpe_ratio,
    total_return,
    value_path,
)
from .methods import (
    EqualWeight,
    InverseVolatility,
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
from .risk_parity import (
    RiskParity,
    RiskParitySolution,
    risk_contributions,
    risk_parity_weights,
    solve_risk_parity,
)
from .transition import plan_transition, transition_step_count, transition_steps

__all__ = [
    # entry points
    "allocate",
    "risk_parity_weights",
    "plan_transition",
    "transition_step_count",
    # value objects
    "AllocationPolicy",
    "SectorSignal",
    "AllocationResult",
    "METHODS",
    "COVARIANCE_ESTIMATORS",
    "ACTIONS",
    "MAX_TRANSITION_STEPS",
    "Bounds",
    "POLICY_BOUNDS",
    "STAGES",
    "FLAGS",
    "METHOD_REGISTRY",
    "LIMIT_NAMES",
    "TRADING_DAYS",
    # errors
    "EngineError",
    "InvalidInputError",
    "InvalidPolicyError",
    "InsufficientDataError",
    "RiskParityError",
    # estimators
    "ReturnStats",
    "return_stats",
    "CovarianceEstimate",
    "FactorCovariance",
    "estimate_covariance",
    "sample_covariance",
    "ledoit_wolf",
    "ewma_covariance",
    "LedoitWolf",
    # methods
    "equal_weight",
    "inverse_volatility",
    "budgeted_inverse_volatility",
    "sharpe_weights",
    "performance_weighted",
    "sector_multipliers",
    "apply_signals",
    "decay_smoothing",
    "EqualWeight",
    "InverseVolatility",
    "PerformanceWeighted",
    "RiskParity",
    "RiskParitySolution",
    "solve_risk_parity",
    "risk_contributions",
    "hrp_weights",
    "hrp_order",
    "HierarchicalRiskParity",
    # measures
    "value_path",
    "total_return",
    "max_drawdown",
    "annualised_volatility",
    "sharpe_ratio",
    "effective_number",
    # limits and transition
    "LimitResult",
    "apply_limits",
    "ex_ante_volatility",
    "transition_steps",
]
