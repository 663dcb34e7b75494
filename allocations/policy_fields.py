"""The one declaration of a policy version's editable fields: range or choices, YAML key, engine name.

The numeric ranges of the engine's fields are the engine's own (``engine.POLICY_BOUNDS``); the
fields only the service reads (thresholds, the signal window, the schedule) are declared here
with the same ``Bounds``. The model's check constraints, the API's serializer fields, the YAML
loader and the admin form are all generated from ``POLICY_FIELDS``; a test pins them to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import time
from typing import Any

from allocations import engine
from allocations.choices import unknown_name
from allocations.engine import POLICY_BOUNDS, Bounds

REBALANCE_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "manual")

METHOD_LABELS: dict[str, str] = {
    "equal_weight": "Equal weight",
    "inverse_volatility": "Inverse volatility",
    "risk_parity": "Risk parity (equal risk contribution)",
    "performance_weighted": "Performance weighted",
    "momentum": "Momentum (sector signals)",
    "hybrid": "Hybrid (risk parity + momentum)",
    "hrp": "Hierarchical risk parity",
}
ESTIMATOR_LABELS: dict[str, str] = {
    "sample": "Sample",
    "ledoit_wolf_correlation": "Ledoit-Wolf on the correlations (keeps each volatility)",
    "ledoit_wolf": "Ledoit-Wolf toward a scaled identity",
    "ewma": "Exponentially weighted",
}


@dataclass(frozen=True)
class PolicyField:
    """One editable field of a policy version (``name`` is the model's field)."""

    name: str
    section: str  # the capital-allocation-config.yaml section that holds it
    engine_name: str | None = None  # the engine's AllocationPolicy field, if the engine reads it
    bounds: Bounds | None = None
    choices: tuple[str, ...] | None = None
    is_time: bool = False
    # "lower" where a lower value only tightens (a cap, the approval threshold, the daily change);
    # None where no direction is safer (a method, a window, a blend): any change there is a proposal
    tighter: str | None = None

    def tightens(self, old: Any, new: Any) -> bool:
        """Whether moving from ``old`` to ``new`` only tightens (a second risk officer need not look)."""
        return self.tighter == "lower" and old is not None and new <= old

    def validate(self, value: Any) -> Any:
        """The value, coerced (an int for an integral float, a ``time``); ``ValueError`` says why not."""
        if self.choices is not None:
            if value not in self.choices:  # the valid names listed: a client learns the spelling from the answer
                raise ValueError(unknown_name(self.name.replace("_", " "), value, self.choices))
            return value
        if self.is_time:
            if isinstance(value, time):
                return value
            try:
                return time.fromisoformat(str(value))
            except ValueError:
                raise ValueError(f"must be HH:MM, got {value!r}") from None
        bounds = self.bounds
        if bounds.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not bounds.contains(value):
            kind = "an integer" if bounds.kind is int else "a number"
            if isinstance(value, float) and not math.isfinite(value):
                kind = "a finite number"
            raise ValueError(f"must be {kind} in {bounds.describe()}, got {value!r}")
        return value


def _engine(name: str, section: str, engine_name: str | None = None, tighter: str | None = None) -> PolicyField:
    engine_name = engine_name or name
    return PolicyField(name, section, engine_name=engine_name, bounds=POLICY_BOUNDS[engine_name], tighter=tighter)


POLICY_FIELDS: dict[str, PolicyField] = {
    field.name: field
    for field in (
        _engine("hybrid_blend", "allocation"),
        # a lower force threshold lets the book drift less from its approved target before a scheduled run
        PolicyField("force_rebalance_threshold", "allocation", bounds=Bounds(float, 0.0, 1.0), tighter="lower"),
        PolicyField("approval_threshold", "allocation", bounds=Bounds(float, 0.0, 2.0), tighter="lower"),
        _engine("momentum_factor", "performance"),
        _engine("signal_decay_factor", "performance", "signal_decay"),
        _engine("buy_multiplier", "performance"),
        _engine("sell_multiplier", "performance"),
        _engine("max_single_strategy_exposure", "risk_limits", "max_single_strategy", tighter="lower"),
        _engine("max_sector_exposure", "risk_limits", "max_sector", tighter="lower"),
        _engine("max_total_risk", "risk_limits", tighter="lower"),
        _engine("max_daily_change", "transition", tighter="lower"),
        _engine("min_change_threshold", "transition", "min_change"),
        _engine("lookback_period", "performance", "lookback"),
        _engine("covariance_lookback", "allocation"),
        _engine("transition_period_days", "transition"),
        PolicyField("signal_window_days", "performance", bounds=Bounds(int, 1, 100_000)),
        _engine("stale_after_days", "performance"),
        PolicyField("method", "allocation", engine_name="method", choices=engine.METHODS),
        PolicyField(
            "covariance_estimator",
            "allocation",
            engine_name="covariance_estimator",
            choices=engine.COVARIANCE_ESTIMATORS,
        ),
        PolicyField("rebalance_frequency", "allocation", choices=REBALANCE_FREQUENCIES),
        PolicyField("rebalance_time", "allocation", is_time=True),
    )
}

EDITABLE_FIELDS: list[str] = list(POLICY_FIELDS)

#: capital-allocation-config.yaml: section -> {yaml key: policy field} (the keys are the field names).
YAML_KEYS: dict[str, dict[str, str]] = {
    section: {f.name: f.name for f in POLICY_FIELDS.values() if f.section == section}
    for section in ("allocation", "risk_limits", "transition", "performance")
}
