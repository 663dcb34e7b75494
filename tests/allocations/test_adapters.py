"""allocations/adapters.py: the engine's boundary, rows to inputs and its result to rows (no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocations import adapters, engine
from allocations.models import AllocationPolicy
from allocations.models.fields import STRATEGY_COLUMNS, explanation_compact, explanation_rows
from allocations.policy_fields import POLICY_FIELDS

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

# A policy row (never saved) whose every engine field differs from the engine's default.
ROW_VALUES = {
    "method": "risk_parity",
    "covariance_estimator": "ewma",
    "hybrid_blend": 0.37,
    "momentum_factor": 0.41,
    "signal_decay_factor": 0.83,
    "buy_multiplier": 0.27,
    "sell_multiplier": 0.13,
    "max_single_strategy_exposure": 0.17,
    "max_sector_exposure": 0.29,
    "max_total_risk": 0.61,
    "max_daily_change": 0.07,
    "min_change_threshold": 0.03,
    "lookback_period": 45,
    "covariance_lookback": 120,
    "transition_period_days": 4,
    "stale_after_days": 7,
}


def policy_row(**fields) -> AllocationPolicy:
    return AllocationPolicy(version=1, **{**ROW_VALUES, **fields})


# --- the engine's policy and the plan -------------------------------------------------------


def test_engine_policy_maps_every_row_field_to_its_engine_field():
    row = policy_row()
    policy = adapters.engine_policy(row)
    mapped = {f.engine_name for f in POLICY_FIELDS.values() if f.engine_name}
    for field in POLICY_FIELDS.values():
        if field.engine_name:
            assert getattr(policy, field.engine_name) == getattr(row, field.name), field.name
    # every value above differs from the engine's default, so a field left unmapped would show
    defaults = engine.AllocationPolicy()
    for name in mapped:
        assert getattr(policy, name) != getattr(defaults, name), name
    # engine fields the row does not hold keep the engine's defaults
    for f in dataclasses.fields(engine.AllocationPolicy):
        if f.name not in mapped:
            assert getattr(policy, f.name) == getattr(defaults, f.name), f.name
    # the renamed ones, spelled out
    assert policy.signal_decay == 0.83 and policy.max_single_strategy == 0.17 and policy.max_sector == 0.29
    assert policy.min_change == 0.03 and policy.lookback == 45


def test_engine_policy_method_override():
    row = policy_row(method="momentum")
    assert adapters.engine_policy(row).method == "momentum"
    assert adapters.engine_policy(row, method=None).method == "momentum"
    overridden = adapters.engine_policy(row, method="equal_weight")
    assert overridden.method == "equal_weight"
    assert dataclasses.replace(overridden, method="momentum") == adapters.engine_policy(row)


def test_engine_policy_refuses_a_row_out_of_range():
    with pytest.raises(engine.InvalidPolicyError):
        adapters.engine_policy(policy_row(max_daily_change=0.0))


def test_plan_for_policy_by_hand():
    row = policy_row(transition_period_days=3, max_daily_change=0.1, min_change_threshold=0.05)
    current = np.array([0.5, 0.3, 0.2, 0.0])
    target = np.array([0.1, 0.3, 0.25, 0.35])
    plan = adapters.plan_for_policy(row, current, target, force=False)
    # largest move 0.4 at most 0.1 a day: 4 steps (more than the 3-day period), equal quarters
    expected = np.array(
        [
            [0.4, 0.3, 0.2125, 0.0875],
            [0.3, 0.3, 0.225, 0.175],
            [0.2, 0.3, 0.2375, 0.2625],
            [0.1, 0.3, 0.25, 0.35],
        ]
    )
    np.testing.assert_allclose(plan, expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(plan[-1], target)


def test_plan_for_policy_period_force_and_small_change():
    row = policy_row(transition_period_days=3, max_daily_change=0.1, min_change_threshold=0.05)
    current = np.array([0.5, 0.5])
    small_target = np.array([0.48, 0.52])  # turnover 0.04 < min_change 0.05: at once
    np.testing.assert_array_equal(adapters.plan_for_policy(row, current, small_target, force=False), [small_target])
    target = np.array([0.4, 0.6])  # largest move 0.1: the period's 3 steps
    plan = adapters.plan_for_policy(row, current, target, force=False)
    np.testing.assert_allclose(plan, [[0.5 - 0.1 / 3, 0.5 + 0.1 / 3], [0.5 - 0.2 / 3, 0.5 + 0.2 / 3], target])
    np.testing.assert_array_equal(adapters.plan_for_policy(row, current, target, force=True), [target])


@PROPERTY
@given(
    n=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    period=st.integers(1, 20),
    cap=st.floats(1 / 260, 1.0),
    min_change=st.floats(0.0, 0.2),
)
def test_plan_for_policy_steps_are_bounded_and_land_on_the_target(n, seed, period, cap, min_change):
    rng = np.random.default_rng(seed)
    current = rng.dirichlet(np.ones(n)) * rng.uniform(0, 1)
    target = rng.dirichlet(np.ones(n)) * rng.uniform(0, 1)
    row = policy_row(transition_period_days=period, max_daily_change=cap, min_change_threshold=min_change)
    plan = adapters.plan_for_policy(row, current, target, force=False)
    assert plan.shape[1] == n and np.isfinite(plan).all() and (plan >= -1e-15).all()
    np.testing.assert_array_equal(plan[-1], target)
    if np.abs(target - current).sum() >= min_change:
        assert plan.shape[0] >= period
        moves = np.abs(np.diff(np.vstack([current, plan]), axis=0))
        assert moves.max() <= cap * (1 + 1e-9) + 1e-15
    else:
        assert plan.shape[0] == 1


def test_planned_steps_rows():
    plan = np.array([[0.25, 0.75], [0.5, 0.5]])
    days = [dt.date(2024, 1, 5), dt.date(2024, 1, 8)]
    assert adapters.planned_steps(["a", "b"], plan, days) == [
        {"step": 1, "due_date": "2024-01-05", "status": "planned", "weights": {"a": 0.25, "b": 0.75}},
        {"step": 2, "due_date": "2024-01-08", "status": "planned", "weights": {"a": 0.5, "b": 0.5}},
    ]
    rows = adapters.planned_steps(["a", "b"], plan, days)
    assert all(type(w) is float for row in rows for w in row["weights"].values())  # JSON-ready, not numpy
    with pytest.raises(ValueError):
        adapters.planned_steps(["a", "b"], plan, days[:1])  # a day per step, no silent truncation


def test_by_code_keeps_the_order_of_the_codes():
    assert list(adapters.by_code(["z", "a"], np.array([0.1, 0.2]))) == ["z", "a"]
    with pytest.raises(ValueError):
        adapters.by_code(["z"], [0.1, 0.2])


# --- the inputs digest ------------------------------------------------------------------------


def digest_inputs():
    rng = np.random.default_rng(5)
    return [
        7,
        "hybrid",
        "1000000.00",
        np.array([4, 9, 12], dtype=np.int64),
        ["2024-01-04", "2024-01-05"],
        rng.normal(0, 0.01, (2, 3)),
        np.array([0.2, 0.3, 0.1]),
        [("energy", "BUY", 0.5)],
        None,
        None,
        False,
    ]


def test_inputs_digest_is_sha256_of_the_parts():
    panel = np.array([[0.01, -0.02]])
    expected = hashlib.sha256(b"7|'x'|" + panel.tobytes() + b"|").hexdigest()
    assert adapters.inputs_digest(7, "x", panel) == expected


def test_inputs_digest_is_stable():
    parts = digest_inputs()
    copies = [p.copy() if isinstance(p, np.ndarray) else p for p in digest_inputs()]
    assert adapters.inputs_digest(*parts) == adapters.inputs_digest(*copies)
    assert len(adapters.inputs_digest(*parts)) == 64
    # a non-contiguous view hashes like its contiguous copy
    wide = np.arange(12, dtype=float).reshape(3, 4)
    assert adapters.inputs_digest(wide[:, ::2]) == adapters.inputs_digest(np.ascontiguousarray(wide[:, ::2]))


def test_inputs_digest_changes_with_any_input():
    base = adapters.inputs_digest(*digest_inputs())
    changed = {
        0: 8,
        1: "momentum",
        2: "1000000.01",
        3: np.array([4, 9, 13], dtype=np.int64),
        4: ["2024-01-04", "2024-01-08"],
        6: np.array([0.2, 0.3, 0.1000001]),
        7: [("energy", "SELL", 0.5)],
        8: {"a": 1.0},
        9: {"a": 0.2},
        10: True,
    }
    seen = {base}
    for index, value in changed.items():
        parts = digest_inputs()
        parts[index] = value
        digest = adapters.inputs_digest(*parts)
        assert digest not in seen, index
        seen.add(digest)
    parts = digest_inputs()
    parts[5] = parts[5].copy()
    parts[5][1, 2] += 1e-12  # one return, the smallest change
    assert adapters.inputs_digest(*parts) != base
    parts = digest_inputs()
    parts[0], parts[1] = parts[1], parts[0]  # order counts
    assert adapters.inputs_digest(*parts) != base


# --- the run's explanation ----------------------------------------------------------------------


def plain(value) -> float | None:
    """JSON's view of an engine number: NaN is None."""
    return None if np.isnan(value) else float(value)


