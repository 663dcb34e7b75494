"""Versioned allocation policies: a change is a new version, audited; runs keep theirs."""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from allocations.errors import DomainError
from allocations.models import AllocationPolicy, AuditEntry, CovarianceEstimator, Method, Portfolio

from .actors import Actor
from .audit import AuditRecord, audit_append
from .locks import portfolio_lock

# field -> (low, high, low is open); a value must be finite and inside the range.
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "hybrid_blend": (0.0, 1.0, False),
    "force_rebalance_threshold": (0.0, 1.0, False),
    "approval_threshold": (0.0, 2.0, False),
    "momentum_factor": (0.0, 1.0, False),
    "signal_decay_factor": (0.0, 1.0, False),
    "buy_multiplier": (0.0, 1.0, False),
    "sell_multiplier": (0.0, 1.0, False),
    "max_single_strategy_exposure": (0.0, 1.0, True),
    "max_sector_exposure": (0.0, 1.0, True),
    "max_total_risk": (0.0, 1.0, True),
    "max_daily_change": (0.0, 1.0, True),
    "min_change_threshold": (0.0, 1.0, False),
}
INT_MINIMUMS: dict[str, int] = {
    "lookback_period": 2,
    "covariance_lookback": 2,
    "transition_period_days": 1,
    "signal_window_days": 1,
}
CHOICES: dict[str, list[str]] = {
    "method": [m.value for m in Method],
    "covariance_estimator": [c.value for c in CovarianceEstimator],
    "rebalance_frequency": ["daily", "weekly", "monthly", "manual"],
}
EDITABLE_FIELDS = [*FLOAT_RANGES, *INT_MINIMUMS, *CHOICES, "rebalance_time"]

# The specification's capital-allocation-config.yaml: section -> {yaml key: policy field}.
YAML_KEYS: dict[str, dict[str, str]] = {
    "allocation": {
        "method": "method",
        "rebalance_frequency": "rebalance_frequency",
        "force_rebalance_threshold": "force_rebalance_threshold",
        "approval_threshold": "approval_threshold",
        "hybrid_blend": "hybrid_blend",
        "covariance_estimator": "covariance_estimator",
        "covariance_lookback": "covariance_lookback",
        "rebalance_time": "rebalance_time",
    },
    "risk_limits": {
        "max_single_strategy_exposure": "max_single_strategy_exposure",
        "max_sector_exposure": "max_sector_exposure",
        "max_total_risk": "max_total_risk",
    },
    "transition": {
        "transition_period_days": "transition_period_days",
        "max_daily_change": "max_daily_change",
        "min_change_threshold": "min_change_threshold",
    },
    "performance": {
        "lookback_period": "lookback_period",
        "momentum_factor": "momentum_factor",
        "signal_decay_factor": "signal_decay_factor",
        "signal_window_days": "signal_window_days",
        "buy_multiplier": "buy_multiplier",
        "sell_multiplier": "sell_multiplier",
    },
}


def policy_validate_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check and coerce policy field values; ``DomainError`` names the first bad field."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name in FLOAT_RANGES:
            low, high, low_open = FLOAT_RANGES[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DomainError(f"{name} must be a number, got {value!r}", field=name)
            value = float(value)
            if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
                interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
                raise DomainError(f"{name} must be in {interval}, got {value}", field=name)
        elif name in INT_MINIMUMS:
            if isinstance(value, bool) or not isinstance(value, int) or value < INT_MINIMUMS[name]:
                raise DomainError(f"{name} must be an integer >= {INT_MINIMUMS[name]}, got {value!r}", field=name)
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise DomainError(f"{name} must be one of {', '.join(CHOICES[name])}; got {value!r}", field=name)
        elif name == "rebalance_time":
            from datetime import time

            if not isinstance(value, time):
                try:
                    value = time.fromisoformat(str(value))
                except ValueError:
                    raise DomainError(f"rebalance_time must be HH:MM, got {value!r}", field=name) from None
        else:
            raise DomainError(f"unknown policy field {name!r}", field=name)
        clean[name] = value
    return clean


def policy_from_yaml(document: Any) -> dict[str, Any]:
    """The policy fields named by a capital-allocation-config.yaml document."""
    if not isinstance(document, dict):
        raise DomainError("the policy file must be a mapping of sections", field="file")
    changes: dict[str, Any] = {}
    for section, values in document.items():
        if section not in YAML_KEYS:
            raise DomainError(f"unknown section {section!r}; expected {', '.join(YAML_KEYS)}", field=section)
        if not isinstance(values, dict):
            raise DomainError(f"section {section!r} must be a mapping", field=section)
        for key, value in values.items():
            if key not in YAML_KEYS[section]:
                raise DomainError(f"unknown key {section}.{key}", field=f"{section}.{key}")
            changes[YAML_KEYS[section][key]] = value
    try:
        return policy_validate_changes(changes)
    except DomainError as exc:
        section = next(s for s, keys in YAML_KEYS.items() if exc.field in keys.values())
        raise DomainError(f"{section}.{exc.message}", field=f"{section}.{exc.field}") from None


def policy_create_version(
    *, portfolio: Portfolio, actor: Actor, reason: str = "", changes: dict[str, Any] | None = None
) -> AllocationPolicy:
    """Make a new policy version from the current one (or the defaults) with ``changes`` applied."""
    clean = policy_validate_changes(changes or {})
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        current = AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()
        base = {name: getattr(current, name) for name in EDITABLE_FIELDS} if current else {}
        fields = {**base, **clean}
        if current is not None and fields == base:
            return current
        policy = AllocationPolicy.objects.create(
            portfolio=portfolio,
            version=(current.version + 1) if current else 1,
            created_by=actor.user,
            reason=reason,
            **fields,
        )
        diff = {
            name: {"old": str(base.get(name)) if current else None, "new": str(getattr(policy, name))}
            for name in EDITABLE_FIELDS
            if not current or base.get(name) != getattr(policy, name)
        }
        kind = AuditEntry.Kind.METHOD_CHANGE if set(clean) == {"method"} else AuditEntry.Kind.POLICY_CHANGE
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(kind=kind, reason=reason, payload={"version": policy.version, "changes": diff}),
        )
        return policy


def policy_set_method(*, portfolio: Portfolio, method: str, actor: Actor, reason: str = "") -> AllocationPolicy:
    return policy_create_version(portfolio=portfolio, actor=actor, reason=reason, changes={"method": method})
