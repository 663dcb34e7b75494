"""AllocationPolicy validation: every bad field gives InvalidPolicyError naming it."""

import pytest

from allocations.engine import METHODS, AllocationPolicy, EngineError, InvalidPolicyError


def test_defaults_are_the_specifications():
    p = AllocationPolicy()
    assert (p.method, p.hybrid_blend, p.lookback, p.momentum_factor, p.signal_decay) == (
        "hybrid",
        0.5,
        30,
        0.3,
        0.95,
    )
    assert (p.max_single_strategy, p.max_sector, p.max_total_risk) == (0.2, 0.3, 0.8)
    assert (p.transition_period_days, p.max_daily_change, p.min_change) == (5, 0.1, 0.05)
    assert p.covariance_estimator == "ledoit_wolf"
    assert set(METHODS) >= {"equal_weight", "risk_parity", "performance_weighted", "momentum", "hybrid"}


def test_from_mapping_ignores_other_keys():
    p = AllocationPolicy.from_mapping({"method": "momentum", "id": 3, "max_sector": 0.5})
    assert p.method == "momentum" and p.max_sector == 0.5
    assert AllocationPolicy.from_mapping(p.to_dict()) == p


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "min_variance"),
        ("covariance_estimator", "shrunk"),
        ("hybrid_blend", 1.5),
        ("momentum_factor", -0.1),
        ("signal_decay", float("nan")),
        ("buy_multiplier", 2.0),
        ("sell_multiplier", -1.0),
        ("max_single_strategy", 0.0),
        ("max_sector", 1.1),
        ("max_total_risk", 0.0),
        ("max_daily_change", 2.0),
        ("min_change", -0.01),
        ("lookback", 1),
        ("lookback", 30.5),
        ("covariance_lookback", True),
        ("transition_period_days", 0),
        ("ewma_halflife", 0.0),
    ],
)
def test_bad_fields_name_the_field(field, value):
    with pytest.raises(InvalidPolicyError, match=field) as info:
        AllocationPolicy(**{field: value})
    assert isinstance(info.value, EngineError) and isinstance(info.value, ValueError)