def test_run_explanation_shape():
    rng = np.random.default_rng(17)
    panel = rng.normal(3e-4, 0.01, (60, 4))
    panel[:-1, 3] = np.nan  # one observation only: flagged "insufficient history"
    codes, sectors = ["a", "b", "c", "d"], ["technology", "technology", "energy", "energy"]
    result = engine.allocate(panel, sectors, policy=engine.AllocationPolicy(method="risk_parity"))
    extra = {"equity": "1000.00", "policy_version": 3}
    stored = adapters.run_explanation(result, codes, sectors, extra)
    facts = set(result.explanation) - {"strategies"}  # the engine's count of strategies: the rows take its place
    assert set(stored) == facts | set(extra) | {STRATEGY_COLUMNS}  # the compact form
    assert set(stored[STRATEGY_COLUMNS]["final"]) == {"f8"}  # floats packed, not a list of numbers
    assert explanation_compact(explanation_rows(stored)) == stored  # what storing it writes
    explanation = explanation_rows(stored)

    assert set(explanation) == facts | set(extra) | {"strategies"}
    assert explanation["equity"] == "1000.00" and explanation["policy_version"] == 3
    assert list(explanation["strategies"]) == codes
    for j, code in enumerate(codes):
        row = explanation["strategies"][code]
        assert set(row) == {"sector", *engine.STAGES, "risk_contribution", "binding_limit", "binding_amount", "flags"}
        assert row["sector"] == sectors[j]
        for stage, values in result.stages.items():
            assert row[stage] == plain(values[j]), stage
        assert row["risk_contribution"] == plain(result.risk_contributions[j])
        assert row["binding_limit"] == str(result.binding_limit[j])
        assert row["binding_amount"] == plain(result.binding_amount[j])
        assert row["flags"] == ([str(result.flags[j])] if result.flags[j] else [])
    assert explanation["strategies"]["d"]["flags"] == ["insufficient history"]
    assert explanation["strategies"]["a"]["flags"] == []
