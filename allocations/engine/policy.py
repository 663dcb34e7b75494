"""Engine-side value objects: the allocation policy and a sector signal.

The services build an :class:`AllocationPolicy` from the policy row and
:class:`SectorSignal` objects from the latest signal per sector; the engine never sees a
model instance.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import InvalidInputError, InvalidPolicyError

__all__ = [
    "ACTIONS",
    "COVARIANCE_ESTIMATORS",
    "MAX_TRANSITION_STEPS",
    "METHODS",
    "POLICY_BOUNDS",
    "AllocationPolicy",
    "Bounds",
    "SectorSignal",
]

#: Largest number of transition steps a plan may have (one business year). The policy's
#: bounds keep the worst case within it: ``max(transition_period_days, ceil(1 / max_daily_change))``
#: is at most 260 when ``transition_period_days <= 260`` and ``max_daily_change >= 1/260``.
MAX_TRANSITION_STEPS = 260

#: Allocation methods understood by :func:`~allocations.engine.allocate`.
METHODS: tuple[str, ...] = (
    "equal_weight",
    "inverse_volatility",
    "risk_parity",
    "performance_weighted",
    "momentum",
    "hybrid",
    "hrp",
)

#: Covariance estimators understood by :func:`~allocations.engine.covariance.estimate_covariance`.
COVARIANCE_ESTIMATORS: tuple[str, ...] = ("ledoit_wolf_correlation", "ledoit_wolf", "sample", "ewma")

#: Sector signal actions.
ACTIONS: tuple[str, ...] = ("BUY", "SELL", "HOLD")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value: float, kind: type) -> str:
    return str(int(value)) if kind is int else f"{value:.6g}"


@dataclass(frozen=True)
class Bounds:
    """The allowed range of one numeric policy field.

    Parameters
    ----------
    kind : {int, float}
    low, high : float
        Inclusive bounds (``high`` always, ``low`` unless ``low_open``).
    low_open : bool
        True when ``low`` itself is not allowed: ``(low, high]``.

    The one declaration of the policy's ranges (:data:`POLICY_BOUNDS`): the serializers, the
    YAML validation, the admin form and the model's check constraints are generated from it.
    """

    kind: type
    low: float
    high: float
    low_open: bool = False

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a finite real (not a bool), an integer for ``int`` fields, within the bounds."""
        if self.kind is int:
            if not _is_int(value):
                return False
        elif not _is_real(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return bool(above and value <= self.high)

    def describe(self) -> str:
        """Interval notation, e.g. ``"(0, 1]"``, ``"[2, 100000]"``, ``"[0.00384615, 1]"``."""
        left = "(" if self.low_open else "["
        return f"{left}{_number(self.low, self.kind)}, {_number(self.high, self.kind)}]"


_UNIT = Bounds(float, 0.0, 1.0)
_POSITIVE_FRACTION = Bounds(float, 0.0, 1.0, low_open=True)
_OBSERVATIONS = Bounds(int, 2, 100_000)


def _bounded(default: float, bounds: Bounds) -> Any:
    """Declare a numeric :class:`AllocationPolicy` field with its default and its range together.

    :data:`POLICY_BOUNDS` collects the ranges from the fields.
    """
    return field(default=default, metadata={"bounds": bounds})


@dataclass(frozen=True)
class AllocationPolicy:
    """Parameters of one allocation run (defaults are the specification's YAML).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    hybrid_blend : float in [0, 1]
        Weight of ``risk_parity`` in ``hybrid``; ``momentum`` gets ``1 - hybrid_blend``.
    lookback : int in [2, 100000]
        Observations per strategy for mean, volatility and Sharpe.
    covariance_lookback : int in [2, 100000]
        Rows of the returns panel used for the covariance (capped at the panel length).
    covariance_estimator : str
        One of :data:`COVARIANCE_ESTIMATORS`. The default ``"ledoit_wolf_correlation"`` keeps
        each strategy's own variance and shrinks the correlations; it and ``"ledoit_wolf"``
        (toward a scaled identity, which pulls every variance to the average) are positive
        definite even when strategies outnumber days.
    ewma_halflife : float in (0, 100000]
        Half-life in days of the ``"ewma"`` estimator's weights, ``a_t ∝ 2^{-age_t / h}``.
        The default 63 days (about a quarter) keeps a 252-day window informative; the
        RiskMetrics daily choice λ = 0.94 would be a half-life of about 11 days.
    momentum_factor : float in [0, 1]
        ``m`` in ``(1 - m) w_current + m w_sharpe`` (``performance_weighted``).
    signal_decay : float in [0, 1]
        ``d`` in ``d w_new + (1 - d) w_prev`` (momentum smoothing).
    buy_multiplier, sell_multiplier : float in [0, 1]
        A BUY of confidence ``c`` multiplies its sector's strategies by ``1 + buy c``, a
        SELL by ``1 - sell c``.
    max_single_strategy, max_sector : float in (0, 1]
        Caps in fractions of total equity.
    max_total_risk : float in (0, 1]
        Cap on the ex-ante annualised volatility ``sqrt(252 wᵀΣw)``.
    transition_period_days : int in [1, 260]
        Minimum number of transition steps.
    max_daily_change : float in [1/260, 1]
        No step moves any strategy by more than this.
    min_change : float in [0, 1]
        Below this turnover ``Σ|w* - w0|`` the target applies at once.
    stale_after_days : int in [1, 100000]
        A strategy whose last return is more than this many business days old is held and
        flagged ``"stale"``.

    The ranges are :data:`POLICY_BOUNDS`; with them no plan exceeds
    :data:`MAX_TRANSITION_STEPS` steps.
    """

    method: str = "hybrid"
    hybrid_blend: float = _bounded(0.5, _UNIT)
    lookback: int = _bounded(30, _OBSERVATIONS)
    covariance_lookback: int = _bounded(252, _OBSERVATIONS)
    covariance_estimator: str = "ledoit_wolf_correlation"
    ewma_halflife: float = _bounded(63.0, Bounds(float, 0.0, 100_000.0, low_open=True))
    momentum_factor: float = _bounded(0.3, _UNIT)
    signal_decay: float = _bounded(0.95, _UNIT)
    buy_multiplier: float = _bounded(0.3, _UNIT)
    sell_multiplier: float = _bounded(0.2, _UNIT)
    max_single_strategy: float = _bounded(0.2, _POSITIVE_FRACTION)
    max_sector: float = _bounded(0.3, _POSITIVE_FRACTION)
    max_total_risk: float = _bounded(0.8, _POSITIVE_FRACTION)
    transition_period_days: int = _bounded(5, Bounds(int, 1, MAX_TRANSITION_STEPS))
    max_daily_change: float = _bounded(0.1, Bounds(float, 1.0 / MAX_TRANSITION_STEPS, 1.0))
    min_change: float = _bounded(0.05, _UNIT)
    stale_after_days: int = _bounded(10, Bounds(int, 1, 100_000))

    def __post_init__(self) -> None:
        """Check the method, the covariance estimator and every bounded field.

        Raises
        ------
        InvalidPolicyError
            Naming the field, its range and the value given.
        """
        if self.method not in METHODS:
            raise InvalidPolicyError(
                f"policy.method: unknown method {self.method!r}; expected one of {', '.join(METHODS)}",
                field="policy.method",
            )
        if self.covariance_estimator not in COVARIANCE_ESTIMATORS:
            raise InvalidPolicyError(
                f"policy.covariance_estimator: unknown estimator {self.covariance_estimator!r}; "
                f"expected one of {', '.join(COVARIANCE_ESTIMATORS)}",
                field="policy.covariance_estimator",
            )
        for name, bounds in POLICY_BOUNDS.items():
            value = getattr(self, name)
            if not bounds.contains(value):
                kind = "an integer" if bounds.kind is int else "a number"
                raise InvalidPolicyError(f"policy.{name} must be {kind} in {bounds.describe()}, got {value!r}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> AllocationPolicy:
        """Build a policy from a mapping, ignoring keys that are not policy fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """Return every field by name (the inverse of :meth:`from_mapping`)."""
        return asdict(self)


#: Range of every numeric :class:`AllocationPolicy` field, keyed by the field name (in the fields' order).
POLICY_BOUNDS: dict[str, Bounds] = {
    f.name: f.metadata["bounds"] for f in fields(AllocationPolicy) if "bounds" in f.metadata
}


@dataclass(frozen=True)
class SectorSignal:
    """The latest rotation signal of one sector.

    Parameters
    ----------
    sector : str
        Sector label, compared with the ``sectors`` passed to ``allocate``.
    action : {"BUY", "SELL", "HOLD"}
        Case-insensitive on input, stored upper case.
    confidence : float in [0, 1]
    """

    sector: str
    action: str
    confidence: float = 1.0

    def __post_init__(self) -> None:
        """Check the fields; store the action upper case and the confidence as a float.

        Raises
        ------
        InvalidInputError
            An empty sector, an unknown action or a confidence outside [0, 1].
        """
        if not isinstance(self.sector, str) or not self.sector:
            raise InvalidInputError(f"signal.sector must be a non-empty string, got {self.sector!r}")
        action = self.action.upper() if isinstance(self.action, str) else self.action
        if action not in ACTIONS:
            raise InvalidInputError(
                f"signal.action for sector {self.sector!r} must be one of {ACTIONS}, got {self.action!r}"
            )
        object.__setattr__(self, "action", action)
        if not _is_real(self.confidence) or not 0.0 <= self.confidence <= 1.0:
            raise InvalidInputError(
                f"signal.confidence for sector {self.sector!r} must be in [0, 1], got {self.confidence!r}"
            )
        object.__setattr__(self, "confidence", float(self.confidence))

    def multiplier(self, policy: AllocationPolicy) -> float:
        """``1 + buy c`` for BUY, ``1 - sell c`` for SELL, 1 for HOLD."""
        if self.action == "BUY":
            return 1.0 + policy.buy_multiplier * self.confidence
        if self.action == "SELL":
            return 1.0 - policy.sell_multiplier * self.confidence
        return 1.0
