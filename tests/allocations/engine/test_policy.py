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
    assert p.covariance_estimator == "ledoit_wolf_correlation"  # issue 9: keeps each strategy's own variance
    assert p.stale_after_days == 10
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
        # issue 9 / issue 8: bounded so that no plan exceeds 260 steps
        ("max_daily_change", 1e-300),
        ("max_daily_change", 1 / 261),
        ("transition_period_days", 261),
        ("transition_period_days", 10**9),
        ("min_change", 1.5),
        ("lookback", 100_001),
        ("ewma_halflife", 1e6),
        ("stale_after_days", 0),
        ("stale_after_days", 2.0),
    ],
)
def test_bad_fields_name_the_field(field, value):
    with pytest.raises(InvalidPolicyError, match=field) as info:
        AllocationPolicy(**{field: value})
    assert isinstance(info.value, EngineError) and isinstance(info.value, ValueError)


def test_policy_bounds_cover_every_numeric_field_and_describe_themselves():
    import dataclasses

    from allocations.engine import MAX_TRANSITION_STEPS, POLICY_BOUNDS, Bounds

    numeric = {f.name for f in dataclasses.fields(AllocationPolicy)} - {"method", "covariance_estimator"}
    assert set(POLICY_BOUNDS) == numeric
    assert POLICY_BOUNDS["max_single_strategy"].describe() == "(0, 1]"
    assert POLICY_BOUNDS["lookback"].describe() == "[2, 100000]"
    assert POLICY_BOUNDS["max_daily_change"].describe() == "[0.00384615, 1]"
    assert POLICY_BOUNDS["transition_period_days"] == Bounds(int, 1, MAX_TRANSITION_STEPS)
    assert POLICY_BOUNDS["stale_after_days"].describe() == "[1, 100000]"
    unit = POLICY_BOUNDS["min_change"]
    assert unit.contains(0) and unit.contains(1.0) and not unit.contains(True)
    assert not unit.contains(float("nan")) and not unit.contains("0.5") and not unit.contains(1.0000001)
    assert not POLICY_BOUNDS["max_sector"].contains(0.0) and POLICY_BOUNDS["max_sector"].contains(1e-9)
    assert not POLICY_BOUNDS["lookback"].contains(30.0) and POLICY_BOUNDS["lookback"].contains(30)
    for name, bounds in POLICY_BOUNDS.items():
        assert bounds.contains(getattr(AllocationPolicy(), name)), name


def test_the_error_names_the_field_and_the_interval():
    with pytest.raises(InvalidPolicyError, match=r"policy\.max_daily_change .*\[0\.00384615, 1\]"):
        AllocationPolicy(max_daily_change=1e-12)
